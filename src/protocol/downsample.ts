// Large K x K matrices shrunk for whatever shows or prints them: a view (the dashboard draws at most 100 x 100
// cells) and the CLI's --json lines (a K = 1000 refresh would be two 20 MB lines; report.json's .npy files keep the
// full matrices). Pure.
import type { FlatMatrix, RefreshPayload } from './messages';

/** Matrices larger than this per side are downsampled before they reach a view or a --json line. */
export const MAX_VIEW_SIDE = 100;
/** How a tile of a downsampled matrix is summarised. */
export type BlockReduce = 'maxAbs' | 'sum';

/** Downsamples a K x K matrix to at most maxSide per side by block x block tiles (block = ceil(K / maxSide)). */
export function downsampleMatrix(m: FlatMatrix, reduce: BlockReduce, maxSide = MAX_VIEW_SIDE): FlatMatrix {
  const K = m.K;
  // Plain arrays out (JSON lines; the host posts a view's matrices as Float32Array, src/extension/viewFeed.ts).
  if (K <= maxSide || m.data.length !== K * K) return Array.isArray(m.data) ? m : { ...m, data: Array.from(m.data) };
  const block = Math.ceil(K / maxSide);
  const n = Math.ceil(K / block);
  // Tile by tile along each row, into a typed array (the same additions and comparisons, in the same order, as one
  // entry at a time: about a third of the time at K = 1000, where the worker does this at every refresh).
  const acc = new Float64Array(n * n);
  const data = m.data;
  const sum = reduce === 'sum';
  for (let i = 0; i < K; i++) {
    const bi = Math.floor(i / block) * n;
    const row = i * K;
    for (let bj = 0; bj < n; bj++) {
      const c = bi + bj;
      const j1 = Math.min(K, (bj + 1) * block);
      let a = acc[c]!;
      if (sum) for (let j = bj * block; j < j1; j++) a += data[row + j]!;
      else
        for (let j = bj * block; j < j1; j++) {
          const v = data[row + j]!;
          if (Math.abs(v) > Math.abs(a)) a = v;
        }
      acc[c] = a;
    }
  }
  const out = Array.from(acc);
  return { K: n, data: out, block };
}

/** A refresh as a view gets it: G and P downsampled when K is large. */
export function compactRefresh(p: RefreshPayload): RefreshPayload {
  return { ...p, gain: downsampleMatrix(p.gain, 'maxAbs'), distribution: downsampleMatrix(p.distribution, 'sum') };
}
