// The training worker runs below the editor's priority: on Linux its thread gets nice WORKER_NICE when the worker
// loads, and the threads it starts later (ONNX Runtime's and libvips's pools) inherit it. A run that takes every core
// then leaves VS Code's windows (webviews, the palette) their share; on an idle machine it changes nothing. Elsewhere
// os.setPriority would lower the whole extension host, so it is left as it is. Imported first by worker.ts.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The nice value of the worker's thread on Linux. */
export const WORKER_NICE = 10;

/** Lowers the calling thread's priority on Linux; says what it did, for the run's log. */
export function lowerThreadPriority(platform = process.platform): string {
  if (platform !== 'linux') return `worker priority unchanged (${platform})`;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return 'worker priority unchanged (no thread id)';
    // Never raise it: a worker started from an already lowered editor keeps the lower one.
    if (getPriority(tid) < WORKER_NICE) setPriority(tid, WORKER_NICE);
    return `worker thread ${tid} at nice ${getPriority(tid)}`;
  } catch (e) {
    return `worker priority unchanged (${(e as Error).message})`;
  }
}

/** What lowerThreadPriority did when this module loaded. */
export const PRIORITY_NOTE = lowerThreadPriority();
