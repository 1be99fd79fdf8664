// Custom objectives end to end (src/core/objectives/customObjective.ts through a whole run): the reported objective and
// its value in every event, and a K-dependent expression error as a config error at its field and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../src/core/numerics/rng';
import { compileCustomObjective, type CustomObjectiveSpec } from '../../../src/core/objectives/customObjective';
import { encodeNpy } from '../../../src/data/npy';
import { runConfig } from '../../helpers/run';
import { initBackend } from '../../../src/backend/backend';
import type { RunEvent } from '../../../src/protocol/messages';
import { randn } from '../../helpers/numerics';

/**
 * Writes a small synthetic .npy workspace: K = 4 classes, d = 6 features, an imbalanced train set and a biased linear
 * head.
 */
function workspace(customObjective: CustomObjectiveSpec): { dir: string; cfgPath: string; text: string } {
  const rng = new Rng(11);
  const K = 4;
  const d = 6;
  const means = randn(rng, K * d, 1.2);
  const make = (perClass: number[]): { x: Float32Array; y: Int32Array } => {
    const n = perClass.reduce((a, b) => a + b, 0);
    const x = new Float32Array(n * d);
    const y = new Int32Array(n);
    let i = 0;
    perClass.forEach((m, k) => {
      for (let t = 0; t < m; t++, i++) {
        y[i] = k;
        for (let r = 0; r < d; r++) x[i * d + r] = means[k * d + r]! + rng.normal();
      }
    });
    return { x, y };
  };
  const train = make([200, 80, 30, 12]);
  const val = make([40, 40, 40, 40]);
  // Head: class means as weights (K x d, PyTorch layout) and a bias that favours the head class.
  const W = Float32Array.from(means, (v) => 0.8 * v);
  const b = Float32Array.from([1.0, 0.3, -0.4, -0.9]);
  const dir = mkdtempSync(join(tmpdir(), 'selmix-custom-'));
  const files: [string, Float32Array | Int32Array, number[]][] = [
    ['train_x.npy', train.x, [train.y.length, d]],
    ['train_y.npy', train.y, [train.y.length]],
    ['val_x.npy', val.x, [val.y.length, d]],
    ['val_y.npy', val.y, [val.y.length]],
    ['W.npy', W, [K, d]],
    ['b.npy', b, [K]],
  ];
  for (const [f, data, shape] of files) writeFileSync(join(dir, f), encodeNpy(data, shape));
  const cfg = {
    name: 'custom objective e2e',
    customObjective,
    data: {
      kind: 'npy',
      train: { features: 'train_x.npy', labels: 'train_y.npy' },
      val: { features: 'val_x.npy', labels: 'val_y.npy' },
    },
    model: { kind: 'linear', weights: 'W.npy', bias: 'b.npy' },
    training: { steps: 50, batchSize: 32, lr: 0.05, refreshEvery: 10 },
    output: 'out',
  };
  const text = JSON.stringify(cfg, null, 2) + '\n';
  const cfgPath = join(dir, 'run.selmix.json');
  writeFileSync(cfgPath, text);
  return { dir, cfgPath, text };
}

test('end to end: runConfig with customObjective "mean(recall[0:2]) + 2 * min(recall)" (K = 4, d = 6, 50 steps)', async () => {
  await initBackend({ choice: 'cpu' });
  const expression = 'mean(recall[0:2]) + 2 * min(recall)';
  const { cfgPath, text } = workspace({ expression });
  const events: RunEvent[] = [];
  const r = await runConfig(text, cfgPath, { emit: (e) => events.push(e), shouldStop: () => false, backend: 'cpu' });
  assert.ok(r.ok, r.ok ? '' : r.message);
  const started = events.find((e) => e.type === 'run/started');
  assert.ok(started && started.type === 'run/started' && started.payload.objective === expression);
  const refreshes = events.filter((e) => e.type === 'run/refresh');
  assert.equal(refreshes.length, 6, 'refreshes at 0, 10, ..., 40 and the final one');
  const c = compileCustomObjective({ expression }, 4);
  for (const e of refreshes) {
    if (e.type !== 'run/refresh') continue;
    assert.equal(e.payload.objective, expression);
    assert.equal(e.payload.multipliers?.length, 4, 'the softmin weights of min(recall)');
    assert.ok(Math.abs(e.payload.objectiveValue - c.valueFromMetrics(e.payload.val)) < 1e-12);
  }
  const s = r.summary;
  assert.equal(s.objective, expression);
  for (const side of [s.before, s.after]) {
    const want = side.val.recall.slice(0, 2).reduce((a, b) => a + b, 0) / 2 + 2 * Math.min(...side.val.recall);
    assert.ok(
      Number.isFinite(side.objectiveValue) && Math.abs(side.objectiveValue - want) < 1e-12,
      `${side.objectiveValue} vs ${want}`,
    );
  }
  assert.ok(
    s.after.objectiveValue >= s.before.objectiveValue,
    `the best iterate is no worse than the start: ${s.before.objectiveValue} -> ${s.after.objectiveValue}`,
  );
});

test("end to end: an index out of range for the data's K fails the run as a config error naming the field and line", async () => {
  await initBackend({ choice: 'cpu' });
  const { cfgPath, text } = workspace({ expression: 'mean(recall)', constraints: ['recall[7] >= 0.5'] });
  const events: RunEvent[] = [];
  const r = await runConfig(text, cfgPath, { emit: (e) => events.push(e), shouldStop: () => false, backend: 'cpu' });
  assert.ok(!r.ok);
  assert.equal(r.kind, 'config');
  assert.match(
    r.message,
    /line \d+:\d+: customObjective\.constraints\[0\]: index 7 out of range for a vector of 4 entries/,
  );
  assert.ok(!events.some((e) => e.type === 'run/started'), 'caught before the run starts');
});

test('end to end: a constrained custom objective reports its tightest constraint at every refresh and in the summary, and says when it is missed', async () => {
  await initBackend({ choice: 'cpu' });
  const constraints = ['coverage >= 0.2', 'recall[3] >= 0.99'];
  const { cfgPath, text } = workspace({ expression: 'mean(recall)', constraints });
  const events: RunEvent[] = [];
  const r = await runConfig(text, cfgPath, { emit: (e) => events.push(e), shouldStop: () => false, backend: 'cpu' });
  assert.ok(r.ok, r.ok ? '' : r.message);
  // What the report should say at a metrics report: the constraint with the smallest slack, as lhs >= its bound.
  const expected = (m: { coverage: number[]; recall: number[] }) => {
    const slacks = [Math.min(...m.coverage) - 0.2, m.recall[3]! - 0.99];
    return slacks[0]! <= slacks[1]!
      ? {
          constraint: 'smallest entry of coverage',
          bound: 0.2,
          value: slacks[0]! + 0.2,
          met: slacks.every((s) => s >= 0),
        }
      : { constraint: 'recall[3]', bound: 0.99, value: slacks[1]! + 0.99, met: slacks.every((s) => s >= 0) };
  };
  const close = (got: { constraint: string; bound: number; value: number; met: boolean } | undefined, m: never) => {
    const want = expected(m);
    assert.ok(got, 'a feasibility report');
    assert.equal(got.constraint, want.constraint);
    assert.equal(got.bound, want.bound);
    assert.equal(got.met, want.met);
    assert.ok(Math.abs(got.value - want.value) < 1e-12, `${got.value} vs ${want.value}`);
  };
  const refreshes = events.filter((e) => e.type === 'run/refresh');
  assert.ok(refreshes.length > 0);
  for (const e of refreshes) if (e.type === 'run/refresh') close(e.payload.feasibility, e.payload.val as never);
  const s = r.summary;
  close(s.feasibility?.val, s.after.val as never);
  // Recall 0.99 of the 12-example tail class on validation is out of reach of this head in 50 steps.
  assert.equal(s.feasibility?.val.met, false);
  const want = expected(s.after.val);
  assert.ok(
    (s.infeasible ?? '').startsWith(
      `infeasible on validation: ${want.constraint} >= ${want.bound} was not met at the kept iterate, step ${s.bestStep} `,
    ),
    s.infeasible,
  );
});
