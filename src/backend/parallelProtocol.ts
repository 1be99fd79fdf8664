// Shared-memory protocol between the parallel gain matmul and its helper thread (see matmulWorker.ts).

/** Slots of the Int32Array control block. */
export const CTRL = { state: 0, m: 1, k: 2, n: 3, length: 4 } as const;

/** Values of ctrl[CTRL.state]. */
export const STATE = { starting: 0, idle: 1, job: 2, done: 3, failed: 4, exit: 5 } as const;
