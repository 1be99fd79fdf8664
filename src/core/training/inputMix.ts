// Input-level mixing of a whole-network batch (docs/ALGORITHM.md section 4.1), done in JS on the images before the
// step graph runs: CutMix (a box of the partner pasted into the anchor) and a simplified, saliency-guided PuzzleMix (a
// grid of cells, each taken from the image whose saliency it holds more of, at the mixing ratio SelMix draws). Both
// return the mixed images and the anchor's share of the pixels, which weights the soft target between the two labels.
// Pure: images in the model's layout (NCHW or NHWC), every random draw from the run's generator.
import type { Rng } from '../numerics/rng';

/** How one example is laid out: NCHW ([C, H, W]) or NHWC ([H, W, C]). */
export interface ImageLayout {
  layout: 'NCHW' | 'NHWC';
  /** One example's shape, in the layout. */
  shape: number[];
}

/** A box of rows [y0, y1) and columns [x0, x1). */
export interface Box {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/** Mixed images (flat, the layout) and the fraction of each image's pixels that come from the anchor. */
export interface MixedBatch {
  x: Float32Array;
  lamEff: Float32Array;
}

/** Channels, height, width and the flat offset of (c, y, x) within one example. */
export function imageDims(l: ImageLayout): {
  C: number;
  H: number;
  W: number;
  at: (c: number, y: number, x: number) => number;
} {
  const [a, b, c] = l.shape as [number, number, number];
  if (l.shape.length !== 3) throw new RangeError(`input mixing needs images of 3 dimensions, not [${l.shape}]`);
  return l.layout === 'NCHW'
    ? { C: a, H: b, W: c, at: (ch, y, x) => (ch * b + y) * c + x }
    : { C: c, H: a, W: b, at: (ch, y, x) => (y * b + x) * c + ch };
}

/**
 * The CutMix box for an anchor weight lam: sides sqrt(1 - lam) of each dimension (rounded), centred uniformly and
 * clipped at the border, so the box covers at most a fraction 1 - lam of the image.
 */
export function cutmixBox(H: number, W: number, lam: number, rng: Rng): Box {
  const cut = Math.sqrt(Math.max(0, 1 - lam));
  const bh = Math.round(H * cut);
  const bw = Math.round(W * cut);
  const cy = rng.int(H);
  const cx = rng.int(W);
  return {
    y0: Math.max(0, cy - (bh >> 1)),
    y1: Math.min(H, cy + bh - (bh >> 1)),
    x0: Math.max(0, cx - (bw >> 1)),
    x1: Math.min(W, cx + bw - (bw >> 1)),
  };
}

/** Copies the pixels where take(y, x) holds from partner image k into anchor image k of out. */
function paste(
  out: Float32Array,
  xp: Float32Array,
  k: number,
  l: ImageLayout,
  take: (y: number, x: number) => boolean,
): number {
  const { C, H, W, at } = imageDims(l);
  const base = k * C * H * W;
  let n = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      if (!take(y, x)) continue;
      n++;
      for (let c = 0; c < C; c++) out[base + at(c, y, x)] = xp[base + at(c, y, x)]!;
    }
  return n;
}

/**
 * CutMix of n pairs: anchor k with a box of partner k pasted in (cutmixBox at lam[k]); lamEff[k] is the anchor's
 * realised share of the pixels.
 */
export function cutmixImages(
  xa: Float32Array,
  xp: Float32Array,
  n: number,
  l: ImageLayout,
  lam: ArrayLike<number>,
  rng: Rng,
): MixedBatch & { boxes: Box[] } {
  const { H, W } = imageDims(l);
  const x = xa.slice();
  const lamEff = new Float32Array(n);
  const boxes: Box[] = [];
  for (let k = 0; k < n; k++) {
    const b = cutmixBox(H, W, lam[k]!, rng);
    boxes.push(b);
    const got = paste(x, xp, k, l, (y, xx) => y >= b.y0 && y < b.y1 && xx >= b.x0 && xx < b.x1);
    lamEff[k] = 1 - got / (H * W);
  }
  return { x, lamEff, boxes };
}

/**
 * Soft targets of mixed images (B x K): wa[i] on the anchor's class and 1 - wa[i] on the partner's (1 on the class
 * when they are the same).
 */
export function softTargets(
  ya: ArrayLike<number>,
  yp: ArrayLike<number>,
  wa: ArrayLike<number>,
  K: number,
): Float32Array {
  const y = new Float32Array(ya.length * K);
  for (let i = 0; i < ya.length; i++) {
    y[i * K + ya[i]!] += wa[i]!;
    y[i * K + yp[i]!] += 1 - wa[i]!;
  }
  return y;
}

/** The rows [r0, r1) of grid row r of g over H pixels (and the same for columns). */
const cellSpan = (r: number, g: number, H: number): [number, number] => [
  Math.floor((r * H) / g),
  Math.floor(((r + 1) * H) / g),
];

/**
 * Saliency of n images pooled to a g x g grid: |gradient| summed over channels and over each cell's pixels, then
 * normalised to sum 1 per image (uniform when the gradient is zero). Returns n x g^2, row-major cells.
 */
export function saliencyGrid(grad: Float32Array, n: number, l: ImageLayout, g: number): Float64Array {
  const { C, H, W, at } = imageDims(l);
  if (g < 1 || g > H || g > W) throw new RangeError(`saliency grid ${g} does not fit an image of ${H} x ${W}`);
  const per = C * H * W;
  const out = new Float64Array(n * g * g);
  for (let k = 0; k < n; k++) {
    const row = out.subarray(k * g * g, (k + 1) * g * g);
    for (let gy = 0; gy < g; gy++) {
      const [y0, y1] = cellSpan(gy, g, H);
      for (let gx = 0; gx < g; gx++) {
        const [x0, x1] = cellSpan(gx, g, W);
        let s = 0;
        for (let y = y0; y < y1; y++)
          for (let x = x0; x < x1; x++) for (let c = 0; c < C; c++) s += Math.abs(grad[k * per + at(c, y, x)]!);
        row[gy * g + gx] = s;
      }
    }
    const tot = row.reduce((a, v) => a + v, 0);
    for (let c = 0; c < row.length; c++) row[c] = tot > 0 ? row[c]! / tot : 1 / row.length;
  }
  return out;
}

/**
 * The simplified PuzzleMix mask of one pair: which m of the cells come from the partner. The kept saliency,
 * sum over partner cells of sp + sum over anchor cells of sa, is maximal for m cells exactly when the partner gets
 * the m cells of largest sp - sa (ties: the lower index first). 1 = partner.
 */
export function puzzleMask(sa: ArrayLike<number>, sp: ArrayLike<number>, m: number): Uint8Array {
  const n = sa.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => sp[j]! - sa[j]! - (sp[i]! - sa[i]!) || i - j);
  const mask = new Uint8Array(n);
  for (let t = 0; t < Math.min(m, n); t++) mask[order[t]!] = 1;
  return mask;
}

/**
 * Saliency-guided mixing of n pairs on a g x g grid: pair k takes round((1 - lam[k]) g^2) cells from the partner,
 * those puzzleMask picks from the two images' pooled saliency (saliencyGrid rows k of sa and sp). lamEff[k] is the
 * anchor's share of the pixels.
 */
export function puzzleImages(
  xa: Float32Array,
  xp: Float32Array,
  n: number,
  l: ImageLayout,
  g: number,
  sa: Float64Array,
  sp: Float64Array,
  lam: ArrayLike<number>,
): MixedBatch & { masks: Uint8Array[] } {
  const { H, W } = imageDims(l);
  const x = xa.slice();
  const lamEff = new Float32Array(n);
  const masks: Uint8Array[] = [];
  const cells = g * g;
  const rowOf = new Int32Array(H);
  const colOf = new Int32Array(W);
  for (let r = 0; r < g; r++) {
    const [y0, y1] = cellSpan(r, g, H);
    for (let y = y0; y < y1; y++) rowOf[y] = r;
    const [x0, x1] = cellSpan(r, g, W);
    for (let xx = x0; xx < x1; xx++) colOf[xx] = r;
  }
  for (let k = 0; k < n; k++) {
    const m = Math.round((1 - lam[k]!) * cells);
    const mask = puzzleMask(sa.subarray(k * cells, (k + 1) * cells), sp.subarray(k * cells, (k + 1) * cells), m);
    masks.push(mask);
    const got = paste(x, xp, k, l, (y, xx) => mask[rowOf[y]! * g + colOf[xx]!] === 1);
    lamEff[k] = 1 - got / (H * W);
  }
  return { x, lamEff, masks };
}
