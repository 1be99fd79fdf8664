// The worker's thread runs at nice WORKER_NICE on Linux, the thread that started it (the extension host's) keeps its
// own, and threads the worker starts afterwards inherit the lower priority.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { transformSync } from 'esbuild';
import { lowerThreadPriority, WORKER_NICE } from '../../../src/worker/lowerPriority';

/** The nice value of thread tid of this process, from /proc (field 19 of its stat line). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

test('lowerThreadPriority: elsewhere than Linux it changes nothing and says so', () => {
  assert.equal(lowerThreadPriority('darwin'), 'worker priority unchanged (darwin)');
  assert.equal(lowerThreadPriority('win32'), 'worker priority unchanged (win32)');
});

test(
  'lowerThreadPriority: in a worker thread, that thread and the ones it starts get the lower priority, the host keeps its own',
  { skip: process.platform !== 'linux' && 'Linux only: /proc and per-thread nice values' },
  async () => {
    const hostBefore = getPriority(process.pid);
    // The module as the bundle has it (TypeScript stripped by esbuild, CommonJS), run inside the worker.
    const mod = transformSync(readFileSync(new URL('../../../src/worker/lowerPriority.ts', import.meta.url), 'utf8'), {
      loader: 'ts',
      format: 'cjs',
    }).code;
    // The worker lowers itself (the module's own effect on load), then starts a thread of its own and reports both ids.
    const code = `
      const { parentPort, Worker } = require('node:worker_threads');
      const { readlinkSync } = require('node:fs');
      const m = { exports: {} };
      new Function('require', 'module', 'exports', ${JSON.stringify(mod)})(require, m, m.exports);
      Promise.resolve(m.exports).then((m) => {
        const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
        const child = new Worker("const { parentPort } = require('node:worker_threads'); const { readlinkSync } = require('node:fs'); parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop())); setTimeout(() => {}, 2000);", { eval: true });
        child.once('message', (childTid) => parentPort.postMessage({ note: m.PRIORITY_NOTE, tid, childTid }));
        setTimeout(() => {}, 2000);
      });`;
    const w = new Worker(code, { eval: true });
    const r = await new Promise<{ note: string; tid: number; childTid: number }>((res, rej) => {
      w.once('message', res);
      w.once('error', rej);
    });
    try {
      assert.equal(r.note, `worker thread ${r.tid} at nice ${Math.max(WORKER_NICE, hostBefore)}`);
      assert.equal(niceOf(r.tid), Math.max(WORKER_NICE, hostBefore), "the worker's thread");
      assert.equal(niceOf(r.childTid), Math.max(WORKER_NICE, hostBefore), 'a thread the worker started afterwards');
      assert.equal(getPriority(process.pid), hostBefore, "the host's main thread keeps its priority");
    } finally {
      await w.terminate();
    }
  },
);
