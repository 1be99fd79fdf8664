// The gain's direct sums on two threads (MatMul.pairThreads): for each of directSums' jobs (set-up, thresholds,
// candidate lists, pairs) this thread and one helper worker take blocks of rows from a shared counter until none is
// left, so a helper that is slow to start (or busy) only means this thread does more of them. Both run the same
// takeBlocks and jobs (DIRECT_JOBS, src/core/numerics/gain.ts); the helper is given their source, so none names
// anything outside itself but its arguments.
import { Worker } from 'node:worker_threads';
import {
  DIRECT_JOBS,
  DIRECT_LIB,
  sortDescending,
  type DirectJob,
  type DirectLib,
  type DirectTables,
  type PairThreads,
} from '../core/numerics/gain';

/**
 * Where each control word of a run lives in its Int32Array (a SharedArrayBuffer): the next block to claim, blocks
 * finished, "over budget" (1; 2: the helper failed), and the blocks the helper summed.
 */
const SLOTS = { next: 0, finished: 1, over: 2, helperBlocks: 3 } as const;
type Slots = typeof SLOTS;

/** The longest wait for the helper's last block before the run is called broken (ms). */
const HELPER_WAIT_MS = 60_000;

/** The helper's program: takeBlocks on every run it is handed, with jobs (each job's source) as its jobs. */
const helperSource = (jobs: Record<DirectJob, string>): string => `
const { parentPort } = require('node:worker_threads');
const jobs = { ${Object.entries(jobs)
  .map(([name, src]) => `${name}: (${src})`)
  .join(', ')} };
const lib = { sortDescending: (${sortDescending.toString()}) };
const takeBlocks = ${takeBlocks.toString()};
const slots = ${JSON.stringify(SLOTS)};
parentPort.on('message', ({ job, tables, ctl, blocks, size }) =>
  takeBlocks(jobs[job], lib, slots, tables, ctl, blocks, size, true));
`;

/**
 * What the helpers did, for tests: directSums calls handed to one (their pairs job), jobs handed to one, blocks they
 * ran, runs done again after one failed.
 */
export const pairThreadStats = { runs: 0, jobs: 0, helperBlocks: 0, helperFailures: 0 };

type Job = (typeof DIRECT_JOBS)[DirectJob];

/**
 * Claims blocks from ctl and runs job on them until none is left or one went over budget, marking each finished. On
 * the helper (inHelper) it also counts its blocks, wakes the waiting thread after each, and records a throw as "the
 * helper failed" (the block still finished) instead of leaving that thread waiting.
 */
function takeBlocks(
  job: Job,
  lib: DirectLib,
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
        if (!job(tables, b * size, Math.min(tables.K, (b + 1) * size), counts, lib)) Atomics.store(ctl, slots.over, 1);
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
 * MatMul.pairThreads on this thread and one helper worker, whose jobs are DIRECT_JOBS' own sources but for those
 * replaced in helperJobs (only in tests: a helper that fails).
 */
export function twoThreads(helperJobs: Partial<Record<DirectJob, string>> = {}): PairThreads {
  const sources = Object.fromEntries(
    Object.entries(DIRECT_JOBS).map(([name, f]) => [name, helperJobs[name as DirectJob] ?? f.toString()]),
  ) as Record<DirectJob, string>;
  let helper: Worker | null | undefined;
  /** The helper worker, started on first use (null where it cannot start: then this thread sums every block). */
  const helperWorker = (): Worker | null => {
    if (helper !== undefined) return helper;
    try {
      // No flags of this process (an --input-type=module would make the program ESM, a loader would slow its start).
      const w = new Worker(helperSource(sources), { eval: true, execArgv: [] });
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
    run(job, tables, blocks, size) {
      const ctl = new Int32Array(new SharedArrayBuffer(4 * 4));
      const w = allShared(tables) ? helperWorker() : null;
      if (w) {
        pairThreadStats.jobs++;
        if (job === 'pairs') pairThreadStats.runs++;
        w.postMessage({ job, tables, ctl, blocks, size });
      }
      takeBlocks(DIRECT_JOBS[job], DIRECT_LIB, SLOTS, tables, ctl, blocks, size, false);
      // Every block is claimed now; wait for those the helper is still summing.
      const until = Date.now() + HELPER_WAIT_MS;
      for (let f = Atomics.load(ctl, SLOTS.finished); f < blocks; f = Atomics.load(ctl, SLOTS.finished)) {
        if (Date.now() > until)
          throw new Error(`the gain's helper thread did not finish its ${job} blocks in ${HELPER_WAIT_MS} ms`);
        Atomics.wait(ctl, SLOTS.finished, f, 100);
      }
      pairThreadStats.helperBlocks += Atomics.load(ctl, SLOTS.helperBlocks);
      if (Atomics.load(ctl, SLOTS.over) !== 2) return Atomics.load(ctl, SLOTS.over) === 0;
      // The helper failed on a block (it should not: plain arithmetic on typed arrays): from now on this thread runs
      // every block, this run's again from the start (a job writes only its own blocks' entries).
      helper = null;
      void w?.terminate();
      const again = new Int32Array(new SharedArrayBuffer(4 * 4));
      takeBlocks(DIRECT_JOBS[job], DIRECT_LIB, SLOTS, tables, again, blocks, size, false);
      pairThreadStats.helperFailures++;
      return Atomics.load(again, SLOTS.over) === 0;
    },
  };
}

/** The provider's pairThreads: twoThreads with the real jobs, one helper for the process. */
export const twoThreadPairs: PairThreads = twoThreads();
