// The training loop: the linear-approximation monitor and extra checkpoints with exact resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pearson } from '../../../src/core/train';
import { runJob } from '../../../src/worker/job';
import { writeNpy } from '../../../src/data/npy';
import { Rng } from '../../../src/core/rng';
import { clusterSet } from '../../helpers/synthetic';
import type { RefreshPayload, RunEvent } from '../../../src/protocol/messages';

/** A temp folder with long-tailed train (trx/try.npy) and validation (vax/vay.npy) clusters and a weak diagonal head W.npy. */
function writeLinearJob(prefix: string, train: number[], val: number[], d: number, seed: number): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const rng = new Rng(seed);
  const K = train.length;
  for (const [name, counts] of [['tr', train], ['va', val]] as const) {
    const s = clusterSet(counts, d, rng, 1.5);
    writeNpy(join(dir, `${name}x.npy`), s.x, [s.n, d]);
    writeNpy(join(dir, `${name}y.npy`), s.y, [s.n]);
  }
  const W = new Float32Array(K * d);
  for (let k = 0; k < K; k++) W[k * d + k] = 0.5;
  writeNpy(join(dir, 'W.npy'), W, [K, d]);
  return dir;
}

test('pearson: known values, and null when undefined', () => {
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [2, 4, 6, 8])! - 1) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [8, 6, 4, 2])! + 1) < 1e-12);
  // hand-computed: x = [1,2,3], y = [1,3,2] -> cov 0.5, var 1 and 1 -> 0.5
  assert.ok(Math.abs(pearson([1, 2, 3], [1, 3, 2])! - 0.5) < 1e-12);
  assert.equal(pearson([1, 2], [3, 4]), null);
  assert.equal(pearson([1, 1, 1], [1, 2, 3]), null);
});

test('every refresh after the third interval carries a gain correlation in [-1, 1]', async () => {
  const dir = writeLinearJob('selmix-monitor-', [150, 60, 20, 8], [30, 30, 30, 30], 6, 11);
  const cfg = join(dir, 'm.selmix.json');
  writeFileSync(cfg, JSON.stringify({ objective: 'minRecall', data: { kind: 'npy', train: { features: 'trx.npy', labels: 'try.npy' }, val: { features: 'vax.npy', labels: 'vay.npy' } },
    model: { kind: 'linear', weights: 'W.npy' }, training: { steps: 120, refreshEvery: 10 }, output: 'out' }));
  const refreshes: RefreshPayload[] = [];
  const r = await runJob(readFileSync(cfg, 'utf8'), cfg, { emit: (e: RunEvent) => { if (e.type === 'run/refresh') refreshes.push(e.payload); }, shouldStop: () => false, backend: 'wasm' });
  assert.ok(r.ok);
  assert.equal(refreshes.length, 13);
  // intervals end at the 2nd refresh onwards; three are needed for a correlation
  assert.deepEqual(refreshes.slice(0, 3).map((p) => p.gainCorrelation), [null, null, null]);
  for (const p of refreshes.slice(4)) assert.ok(typeof p.gainCorrelation === 'number' && p.gainCorrelation >= -1 && p.gainCorrelation <= 1, String(p.gainCorrelation));
  const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'));
  assert.equal(report.gainCorrelation, refreshes.at(-1)!.gainCorrelation);
});

test('checkpointEvery adds checkpoints between refreshes, and resuming from one matches an uninterrupted run', async () => {
  const dir = writeLinearJob('selmix-ckpt-', [90, 30, 10], [20, 20, 20], 4, 12);
  const config = (out: string) => JSON.stringify({ objective: 'gMean', data: { kind: 'npy', train: { features: 'trx.npy', labels: 'try.npy' }, val: { features: 'vax.npy', labels: 'vay.npy' } },
    model: { kind: 'linear', weights: 'W.npy' }, training: { steps: 60, refreshEvery: 20, checkpointEvery: 7, momentum: 0.9 }, output: out });
  const cfg = join(dir, 'c.selmix.json');
  writeFileSync(cfg, config('a'));
  const steps: number[] = [];
  let stopAt = 0;
  const first = await runJob(readFileSync(cfg, 'utf8'), cfg, {
    emit: (e) => { if (e.type === 'run/checkpoint') { steps.push(e.payload.step); if (e.payload.step === 35) stopAt = 35; } },
    shouldStop: () => stopAt > 0, backend: 'wasm',
  });
  assert.ok(first.ok);
  // refreshes at 0 and 20, extra checkpoints at 7, 14, 21, 28, 35, then the stop's own checkpoint
  assert.deepEqual(steps.slice(0, 7), [0, 7, 14, 20, 21, 28, 35]);
  const resumed = await runJob(readFileSync(cfg, 'utf8'), cfg, { emit: () => undefined, shouldStop: () => false, backend: 'wasm', resume: true });
  assert.ok(resumed.ok);
  writeFileSync(cfg, config('b'));
  const straight = await runJob(readFileSync(cfg, 'utf8'), cfg, { emit: () => undefined, shouldStop: () => false, backend: 'wasm' });
  assert.ok(straight.ok);
  assert.ok(readFileSync(join(dir, 'a', 'W.npy')).equals(readFileSync(join(dir, 'b', 'W.npy'))), 'resumed and uninterrupted weights differ');
});
