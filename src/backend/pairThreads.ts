// The gain's direct sums on two threads (MatMul.pairThreads): this thread and one helper worker take blocks of pairs
// from a shared counter until none is left, so a helper that is slow to start (or busy) only means this thread does
// more of them. Both run the same takeBlocks and directBlock (src/core/numerics/gain.ts); the helper is given their
// source, so neither names anything outside itself but its arguments.
import { Worker } from 'node:worker_threads';
import { directBlock, type DirectTables, type PairThreads } from '../core/numerics/gain';

/**
 * Where each control word of a run lives in its Int32Array (a SharedArrayBuffer): the next block to claim, blocks
 * finished, "over budget" (1; 2: the helper failed), and the blocks the helper summed.
 */
const SLOTS = { next: 0, finished: 1, over: 2, helperBlocks: 3 } as const;
type Slots = typeof SLOTS;

/** The longest wait for the helper's last block before the run is called broken (ms). */
const HELPER_WAIT_MS = 60_000;

/** The helper's program: takeBlocks on every run it is handed, with sum (a function's source) as its directBlock. */
const helperSource = (sum: string): string => `
const { parentPort } = require('node:worker_threads');
const directBlock = ${sum};
const takeBlocks = ${takeBlocks.toString()};
const slots = ${JSON.stringify(SLOTS)};
parentPort.on('message', ({ tables, ctl, blocks, size }) => takeBlocks(directBlock, slots, tables, ctl, blocks, size, true));
`;

/** What the helpers did, for tests: runs handed to one, blocks they summed, runs summed again after one failed. */
export const pairThreadStats = { runs: 0, helperBlocks: 0, helperFailures: 0 };

/**
 * Claims blocks from ctl and sums them (directBlock as sum) until none is left or one went over budget, marking each
 * finished. On the helper (inHelper) it also counts its blocks, wakes the waiting thread after each, and records a
 * throw as "the helper failed" (the block still finished) instead of leaving that thread waiting.
 */
function takeBlocks(
  sum: typeof directBlock,
  slots: Slots,
  tables: DirectTables,
  ctl: Int32Array,
  blocks: number,
  size: number,
  inHelper: boolean,
): void {
  const counts = new Float64Array(2);
  for (;;) {
    const b = Atomics.add(ctl, slots.next, 1);
    if (b >= blocks) break;
    try {
      if (Atomics.load(ctl, slots.over) === 0) {
        if (!sum(tables, b * size, Math.min(tables.K, (b + 1) * size), counts)) Atomics.store(ctl, slots.over, 1);
        if (inHelper) Atomics.add(ctl, slots.helperBlocks, 1);
      }
    } catch (e) {
      if (!inHelper) throw e;
      Atomics.store(ctl, slots.over, 2);
    }
    Atomics.add(ctl, slots.finished, 1);
    if (inHelper) Atomics.notify(ctl, slots.finished);
  }
}

/** Whether every typed array of tables lives in a SharedArrayBuffer (else the helper would write into a copy). */
function allShared(tables: DirectTables): boolean {
  return Object.values(tables).every(
    (v) => !ArrayBuffer.isView(v) || (v as Float64Array).buffer instanceof SharedArrayBuffer,
  );
}

/**
 * MatMul.pairThreads on this thread and one helper worker, whose directBlock is helperSum (directBlock's own source;
 * another only in tests: a helper that fails).
 */
export function twoThreads(helperSum: string = directBlock.toString()): PairThreads {
  let helper: Worker | null | undefined;
  /** The helper worker, started on first use (null where it cannot start: then this thread sums every block). */
  const helperWorker = (): Worker | null => {
    if (helper !== undefined) return helper;
    try {
      // No flags of this process (an --input-type=module would make the program ESM, a loader would slow its start).
      const w = new Worker(helperSource(helperSum), { eval: true, execArgv: [] });
      // Never what keeps a process alive; a helper that dies is replaced by this thread alone.
      w.unref();
      w.on('error', () => {
        if (helper === w) helper = null;
      });
      helper = w;
    } catch {
      helper = null;
    }
    return helper;
  };
  return {
    run(tables, blocks, size) {
      const ctl = new Int32Array(new SharedArrayBuffer(4 * 4));
      const w = allShared(tables) ? helperWorker() : null;
      if (w) {
        pairThreadStats.runs++;
        w.postMessage({ tables, ctl, blocks, size });
      }
      takeBlocks(directBlock, SLOTS, tables, ctl, blocks, size, false);
      // Every block is claimed now; wait for those the helper is still summing.
      const until = Date.now() + HELPER_WAIT_MS;
      for (let f = Atomics.load(ctl, SLOTS.finished); f < blocks; f = Atomics.load(ctl, SLOTS.finished)) {
        if (Date.now() > until)
          throw new Error(`the gain's helper thread did not finish its pairs in ${HELPER_WAIT_MS} ms`);
        Atomics.wait(ctl, SLOTS.finished, f, 100);
      }
      pairThreadStats.helperBlocks += Atomics.load(ctl, SLOTS.helperBlocks);
      if (Atomics.load(ctl, SLOTS.over) !== 2) return Atomics.load(ctl, SLOTS.over) === 0;
      // The helper failed on a block (it should not: plain arithmetic on typed arrays): from now on this thread sums
      // every block, this run's again from the start.
      helper = null;
      void w?.terminate();
      const again = new Int32Array(new SharedArrayBuffer(4 * 4));
      takeBlocks(directBlock, SLOTS, tables, again, blocks, size, false);
      pairThreadStats.helperFailures++;
      return Atomics.load(again, SLOTS.over) === 0;
    },
  };
}

/** The provider's pairThreads: twoThreads with the real directBlock, one helper for the process. */
export const twoThreadPairs: PairThreads = twoThreads();
