import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { StopFlag } from '../../../src/protocol/stopFlag';

test('a StopFlag starts clear, request() sets it, and a flag over the same buffer sees it', () => {
  const a = new StopFlag();
  const b = new StopFlag(a.buffer);
  assert.equal(a.requested, false);
  assert.equal(b.requested, false);
  b.request();
  assert.equal(a.requested, true);
  a.request();
  assert.equal(b.requested, true, 'idempotent');
});

test('a thread busy in synchronous work sees the flag set by another thread (no message needed)', async () => {
  const flag = new StopFlag();
  // The worker never returns to its event loop while it spins: only shared memory can end the loop.
  const w = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const cell = new Int32Array(workerData, 0, 1);
    parentPort.postMessage('spinning');
    let n = 0;
    while (Atomics.load(cell, 0) === 0) n++;
    parentPort.postMessage('stopped');
  `,
    { eval: true, workerData: flag.buffer },
  );
  const said: string[] = [];
  await new Promise<void>((resolve, reject) => {
    w.on('error', reject);
    w.on('message', (m: string) => {
      said.push(m);
      if (m === 'spinning') flag.request();
      if (m === 'stopped') resolve();
    });
  });
  await w.terminate();
  assert.deepEqual(said, ['spinning', 'stopped']);
});
