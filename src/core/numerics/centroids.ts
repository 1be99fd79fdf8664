// Class centroids of raw features (docs/ALGORITHM.md section 3, "Inputs").

/**
 * Per-class mean feature Z (K x d, row-major) and class counts; a class with no examples gets a zero row. out: a
 * K x d array to write Z into (a caller's, reused between refreshes), else a new one.
 */
export function classCentroids(
  features: ArrayLike<number>,
  N: number,
  d: number,
  labels: ArrayLike<number>,
  K: number,
  out?: Float64Array,
): { Z: Float64Array; counts: number[] } {
  if (out && out.length !== K * d)
    throw new RangeError(`classCentroids: out has ${out.length} entries, expected K*d = ${K * d}`);
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
  const Z = out ?? new Float64Array(K * d);
  const acc = new Float64Array(d);
  for (let k = 0; k < K; k++) {
    const c0 = start[k]!,
      c1 = start[k + 1]!;
    if (c0 === c1) {
      if (out) Z.fill(0, k * d, (k + 1) * d);
      continue;
    }
    const inv = 1 / counts[k]!;
    const o = k * d;
    // Up to three rows (a validation set's few rows a class): one pass straight into Z, each entry the same sum
    // (0 + the rows in order) times inv as through acc below.
    if (c1 - c0 <= 3) {
      const f0 = order[c0]! * d,
        f1 = order[Math.min(c0 + 1, c1 - 1)]! * d,
        f2 = order[c1 - 1]! * d;
      if (c1 - c0 === 1) for (let r = 0; r < d; r++) Z[o + r] = (0 + features[f0 + r]!) * inv;
      else if (c1 - c0 === 2) for (let r = 0; r < d; r++) Z[o + r] = (0 + features[f0 + r]! + features[f1 + r]!) * inv;
      else for (let r = 0; r < d; r++) Z[o + r] = (0 + features[f0 + r]! + features[f1 + r]! + features[f2 + r]!) * inv;
      continue;
    }
    acc.fill(0);
    let c = c0;
    // Four rows per pass over acc, each entry's additions still in row order (the same sums to the last bit).
    for (; c + 3 < c1; c += 4) {
      const f0 = order[c]! * d,
        f1 = order[c + 1]! * d,
        f2 = order[c + 2]! * d,
        f3 = order[c + 3]! * d;
      for (let r = 0; r < d; r++) {
        let a = acc[r]!;
        a += features[f0 + r]!;
        a += features[f1 + r]!;
        a += features[f2 + r]!;
        a += features[f3 + r]!;
        acc[r] = a;
      }
    }
    for (; c + 1 < c1; c += 2) {
      const f0 = order[c]! * d,
        f1 = order[c + 1]! * d;
      for (let r = 0; r < d; r++) {
        let a = acc[r]!;
        a += features[f0 + r]!;
        a += features[f1 + r]!;
        acc[r] = a;
      }
    }
    for (; c < c1; c++) {
      const f = order[c]! * d;
      for (let r = 0; r < d; r++) acc[r]! += features[f + r]!;
    }
    for (let r = 0; r < d; r++) Z[o + r] = acc[r]! * inv;
  }
  return { Z, counts };
}
