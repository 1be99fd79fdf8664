// The selmix CLI as a user runs it: the built bundle, spawned, on .npy files written here.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readReportSnapshot } from '../../src/report/report';
import { writeNpy, readNpy } from '../../src/data/npy';
import { Rng } from '../../src/core/numerics/rng';
import { clusterSet } from '../helpers/synthetic';
import { bruteForceGain } from '../helpers/bruteForceGain';
import {
  objectiveD,
  defaultObjectiveOptions,
  updateMultipliers,
  initialMultipliers,
} from '../../src/core/objectives/objectives';
import { clipConfusion } from '../../src/core/numerics/confusion';

const root = join(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'selmix-cli-'));
const K = 4;
const d = 6;

function selmix(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'selmix.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Gaussian clusters, long-tailed, with a head that is decent but imperfect. */
function makeSet(name: string, perClass: number[], seed: number): void {
  const { x, y, n } = clusterSet(perClass, d, new Rng(seed), 2);
  writeNpy(join(dir, `${name}-x.npy`), x, [n, d]);
  writeNpy(join(dir, `${name}-y.npy`), y, [n]);
}

before(() => {
  // scripts/test.mjs builds dist/ before the suite; build here only when this file runs alone.
  if (!existsSync(join(root, 'dist', 'cli.js'))) {
    const build = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  }
  makeSet('train', [200, 80, 30, 10], 1);
  makeSet('val', [40, 40, 40, 40], 2);
  const rng = new Rng(3);
  const W = new Float32Array(K * d);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[k * d + r] = (r === k ? 1 : 0) + 0.3 * rng.normal();
  writeNpy(join(dir, 'W.npy'), W, [K, d]);
  writeNpy(join(dir, 'b.npy'), Float32Array.from([0.8, 0.3, -0.2, -0.6]), [K]);
});

test('gain --json: shape, confusion counts, and G equal to the brute-force K^4 construction', () => {
  const r = selmix([
    'gain',
    '--features',
    'val-x.npy',
    '--labels',
    'val-y.npy',
    '--weights',
    'W.npy',
    '--bias',
    'b.npy',
    '--objective',
    'minRecall',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out).sort(), [
    'K',
    'confusion',
    'distribution',
    'gain',
    'metrics',
    'multipliers',
    'objective',
  ]);
  assert.equal(out.K, K);
  assert.equal(out.objective, 'minRecall');
  for (const m of [out.confusion, out.gain, out.distribution])
    assert.ok(m.length === K && m.every((row: number[]) => row.length === K));
  // Independent recomputation: logits in float64 from the files, joint confusion by counting.
  const x = readNpy(join(dir, 'val-x.npy')).data as Float32Array;
  const y = readNpy(join(dir, 'val-y.npy')).data as Int32Array;
  const Wt = readNpy(join(dir, 'W.npy')).data as Float32Array;
  const b = Float64Array.from(readNpy(join(dir, 'b.npy')).data as Float32Array);
  const W = new Float64Array(d * K);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k] = Wt[k * d + r]!;
  const C = new Float64Array(K * K);
  const Z = new Float64Array(K * d);
  const cnt = new Array(K).fill(0);
  for (let i = 0; i < y.length; i++) {
    let best = 0,
      bv = -Infinity;
    for (let l = 0; l < K; l++) {
      let a = b[l]!;
      for (let r = 0; r < d; r++) a += x[i * d + r]! * W[r * K + l]!;
      if (a > bv) {
        bv = a;
        best = l;
      }
    }
    C[y[i]! * K + best]! += 1 / y.length;
    cnt[y[i]!]++;
    for (let r = 0; r < d; r++) Z[y[i]! * d + r]! += x[i * d + r]!;
  }
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) Z[k * d + r]! /= cnt[k];
  out.confusion.flat().forEach((v: number, i: number) => assert.ok(Math.abs(v - C[i]!) < 1e-12, `confusion ${i}`));
  const Cc = clipConfusion(C);
  const opts = defaultObjectiveOptions();
  const lambda = updateMultipliers('minRecall', Cc, K, initialMultipliers('minRecall', K), opts)!;
  assert.ok(out.multipliers.every((v: number, k: number) => Math.abs(v - lambda[k]!) < 1e-12));
  const G = bruteForceGain({ K, d, Z, W, b, D: objectiveD('minRecall', Cc, K, lambda, opts) });
  const maxAbs = Math.max(...Array.from(G, Math.abs));
  out.gain
    .flat()
    .forEach((v: number, i: number) => assert.ok(Math.abs(v - G[i]!) <= 1e-6 * maxAbs, `gain ${i}: ${v} vs ${G[i]}`));
  const total = out.distribution.flat().reduce((a: number, v: number) => a + v, 0);
  assert.ok(Math.abs(total - 1) < 1e-12);
  assert.ok(out.metrics.minRecall <= out.metrics.meanRecall);
});

test('gain without --json prints a readable summary with top pairs', () => {
  const r = selmix([
    'gain',
    '--features',
    'val-x.npy',
    '--labels',
    'val-y.npy',
    '--weights',
    'W.npy',
    '--objective',
    'gMean',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /objective gMean = 0\.\d{4}/);
  assert.match(r.stdout, /top pairs/);
});

test('exit code 2 and the file named on a bad .npy, an unknown objective, and a wrong width', () => {
  writeFileSync(join(dir, 'bad.npy'), 'this is not a npy file');
  let r = selmix([
    'gain',
    '--features',
    'bad.npy',
    '--labels',
    'val-y.npy',
    '--weights',
    'W.npy',
    '--objective',
    'minRecall',
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.npy/);
  r = selmix([
    'gain',
    '--features',
    'val-x.npy',
    '--labels',
    'val-y.npy',
    '--weights',
    'W.npy',
    '--objective',
    'maxFun',
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--objective: "maxFun"/);
  writeNpy(join(dir, 'narrow.npy'), new Float32Array(10 * 3), [10, 3]);
  writeNpy(join(dir, 'narrow-y.npy'), new Int32Array(10), [10]);
  r = selmix([
    'gain',
    '--features',
    'narrow.npy',
    '--labels',
    'narrow-y.npy',
    '--weights',
    'W.npy',
    '--objective',
    'minRecall',
  ]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /narrow\.npy: the model \(.*W\.npy\) expects inputs of shape \[6\] \(d = 6\) but the train examples have shape \[3\]/,
  );
  r = selmix(['frobnicate']);
  assert.equal(r.code, 2);
});

test('finetune in feature mode writes W.npy, b.npy (PyTorch layout) and report.json, and --json streams protocol events', () => {
  const r = selmix([
    'finetune',
    '--features',
    'train-x.npy',
    '--labels',
    'train-y.npy',
    '--val-features',
    'val-x.npy',
    '--val-labels',
    'val-y.npy',
    '--weights',
    'W.npy',
    '--bias',
    'b.npy',
    '--objective',
    'minRecall',
    '--steps',
    '60',
    '--seed',
    '1',
    '--out',
    'ft',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // The run is live from its first event: stage events (checking the inputs, ...) come before run/started.
  assert.equal(events[0].type, 'run/stage');
  assert.equal(events.find((e) => e.type !== 'run/stage').type, 'run/started');
  assert.equal(events.at(-1).type, 'run/finished');
  assert.ok(events.some((e) => e.type === 'run/refresh' && e.payload.gain.data.length === K * K));
  for (const f of ['W.npy', 'b.npy', 'report.json']) assert.ok(existsSync(join(dir, 'ft', f)), f);
  const W = readNpy(join(dir, 'ft', 'W.npy'));
  assert.deepEqual(W.shape, [K, d]);
  assert.deepEqual(readNpy(join(dir, 'ft', 'b.npy')).shape, [K]);
  const report = JSON.parse(readFileSync(join(dir, 'ft', 'report.json'), 'utf8'));
  assert.equal(report.summary.objective, 'minRecall');
  assert.equal(report.config.training.steps, 60);
  assert.ok(report.summary.after.val.minRecall >= report.summary.before.val.minRecall);
  assert.equal(report.matrices.gain, 'gain.npy');
  assert.deepEqual(readNpy(join(dir, 'ft', 'gain.npy')).shape, [K, K]);
  assert.equal(readReportSnapshot(join(dir, 'ft', 'report.json'))?.lastRefresh?.gain.data.length, K * K);
});

test('gain, eval and finetune give the same numbers for the same inputs (one loader, one forward pass)', () => {
  const head = ['--weights', 'W.npy', '--bias', 'b.npy'];
  const g = selmix([
    'gain',
    '--features',
    'val-x.npy',
    '--labels',
    'val-y.npy',
    ...head,
    '--objective',
    'minRecall',
    '--json',
  ]);
  const e = selmix(['eval', '--features', 'val-x.npy', '--labels', 'val-y.npy', ...head, '--json']);
  const f = selmix([
    'finetune',
    '--features',
    'train-x.npy',
    '--labels',
    'train-y.npy',
    '--val-features',
    'val-x.npy',
    '--val-labels',
    'val-y.npy',
    ...head,
    '--objective',
    'minRecall',
    '--steps',
    '5',
    '--out',
    'same-numbers',
    '--json',
  ]);
  for (const r of [g, e, f]) assert.equal(r.code, 0, r.stderr);
  const gain = JSON.parse(g.stdout) as { metrics: Record<string, unknown> };
  const ev = JSON.parse(e.stdout) as Record<string, unknown>;
  const finished = f.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((x) => x.type === 'run/finished');
  assert.deepEqual(gain.metrics, ev, 'gain and eval: the same metrics of the starting head');
  assert.deepEqual(finished.payload.before.val, ev, "finetune's starting metrics on validation are eval's");
});

test('finetune --config writes report.html and run.log beside report.json and prints class names; eval --config names the classes too', () => {
  writeFileSync(
    join(dir, 'named.selmix.json'),
    JSON.stringify({
      data: {
        kind: 'npy',
        train: { features: 'train-x.npy', labels: 'train-y.npy' },
        val: { features: 'val-x.npy', labels: 'val-y.npy' },
        classes: ['cat', 'dog', 'eel', 'fox'],
      },
      model: { kind: 'linear', weights: 'W.npy', bias: 'b.npy' },
      training: { steps: 20, refreshEvery: 10 },
      output: 'named-out',
    }),
  );
  const r = selmix(['finetune', '--config', 'named.selmix.json']);
  assert.equal(r.code, 0, r.stderr);
  for (const c of ['cat', 'dog', 'eel', 'fox']) assert.match(r.stdout, new RegExp(`recall ${c} `));
  for (const f of ['report.json', 'report.html', 'run.log']) assert.ok(existsSync(join(dir, 'named-out', f)), f);
  const log = readFileSync(join(dir, 'named-out', 'run.log'), 'utf8');
  assert.match(log, /fine-tuning ".*": objective minRecall, K = 4/);
  assert.match(log, /finished: minRecall/);
  assert.match(readFileSync(join(dir, 'named-out', 'report.html'), 'utf8'), /<th>eel<\/th>/);
  const e = selmix(['eval', '--config', 'named.selmix.json']);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /^2 eel +40 /m);
});

test('finetune --json above K = 100 prints each refresh with G and P in tiles (block set), the full ones in gain.npy', () => {
  const KL = 150;
  const dl = 8;
  const set = (name: string, perClass: number, seed: number): void => {
    const { x, y, n } = clusterSet(Array<number>(KL).fill(perClass), dl, new Rng(seed), 2);
    writeNpy(join(dir, `${name}-x.npy`), x, [n, dl]);
    writeNpy(join(dir, `${name}-y.npy`), y, [n]);
  };
  set('k150-train', 3, 11);
  set('k150-val', 2, 12);
  const rng = new Rng(13);
  writeNpy(
    join(dir, 'k150-W.npy'),
    Float32Array.from({ length: KL * dl }, () => rng.normal()),
    [KL, dl],
  );
  const r = selmix([
    'finetune',
    '--features',
    'k150-train-x.npy',
    '--labels',
    'k150-train-y.npy',
    '--val-features',
    'k150-val-x.npy',
    '--val-labels',
    'k150-val-y.npy',
    '--weights',
    'k150-W.npy',
    '--objective',
    'meanRecall',
    '--steps',
    '10',
    '--out',
    'ft150',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const refreshes = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'run/refresh');
  assert.ok(refreshes.length >= 2, `${refreshes.length} refreshes`);
  for (const e of refreshes) {
    for (const m of [e.payload.gain, e.payload.distribution]) {
      assert.deepEqual([m.K, m.block, m.data.length], [75, 2, 75 * 75], 'tiles of 2: 75 x 75 cells');
    }
    const mass = e.payload.distribution.data.reduce((a: number, v: number) => a + v, 0);
    assert.ok(Math.abs(mass - 1) < 1e-9, `P keeps its mass in tiles: ${mass}`);
    assert.equal(e.payload.val.recall.length, KL, 'the metrics keep every class');
  }
  assert.deepEqual(readNpy(join(dir, 'ft150', 'gain.npy')).shape, [KL, KL], 'the full G of the last refresh');
});

test('backends: on Linux with huge pages on request the CLI runs in a child whose malloc maps large blocks apart, and says so', () => {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  delete env.SELMIX_NO_HUGEPAGES;
  const run = (extra: Record<string, string>) =>
    spawnSync(process.execPath, [join(root, 'bin', 'selmix.js'), 'backends'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...env, ...extra },
      timeout: 120_000,
    });
  const mallocLine = (out: string) => out.split('\n').find((l) => l.startsWith('malloc: ')) ?? null;
  let thp = '';
  try {
    thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
  } catch {
    // No such file: no child.
  }
  const child = process.platform === 'linux' && thp.includes('[madvise]');
  const r = run({});
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    mallocLine(r.stdout),
    child
      ? 'malloc: glibc: large blocks in huge pages on request; blocks of 1 MiB or more mapped on their own and returned when freed'
      : null,
  );
  // Without the child: nothing set, nothing said.
  const off = run({ SELMIX_NO_HUGEPAGES: '1' });
  assert.equal(off.status, 0, off.stderr);
  assert.equal(mallocLine(off.stdout), null);
  assert.match(off.stdout, /^in use: /m);
});
