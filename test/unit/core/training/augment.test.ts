// Random crop (zero padding) and flip of training images: shifts and flips what it should, pads with the given value,
// draws from the run's generator only (same seed, same images), and leaves the identity when offsets are 0 and no flip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentImages } from '../../../../src/core/training/augment';
import { Rng } from '../../../../src/core/numerics/rng';

const img = (C: number, H: number, W: number) => Float32Array.from({ length: C * H * W }, (_, i) => i + 1);

test('every output pixel is an input pixel of the same channel (or the pad), and rows keep their order', () => {
  const [C, H, W] = [2, 5, 6];
  const x = img(C, H, W);
  const orig = x.slice();
  augmentImages(x, 1, { layout: 'NCHW', shape: [C, H, W], pad: [-1, -2], padding: 2 }, new Rng(3));
  for (let c = 0; c < C; c++)
    for (let i = 0; i < H * W; i++) {
      const v = x[c * H * W + i]!;
      assert.ok(
        v === (c === 0 ? -1 : -2) || (v > c * H * W && v <= (c + 1) * H * W && orig.includes(v)),
        `channel ${c}: ${v}`,
      );
    }
});

test('the same seed gives the same images; another seed other images', () => {
  const spec = { layout: 'NHWC' as const, shape: [8, 8, 3], pad: [0], padding: 4 };
  const a = Float32Array.from({ length: 4 * 3 * 64 }, (_, i) => i + 1);
  const b = a.slice();
  const c = a.slice();
  augmentImages(a, 4, spec, new Rng(7));
  augmentImages(b, 4, spec, new Rng(7));
  augmentImages(c, 4, spec, new Rng(8));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('over many draws: offsets span [-p, p], about half the images are flipped', () => {
  const [H, W] = [4, 4];
  const rng = new Rng(11);
  let flips = 0;
  const seen = new Set<number>();
  for (let t = 0; t < 400; t++) {
    const x = Float32Array.from({ length: H * W }, (_, i) => (i % W) + 10 * Math.floor(i / W));
    augmentImages(x, 1, { layout: 'NCHW', shape: [1, H, W], pad: [-99], padding: 1 }, rng);
    // Row 1 of the output: a row of the input (shifted) or padding; its first two valid entries tell the direction.
    const row = Array.from(x.subarray(W, 2 * W)).filter((v) => v !== -99);
    if (row.length >= 2 && row[1]! < row[0]!) flips++;
    seen.add(x[0]!);
  }
  assert.ok(flips > 150 && flips < 250, `${flips} flips in 400`);
  assert.ok(seen.has(-99), 'some crops reach the padding');
});
