// Input-level CutMix as an alternative to SelMix's feature mixup (docs/ALGORITHM.md section 4 mixes pre-logit
// features). The gain model of section 3 assumes feature mixup; with CutMix, G is still computed from
// feature centroids, so it is a heuristic guide there (stated in README).
import type { ExampleSet } from './evaluate';
import type { Rng } from '../numerics/rng';

/**
 * For each pair k, the anchor image with a box of the partner image pasted in. The box covers a fraction
 * 1 - lam[k] of the image (side sqrt(1 - lam) of each dimension), centred uniformly and clipped at the
 * border. Returns the mixed images (flat NHWC) and the realised anchor fraction of each.
 */
export function cutmixRows(
  anchorSet: ExampleSet,
  partnerSet: ExampleSet,
  anchors: ArrayLike<number>,
  partners: ArrayLike<number>,
  lam: ArrayLike<number>,
  rng: Rng,
): { x: Float32Array; lamEff: Float32Array } {
  const [H, W, Ch] = anchorSet.shape as [number, number, number];
  const per = H * W * Ch;
  const n = anchors.length;
  const x = new Float32Array(n * per);
  const lamEff = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const a = anchors[k]!;
    const p = partners[k]!;
    x.set(anchorSet.x.subarray(a * per, (a + 1) * per), k * per);
    const cut = Math.sqrt(Math.max(0, 1 - lam[k]!));
    const bh = Math.round(H * cut);
    const bw = Math.round(W * cut);
    const cy = rng.int(H);
    const cx = rng.int(W);
    const y0 = Math.max(0, cy - (bh >> 1));
    const y1 = Math.min(H, cy + bh - (bh >> 1));
    const x0 = Math.max(0, cx - (bw >> 1));
    const x1 = Math.min(W, cx + bw - (bw >> 1));
    for (let yy = y0; yy < y1; yy++) {
      const off = (yy * W + x0) * Ch;
      x.set(partnerSet.x.subarray(p * per + off, p * per + off + (x1 - x0) * Ch), k * per + off);
    }
    lamEff[k] = 1 - ((y1 - y0) * (x1 - x0)) / (H * W);
  }
  return { x, lamEff };
}
