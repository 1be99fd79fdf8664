// The ONNX Runtime provider: its probe passes here (onnxruntime-node's CPU provider ships in the npm package), its
// MatMul matches float64 JS to float32 rounding, and when it cannot load, the run falls back to tfjs with a note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { float64MatMul } from '../../../src/core/numerics/gain';
import { argmaxRows } from '../../../src/core/numerics/classStats';
import { ortMatMul, probeOnnxRuntime } from '../../../src/backend/onnxRuntime';
import { BACKEND_CHOICES } from '../../../src/backend/backend';

test('onnxruntime is a backend choice and its CPU provider passes the probe', () => {
  assert.ok((BACKEND_CHOICES as readonly string[]).includes('onnxruntime'));
  const p = probeOnnxRuntime();
  assert.equal(p.ok, true, p.detail);
  assert.equal(p.provider, 'cpu');
  assert.ok(p.providers.some((q) => q.name === 'cpu' && q.ok));
});

/** A seeded stream of uniform numbers in [-1, 1) (a linear congruential generator), for the random test matrices. */
function uniform(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
}

test('ortMatMul equals float64MatMul to float32 rounding, for several shapes (one session)', () => {
  const rnd = uniform(7);
  for (const [m, k, n] of [
    [1, 1, 1],
    [3, 5, 2],
    [64, 100, 64],
    [200, 17, 3],
  ] as const) {
    const A = Float64Array.from({ length: m * k }, rnd);
    const B = Float64Array.from({ length: k * n }, rnd);
    const want = float64MatMul(A, B, m, k, n);
    const got = ortMatMul(A, B, m, k, n);
    assert.equal(got.length, m * n);
    for (let i = 0; i < m * n; i++)
      assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5 * Math.sqrt(k), `${m}x${k}x${n} entry ${i}`);
  }
  assert.equal(ortMatMul.precision, 'float32');
  assert.throws(() => ortMatMul(new Float32Array(3), new Float32Array(4), 2, 2, 2), RangeError);
});

test('ortMatMul.argmaxAffine: the first argmax of each row of X W + b, as argmaxRows finds it on the logits; ties go to the first column; null when any logit is not finite', () => {
  const rnd = uniform(11);
  for (const [n, k, m] of [
    [1, 1, 1],
    [5, 3, 4],
    [300, 24, 120],
    [2000, 32, 1000],
  ] as const) {
    const X = Float32Array.from({ length: n * k }, rnd);
    const W = Float32Array.from({ length: k * m }, rnd);
    const b = Float32Array.from({ length: m }, rnd);
    // Every seventh row is zero, so its logits are b, whose two largest entries are equal (columns 1 and 2): the tie
    // goes to column 1.
    for (let i = 0; i < n; i += 7) X.fill(0, i * k, (i + 1) * k);
    if (m >= 3) b[1] = b[2] = 3;
    // The logits in float64 from the float32 inputs: the argmax must agree wherever the top two differ by more than
    // float32 rounding.
    const L = float64MatMul(X, W, n, k, m);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) L[i * m + j]! += b[j]!;
    const want = argmaxRows(L, n, m);
    const got = ortMatMul.argmaxAffine!(X, W, b, n, k, m);
    assert.ok(got instanceof Int32Array && got.length === n, `${n}x${k}x${m}: an int32 a row`);
    let compared = 0;
    for (let i = 0; i < n; i++) {
      if (i % 7 === 0) {
        assert.equal(got[i], m >= 3 ? 1 : want[i], `${n}x${k}x${m} row ${i}: the first of the tied columns`);
        continue;
      }
      const row = Array.from(L.subarray(i * m, (i + 1) * m));
      const top = row[want[i]!]!;
      const second = Math.max(-Infinity, ...row.filter((_, j) => j !== want[i]));
      if (top - second <= 1e-4 * (1 + Math.abs(top))) continue;
      assert.equal(got[i], want[i], `${n}x${k}x${m} row ${i}`);
      compared++;
    }
    assert.ok(compared >= (n - Math.ceil(n / 7)) * 0.9, `${n}x${k}x${m}: ${compared} rows compared`);
  }
  const X = Float32Array.from({ length: 12 }, rnd);
  const W = Float32Array.from({ length: 12 }, rnd);
  const b = new Float32Array(4);
  assert.ok(ortMatMul.argmaxAffine!(X, W, b, 4, 3, 4) instanceof Int32Array);
  const nanX = X.slice();
  nanX[7] = NaN;
  assert.equal(ortMatMul.argmaxAffine!(nanX, W, b, 4, 3, 4), null, 'a NaN feature');
  const infB = b.slice();
  infB[3] = Infinity;
  assert.equal(ortMatMul.argmaxAffine!(X, W, infB, 4, 3, 4), null, 'an infinite bias');
  assert.throws(() => ortMatMul.argmaxAffine!(X, W, b, 4, 3, 3), RangeError);
});

test('ortMatMul.transB: A times the transpose of B (n x k) equals float64MatMul against the explicit transpose, for several shapes and on subarrays', () => {
  const rnd = uniform(11);
  for (const [m, k, n] of [
    [1, 1, 1],
    [3, 5, 2],
    [64, 100, 64],
    [17, 3, 200],
  ] as const) {
    const A = Float32Array.from({ length: m * k }, rnd);
    const Bn = Float32Array.from({ length: n * k }, rnd);
    const Bt = new Float64Array(k * n);
    for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) Bt[t * n + j] = Bn[j * k + t]!;
    const want = float64MatMul(A, Bt, m, k, n);
    const got = ortMatMul.transB!(A, Bn, m, k, n);
    assert.equal(got.length, m * n);
    for (let i = 0; i < m * n; i++)
      assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5 * Math.sqrt(k), `${m}x${k}x(${n}x${k})^T entry ${i}`);
    // A view into a larger buffer (how the Gram blocks pass rows of Z).
    const big = new Float32Array(k + n * k);
    big.set(Bn, k);
    const fromView = ortMatMul.transB!(A, big.subarray(k), m, k, n);
    assert.deepEqual(Array.from(fromView), Array.from(got));
  }
  assert.throws(() => ortMatMul.transB!(new Float32Array(4), new Float32Array(5), 2, 2, 2), RangeError);
});

test('ortMatMul and its transB write into an offered float32 array of the right size (the gain scratch) and return it; any other array is left alone', () => {
  const rnd = uniform(5);
  const [m, k, n] = [7, 9, 5];
  const A = Float32Array.from({ length: m * k }, rnd);
  const B = Float32Array.from({ length: k * n }, rnd);
  const want = ortMatMul(A, B, m, k, n);
  const out = new Float32Array(m * n).fill(Number.NaN);
  const got = ortMatMul(A, B, m, k, n, out);
  assert.equal(got, out, 'the offered array is the result');
  assert.deepEqual(Array.from(out), Array.from(want));
  const Bn = Float32Array.from({ length: n * k }, rnd);
  const outT = new Float32Array(m * n).fill(Number.NaN);
  assert.equal(ortMatMul.transB!(A, Bn, m, k, n, outT), outT);
  assert.deepEqual(Array.from(outT), Array.from(ortMatMul.transB!(A, Bn, m, k, n)));
  // A float64 array or one of another size is not written: a new array comes back.
  for (const other of [new Float64Array(m * n), new Float32Array(m * n + 1)]) {
    const r = ortMatMul(A, B, m, k, n, other);
    assert.notEqual(r, other);
    assert.ok(other.every((v) => v === 0));
    assert.deepEqual(Array.from(r), Array.from(want));
  }
});

test('ortMatMul.softmaxRatios: r = e (lb N1 + (1 - lb) N2) / S from factors built, flushed and multiplied in one graph equals the same in float64 to 3e-5 e, NaN exactly where S is under tq, e = max |E| (1 for E = 0), into an offered array', () => {
  assert.equal(probeOnnxRuntime().ok, true);
  const next = uniform(29);
  const u01 = (): number => (next() + 1) / 2;
  const K = 60;
  // Shifted logits (each row's max 0): most within 20 nats, a few rows thousands below, so factors and their products
  // with E fall under the floor, and those rows' sums under tq.
  const z = new Float32Array(K * K);
  for (let i = 0; i < K; i++)
    for (let l = 0; l < K; l++) z[i * K + l] = l === i ? 0 : i % 7 === 3 ? -2000 * u01() - 100 : -20 * u01();
  const E = Float32Array.from({ length: K * K }, (_, t) => 3 * next() + (t === 77 ? -4 : 0));
  const f = { lb: 0.8, up: 2 ** 50, floor: 2 ** -63, tq: 2 ** 60 };
  const e = E.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  /** r, S and the NaN pattern in float64 for E. */
  const reference = (Ein: Float32Array, eRef: number): { r: Float64Array; S: Float64Array } => {
    const flush = (x: number): number => (Math.abs(x) < f.floor ? 0 : x);
    const U = new Float64Array(K * K),
      V = new Float64Array(K * K),
      X = new Float64Array(K * K),
      Y = new Float64Array(K * K);
    for (let t = 0; t < K * K; t++) {
      const u = Math.exp(f.lb * z[t]!) * f.up,
        v = Math.exp((1 - f.lb) * z[t]!) * f.up,
        es = Ein[t]! / eRef;
      U[t] = flush(u);
      V[t] = flush(v);
      X[t] = flush(u * es);
      Y[t] = flush(v * es);
    }
    const r = new Float64Array(K * K),
      S = new Float64Array(K * K);
    for (let i = 0; i < K; i++)
      for (let j = 0; j < K; j++) {
        let s = 0,
          n1 = 0,
          n2 = 0;
        for (let l = 0; l < K; l++) {
          s += U[i * K + l]! * V[j * K + l]!;
          n1 += X[i * K + l]! * V[j * K + l]!;
          n2 += U[i * K + l]! * Y[j * K + l]!;
        }
        S[i * K + j] = s;
        r[i * K + j] = (eRef * (f.lb * n1 + (1 - f.lb) * n2)) / s;
      }
    return { r, S };
  };
  const check = (Ein: Float32Array, eRef: number, what: string): number => {
    const out = new Float32Array(K * K).fill(7);
    const got = ortMatMul.softmaxRatios!(z, Ein, K, f, out);
    assert.equal(got.r, out, `${what}: the offered array`);
    assert.equal(got.eScale, eRef, `${what}: e`);
    const want = reference(Ein, eRef);
    let low = 0;
    for (let t = 0; t < K * K; t++) {
      const s = want.S[t]!;
      assert.ok(Math.abs(s - f.tq) > 1e-3 * f.tq, `${what}: S[${t}] = ${s} is too close to tq for the test to decide`);
      if (s < f.tq) {
        assert.ok(Number.isNaN(got.r[t]!), `${what}: r[${t}] = ${got.r[t]} where S = ${s} is under tq`);
        low++;
      } else
        assert.ok(
          Math.abs(got.r[t]! - want.r[t]!) <= 3e-5 * eRef,
          `${what}: r[${t}] = ${got.r[t]} against ${want.r[t]}`,
        );
    }
    return low;
  };
  const low = check(E, e, 'E');
  assert.ok(low >= K && low < (K * K) / 2, `${low} pairs under tq`);
  check(new Float32Array(K * K), 1, 'E = 0');
});

test("'all' sessions (the gain, a large head step, a model's forward passes) use every core (up to 8) with sleeping threads, 'one' sessions one thread; SELMIX_ORT_THREADS sets both", () => {
  const script = `
    const mod = await import('./src/backend/onnxRuntime.ts');
    process.stdout.write((mod.probeOnnxRuntime ?? mod.default.probeOnnxRuntime)().detail);`;
  const detailWith = (env: Record<string, string | undefined>): string => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '../../..'),
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const cores = Math.min(8, availableParallelism());
  assert.match(
    detailWith({ SELMIX_ORT_THREADS: '' }),
    new RegExp(
      `1 thread\\(s\\) for small graphs and the network step, ${cores} for the gain, a large head step and the model's forward passes`,
    ),
  );
  assert.match(
    detailWith({ SELMIX_ORT_THREADS: '3' }),
    /3 thread\(s\) for small graphs and the network step, 3 for the gain, a large head step and the model's forward passes/,
  );
});

test('when onnxruntime-node cannot load, --backend onnxruntime falls back to tfjs-wasm with a note', () => {
  const script = `
    const mod = await import('./src/backend/backend.ts');
    const info = await (mod.initBackend ?? mod.default.initBackend)({ choice: 'onnxruntime' });
    process.stdout.write(JSON.stringify({ name: info.name, ort: info.onnxruntime, note: info.note, probe: info.probes[0] }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '../../..'),
    env: { ...process.env, SELMIX_ORT_PATH: '/nonexistent/onnxruntime-node/package.json' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    name: string;
    ort: boolean;
    note: string;
    probe: { name: string; ok: boolean };
  };
  assert.equal(out.name, 'wasm (SIMD)');
  assert.equal(out.ort, false);
  assert.deepEqual([out.probe.name, out.probe.ok], ['onnxruntime', false]);
  assert.match(out.note, /ONNX Runtime was asked for but did not load/);
});
