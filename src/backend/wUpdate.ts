// W's SGD step with momentum and weight decay for the ONNX Runtime head step (onnxHeadStep.ts): in JS (hostUpdateW),
// and as a WebAssembly SIMD loop, four floats at a time (simdWUpdate). At K = 1000, d = 2048 the JS loop took about
// 6 ms a step and the SIMD one under 1 ms, plus a 1 ms copy of dW into its memory. f32x4.mul, add and sub round each
// lane to float32 as Math.fround of the same float64 operation does, in the same order, so W and its momentum are the
// same to the last bit (test/unit/backend/wUpdate.test.ts). The module is 174 bytes, written out below by a small
// encoder rather than kept as an opaque blob.
import type { HeadStepParams } from '../core/training/headStep';

/** Unsigned LEB128. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const simd = (op: number): number[] => [0xfd, ...leb(op)];
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
/** memarg: alignment hint 1 byte, offset 0 (the arrays are 16-byte aligned; the hint only promises less). */
const MEMARG = [0x00, 0x00];
const [LOAD, STORE, SPLAT, ADD, SUB, MUL] = [0x00, 0x0b, 0x13, 0xe4, 0xe5, 0xe6];

/**
 * u(w, m, d, bytes, lr, mu, wd): for every 16 bytes at offset i < bytes, with W at w, mW at m and dW at d,
 *   m' = mu mW + (dW + wd W);  W' = W - lr m'
 * Params 0-6 as listed; locals 7: i (i32), 8-10: lr, mu, wd splatted, 11: the lanes of W, 12: the new momentum.
 */
function moduleBytes(): Uint8Array {
  const lane = (base: number): number[] => [...get(base), ...get(7), 0x6a];
  // prettier-ignore
  const code = [
    ...[4, 5, 6].flatMap((p, k) => [...get(p), ...simd(SPLAT), ...set(8 + k)]),
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(7), ...get(3), 0x4f, 0x0d, 0x01, // i >= bytes: break
    ...lane(0), ...simd(LOAD), ...MEMARG, ...set(11),
    ...lane(1), ...simd(LOAD), ...MEMARG, ...get(9), ...simd(MUL), // mu mW
    ...lane(2), ...simd(LOAD), ...MEMARG, ...get(11), ...get(10), ...simd(MUL), ...simd(ADD), // dW + wd W
    ...simd(ADD), ...set(12),
    ...lane(1), ...get(12), ...simd(STORE), ...MEMARG,
    ...lane(0), ...get(11), ...get(12), ...get(8), ...simd(MUL), ...simd(SUB), ...simd(STORE), ...MEMARG,
    ...get(7), 0x41, 0x10, 0x6a, ...set(7), // i += 16
    0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br loop, end loop, end block, end function
  ];
  const fn = [0x02, 0x01, 0x7f, 0x05, 0x7b, ...code]; // locals: 1 i32, 5 v128
  // prettier-ignore
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [0x01, 0x60, 0x07, 0x7f, 0x7f, 0x7f, 0x7f, 0x7d, 0x7d, 0x7d, 0x00]), // (i32 x4, f32 x3) -> ()
    ...section(2, [0x01, ...name('e'), ...name('m'), 0x02, 0x00, 0x00]), // imports memory e.m
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, ...name('u'), 0x00, 0x00]), // exports u
    ...section(10, [0x01, ...leb(fn.length), ...fn]),
  ]);
}

/**
 * W's SGD step with momentum and weight decay, in place: mW <- mu mW + (dW + wd W), W <- W - lr mW, each product,
 * sum and difference rounded to float32 (a product or sum of two float32 values rounded from float64 is the float32
 * result itself), in the order the ONNX graph of this update computed them. Entries from `from` on.
 */
export function hostUpdateW(W: Float32Array, mW: Float32Array, dW: Float32Array, p: HeadStepParams, from = 0): void {
  if (mW.length !== W.length || dW.length !== W.length)
    throw new RangeError(`hostUpdateW: W, mW and dW have ${W.length}, ${mW.length} and ${dW.length} entries`);
  const f = Math.fround;
  const [lr, mu, wd] = [f(p.lr), f(p.momentum), f(p.wd)];
  for (let i = from; i < W.length; i++) {
    const w = W[i]!;
    const m = f(f(mW[i]! * mu) + f(dW[i]! + f(w * wd)));
    mW[i] = m;
    W[i] = w - f(m * lr);
  }
}

/** The WebAssembly calls used here (the ES2022 lib declares none; Node and Electron provide them). */
interface Wasm {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

let compiled: object | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is not available. */
function simdModule(): object | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/** W and its momentum in WebAssembly memory, and the SIMD step that updates them in place. */
export interface SimdWUpdate {
  /** W (n floats), updated in place by update. */
  readonly W: Float32Array;
  /** W's momentum (n floats), updated in place by update. */
  readonly mW: Float32Array;
  /** Room for dW in the same memory: an ONNX Runtime output written here needs no copy. */
  readonly dW: Float32Array;
  /**
   * mW <- mu mW + (dW + wd W), W <- W - lr mW, each operation rounded to float32 (hostUpdateW's update). dW may be
   * this object's own dW (written there already) or any array of n floats (copied in).
   */
  update(dW: Float32Array, p: HeadStepParams): void;
}

/** Memory for W, mW and a copy of dW (n floats each, 16-byte aligned); null where WebAssembly SIMD is missing. */
export function simdWUpdate(n: number): SimdWUpdate | null {
  const mod = simdModule();
  if (!wasm || !mod || !(n > 0)) return null;
  const stride = Math.ceil((n * 4) / 16) * 16;
  const memory = new wasm.Memory({ initial: Math.ceil((3 * stride) / 65536) });
  const u = new wasm.Instance(mod, { e: { m: memory } }).exports.u as (...a: number[]) => void;
  // The memory never grows, so these views stay attached.
  const W = new Float32Array(memory.buffer, 0, n);
  const mW = new Float32Array(memory.buffer, stride, n);
  const dWm = new Float32Array(memory.buffer, 2 * stride, n);
  const vectorBytes = n * 4 - ((n * 4) % 16);
  const f = Math.fround;
  return {
    W,
    mW,
    dW: dWm,
    update(dW: Float32Array, p: HeadStepParams): void {
      if (dW.length !== n) throw new RangeError(`simdWUpdate: dW has ${dW.length} entries, expected ${n}`);
      if (dW !== dWm) dWm.set(dW);
      u(0, stride, 2 * stride, vectorBytes, f(p.lr), f(p.momentum), f(p.wd));
      // The last n mod 4 entries in JS.
      hostUpdateW(W, mW, dW, p, vectorBytes / 4);
    },
  };
}
