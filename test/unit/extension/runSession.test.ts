import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RunSession } from '../../../src/extension/runSession';
import type { RunEvent } from '../../../src/protocol/messages';

const workerPath = join(import.meta.dirname, 'fixtures', 'fakeWorker.mjs');

function start(
  fake: string,
  stopTimeoutMs?: number,
  outputDir?: string,
): { s: RunSession; events: RunEvent[]; logs: string[] } {
  const events: RunEvent[] = [];
  const logs: string[] = [];
  const s = new RunSession({
    workerPath,
    request: {
      type: 'worker/start',
      request: {
        configText: JSON.stringify({ fake, ...(outputDir ? { outputDir } : {}) }),
        configPath: '/x.selmix.json',
      },
    },
    onEvent: (e) => events.push(e),
    log: (l) => logs.push(l),
    ...(stopTimeoutMs === undefined ? {} : { stopTimeoutMs }),
  });
  return { s, events, logs };
}

test('forwards events, drops non-events with a log line, ends with the terminal event', async () => {
  const { s, events, logs } = start('finish');
  const end = await s.done;
  assert.equal(end.type, 'run/finished');
  assert.deepEqual(
    events.map((e) => e.type),
    ['run/started', 'run/finished'],
  );
  assert.ok(logs.some((l) => l.includes('not a run event')));
});

test('an exception in the worker becomes run/failed with the message and stack', async () => {
  const { s, events } = start('throw');
  const end = await s.done;
  assert.equal(end.type, 'run/failed');
  assert.match(end.type === 'run/failed' ? end.payload.message : '', /crashed: boom in worker/);
  assert.ok(end.type === 'run/failed' && end.payload.stack?.includes('boom'));
  assert.equal(events.filter((e) => e.type === 'run/failed').length, 1);
});

test('an exit without a terminal event becomes run/failed', async () => {
  const { s } = start('exit');
  const end = await s.done;
  assert.equal(end.type, 'run/failed');
  assert.match(end.type === 'run/failed' ? end.payload.message : '', /exited \(code 3\)/);
});

test('stop is graceful when the worker answers', async () => {
  const { s, events } = start('run');
  while (!events.some((e) => e.type === 'run/step')) await new Promise((r) => setTimeout(r, 10));
  s.stop();
  const end = await s.done;
  assert.equal(end.type === 'run/finished' && end.payload.stoppedBy, 'cancel');
  assert.ok(events.some((e) => e.type === 'run/step'));
  assert.equal(events.at(-1)?.type, 'run/finished');
});

test('stop reaches a worker that never yields to its event loop, through the shared stop flag', async () => {
  // The fake spins on Atomics.load without ever reading a message: a stop sent only as worker/stop would hit the
  // timeout.
  const { s, events } = start('spin', 60_000);
  while (!events.some((e) => e.type === 'run/step')) await new Promise((r) => setTimeout(r, 10));
  s.stop();
  const end = await s.done;
  assert.equal(end.type === 'run/finished' && end.payload.stoppedBy, 'cancel', JSON.stringify(end));
});

test('a stop the worker ignores ends in run/failed after the timeout', async () => {
  const { s } = start('hang', 100);
  await new Promise((r) => setTimeout(r, 20));
  s.stop();
  const end = await s.done;
  assert.equal(end.type, 'run/failed');
  assert.match(end.type === 'run/failed' ? end.payload.message : '', /did not stop within/);
});

test("a worker that dies holding its output folder's lock: the host removes that lock, so the next run is not refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-session-lock-'));
  const { s } = start('lockThenExit', undefined, dir);
  const end = await s.done;
  assert.equal(end.type, 'run/failed');
  assert.ok(!existsSync(join(dir, '.selmix.lock')), "the dead thread's lock is gone");
});
