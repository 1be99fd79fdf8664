// Input-level mixing of whole-network batches (src/core/training/inputMix.ts): CutMix's box and its soft targets,
// the saliency grid, the simplified PuzzleMix mask (checked against a brute-force search over every mask), and
// seeded reproducibility, in both layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cutmixImages,
  imageDims,
  puzzleImages,
  puzzleMask,
  saliencyGrid,
  softTargets,
  type ImageLayout,
} from '../../../../src/core/training/inputMix';
import { Rng } from '../../../../src/core/numerics/rng';

const LAYOUTS: ImageLayout[] = [
  { layout: 'NCHW', shape: [3, 12, 10] },
  { layout: 'NHWC', shape: [12, 10, 3] },
];

/** n images whose every value says which image it is and which pixel: image k, pixel p -> base + k * 1000 + p. */
function tagged(n: number, l: ImageLayout, base: number): Float32Array {
  const { C, H, W, at } = imageDims(l);
  const x = new Float32Array(n * C * H * W);
  for (let k = 0; k < n; k++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) x[k * C * H * W + at(c, y, xx)] = base + k * 1000 + y * W + xx;
  return x;
}

for (const l of LAYOUTS) {
  test(`cutmix (${l.layout}): the box holds the partner's pixels at the same place, the rest the anchor's`, () => {
    const { C, H, W, at } = imageDims(l);
    const n = 5;
    const xa = tagged(n, l, 0);
    const xp = tagged(n, l, 1e6);
    const lam = [1, 0.6, 0.75, 0.9, 0.65];
    const { x, lamEff, boxes } = cutmixImages(xa, xp, n, l, lam, new Rng(3));
    for (let k = 0; k < n; k++) {
      const b = boxes[k]!;
      assert.ok(0 <= b.y0 && b.y0 <= b.y1 && b.y1 <= H && 0 <= b.x0 && b.x0 <= b.x1 && b.x1 <= W);
      let inBox = 0;
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) {
          const inside = y >= b.y0 && y < b.y1 && xx >= b.x0 && xx < b.x1;
          if (inside) inBox++;
          for (let c = 0; c < C; c++) {
            const i = k * C * H * W + at(c, y, xx);
            assert.equal(x[i], inside ? xp[i] : xa[i], `image ${k} pixel (${y}, ${xx}) channel ${c}`);
          }
        }
      assert.ok(Math.abs(lamEff[k]! - (1 - inBox / (H * W))) < 1e-6, `lamEff ${k}`);
      // The box's sides are sqrt(1 - lam) of the image's, rounded, before clipping at the border.
      assert.ok(b.y1 - b.y0 <= Math.round(H * Math.sqrt(1 - lam[k]!)));
      assert.ok(b.x1 - b.x0 <= Math.round(W * Math.sqrt(1 - lam[k]!)));
    }
    assert.equal(lamEff[0], 1, 'lam 1 pastes nothing');
    assert.ok(
      [...lamEff].some((v) => v < 0.9),
      'some box was pasted',
    );
  });
}

test('cutmix is reproducible from the seed, and another seed draws other boxes', () => {
  const l = LAYOUTS[0]!;
  const xa = tagged(8, l, 0);
  const xp = tagged(8, l, 1e6);
  const lam = Array.from({ length: 8 }, (_, i) => 0.6 + i * 0.04);
  const a = cutmixImages(xa, xp, 8, l, lam, new Rng(11));
  const b = cutmixImages(xa, xp, 8, l, lam, new Rng(11));
  const c = cutmixImages(xa, xp, 8, l, lam, new Rng(12));
  assert.deepEqual(a.x, b.x);
  assert.deepEqual(a.boxes, b.boxes);
  assert.notDeepEqual(a.boxes, c.boxes);
  assert.equal(xa[5], 5, 'the anchors are not written');
});

test('soft targets put lamEff on the anchor class and the rest on the partner class: each row sums to one', () => {
  const K = 4;
  const y = softTargets([0, 2, 3, 1], [1, 2, 0, 3], [0.7, 0.6, 1, 0.25], K);
  const rows = [
    [0.7, 0.3, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
    [0, 0.25, 0, 0.75],
  ];
  rows.forEach((r, i) => {
    r.forEach((v, k) => assert.ok(Math.abs(y[i * K + k]! - v) < 1e-7, `row ${i} class ${k}: ${y[i * K + k]}`));
    const sum = y.subarray(i * K, (i + 1) * K).reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(sum - 1) < 1e-6, `row ${i} sums to ${sum}`);
  });
});

test('the saliency grid sums |gradient| over channels and cells, normalised per image; zero gradient is uniform', () => {
  const l: ImageLayout = { layout: 'NCHW', shape: [2, 4, 4] };
  const { at } = imageDims(l);
  const per = 32;
  const grad = new Float32Array(2 * per);
  // Image 0: -3 at (channel 1, y 0, x 3) -> cell (0, 1); 1 at (channel 0, y 3, x 0) -> cell (1, 0).
  grad[at(1, 0, 3)] = -3;
  grad[at(0, 3, 0)] = 1;
  const s = saliencyGrid(grad, 2, l, 2);
  assert.deepEqual([...s.subarray(0, 4)], [0, 0.75, 0.25, 0]);
  assert.deepEqual([...s.subarray(4, 8)], [0.25, 0.25, 0.25, 0.25]);
  assert.throws(() => saliencyGrid(grad, 2, l, 5), /does not fit/);
});

test('the puzzle mask keeps the most saliency any mask of its size can (brute force over every mask of 9 cells)', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 40; trial++) {
    const sa = Array.from({ length: 9 }, () => rng.next());
    const sp = Array.from({ length: 9 }, () => rng.next());
    const m = trial % 10;
    const mask = puzzleMask(sa, sp, m);
    assert.equal(
      mask.reduce((a, v) => a + v, 0),
      Math.min(m, 9),
    );
    const kept = (bits: (i: number) => boolean) => sa.reduce((a, v, i) => a + (bits(i) ? sp[i]! : v), 0);
    let best = -Infinity;
    for (let s = 0; s < 512; s++) {
      let pop = 0;
      for (let i = 0; i < 9; i++) pop += (s >> i) & 1;
      if (pop === Math.min(m, 9))
        best = Math.max(
          best,
          kept((i) => ((s >> i) & 1) === 1),
        );
    }
    assert.ok(Math.abs(kept((i) => mask[i] === 1) - best) < 1e-12, `trial ${trial}`);
  }
});

test("the puzzle mask gives the partner its salient cells and leaves the anchor's", () => {
  // The anchor's saliency is in cell 0, the partner's in cells 3 and 2: two partner cells are 3 and 2.
  const sa = [0.7, 0.1, 0.1, 0.1];
  const sp = [0.05, 0.05, 0.3, 0.6];
  assert.deepEqual([...puzzleMask(sa, sp, 2)], [0, 0, 1, 1]);
  assert.deepEqual([...puzzleMask(sa, sp, 0)], [0, 0, 0, 0]);
  // Ties go to the lower index: deterministic.
  assert.deepEqual([...puzzleMask([0, 0, 0, 0], [0, 0, 0, 0], 1)], [1, 0, 0, 0]);
});

for (const l of LAYOUTS) {
  test(`puzzle mixing (${l.layout}): the masked cells hold the partner's pixels, weights by pixel share`, () => {
    const { C, H, W, at } = imageDims(l);
    const n = 3;
    const g = 3;
    const xa = tagged(n, l, 0);
    const xp = tagged(n, l, 1e6);
    const rng = new Rng(1);
    const sa = Float64Array.from({ length: n * g * g }, () => rng.next());
    const sp = Float64Array.from({ length: n * g * g }, () => rng.next());
    const lam = [0.6, 0.8, 1];
    const r = puzzleImages(xa, xp, n, l, g, sa, sp, lam);
    const again = puzzleImages(xa, xp, n, l, g, sa, sp, lam);
    assert.deepEqual(r.x, again.x, 'deterministic given the saliency');
    for (let k = 0; k < n; k++) {
      const mask = r.masks[k]!;
      assert.deepEqual(
        mask,
        puzzleMask(sa.subarray(k * 9, (k + 1) * 9), sp.subarray(k * 9, (k + 1) * 9), Math.round((1 - lam[k]!) * 9)),
      );
      let fromP = 0;
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) {
          // Cell r spans [floor(r H / g), floor((r + 1) H / g)): the last r whose start is at or before the pixel.
          const of = (v: number, L: number) => {
            let r = 0;
            while (r + 1 < g && Math.floor(((r + 1) * L) / g) <= v) r++;
            return r;
          };
          const cell = of(y, H) * g + of(xx, W);
          const partner = mask[cell] === 1;
          if (partner) fromP++;
          for (let c = 0; c < C; c++) {
            const i = k * C * H * W + at(c, y, xx);
            assert.equal(r.x[i], partner ? xp[i] : xa[i], `image ${k} pixel (${y}, ${xx})`);
          }
        }
      assert.ok(Math.abs(r.lamEff[k]! - (1 - fromP / (H * W))) < 1e-6);
      const y = softTargets([0], [1], [r.lamEff[k]!], 2);
      assert.ok(Math.abs(y[0]! + y[1]! - 1) < 1e-6);
    }
    assert.equal(r.lamEff[2], 1, 'lam 1 takes no cell');
    assert.ok(r.lamEff[0]! < 0.75, 'lam 0.6 takes about 4 of 9 cells');
  });
}
