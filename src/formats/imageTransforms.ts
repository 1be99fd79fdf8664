// torchvision's image transforms as they act on PIL images (the ImageFolder path): Resize (PIL's bilinear filter,
// antialiased when shrinking, 8-bit rounding after each pass), CenterCrop (torchvision's rounding and zero padding),
// ToTensor (/255) and Normalize, written from the documented behaviour of Pillow's Resample.c and torchvision's
// functional.py. Pure: 8-bit images in, float32 model input out. Checked against torchvision's own pipeline in
// test/unit/formats/imageTransforms.test.ts (fixtures from test/fixtures/images/make_transform_fixtures.py).

/** An 8-bit image, interleaved (HWC), 1 or 3 channels. */
export interface Image8 {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

/** Pillow's fixed-point precision for 8-bit resampling (32 bits - 8 for the value - 2 for the sign and headroom). */
const PRECISION_BITS = 22;

/** Per output position: the first input index, the count, and the integer weights (Pillow's precompute_coeffs). */
interface Coeffs {
  bounds: Int32Array;
  size: number;
  weights: Float64Array;
}

/**
 * The bilinear (triangle) filter's coefficients from inSize to outSize, widened by the scale when shrinking
 * (antialias).
 */
function bilinearCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle filter's support is 1
  const size = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * size);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    const k = new Float64Array(xmax);
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const v = total !== 0 ? k[x]! / total : k[x]!;
      // 8-bit path: weights in fixed point, rounded half away from zero.
      weights[xx * size + x] =
        v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, size, weights };
}

/** Pillow's clip8: the fixed-point sum back to 0..255. */
function clip8(v: number): number {
  if (v >= 256 * (1 << PRECISION_BITS)) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / (1 << PRECISION_BITS));
}

/** Resamples along x (horizontal = true) or y, 8-bit in and out. */
function pass(src: Image8, outW: number, outH: number, horizontal: boolean): Image8 {
  const c = src.channels;
  const co = bilinearCoeffs(horizontal ? src.width : src.height, horizontal ? outW : outH);
  const out = new Uint8Array(outW * outH * c);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const min = co.bounds[2 * o]!;
      const n = co.bounds[2 * o + 1]!;
      for (let k = 0; k < c; k++) {
        let ss = half;
        for (let j = 0; j < n; j++) {
          const idx = horizontal ? (y * src.width + min + j) * c + k : ((min + j) * src.width + x) * c + k;
          ss += src.pixels[idx]! * co.weights[o * co.size + j]!;
        }
        out[(y * outW + x) * c + k] = clip8(ss);
      }
    }
  }
  return { width: outW, height: outH, channels: c, pixels: out };
}

/** PIL's Image.resize((W, H), BILINEAR) on an 8-bit image: horizontal pass, then vertical, each rounded to 8 bits. */
export function resizeBilinear(img: Image8, outH: number, outW: number): Image8 {
  let cur = img;
  if (outW !== cur.width) cur = pass(cur, outW, cur.height, true);
  if (outH !== cur.height) cur = pass(cur, outW, outH, false);
  return cur;
}

/**
 * torchvision's Resize output size: an int sets the shorter side (the longer scaled and truncated), [H, W] is exact.
 */
export function resizedSize(
  height: number,
  width: number,
  resize: number | readonly [number, number],
): [number, number] {
  if (typeof resize !== 'number') return [resize[0], resize[1]];
  const [short, long] = width <= height ? [width, height] : [height, width];
  if (short === resize) return [height, width];
  const newLong = Math.trunc((resize * long) / short);
  return width <= height ? [newLong, resize] : [resize, newLong];
}

/** Python's round(): to the nearest integer, halves to the even one (torchvision's center_crop offsets use it). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * torchvision's CenterCrop to [H, W]: an image smaller than the crop is padded with zeros first (as torchvision does).
 */
export function centerCrop(img: Image8, outH: number, outW: number): Image8 {
  let cur = img;
  if (outW > cur.width || outH > cur.height) {
    const padL = Math.floor(Math.max(0, outW - cur.width) / 2);
    const padT = Math.floor(Math.max(0, outH - cur.height) / 2);
    const padR = Math.max(0, outW - cur.width) - padL;
    const padB = Math.max(0, outH - cur.height) - padT;
    const w = cur.width + padL + padR;
    const h = cur.height + padT + padB;
    const px = new Uint8Array(w * h * cur.channels);
    for (let y = 0; y < cur.height; y++)
      px.set(
        cur.pixels.subarray(y * cur.width * cur.channels, (y + 1) * cur.width * cur.channels),
        ((y + padT) * w + padL) * cur.channels,
      );
    cur = { width: w, height: h, channels: cur.channels, pixels: px };
    if (w === outW && h === outH) return cur;
  }
  const top = roundHalfEven((cur.height - outH) / 2);
  const left = roundHalfEven((cur.width - outW) / 2);
  const c = cur.channels;
  const out = new Uint8Array(outW * outH * c);
  for (let y = 0; y < outH; y++)
    out.set(
      cur.pixels.subarray(((y + top) * cur.width + left) * c, ((y + top) * cur.width + left + outW) * c),
      y * outW * c,
    );
  return { width: outW, height: outH, channels: c, pixels: out };
}

/**
 * The steps from a decoded image to the model input, in torchvision's order: Resize, CenterCrop, ToTensor, Normalize.
 */
export interface TransformPlan {
  /** Resize: shorter side (int) or [H, W]; null: none. */
  resize: number | readonly [number, number] | null;
  /** CenterCrop to [H, W]; null: none. */
  centerCrop: readonly [number, number] | null;
  /** Per channel (or one value for all): (x / 255 - mean) / std. */
  mean: readonly number[];
  std: readonly number[];
  layout: 'NCHW' | 'NHWC';
}

/** The [H, W] the plan gives for an image of the given size. */
export function transformedSize(plan: TransformPlan, height: number, width: number): [number, number] {
  if (plan.centerCrop) return [plan.centerCrop[0], plan.centerCrop[1]];
  return plan.resize !== null ? resizedSize(height, width, plan.resize) : [height, width];
}

/** Applies the plan to one 8-bit image, writing H x W x C float32 values (in the plan's layout) into out at offset. */
export function transformInto(plan: TransformPlan, img: Image8, out: Float32Array, offset: number): void {
  let cur = img;
  if (plan.resize !== null) {
    const [h, w] = resizedSize(cur.height, cur.width, plan.resize);
    cur = resizeBilinear(cur, h, w);
  }
  if (plan.centerCrop) cur = centerCrop(cur, plan.centerCrop[0], plan.centerCrop[1]);
  const { width: W, height: H, channels: C, pixels } = cur;
  const hw = H * W;
  for (let k = 0; k < C; k++) {
    const mean = plan.mean.length === 1 ? plan.mean[0]! : (plan.mean[k] ?? 0);
    const std = plan.std.length === 1 ? plan.std[0]! : (plan.std[k] ?? 1);
    for (let p = 0; p < hw; p++) {
      // ToTensor's division, then Normalize, both in float32 as torch does them.
      const v = Math.fround(Math.fround(Math.fround(pixels[p * C + k]! / 255) - Math.fround(mean)) / Math.fround(std));
      out[offset + (plan.layout === 'NCHW' ? k * hw + p : p * C + k)] = v;
    }
  }
}
