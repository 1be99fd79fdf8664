// The gain's direct sums on two threads (MatMul.pairThreads): this thread and one helper worker take blocks of pairs
// from a shared counter until none is left, so a helper that is slow to start (or busy) only means this thread does
// more of them. The helper runs the same directBlock (src/core/numerics/gain.ts), whose source it is given: the
// function names nothing outside itself.
import { Worker } from 'node:worker_threads';
import { directBlock, type DirectTables, type PairThreads } from '../core/numerics/gain';

/**
 * Control words of one run, in a SharedArrayBuffer: the next block to claim, blocks finished, "over budget" (1; 2:
 * the helper failed), and the blocks the helper summed.
 */
const NEXT = 0,
  FINISHED = 1,
  OVER = 2,
  HELPER_BLOCKS = 3;

/** The longest wait for the helper's last block before the run is called broken (ms). */
const HELPER_WAIT_MS = 60_000;

/** The helper's program: claims blocks like takeBlocks below, marking each finished even if directBlock throws. */
const helperSource = (): string => `
const { parentPort } = require('node:worker_threads');
const directBlock = ${directBlock.toString()};
parentPort.on('message', ({ tables, ctl, blocks, size }) => {
  const counts = new Float64Array(2);
  for (;;) {
    const b = Atomics.add(ctl, ${NEXT}, 1);
    if (b >= blocks) break;
    try {
      if (Atomics.load(ctl, ${OVER}) === 0) {
        if (!directBlock(tables, b * size, Math.min(tables.K, (b + 1) * size), counts)) Atomics.store(ctl, ${OVER}, 1);
        Atomics.add(ctl, ${HELPER_BLOCKS}, 1);
      }
    } catch {
      Atomics.store(ctl, ${OVER}, 2);
    }
    Atomics.add(ctl, ${FINISHED}, 1);
    Atomics.notify(ctl, ${FINISHED});
  }
});
`;

/** What the helper did, for tests: runs handed to it, and blocks it summed. */
export const pairThreadStats = { runs: 0, helperBlocks: 0 };

let helper: Worker | null | undefined;

/** The helper worker, started on first use (null where it cannot start: then this thread sums every block). */
function helperWorker(): Worker | null {
  if (helper !== undefined) return helper;
  try {
    // No flags of this process (an --input-type=module would make the program ESM, a loader would slow its start).
    helper = new Worker(helperSource(), { eval: true, execArgv: [] });
    // Never what keeps a process alive; a helper that dies is replaced by this thread alone.
    helper.unref();
    helper.on('error', () => {
      helper = null;
    });
  } catch {
    helper = null;
  }
  return helper;
}

/** Claims and sums blocks on this thread until none is left (or one went over budget). */
function takeBlocks(tables: DirectTables, ctl: Int32Array, blocks: number, size: number): void {
  const counts = new Float64Array(2);
  for (;;) {
    const b = Atomics.add(ctl, NEXT, 1);
    if (b >= blocks) break;
    if (Atomics.load(ctl, OVER) === 0 && !directBlock(tables, b * size, Math.min(tables.K, (b + 1) * size), counts))
      Atomics.store(ctl, OVER, 1);
    Atomics.add(ctl, FINISHED, 1);
  }
}

/** Whether every typed array of tables lives in a SharedArrayBuffer (else the helper would write into a copy). */
function allShared(tables: DirectTables): boolean {
  return Object.values(tables).every(
    (v) => !ArrayBuffer.isView(v) || (v as Float64Array).buffer instanceof SharedArrayBuffer,
  );
}

/** MatMul.pairThreads on this thread and one helper worker. */
export const twoThreadPairs: PairThreads = {
  run(tables, blocks, size) {
    const ctl = new Int32Array(new SharedArrayBuffer(4 * 4));
    const w = allShared(tables) ? helperWorker() : null;
    if (w) {
      pairThreadStats.runs++;
      w.postMessage({ tables, ctl, blocks, size });
    }
    takeBlocks(tables, ctl, blocks, size);
    // Every block is claimed now; wait for those the helper is still summing.
    const until = Date.now() + HELPER_WAIT_MS;
    for (let f = Atomics.load(ctl, FINISHED); f < blocks; f = Atomics.load(ctl, FINISHED)) {
      if (Date.now() > until)
        throw new Error(`the gain's helper thread did not finish its pairs in ${HELPER_WAIT_MS} ms`);
      Atomics.wait(ctl, FINISHED, f, 100);
    }
    pairThreadStats.helperBlocks += Atomics.load(ctl, HELPER_BLOCKS);
    if (Atomics.load(ctl, OVER) !== 2) return Atomics.load(ctl, OVER) === 0;
    // The helper failed on a block (it should not: plain arithmetic on typed arrays): from now on this thread sums
    // every block, this run's again from the start.
    helper = null;
    void w?.terminate();
    const again = new Int32Array(new SharedArrayBuffer(4 * 4));
    takeBlocks(tables, again, blocks, size);
    return Atomics.load(again, OVER) === 0;
  },
};
