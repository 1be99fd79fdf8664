// The ONNX Runtime provider: its probe passes here (onnxruntime-node's CPU provider ships in the npm package), its
// MatMul matches float64 JS to float32 rounding, and when it cannot load, the run falls back to tfjs with a note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { float64MatMul } from '../../../src/core/numerics/gain';
import { ortMatMul, probeOnnxRuntime } from '../../../src/backend/onnxRuntime';
import { BACKEND_CHOICES } from '../../../src/backend/backend';

test('onnxruntime is a backend choice and its CPU provider passes the probe', () => {
  assert.ok((BACKEND_CHOICES as readonly string[]).includes('onnxruntime'));
  const p = probeOnnxRuntime();
  assert.equal(p.ok, true, p.detail);
  assert.equal(p.provider, 'cpu');
  assert.ok(p.providers.some((q) => q.name === 'cpu' && q.ok));
});

test('ortMatMul equals float64MatMul to float32 rounding, for several shapes (one session)', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
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

test('ortMatMul.transB: A times the transpose of B (n x k) equals float64MatMul against the explicit transpose, for several shapes and on subarrays', () => {
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
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
  let seed = 5;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
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

test("the gain's sessions use every core (up to 8) with sleeping threads, the loop's one thread; SELMIX_ORT_THREADS sets both", () => {
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
    new RegExp(`1 thread\\(s\\) in the loop, ${cores} for the gain`),
  );
  assert.match(detailWith({ SELMIX_ORT_THREADS: '3' }), /3 thread\(s\) in the loop, 3 for the gain/);
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
