// The SelMix sampling distribution over ordered class pairs (docs/ALGORITHM.md section 4).
import { TrainingError } from '../errors';

/**
 * P = normalise(softmax_all(s G) * [G > 0] + eps): a joint softmax over all K^2 entries (max-subtracted),
 * masked to positive gains, smoothed by eps and renormalised; uniform when no gain is positive
 * (docs/ALGORITHM.md section 4).
 */
export function samplingDistribution(G: Float64Array, K: number, s: number, eps = 1e-8): Float64Array {
  const n = K * K;
  if (G.length !== n) throw new RangeError(`samplingDistribution: G has ${G.length} entries, expected ${n}`);
  if (!(s >= 0) || !Number.isFinite(s))
    throw new RangeError(`samplingDistribution: s must be finite and >= 0, got ${s}`);
  if (!(eps >= 0)) throw new RangeError(`samplingDistribution: eps must be >= 0, got ${eps}`);
  const P = new Float64Array(n);
  let mx = -Infinity;
  let anyPos = false;
  for (let t = 0; t < n; t++) {
    const g = G[t]!;
    if (Number.isNaN(g)) {
      throw new TrainingError(
        `the gain of class pair (${Math.floor(t / K)}, ${t % K}) is NaN: the objective's derivative or the model's features ` +
          'are not finite at this refresh. If the weights diverged, lower training.lr; with a customObjective, keep it away from divisions by 0 and log(0).',
      );
    }
    if (g > 0) anyPos = true;
    mx = Math.max(mx, g);
  }
  if (!anyPos) return P.fill(1 / n);
  // One exponential per entry: P holds exp(s (g - max g)) where g > 0 until the normalisation. Subtracting before
  // scaling keeps every exponent <= 0 and finite for any finite s (s g itself overflows to Infinity at s = 1e308).
  let z = 0;
  let kept = 0;
  for (let t = 0; t < n; t++) {
    const g = G[t]!;
    const x = s * (g - mx);
    // Math.exp is exactly 0 below -745.14 (under the least subnormal); skipping the call there changes nothing and
    // spares its slow path on the far tail (large logit gaps put most of the K^2 gains there).
    const e = x < -746 ? 0 : Math.exp(x);
    z += e;
    if (g > 0) {
      P[t] = e;
      kept += e;
    }
  }
  // (e / z + eps) / total, where total = sum_t (e_t / z + eps) = kept / z + n eps is known before the pass: one pass
  // over P instead of three (the largest entry, e = 1, is kept, so total > 0).
  const total = kept / z + n * eps;
  const a = 1 / (z * total),
    c = eps / total;
  for (let t = 0; t < n; t++) P[t] = P[t]! * a + c;
  return P;
}

/**
 * The distribution a run samples from after a refresh (docs/ALGORITHM.md section 4, "Smoothing"): smoothing x the
 * previous one + (1 - smoothing) x the one of the current gains, a distribution again. prev null (the first refresh)
 * or smoothing 0: next itself. Into out when given (it may be next itself: each entry is read before it is written),
 * else a new array.
 */
export function smoothDistribution(
  prev: Float64Array | null,
  next: Float64Array,
  smoothing: number,
  out?: Float64Array,
): Float64Array {
  if (!(smoothing >= 0 && smoothing < 1))
    throw new RangeError(`smoothDistribution: smoothing must be in [0, 1), got ${smoothing}`);
  if (!prev || smoothing === 0) return next;
  if (prev.length !== next.length)
    throw new RangeError(`smoothDistribution: ${prev.length} previous entries, ${next.length} new ones`);
  if (out && out.length !== next.length)
    throw new RangeError(`smoothDistribution: out has ${out.length} entries, ${next.length} expected`);
  out ??= new Float64Array(next.length);
  for (let i = 0; i < next.length; i++) out[i] = smoothing * prev[i]! + (1 - smoothing) * next[i]!;
  return out;
}
