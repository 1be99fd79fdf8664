// The gain's direct sums on two threads (src/backend/pairThreads.ts): the same G to the bit as on one, the helper
// really takes blocks of every job, and a process that used it still exits by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { gainMatrix, pairSum, THREADED_MIN_PAIRS, type GainArgs, type MatMul } from '../../../src/core/numerics/gain';
import { ortMatMul, probeOnnxRuntime } from '../../../src/backend/onnxRuntime';
import { pairThreadStats, twoThreadPairs, twoThreads } from '../../../src/backend/pairThreads';
import { Rng } from '../../../src/core/numerics/rng';
import { randn } from '../../helpers/numerics';

/** Z = I and b = 0 (the centroid logits are W's rows, E = D), with W's rows laid out by logit(row, column). */
function argsOf(K: number, seed: number, logit: (r: number, l: number, rng: Rng) => number): GainArgs {
  const rng = new Rng(seed);
  const W = new Float64Array(K * K);
  for (let r = 0; r < K; r++) for (let l = 0; l < K; l++) W[r * K + l] = logit(r, l, rng);
  const Z = new Float64Array(K * K);
  for (let k = 0; k < K; k++) Z[k * K + k] = 1;
  return { K, d: K, Z, W, b: new Float64Array(K), D: randn(rng, K * K) };
}

test('direct sums on two threads give the one-thread G bit for bit at K = 300 (every pair direct; the far pairs after the products), and the helper sums some blocks', async () => {
  assert.equal(probeOnnxRuntime().ok, true);
  const K = 300;
  assert.ok(K * K >= THREADED_MIN_PAIRS);
  // ortMatMul without and with the helper (whatever this machine's core count gives ortMatMul itself).
  const hooks = { ...ortMatMul };
  delete hooks.pairThreads;
  const one: MatMul = Object.assign((...a: Parameters<MatMul>) => ortMatMul(...a), hooks);
  const two: MatMul = Object.assign((...a: Parameters<MatMul>) => ortMatMul(...a), hooks, {
    pairThreads: twoThreadPairs,
  });
  const near = (r: number, l: number): boolean => (r * 7 + l * 3) % 37 < 3;
  const group = (k: number): number => Math.floor((3 * k) / K);
  const cases = {
    // Every pair summed directly.
    'near columns': argsOf(K, 3, (r, l, rng) =>
      l === r ? 0 : near(r, l) ? -20 * rng.next() : -4000 - 1000 * rng.next(),
    ),
    // The direct sums pass their budget, the products run, the two thirds of pairs across groups are summed directly.
    groups: argsOf(K, 4, (r, l, rng) =>
      l === r ? 0 : group(l) === group(r) ? -30 * rng.next() : -4000 - 1000 * rng.next(),
    ),
  };
  const blocksBefore = pairThreadStats.helperBlocks;
  for (const [name, args] of Object.entries(cases)) {
    for (const lambdaBar of [0.8, 0.3]) {
      const label = `${name} lambdaBar=${lambdaBar}`;
      const g1 = gainMatrix({ ...args, lambdaBar, matmul: one });
      // Several calls: the first starts the helper, which may come too late to take a block of that one.
      for (let call = 0; call < 4; call++) {
        const g2 = gainMatrix({ ...args, lambdaBar, matmul: two });
        for (let t = 0; t < K * K; t++) assert.ok(Object.is(g1[t], g2[t]), `${label} call ${call}: G[${t}]`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // And right: E_ii - pairSum for every pair, to float32 accuracy.
      let err = 0,
        scale = 0;
      for (let i = 0; i < K; i++)
        for (let j = 0; j < K; j++) {
          const want = args.D[i * K + i]! - pairSum(args.W as Float64Array, args.D, K, lambdaBar, i, j);
          err = Math.max(err, Math.abs(g1[i * K + j]! - want));
          scale = Math.max(scale, Math.abs(want));
        }
      assert.ok(err <= 1e-4 * scale, `${label}: ${err / scale}`);
    }
  }
  assert.ok(pairThreadStats.helperBlocks > blocksBefore, `the helper summed ${pairThreadStats.helperBlocks} blocks`);
});

test('a helper that fails on a block of any job: this thread runs that job again, the same G, and no helper from then on', async () => {
  assert.equal(probeOnnxRuntime().ok, true);
  // At K = 200 (four blocks a job, well under a millisecond each) this thread sometimes took every block of a job
  // before the helper woke, in all of 40 calls.
  const K = 600;
  const hooks = { ...ortMatMul };
  delete hooks.pairThreads;
  const one: MatMul = Object.assign((...a: Parameters<MatMul>) => ortMatMul(...a), hooks);
  const args = argsOf(K, 5, (r, l, rng) => (l === r ? 0 : (r + l) % 23 < 2 ? -20 * rng.next() : -4000));
  const want = gainMatrix({ ...args, matmul: one });
  for (const job of ['setup', 'rows', 'candidates', 'pairs'] as const) {
    // A helper whose job throws on every block it takes.
    const failing = twoThreads({ [job]: 'function () { throw new Error("a helper that fails"); }' });
    const broken: MatMul = Object.assign((...a: Parameters<MatMul>) => ortMatMul(...a), hooks, {
      pairThreads: failing,
    });
    const failuresBefore = pairThreadStats.helperFailures;
    // The first calls may be done before the helper has started: call until it has taken a block (and failed).
    for (let call = 0; call < 40 && pairThreadStats.helperFailures === failuresBefore; call++) {
      const got = gainMatrix({ ...args, matmul: broken });
      for (let t = 0; t < K * K; t++) assert.ok(Object.is(got[t], want[t]), `${job}, call ${call}: G[${t}]`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(
      pairThreadStats.helperFailures,
      failuresBefore + 1,
      `${job}: the helper failed once and the job was run again`,
    );
    const jobsBefore = pairThreadStats.jobs;
    const after = gainMatrix({ ...args, matmul: broken });
    for (let t = 0; t < K * K; t++) assert.ok(Object.is(after[t], want[t]), `${job}, after the failure: G[${t}]`);
    assert.equal(pairThreadStats.jobs, jobsBefore, `${job}: no job is handed to a helper after one failed`);
  }
});

test('a process whose gain summed pairs on two threads exits by itself (the helper keeps nothing alive)', () => {
  const script = `
    const gain = await import('./src/core/numerics/gain.ts');
    const ort = await import('./src/backend/onnxRuntime.ts');
    const threads = await import('./src/backend/pairThreads.ts');
    const { gainMatrix } = gain.default ?? gain;
    const { ortMatMul, probeOnnxRuntime } = ort.default ?? ort;
    const { twoThreadPairs, pairThreadStats } = threads.default ?? threads;
    probeOnnxRuntime();
    const K = 300;
    const W = new Float64Array(K * K), Z = new Float64Array(K * K), D = new Float64Array(K * K);
    for (let r = 0; r < K; r++) {
      Z[r * K + r] = 1;
      for (let l = 0; l < K; l++) { W[r * K + l] = l === r ? 0 : -3000 - ((r * 31 + l * 17) % 997); D[r * K + l] = ((r + 2 * l) % 7) - 3; }
    }
    const matmul = Object.assign((...a) => ortMatMul(...a), ortMatMul, { pairThreads: twoThreadPairs });
    for (let i = 0; i < 6; i++) {
      gainMatrix({ K, d: K, Z, W, b: new Float64Array(K), D, matmul });
      await new Promise((r) => setTimeout(r, 20));
    }
    process.stdout.write(String(pairThreadStats.runs));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '../../..'),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.signal, null, 'the process ended by itself, not by the timeout');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '6', 'every call handed its blocks to the helper too');
});
