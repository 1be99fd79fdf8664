// The research workbench as a user runs it: temperature sweep, distribution-shift experiment, extreme imbalance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '../../src/data/npy';
import { Rng } from '../../src/core/numerics/rng';
import { clusterSet } from '../helpers/synthetic';
import { runSweep } from '../../src/run/sweepRun';
import { parseTemperatureList } from '../../src/report/sweep';
import { runShiftExperiment } from '../../src/run/experiments';
import { runConfig } from '../helpers/run';
import type { RunEvent } from '../../src/protocol/messages';

const dir = mkdtempSync(join(tmpdir(), 'selmix-exp-'));
const d = 5;

/** Long-tailed Gaussian clusters and an imperfect linear head, as .npy files. */
function makeData(prefix: string, perClass: number[], seed: number, withHead: boolean): void {
  const rng = new Rng(seed);
  const K = perClass.length;
  const { x, y, n } = clusterSet(perClass, d, rng, 1.5);
  writeNpy(join(dir, `${prefix}x.npy`), x, [n, d]);
  writeNpy(join(dir, `${prefix}y.npy`), y, [n]);
  if (withHead) {
    const W = new Float32Array(K * d);
    for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[k * d + r] = (r === k % d ? 1 : 0) + 0.2 * rng.normal();
    writeNpy(join(dir, `${prefix}W.npy`), W, [K, d]);
  }
}

test('selmix sweep writes a table, JSON and an SVG chart with one row per temperature', async () => {
  makeData('sw-tr-', [150, 60, 20, 8], 1, true);
  makeData('sw-va-', [30, 30, 30, 30], 2, false);
  const cfg = join(dir, 'sweep.selmix.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      objective: 'minRecall',
      data: {
        kind: 'npy',
        train: { features: 'sw-tr-x.npy', labels: 'sw-tr-y.npy' },
        val: { features: 'sw-va-x.npy', labels: 'sw-va-y.npy' },
      },
      model: { kind: 'linear', weights: 'sw-tr-W.npy' },
      training: { steps: 40, refreshEvery: 10 },
      output: 'sweep-out',
    }),
  );
  const r = await runSweep({ configText: readFileSync(cfg, 'utf8'), configPath: cfg }, [1, 10, 100], {
    emit: () => undefined,
    backend: 'wasm',
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  const out = JSON.parse(readFileSync(join(dir, 'sweep-out', 'sweep.json'), 'utf8'));
  assert.deepEqual(
    out.rows.map((r: { s: number }) => r.s),
    [1, 10, 100],
  );
  for (const r of out.rows) assert.ok(r.objectiveAfter >= r.objectiveBefore - 1e-12 && r.objectiveAfter <= 1);
  assert.match(readFileSync(join(dir, 'sweep-out', 'sweep.md'), 'utf8'), /\| 100 \| 0\.\d{4} \|/);
  assert.match(readFileSync(join(dir, 'sweep-out', 'sweep.svg'), 'utf8'), /<svg[^>]*>[\s\S]*<polyline/);
  assert.deepEqual(parseTemperatureList('1,-2'), { error: '"-2" is not a positive number' });
});

test('one-example tail classes and rho = 1000 complete, and a class without validation examples is reported, not dropped', async () => {
  makeData('ex-', [400, 40, 4, 1], 3, true);
  const cfg = join(dir, 'extreme.selmix.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      objective: 'minRecall',
      data: { kind: 'npy', train: { features: 'ex-x.npy', labels: 'ex-y.npy' } },
      model: { kind: 'linear', weights: 'ex-W.npy' },
      training: { steps: 30, refreshEvery: 10 },
      output: 'extreme-out',
    }),
  );
  const events: RunEvent[] = [];
  const r = await runConfig(readFileSync(cfg, 'utf8'), cfg, {
    emit: (e) => events.push(e),
    shouldStop: () => false,
    backend: 'wasm',
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  const started = events.find((e) => e.type === 'run/started');
  assert.ok(started && started.type === 'run/started');
  assert.ok(
    started.payload.notes.some((n) => /class 3 has 1 labeled example\(s\).*no validation examples/.test(n)),
    started.payload.notes.join('\n'),
  );
  assert.ok(started.payload.notes.some((n) => /no validation examples .*: 3/.test(n)));
  assert.equal(r.summary.after.val.support[3], 0);
  assert.equal(r.summary.after.val.recall.length, 4);
  const report = JSON.parse(readFileSync(join(dir, 'extreme-out', 'report.json'), 'utf8'));
  assert.ok(report.notes.some((n: string) => /no validation examples/.test(n)));
});

test('the distribution-shift experiment runs rho_u = rho_l, 1, 1/rho_l with pseudo and oracle partner labels on MNIST-LT', async () => {
  const out = join(dir, 'shift');
  const code = await runShiftExperiment(
    {
      out,
      objective: 'minRecall',
      steps: 12,
      rho: 1000,
      threshold: 0.5,
      oracle: true,
      seed: 0,
      small: true,
      json: true,
      backend: 'wasm',
    },
    () => undefined,
  );
  assert.equal(code, 0);
  const res = JSON.parse(readFileSync(join(out, 'shift.json'), 'utf8'));
  assert.deepEqual(
    res.rows.map((r: { rhoU: number; partnerLabels: string }) => `${r.rhoU}:${r.partnerLabels}`),
    ['1000:pseudo', '1000:oracle', '1:pseudo', '1:oracle', '0.001:pseudo', '0.001:oracle'],
  );
  // rho = 1000 with nMax 1000 leaves one labeled example in the tail class; every arm still completes.
  for (const r of res.rows) assert.equal(r.after.recall.length, 10);
  assert.ok(existsSync(join(out, 'shift.svg')));
  assert.match(readFileSync(join(out, 'shift.md'), 'utf8'), /\| 1\/1000 \| oracle \|/);
});
