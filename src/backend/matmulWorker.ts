// The helper thread of the parallel gain matmul (src/backend/parallelMatMul.ts): its own tfjs wasm backend,
// driven through shared memory so the caller can stay synchronous. Protocol (Int32Array ctrl on a
// SharedArrayBuffer): the caller writes the operands into the data buffer, the sizes into ctrl and sets
// ctrl[STATE] = JOB; this thread computes, writes the product after the operands, sets DONE (or FAILED) and
// notifies; the caller resets IDLE (notified too) or sets EXIT. A larger data buffer arrives as a message, read
// synchronously on wake-up.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { initBackend, tfMatMul } from './backend';
import { CTRL, STATE } from './parallelProtocol';

interface Init {
  ctrl: SharedArrayBuffer;
  data: SharedArrayBuffer;
  wasmDir: string;
}

async function main(): Promise<void> {
  const init = workerData as Init;
  const ctrl = new Int32Array(init.ctrl);
  let data = new Float32Array(init.data);
  // The same probe as the caller's (setBackend's result and the numeric check); a cpu fallback is no use here.
  const ok = await initBackend({ choice: 'wasm', wasmDir: init.wasmDir }).then((b) => b.tfName === 'wasm', () => false);
  Atomics.store(ctrl, CTRL.state, ok ? STATE.idle : STATE.failed);
  Atomics.notify(ctrl, CTRL.state);
  parentPort?.postMessage({ ready: ok });
  if (!ok) return;
  for (;;) {
    // Sleep until the caller posts a job or asks to exit (every state change is notified).
    let s = Atomics.load(ctrl, CTRL.state);
    while (s === STATE.idle || s === STATE.done || s === STATE.failed) {
      Atomics.wait(ctrl, CTRL.state, s);
      s = Atomics.load(ctrl, CTRL.state);
    }
    if (s !== STATE.job) return;
    // A grown data buffer is posted before the job that needs it.
    for (let msg = parentPort && receiveMessageOnPort(parentPort); msg; msg = parentPort && receiveMessageOnPort(parentPort)) {
      data = new Float32Array((msg.message as { data: SharedArrayBuffer }).data);
    }
    const [m, k, n] = [ctrl[CTRL.m]!, ctrl[CTRL.k]!, ctrl[CTRL.n]!];
    try {
      data.set(tfMatMul(data.subarray(0, m * k), data.subarray(m * k, m * k + k * n), m, k, n), m * k + k * n);
      Atomics.store(ctrl, CTRL.state, STATE.done);
    } catch {
      Atomics.store(ctrl, CTRL.state, STATE.failed);
    }
    Atomics.notify(ctrl, CTRL.state);
  }
}

void main();
