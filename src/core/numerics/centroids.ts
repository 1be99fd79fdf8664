// Class centroids of raw features (docs/ALGORITHM.md section 3, "Inputs").

/** Per-class mean feature Z (K x d, row-major) and class counts; a class with no examples gets a zero row. */
export function classCentroids(
  features: ArrayLike<number>,
  N: number,
  d: number,
  labels: ArrayLike<number>,
  K: number,
): { Z: Float64Array; counts: number[] } {
  if (features.length !== N * d)
    throw new RangeError(`classCentroids: ${features.length} feature values, expected N*d = ${N * d}`);
  if (labels.length !== N) throw new RangeError(`classCentroids: ${labels.length} labels, expected ${N}`);
  const Z = new Float64Array(K * d);
  const counts = new Array<number>(K).fill(0);
  for (let n = 0; n < N; n++) {
    const y = labels[n]!;
    if (!Number.isInteger(y) || y < 0 || y >= K)
      throw new RangeError(`classCentroids: labels[${n}] = ${y} is not in [0, ${K})`);
    counts[y]! += 1;
    const o = y * d;
    const f = n * d;
    for (let r = 0; r < d; r++) Z[o + r]! += features[f + r]!;
  }
  for (let k = 0; k < K; k++) {
    if (counts[k] === 0) continue;
    const inv = 1 / counts[k]!;
    for (let r = 0; r < d; r++) Z[k * d + r]! *= inv;
  }
  return { Z, counts };
}
