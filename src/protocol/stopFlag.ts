// The stop request shared by the host and the worker thread: one Int32 in a SharedArrayBuffer, set by the host
// with Atomics.store and read by the training loop with Atomics.load at every step. Unlike the worker/stop
// message it needs no turn of the worker's event loop, so a step that never yields still sees it.

/** A stop request both threads can see at once (the worker gets the same buffer in its worker/start request). */
export class StopFlag {
  private readonly cell: Int32Array;

  /** Wraps buffer (the host's flag, posted to the worker), or a new one. */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)) {
    this.cell = new Int32Array(buffer, 0, 1);
  }

  /** Asks the run to stop (idempotent). */
  request(): void {
    Atomics.store(this.cell, 0, 1);
  }

  /** True once request() was called on this flag in any thread. */
  get requested(): boolean {
    return Atomics.load(this.cell, 0) === 1;
  }
}
