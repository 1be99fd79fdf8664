// The joint confusion matrix of hard predictions (docs/ALGORITHM.md section 1) and its clipping.

/** Checks that a label/prediction is an integer class index in [0, K). */
function checkClass(v: number, K: number, what: string, n: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= K)
    throw new RangeError(`${what}[${n}] = ${v} is not a class index in [0, ${K})`);
}

/**
 * Joint confusion matrix C_kl = #{y = k, yhat = l} / N, K x K row-major (docs/ALGORITHM.md section 1); into out
 * when given (cleared first), else a new array.
 */
export function confusionMatrix(
  labels: ArrayLike<number>,
  preds: ArrayLike<number>,
  K: number,
  out?: Float64Array,
): Float64Array {
  const N = labels.length;
  if (preds.length !== N) throw new RangeError(`confusionMatrix: ${N} labels but ${preds.length} predictions`);
  if (N === 0) throw new RangeError('confusionMatrix: no examples');
  if (out && out.length !== K * K) throw new RangeError(`confusionMatrix: out has ${out.length} entries, not ${K * K}`);
  const C = out ? out.fill(0) : new Float64Array(K * K);
  // The cells that hold counts (at most N of K^2): only they are divided, the rest stay exactly 0.
  const cells = new Int32Array(Math.min(N, K * K));
  let used = 0;
  for (let n = 0; n < N; n++) {
    const y = labels[n]!;
    const p = preds[n]!;
    checkClass(y, K, 'labels', n);
    checkClass(p, K, 'preds', n);
    const t = y * K + p;
    if (C[t] === 0) cells[used++] = t;
    C[t]! += 1;
  }
  for (let u = 0; u < used; u++) C[cells[u]!]! /= N;
  return C;
}

/**
 * Element-wise clip of C to [lo, hi], not renormalised (docs/ALGORITHM.md section 1); into out when given (every entry
 * written), else a new array.
 */
export function clipConfusion(
  C: Float64Array,
  lo = 1e-7,
  hi = 1e4,
  out: Float64Array = new Float64Array(C.length),
): Float64Array {
  for (let t = 0; t < C.length; t++) out[t] = Math.min(hi, Math.max(lo, C[t]!));
  return out;
}

/** Number of examples of each class. */
export function classSupport(labels: ArrayLike<number>, K: number): number[] {
  const s = new Array<number>(K).fill(0);
  for (let n = 0; n < labels.length; n++) {
    const y = labels[n]!;
    checkClass(y, K, 'labels', n);
    s[y]! += 1;
  }
  return s;
}
