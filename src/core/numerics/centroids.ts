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
  const counts = new Array<number>(K).fill(0);
  for (let n = 0; n < N; n++) {
    const y = labels[n]!;
    if (!Number.isInteger(y) || y < 0 || y >= K)
      throw new RangeError(`classCentroids: labels[${n}] = ${y} is not in [0, ${K})`);
    counts[y]! += 1;
  }
  // The rows of each class in ascending order (a counting sort), summed class by class into one d-wide row that
  // stays in cache: the same additions in the same order as row by row into Z, without a pass over all of Z per row.
  const start = new Int32Array(K + 1);
  for (let k = 0; k < K; k++) start[k + 1] = start[k]! + counts[k]!;
  const next = start.slice(0, K);
  const order = new Int32Array(N);
  for (let n = 0; n < N; n++) order[next[labels[n]!]!++] = n;
  const Z = new Float64Array(K * d);
  const acc = new Float64Array(d);
  for (let k = 0; k < K; k++) {
    const c0 = start[k]!,
      c1 = start[k + 1]!;
    if (c0 === c1) continue;
    acc.fill(0);
    for (let c = c0; c < c1; c++) {
      const f = order[c]! * d;
      for (let r = 0; r < d; r++) acc[r]! += features[f + r]!;
    }
    const inv = 1 / counts[k]!;
    const o = k * d;
    for (let r = 0; r < d; r++) Z[o + r] = acc[r]! * inv;
  }
  return { Z, counts };
}
