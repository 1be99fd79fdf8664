// SELMIX_ORT_THREADS for the length of one call: ONNX Runtime sessions read it when they are created.

/** Runs fn with SELMIX_ORT_THREADS set to threads (undefined: unset), restoring it after. */
export function withOrtThreads<T>(threads: string | undefined, fn: () => T): T {
  const saved = process.env.SELMIX_ORT_THREADS;
  if (threads === undefined) delete process.env.SELMIX_ORT_THREADS;
  else process.env.SELMIX_ORT_THREADS = threads;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.SELMIX_ORT_THREADS;
    else process.env.SELMIX_ORT_THREADS = saved;
  }
}
