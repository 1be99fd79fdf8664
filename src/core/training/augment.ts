// Augmentation of training images for whole-network runs (the paper's): a random crop of the image padded by 4 pixels
// on every side, and a horizontal flip with probability 1/2, every draw from the run's generator (so a resumed run
// draws the same). Pure: images in the model's layout (NCHW or NHWC), padded with the value a black pixel has after
// normalisation, per channel.
import type { Rng } from '../numerics/rng';

/** How training images are augmented: their layout, one example's shape, and the pad value of each channel. */
export interface AugmentSpec {
  layout: 'NCHW' | 'NHWC';
  /** One example's shape, in the layout ([C, H, W] or [H, W, C]). */
  shape: number[];
  /** The padding's value per channel (a zero pixel, normalised). */
  pad: number[];
  /** Pixels of padding before the crop (4 for CIFAR). */
  padding: number;
}

/**
 * Crops and flips each of the n images of x in place (random offsets in [-padding, padding], flip with probability
 * 1/2).
 */
export function augmentImages(x: Float32Array, n: number, spec: AugmentSpec, rng: Rng): void {
  const [C, H, W] =
    spec.layout === 'NCHW'
      ? [spec.shape[0]!, spec.shape[1]!, spec.shape[2]!]
      : [spec.shape[2]!, spec.shape[0]!, spec.shape[1]!];
  const per = C * H * W;
  const src = new Float32Array(per);
  const p = spec.padding;
  const at =
    spec.layout === 'NCHW'
      ? (c: number, y: number, xx: number) => (c * H + y) * W + xx
      : (c: number, y: number, xx: number) => (y * W + xx) * C + c;
  for (let i = 0; i < n; i++) {
    const dy = rng.int(2 * p + 1) - p;
    const dx = rng.int(2 * p + 1) - p;
    const flip = rng.next() < 0.5;
    const img = x.subarray(i * per, (i + 1) * per);
    src.set(img);
    for (let c = 0; c < C; c++) {
      const fill = spec.pad[spec.pad.length === 1 ? 0 : c] ?? 0;
      for (let y = 0; y < H; y++) {
        const sy = y + dy;
        for (let xx = 0; xx < W; xx++) {
          const sx = (flip ? W - 1 - xx : xx) + dx;
          img[at(c, y, xx)] = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[at(c, sy, sx)]! : fill;
        }
      }
    }
  }
}
