// The seeded generator: determinism, state round trip, ranges and rough distributions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32, Rng } from '../../../../src/core/numerics/rng';

test('same seed, same stream; different seeds differ', () => {
  const a = new Rng(42),
    b = new Rng(42),
    c = new Rng(43);
  const xa = Array.from({ length: 20 }, () => a.next());
  const xb = Array.from({ length: 20 }, () => b.next());
  const xc = Array.from({ length: 20 }, () => c.next());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  assert.notDeepEqual(
    Array.from({ length: 5 }, () => new Rng(2 ** 40).next()),
    Array.from({ length: 5 }, () => new Rng(0).next()),
  );
});

test('getState/fromState resumes bit-exactly across every kind of draw', () => {
  const r = new Rng(7);
  for (let i = 0; i < 100; i++) r.normal();
  const state = r.getState();
  assert.equal(state.length, 4);
  const s = JSON.parse(JSON.stringify(state)) as number[];
  const draw = (g: Rng): number[] => [
    g.next(),
    g.int(17),
    g.uniform(-2, 3),
    g.normal(),
    g.categorical([1, 2, 3]),
    ...g.shuffle([1, 2, 3, 4, 5, 6]),
  ];
  const x = Array.from({ length: 50 }, () => draw(r)).flat();
  const resumed = Rng.fromState(s);
  const y = Array.from({ length: 50 }, () => draw(resumed)).flat();
  assert.deepEqual(y, x);
  assert.deepEqual(resumed.getState(), r.getState());
  assert.throws(() => Rng.fromState([1, 2, 3]), /four/);
});

test('ranges: next in [0,1), int in [0,n), uniform in [a,b)', () => {
  const r = new Rng(1);
  for (let i = 0; i < 20000; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    const k = r.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
    const v = r.uniform(0.6, 1);
    assert.ok(v >= 0.6 && v < 1);
  }
  assert.throws(() => r.int(0), RangeError);
});

test('moments and proportions are about right (fixed seed)', () => {
  const r = new Rng(3);
  const n = 200000;
  let s = 0,
    s2 = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / n) < 0.01, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.015, `var ${s2 / n}`);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) counts[r.categorical([1, 0, 3, 6])]! += 1;
  assert.equal(counts[1], 0);
  assert.ok(
    Math.abs(counts[0]! / n - 0.1) < 0.005 &&
      Math.abs(counts[2]! / n - 0.3) < 0.005 &&
      Math.abs(counts[3]! / n - 0.6) < 0.005,
  );
  assert.throws(() => r.categorical([0, 0]), /sum to 0/);
  const xs = r.shuffle(Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(
    [...xs].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 50 }, (_, i) => i),
  );
});

test('mulberry32, the data splits generator, draws what it drew in src/data/mnist.ts (first outputs pinned)', () => {
  // Outputs times 2^32, printed by src/data/mnist.ts's mulberry32 at commit 84ec133, before it moved here.
  const pinned: [number, number[]][] = [
    [0, [1144304738, 1416247, 958946056, 627933444]],
    [42, [2581720956, 1925393290, 3661312704, 2876485805]],
    [4294967295, [3850105811, 813802916, 3073704848, 4054706436]],
  ];
  for (const [seed, want] of pinned) {
    const r = mulberry32(seed);
    assert.deepEqual(
      want.map(() => r() * 4294967296),
      want,
      `seed ${seed}`,
    );
  }
  const r = mulberry32(7);
  for (let i = 0; i < 1000; i++) {
    const u = r();
    assert.ok(u >= 0 && u < 1 && Number.isInteger(u * 4294967296));
  }
});
