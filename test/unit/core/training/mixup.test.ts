import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutmixRows } from '../../../../src/core/training/mixup';
import { Rng } from '../../../../src/core/numerics/rng';

test('cutmix pastes a partner box of area about 1 - lambda into the anchor, and nothing else', () => {
  const H = 20,
    W = 16,
    C = 2;
  const per = H * W * C;
  // anchors are all 1, partners all 2: every pixel tells where it came from
  const anchors = { x: new Float32Array(3 * per).fill(1), y: null, n: 3, shape: [H, W, C] };
  const partners = { x: new Float32Array(2 * per).fill(2), y: null, n: 2, shape: [H, W, C] };
  const lam = [1, 0.75, 0.6, 0.9];
  const rng = new Rng(5);
  const { x, lamEff } = cutmixRows(anchors, partners, [0, 1, 2, 0], [1, 0, 1, 1], lam, rng);
  assert.equal(x.length, 4 * per);
  for (let k = 0; k < 4; k++) {
    const img = x.subarray(k * per, (k + 1) * per);
    const fromPartner = img.filter((v) => v === 2).length / C;
    assert.equal(img.filter((v) => v !== 1 && v !== 2).length, 0);
    assert.ok(Math.abs(lamEff[k]! - (1 - fromPartner / (H * W))) < 1e-6, `realised lambda ${k}`);
    assert.ok(lamEff[k]! >= lam[k]! - 0.1, `box larger than asked: ${lamEff[k]} vs ${lam[k]}`);
    // each pasted region is one axis-aligned box: its rows all have the same pasted columns
    const rows = new Set<string>();
    for (let y = 0; y < H; y++) {
      const cols: number[] = [];
      for (let c = 0; c < W; c++) if (img[(y * W + c) * C] === 2) cols.push(c);
      if (cols.length) rows.add(cols.join(','));
    }
    assert.ok(rows.size <= 1);
  }
  assert.equal(lamEff[0], 1);
});
