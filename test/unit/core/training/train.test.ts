// The training loop (src/core/training/train.ts): snapshot and restore mirror each other field for field, the gain
// monitor,
// extra checkpoints, and cancel/resume giving bit-identical final weights to an uninterrupted run.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, tf } from '../../../../src/backend/backend';
import { configSchema, type SelmixConfig } from '../../../../src/core/config';
import { pearson } from '../../../../src/core/numerics/gainMonitor';
import { linearModel, disposeModel } from '../../../../src/core/training/model';
import { Rng } from '../../../../src/core/numerics/rng';
import type { MatMul } from '../../../../src/core/numerics/gain';
import {
  argmaxPays,
  finetune,
  FinetuneRun,
  loopTimeLine,
  splitRows,
  type FinetuneData,
  type TrainState,
} from '../../../../src/core/training/train';
import { CHECKPOINT_STATE_FIELDS } from '../../../../src/data/checkpoint';
import { DurationStats } from '../../../../src/core/gapStats';
import { runRequest, type RunResult } from '../../../../src/run/run';
import type { RefreshPayload, RunEvent } from '../../../../src/protocol/messages';
import { clusterSet, writeLinearJob } from '../../../helpers/synthetic';
import { writeNpy } from '../../../../src/data/npy';
import { CONFIG_TEMPLATES } from '../../../../src/extension/templates';
import { assertClose } from '../../../helpers/numerics';

before(async () => {
  await initBackend({ choice: 'cpu' });
});

/** Runs the config file at cfg through runRequest, as every surface does. */
function runFile(
  cfg: string,
  opts: { emit?: (e: RunEvent) => void; shouldStop?: () => boolean; resume?: boolean } = {},
): Promise<RunResult> {
  return runRequest(
    { configText: readFileSync(cfg, 'utf8'), configPath: cfg, ...(opts.resume ? { resume: true } : {}) },
    { emit: opts.emit ?? (() => undefined), shouldStop: opts.shouldStop ?? (() => false), backend: 'cpu' },
  );
}

const npyConfig = (training: object, out: string, objective = 'gMean') =>
  JSON.stringify({
    objective,
    data: {
      kind: 'npy',
      train: { features: 'trx.npy', labels: 'try.npy' },
      val: { features: 'vax.npy', labels: 'vay.npy' },
    },
    model: { kind: 'linear', weights: 'W.npy' },
    training,
    output: out,
  });

test('pearson: known values, and null when undefined', () => {
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [2, 4, 6, 8])! - 1) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [8, 6, 4, 2])! + 1) < 1e-12);
  // hand-computed: x = [1,2,3], y = [1,3,2] -> cov 0.5, var 1 and 1 -> 0.5
  assert.ok(Math.abs(pearson([1, 2, 3], [1, 3, 2])! - 0.5) < 1e-12);
  assert.equal(pearson([1, 2], [3, 4]), null);
  assert.equal(pearson([1, 1, 1], [1, 2, 3]), null);
});

/**
 * A small in-memory problem: K = 4 long-tailed clusters in d = 6, a weak head, and a config; with selmix settings, also
 * an unlabeled set (its labels hidden: pseudo-labels).
 */
function problem(training: object, selmix?: object) {
  const rng = new Rng(5);
  const K = 4,
    d = 6;
  const tr = clusterSet([80, 40, 16, 8], d, rng, 1.5);
  const va = clusterSet([20, 20, 20, 20], d, rng, 1.5);
  const un = selmix ? clusterSet([30, 30, 30, 30], d, rng, 1.5) : null;
  const data: FinetuneData = {
    train: { x: tr.x, y: tr.y, n: tr.n, shape: [d] },
    val: { x: va.x, y: va.y, n: va.n, shape: [d] },
    unlabeled: un ? { x: un.x, y: null, n: un.n, shape: [d] } : null,
    test: null,
    classNames: ['a', 'b', 'c', 'd'],
  };
  const W = new Float32Array(d * K);
  for (let k = 0; k < K; k++) W[k * K + k] = 0.5;
  const model = () => linearModel(W, new Float32Array(K), d, K);
  const config = configSchema.parse({
    objective: 'minRecall',
    data: { kind: 'npy', train: { features: 'x' } },
    model: { kind: 'linear', weights: 'W' },
    training: { batchSize: 16, refreshEvery: 10, ...training },
    ...(selmix ? { selmix } : {}),
  });
  return { data, model, config };
}

for (const momentum of [0, 0.9])
  test(`snapshot -> restore -> snapshot is identical, and covers every TrainState field (momentum ${momentum})`, async () => {
    const { data, model, config } = problem({ steps: 60, momentum, weightDecay: 5e-3 });
    const m1 = model();
    const states: TrainState[] = [];
    let steps = 0;
    const r = await finetune(m1, data, {
      config,
      emit: (e) => {
        if (e.type === 'run/step') steps = e.payload.step;
      },
      shouldStop: () => steps >= 37,
      stepEventEvery: 1,
      onCheckpoint: (s) => {
        states.push(s);
      },
    });
    r.bestWeights.forEach((t) => t.dispose());
    assert.equal(r.stoppedBy, 'cancel');
    const state = states.at(-1)!;
    assert.equal(state.step, 37);
    assert.ok(state.P && state.G && state.multipliers, 'a state after refreshes carries P, G and the multipliers');
    if (momentum === 0) assert.ok(state.headScale < 1, `the head's carried scale is recorded (${state.headScale})`);
    else assert.equal(state.headScale, 1);
    // Every field of TrainState is in the loop's field table, in the snapshot, and in the checkpoint schema.
    assert.deepEqual(Object.keys(state), FinetuneRun.fieldNames);
    assert.deepEqual([...FinetuneRun.fieldNames].sort(), [...CHECKPOINT_STATE_FIELDS].sort());

    const tensors = tf.memory().numTensors;
    const m2 = model();
    const run = new FinetuneRun(m2, data, { config, emit: () => undefined, shouldStop: () => false });
    run.restore(state);
    const again = await run.snapshot();
    assert.deepStrictEqual(again, state);
    // Restoring twice does not leak the replaced tensors.
    run.restore(again);
    assert.deepStrictEqual(await run.snapshot(), state);
    run.dispose(true);
    disposeModel(m2);
    assert.equal(tf.memory().numTensors, tensors, 'a restored run that is disposed leaves no tensor behind');
    disposeModel(m1);
  });

test('training.checkpointSeconds: 0 checkpoints at every refresh; a long interval only at the first and the final refresh, and at a stop', async () => {
  /** The steps checkpointed by a run of the problem with these training settings (stopped at stopAt when given). */
  const checkpointed = async (training: object, stopAt?: number): Promise<number[]> => {
    const p = problem({ steps: 60, ...training });
    const m = p.model();
    const steps: number[] = [];
    let step = 0;
    const r = await finetune(m, p.data, {
      config: p.config,
      emit: (e) => {
        if (e.type === 'run/step') step = e.payload.step;
      },
      shouldStop: () => stopAt !== undefined && step >= stopAt,
      stepEventEvery: 1,
      onCheckpoint: (s) => {
        steps.push(s.step);
      },
    });
    r.bestWeights.forEach((t) => t.dispose());
    disposeModel(m);
    return steps;
  };
  assert.equal(configSchema.parse({ data: { kind: 'npy', train: { features: 'x' } } }).training.checkpointSeconds, 30);
  // refreshEvery 10: refreshes at steps 0, 10, ..., 50, then the final one at 60.
  assert.deepEqual(await checkpointed({ checkpointSeconds: 0 }), [0, 10, 20, 30, 40, 50, 60]);
  assert.deepEqual(await checkpointed({ checkpointSeconds: 3600 }), [0, 60]);
  assert.deepEqual(await checkpointed({ checkpointSeconds: 3600 }, 37), [0, 37], 'a stop writes one');
  // training.checkpointEvery still adds its own between refreshes.
  assert.deepEqual(await checkpointed({ checkpointSeconds: 3600, checkpointEvery: 25 }), [0, 25, 50, 60]);
});

test('loopTimeLine: the pauses and the steps as counts, percentiles and shares of the wall time', () => {
  const pauses = new DurationStats(),
    steps = new DurationStats();
  assert.equal(
    loopTimeLine(1000, pauses, steps),
    'the training loop ran 1.0 s: no pauses for refreshes and checkpoints took; no steps took',
  );
  for (const ms of [100, 300]) pauses.add(ms);
  for (const ms of [10, 20, 30]) steps.add(ms);
  assert.equal(
    loopTimeLine(1000, pauses, steps),
    'the training loop ran 1.0 s: 2 pauses for refreshes and checkpoints took p50 100.0 ms, p95 300.0 ms (40 % of its time); 3 steps took p50 20.0 ms, p95 30.0 ms (6 % of its time)',
  );
});

test("the run's log says where the loop's time went: one pause per refresh or extra checkpoint, one entry per step", async () => {
  const p = problem({ steps: 60, checkpointSeconds: 3600, checkpointEvery: 25 });
  const m = p.model();
  const lines: string[] = [];
  const r = await finetune(m, p.data, {
    config: p.config,
    emit: (e) => {
      if (e.type === 'run/log' && e.payload.message.startsWith('the training loop ran')) lines.push(e.payload.message);
    },
    shouldStop: () => false,
  });
  r.bestWeights.forEach((t) => t.dispose());
  disposeModel(m);
  assert.equal(lines.length, 1);
  // Refreshes at 0, 10, ..., 50 and the extra checkpoint at 25 (the one at 50 comes with that refresh); 60 steps.
  assert.match(
    lines[0]!,
    /^the training loop ran \d+\.\d s: 7 pauses for refreshes and checkpoints took p50 [\d.]+ ms, p95 [\d.]+ ms \(\d+ % of its time\); 60 steps took p50 [\d.]+ ms/,
  );
});

test('a refresh says what it does while no step runs: run/refreshing for each part, in order, then run/refresh', async () => {
  const events = async (extra: object): Promise<string[]> => {
    const p = problem({ steps: 20 });
    const m = p.model();
    const out: string[] = [];
    const r = await finetune(m, p.data, {
      config: p.config,
      emit: (e) => {
        if (e.type === 'run/refreshing')
          out.push(
            `${e.payload.step} ${e.payload.phase}${e.payload.total > 0 ? ` ${e.payload.done}/${e.payload.total}` : ''}`,
          );
        else if (e.type === 'run/refresh') out.push(`${e.payload.step} refresh`);
      },
      shouldStop: () => false,
      ...extra,
    });
    r.bestWeights.forEach((t) => t.dispose());
    disposeModel(m);
    return out;
  };
  // refreshEventMs 0: every part announced. Refreshes at steps 0 and 10, the final one at 20; 80 validation rows in one
  // batch; the first and the final refresh write a checkpoint (training.checkpointSeconds 30).
  const part = (t: number) => [`${t} validation 0/80`, `${t} validation 80/80`, `${t} gains`, `${t} distribution`];
  assert.deepEqual(await events({ stepEventEvery: 1, refreshEventMs: 0 }), [
    ...part(0),
    '0 refresh',
    '0 checkpoint',
    ...part(10),
    '10 refresh',
    ...part(20),
    '20 refresh',
    '20 checkpoint',
  ]);
  // With step events every n steps (tests) and no refreshEventMs: none.
  assert.deepEqual(await events({ stepEventEvery: 1 }), ['0 refresh', '10 refresh', '20 refresh']);
});

/** Runs the problem to the end (from resume when given); returns the loop's last checkpoint and the pseudo-labels. */
async function runToEnd(p: ReturnType<typeof problem>, opts: { stopAt?: number; resume?: TrainState } = {}) {
  const states: TrainState[] = [];
  let steps = 0;
  const m = p.model();
  const r = await finetune(m, p.data, {
    config: p.config,
    emit: (e) => {
      if (e.type === 'run/step') steps = e.payload.step;
    },
    shouldStop: () => opts.stopAt !== undefined && steps >= opts.stopAt,
    stepEventEvery: 1,
    onCheckpoint: (s) => {
      states.push(s);
    },
    ...(opts.resume ? { resume: opts.resume } : {}),
  });
  r.bestWeights.forEach((t) => t.dispose());
  disposeModel(m);
  return { last: states.at(-1)!, pseudoLabels: r.pseudoLabels, stoppedBy: r.stoppedBy };
}

test('selmix.teacher "ema": the teacher is in the checkpoint, and a resumed run ends exactly as an uninterrupted one (teacher included)', async () => {
  const p = problem({ steps: 60, momentum: 0.9 }, { teacher: 'ema', teacherDecay: 0.95, pseudoLabelThreshold: 0.5 });
  const whole = await runToEnd(p);
  assert.equal(whole.last.step, 60);
  assert.ok(whole.last.teacher, 'the final checkpoint carries the teacher');
  assert.equal(whole.pseudoLabels!.source, 'ema');
  const stopped = await runToEnd(p, { stopAt: 37 });
  assert.equal(stopped.stoppedBy, 'cancel');
  assert.equal(stopped.last.step, 37);
  assert.ok(stopped.last.teacher, "the stop's checkpoint carries the teacher");
  // The teacher is its own average, not the weights: after 37 steps at decay 0.95 they differ.
  assert.notDeepStrictEqual(stopped.last.teacher, stopped.last.weights);
  const resumed = await runToEnd(p, { resume: stopped.last });
  assert.deepStrictEqual(resumed.last, whole.last, 'every field, the teacher and the pseudo-labels included');
  assert.deepStrictEqual(resumed.pseudoLabels, whole.pseudoLabels);
  // Without the saved teacher (a checkpoint of an earlier version) the teacher restarts from the resumed weights and
  // ends elsewhere: what the field above is for.
  const fresh = await runToEnd(p, { resume: { ...stopped.last, teacher: null } });
  assert.notDeepStrictEqual(fresh.last.teacher, whole.last.teacher);
});

test('a head-only run with selmix.teacher "ema" and an unlabeled set: report.json says the Mean Teacher labelled it; cancel and resume through the checkpoint files is bit-identical', async () => {
  const dir = writeLinearJob('selmix-teacher-', [120, 50, 20, 9], [20, 20, 20, 20], 6, 17);
  const un = clusterSet([40, 40, 40, 40], 6, new Rng(23), 1.5);
  writeNpy(join(dir, 'ux.npy'), un.x, [un.n, 6]);
  const training = { steps: 100, refreshEvery: 20, batchSize: 16, momentum: 0.9 };
  const config = (out: string) => {
    const c = JSON.parse(npyConfig(training, out, 'minRecall'));
    c.data.unlabeled = { features: 'ux.npy' };
    c.selmix = { teacher: 'ema', teacherDecay: 0.95, pseudoLabelThreshold: 0.5 };
    return JSON.stringify(c);
  };
  const cfg = join(dir, 't.selmix.json');
  writeFileSync(cfg, config('whole'));
  const whole = await runFile(cfg);
  assert.ok(whole.ok, whole.ok ? '' : whole.message);
  const pl = whole.summary.pseudoLabels!;
  assert.equal(pl.source, 'ema');
  assert.equal(pl.decay, 0.95);
  assert.equal(pl.total, 160);
  assert.ok(pl.passed > 0 && pl.passed <= pl.total, JSON.stringify(pl));
  const report = JSON.parse(readFileSync(join(dir, 'whole', 'report.json'), 'utf8'));
  assert.deepEqual(report.summary.pseudoLabels, pl);
  assert.ok(
    report.notes.some((n: string) => n.includes(`${pl.passed} of 160 unlabeled examples reached`)),
    report.notes.join('\n'),
  );
  writeFileSync(cfg, config('split'));
  let asked = 0;
  const first = await runFile(cfg, { shouldStop: () => ++asked > 47 });
  assert.ok(first.ok && first.summary.stoppedBy === 'cancel');
  const resumed = await runFile(cfg, { resume: true });
  assert.ok(resumed.ok && resumed.summary.steps === 100, resumed.ok ? '' : resumed.message);
  assert.deepEqual(resumed.summary.pseudoLabels, pl);
  for (const f of ['W.npy', 'b.npy'])
    assert.ok(readFileSync(join(dir, 'split', f)).equals(readFileSync(join(dir, 'whole', f))), `${f} bit-identical`);
});

test('a stop request set from the event loop (a worker message, SIGINT) is seen right after the refresh, not at the next run/step event', async () => {
  // 20000 steps: a run/step event every 100 steps. Before the loop yielded after each refresh, a stop set by a
  // macrotask waited for that event's yield and the run ended at step 100 (at K = 1000: 30 s after the request).
  const { data, model, config } = problem({ steps: 20_000, refreshEvery: 5 });
  const m = model();
  let stop = false;
  let refreshes = 0;
  const r = await finetune(m, data, {
    config,
    shouldStop: () => stop,
    emit: (e) => {
      if (e.type === 'run/refresh' && ++refreshes === 2)
        setImmediate(() => {
          stop = true;
        });
    },
  });
  r.bestWeights.forEach((t) => t.dispose());
  disposeModel(m);
  assert.equal(r.stoppedBy, 'cancel');
  assert.ok(r.steps <= 5 + 1, `stopped at step ${r.steps}: one step after the second refresh (step 5)`);
});

test('restore refuses a state of another shape with a TrainingError, not a tfjs error', async () => {
  const { data, model, config } = problem({ steps: 20 });
  const m = model();
  const run = new FinetuneRun(m, data, { config, emit: () => undefined, shouldStop: () => false });
  const s = await run.snapshot();
  const bad: TrainState = { ...s, weights: [{ shape: [5, 4], data: new Float32Array(20) }, s.weights[1]!] };
  assert.throws(
    () => run.restore(bad),
    (e: Error) => e.name === 'TrainingError' && /shape \[5,4\]/.test(e.message),
  );
  run.dispose(true);
  disposeModel(m);
});

test('every refresh after the third interval carries a gain correlation in [-1, 1]', async () => {
  const dir = writeLinearJob('selmix-monitor-', [150, 60, 20, 8], [30, 30, 30, 30], 6, 11);
  const cfg = join(dir, 'm.selmix.json');
  writeFileSync(cfg, npyConfig({ steps: 120, refreshEvery: 10, patience: null }, 'out', 'minRecall'));
  const refreshes: RefreshPayload[] = [];
  const r = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/refresh') refreshes.push(e.payload);
    },
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  assert.equal(refreshes.length, 13);
  // intervals end at the 2nd refresh onwards; three are needed for a correlation
  assert.deepEqual(
    refreshes.slice(0, 3).map((p) => p.gainCorrelation),
    [null, null, null],
  );
  for (const p of refreshes.slice(4))
    assert.ok(
      typeof p.gainCorrelation === 'number' && p.gainCorrelation >= -1 && p.gainCorrelation <= 1,
      String(p.gainCorrelation),
    );
  const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'));
  assert.equal(report.gainCorrelation, refreshes.at(-1)!.gainCorrelation);
});

test('checkpointEvery adds checkpoints between refreshes, and resuming from one matches an uninterrupted run', async () => {
  const dir = writeLinearJob('selmix-ckpt-', [90, 30, 10], [20, 20, 20], 4, 12);
  const training = { steps: 60, refreshEvery: 20, checkpointEvery: 7, checkpointSeconds: 0, momentum: 0.9 };
  const cfg = join(dir, 'c.selmix.json');
  writeFileSync(cfg, npyConfig(training, 'a'));
  const steps: number[] = [];
  let stopAt = 0;
  const first = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/checkpoint') {
        steps.push(e.payload.step);
        if (e.payload.step === 35) stopAt = 35;
      }
    },
    shouldStop: () => stopAt > 0,
  });
  assert.ok(first.ok, first.ok ? '' : first.message);
  // refreshes at 0 and 20, extra checkpoints at 7, 14, 21, 28, 35, then the stop's own checkpoint
  assert.deepEqual(steps.slice(0, 7), [0, 7, 14, 20, 21, 28, 35]);
  const resumed = await runFile(cfg, { resume: true });
  assert.ok(resumed.ok, resumed.ok ? '' : resumed.message);
  writeFileSync(cfg, npyConfig(training, 'b'));
  const straight = await runFile(cfg);
  assert.ok(straight.ok);
  assert.ok(
    readFileSync(join(dir, 'a', 'W.npy')).equals(readFileSync(join(dir, 'b', 'W.npy'))),
    'resumed and uninterrupted weights differ',
  );
});

// Without momentum W carries a weight-decay scale between refreshes, which the checkpoint records instead of folding
// in.
for (const momentum of [0, 0.9])
  test(`cancel, then resume through the binary checkpoint, is bit-identical to an uninterrupted run (momentum ${momentum})`, async () => {
    const dir = writeLinearJob('selmix-resume-', [120, 50, 20, 9], [20, 20, 20, 20], 6, 13);
    const training = { steps: 150, refreshEvery: 25, batchSize: 16, momentum, weightDecay: 5e-3 };
    const cfg = join(dir, 'r.selmix.json');
    writeFileSync(cfg, npyConfig(training, 'whole', 'minRecall'));
    const whole = await runFile(cfg);
    assert.ok(whole.ok, whole.ok ? '' : whole.message);
    writeFileSync(cfg, npyConfig(training, 'split', 'minRecall'));
    // The loop asks shouldStop once a step: stop at step 61 (step events come by wall time, not at every step).
    let asked = 0;
    const first = await runFile(cfg, { shouldStop: () => ++asked > 61 });
    assert.ok(first.ok && first.summary.stoppedBy === 'cancel');
    const logs: string[] = [];
    const resumed = await runFile(cfg, {
      resume: true,
      emit: (e) => {
        if (e.type === 'run/log') logs.push(e.payload.message);
      },
    });
    assert.ok(
      resumed.ok && resumed.summary.stoppedBy === 'steps' && resumed.summary.steps === 150,
      resumed.ok ? '' : resumed.message,
    );
    assert.ok(
      logs.some((l) => /resumed from the checkpoint at step \d+/.test(l)),
      logs.join('\n'),
    );
    assert.equal(resumed.summary.bestStep, whole.summary.bestStep);
    for (const f of ['W.npy', 'b.npy'])
      assert.ok(readFileSync(join(dir, 'split', f)).equals(readFileSync(join(dir, 'whole', f))), `${f} bit-identical`);
  });

test('a diverging run fails with a TrainingError naming the step and leaves no tensor behind', async () => {
  const { data, model, config } = problem({ steps: 200, lr: 10, momentum: 0.9, schedule: 'constant' });
  // Features 40 times larger: at lr 10 the logits grow until the loss explodes.
  data.train.x.forEach((v, i) => {
    data.train.x[i] = v * 40;
  });
  const m = model();
  // A linear head makes its variables when first read: made here, they are the model's, not the run's.
  assert.equal(m.W.rank, 2);
  const tensors = tf.memory().numTensors;
  await assert.rejects(
    finetune(m, data, { config, emit: () => undefined, shouldStop: () => false }),
    (e: Error) => e.name === 'TrainingError' && /diverged at step \d+/.test(e.message),
  );
  assert.equal(tf.memory().numTensors, tensors);
  disposeModel(m);
});

test('the warm start: tau chosen on validation, logged, in the summary, and the kept iterate is never worse on validation', async () => {
  const dir = writeLinearJob('selmix-warm-', [200, 60, 15, 5], [30, 30, 30, 30], 6, 21);
  const cfg = join(dir, 'w.selmix.json');
  writeFileSync(
    cfg,
    npyConfig(
      { steps: 60, refreshEvery: 20, warmStart: 'logitAdjusted', baselines: ['logitAdjusted', 'uniformMixup'] },
      'out',
      'minRecall',
    ),
  );
  const logs: string[] = [];
  const refreshes: RefreshPayload[] = [];
  const r = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/log') logs.push(e.payload.message);
      if (e.type === 'run/refresh') refreshes.push(e.payload);
    },
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  const w = r.summary.warmStart!;
  assert.ok(w && w.tau >= 0);
  assert.ok(
    logs.some((l) => l.startsWith('warm start:')),
    logs.join('\n'),
  );
  // The step-0 refresh scores the warm-started head: its value is the warm start's, and the result is at least that.
  assert.equal(refreshes[0]!.step, 0);
  assert.equal(refreshes[0]!.objectiveValue, w.objectiveValue);
  assert.ok(r.summary.after.objectiveValue >= w.objectiveValue);
  // Both baselines of the same run, from the same starting model.
  assert.deepEqual(
    r.summary.baselines!.map((b) => b.label.split(' ')[0]),
    ['post-hoc', 'uniform'],
  );
  const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'));
  assert.equal(report.summary.warmStart.tau, w.tau);
  // No feasibility for an unconstrained objective.
  assert.equal(r.summary.feasibility, undefined);
});

test('a coverage objective reports feasibility on every refresh and in the summary; a budget spent while improving says so', async () => {
  const dir = writeLinearJob('selmix-feas-', [200, 60, 15, 5], [30, 30, 30, 30], 6, 22);
  const cfg = join(dir, 'f.selmix.json');
  writeFileSync(cfg, npyConfig({ steps: 40, refreshEvery: 20, warmStart: 'none' }, 'out', 'meanRecallMinCoverage'));
  const refreshes: RefreshPayload[] = [];
  const warns: string[] = [];
  const r = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/refresh') refreshes.push(e.payload);
      if (e.type === 'run/log' && e.payload.level === 'warn') warns.push(e.payload.message);
    },
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  for (const p of refreshes) {
    assert.equal(p.feasibility!.bound, 0.95 / 4);
    assert.equal(p.feasibility!.met, p.feasibility!.value >= 0.95 / 4);
  }
  const f = r.summary.feasibility!;
  assert.equal(f.val.value, r.summary.after.val.minCoverage);
  assert.equal(r.summary.warmStart, undefined);
  // Met on validation, or said plainly: infeasible, and why, in the summary and the log.
  if (f.val.met) assert.equal(r.summary.infeasible, undefined);
  else {
    assert.match(r.summary.infeasible!, /^infeasible on validation: min coverage >= 23\.75 %/);
    assert.ok(warns.includes(r.summary.infeasible!));
  }
  const lastIsBest = r.summary.bestStep === r.summary.steps && r.summary.stoppedBy === 'steps';
  assert.equal(
    warns.some((m) => m.startsWith('the kept iterate is the last one')),
    lastIsBest,
  );
});

test('selmix.smoothing: the P a run samples after a refresh is smoothing x the previous P + (1 - smoothing) x the P of the current gains', async () => {
  const seen = async (smoothing: number): Promise<number[][]> => {
    const { data, model, config } = problem({ steps: 12 });
    config.selmix.smoothing = smoothing;
    const Ps: number[][] = [];
    const m = model();
    const r = await finetune(m, data, {
      config,
      emit: (e) => {
        if (e.type === 'run/refresh') Ps.push(e.payload.distribution.data as number[]);
      },
      shouldStop: () => false,
    });
    r.bestWeights.forEach((t) => t.dispose());
    disposeModel(m);
    return Ps;
  };
  const raw = await seen(0);
  const smooth = await seen(0.5);
  assert.ok(raw.length >= 2 && smooth.length === raw.length, `${raw.length} refreshes`);
  // The first refresh has no previous P; until the second, both runs sample the same P, so the second refresh's
  // gains are the same too, and the smoothed run samples the mean of the two distributions.
  assert.deepEqual(smooth[0], raw[0]);
  assertClose(
    smooth[1]!,
    raw[0]!.map((p, i) => 0.5 * p + 0.5 * raw[1]![i]!),
    1e-12,
    'smoothed P at the second refresh',
    false,
  );
  assert.ok(
    raw[1]!.some((p, i) => Math.abs(p - raw[0]![i]!) > 1e-6),
    'the raw P moved between the refreshes (else the check above is empty)',
  );
});

test('the warm start carries its validation and test metrics; report.json has the credit rows; a resumed run reports the same warm start', async () => {
  const dir = writeLinearJob('selmix-credit-', [200, 60, 15, 5], [30, 30, 30, 30], 6, 23);
  const t = clusterSet([40, 40, 40, 40], 6, new Rng(99), 1.5);
  const { writeNpy } = await import('../../../../src/data/npy');
  writeNpy(join(dir, 'tex.npy'), t.x, [t.n, 6]);
  writeNpy(join(dir, 'tey.npy'), t.y, [t.n]);
  const withTest = (training: object, out: string) => {
    const c = JSON.parse(npyConfig(training, out, 'minRecall'));
    c.data.test = { features: 'tex.npy', labels: 'tey.npy' };
    return JSON.stringify(c);
  };
  const cfg = join(dir, 'c.selmix.json');
  writeFileSync(cfg, withTest({ steps: 60, refreshEvery: 20, warmStart: 'logitAdjusted' }, 'whole'));
  const refreshes: RefreshPayload[] = [];
  const r = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/refresh') refreshes.push(e.payload);
    },
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  const w = r.summary.warmStart!;
  assert.deepEqual(w.val, refreshes[0]!.val, "the warm start's validation metrics are the step-0 refresh's");
  assert.ok(w.test && w.test.recall.length === 4);
  assert.equal(w.testObjectiveValue, w.test.minRecall);
  assert.equal(r.summary.after.testObjectiveValue, r.summary.after.test!.minRecall);
  const report = JSON.parse(readFileSync(join(dir, 'whole', 'report.json'), 'utf8'));
  assert.deepEqual(
    report.credit.map((c: { key: string }) => c.key),
    ['start', 'warmStart', 'selmix'],
  );
  assertClose(
    [report.credit[2].changeTest],
    [r.summary.after.test!.minRecall - w.test.minRecall],
    1e-12,
    "SelMix's own change on test",
  );
  // Stopped after the first refresh and resumed: the warm start is measured again from the starting model, identically.
  writeFileSync(cfg, withTest({ steps: 60, refreshEvery: 20, warmStart: 'logitAdjusted' }, 'split'));
  let refreshCount = 0;
  const stopped = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/refresh') refreshCount++;
    },
    shouldStop: () => refreshCount >= 2,
  });
  assert.ok(stopped.ok && stopped.summary.stoppedBy === 'cancel');
  const resumed = await runFile(cfg, { resume: true });
  assert.ok(resumed.ok, resumed.ok ? '' : resumed.message);
  assert.deepEqual(resumed.summary.warmStart, w);
});

test('the gain monitor in the loop: quiet at the default learning rate, warns when a huge constant step breaks the first-order estimate', async () => {
  const run = async (training: object) => {
    const dir = writeLinearJob('selmix-monitor-', [400, 120, 60, 30], [200, 200, 200, 200], 6, 31);
    const cfg = join(dir, 'm.selmix.json');
    writeFileSync(cfg, npyConfig({ steps: 400, refreshEvery: 10, patience: null, ...training }, 'out', 'minRecall'));
    const warns: string[] = [];
    const checks: NonNullable<RefreshPayload['gainCheck']>[] = [];
    const r = await runFile(cfg, {
      emit: (e) => {
        if (e.type === 'run/log' && e.payload.level === 'warn' && /first-order/.test(e.payload.message))
          warns.push(e.payload.message);
        if (e.type === 'run/refresh' && e.payload.gainCheck) checks.push(e.payload.gainCheck);
      },
    });
    assert.ok(r.ok, r.ok ? '' : r.message);
    return { warns, last: checks.at(-1)! };
  };
  const healthy = await run({ lr: 0.01 });
  assert.deepEqual(healthy.warns, []);
  assert.equal(healthy.last.tracking, true);
  assert.ok(healthy.last.intervals >= 5, `${healthy.last.intervals} intervals with evidence`);
  // lr 10 with momentum 0.9 and no decay: every interval overshoots, and the objective jumps about whatever G says.
  const broken = await run({ lr: 10, schedule: 'constant', momentum: 0.9 });
  assert.equal(broken.warns.length >= 1, true, JSON.stringify(broken.last));
  assert.match(broken.warns[0]!, /runs against the predicted one beyond the noise/);
  assert.equal(broken.last.tracking, false);
  assert.ok((broken.last.against ?? 0) >= 3);
});

/**
 * A run of a config template's settings (what "SelMix: New Config File" writes, minus its data and model, which are the
 * user's): the template's objective, training (less its baselines, which run apart from the monitored run) and selmix
 * blocks on a synthetic long-tailed linear head (K = 10, 100 validation examples a class, as the demo). Returns the
 * monitor's warnings and its last verdict.
 */
async function templateRun(
  label: string,
  counts = [1500, 900, 540, 330, 195, 120, 72, 45, 27, 15],
): Promise<{ warns: string[]; last: NonNullable<RefreshPayload['gainCheck']> | null }> {
  const t = CONFIG_TEMPLATES.find((x) => x.label === label)!;
  const dir = writeLinearJob('selmix-templates-', counts, new Array<number>(10).fill(100), 16, 41);
  const c = t.config;
  const cfg = join(dir, t.fileName);
  const training: Record<string, unknown> = { ...c.training };
  delete training.baselines;
  const text = JSON.parse(npyConfig(training, 'out', c.objective ?? 'minRecall'));
  if (c.selmix) text.selmix = c.selmix;
  writeFileSync(cfg, JSON.stringify(text));
  const warns: string[] = [];
  let last: NonNullable<RefreshPayload['gainCheck']> | null = null;
  const r = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/log' && e.payload.level === 'warn' && /first-order/.test(e.payload.message))
        warns.push(e.payload.message);
      if (e.type === 'run/refresh' && e.payload.gainCheck) last = e.payload.gainCheck;
    },
  });
  assert.ok(r.ok, `${label}: ${r.ok ? '' : r.message}`);
  return { warns, last };
}

test('the gain monitor is quiet on the settings of every config template (the demo one included), on a long-tailed head', async () => {
  assert.ok(CONFIG_TEMPLATES.length >= 4);
  for (const { label } of CONFIG_TEMPLATES) {
    const { warns, last } = await templateRun(label);
    assert.deepEqual(warns, [], `${label}: ${JSON.stringify(last)}`);
    assert.ok(last !== null && last.intervals >= 5, `${label}: evidence to judge by (${JSON.stringify(last)})`);
    assert.equal(last.tracking, true, label);
  }
});

test('a constrained run that cannot meet its bound on validation says it is infeasible, and why (summary, log, report.json)', async () => {
  // Balanced predictions (coverage >= 0.999 / K for every class) on an unbalanced validation set: out of reach.
  const dir = writeLinearJob('selmix-infeasible-', [200, 60, 15, 5], [40, 30, 30, 20], 6, 24);
  const cfg = join(dir, 'i.selmix.json');
  const c = JSON.parse(npyConfig({ steps: 40, refreshEvery: 20 }, 'out', 'meanRecallMinCoverage'));
  c.selmix = { coverage: { alpha: 0.999 } };
  writeFileSync(cfg, JSON.stringify(c));
  const warns: string[] = [];
  const r = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/log' && e.payload.level === 'warn') warns.push(e.payload.message);
    },
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  assert.equal(r.summary.feasibility!.val.met, false);
  const why = r.summary.infeasible!;
  assert.match(
    why,
    /^infeasible on validation: min coverage >= 24\.98 % \(alpha 0\.999 \/ K 4\) was not met by any iterate; the kept one, step \d+, is the closest at \d+\.\d\d % \(below it: /,
  );
  assert.match(why, /Logit adjustment, tau searched on validation, came no closer than/);
  assert.ok(warns.includes(why));
  assert.equal(JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')).summary.infeasible, why);
});

test('training.selectionMargin: a later iterate replaces the kept one only when it is better by more than that many standard errors', async () => {
  const dir = writeLinearJob('selmix-margin-', [200, 60, 15, 5], [30, 30, 30, 30], 6, 21);
  const run = async (selectionMargin: number, out: string) => {
    const cfg = join(dir, `${out}.selmix.json`);
    writeFileSync(cfg, npyConfig({ steps: 200, refreshEvery: 20, selectionMargin }, out, 'minRecall'));
    const r = await runFile(cfg);
    assert.ok(r.ok, r.ok ? '' : r.message);
    return r.summary;
  };
  const plain = await run(0, 'm0');
  const strict = await run(10, 'm10');
  assert.ok(
    plain.bestStep > 0 && plain.after.objectiveValue > plain.warmStart!.objectiveValue,
    `without a margin a later iterate is kept (step ${plain.bestStep})`,
  );
  // Ten standard errors on 30 examples a class: nothing after the warm start clears it.
  assert.equal(strict.bestStep, 0);
  assert.equal(strict.after.objectiveValue, strict.warmStart!.objectiveValue);
});

test('training.selection "split": every other example of each class feeds the gains, the rest picks the kept iterate', async () => {
  const s = splitRows(Int32Array.from([0, 1, 0, 0, 1, 2]), 3);
  assert.deepEqual(Array.from(s.gain), [0, 1, 3, 5]);
  assert.deepEqual(Array.from(s.sel), [2, 4]);
  assert.deepEqual(s.selSupport, [1, 1, 0]);
  const dir = writeLinearJob('selmix-split-', [200, 60, 15, 5], [30, 30, 30, 30], 6, 21);
  const cfg = join(dir, 's.selmix.json');
  writeFileSync(cfg, npyConfig({ steps: 100, refreshEvery: 20, selection: 'split' }, 'out', 'minRecall'));
  const refreshes: RefreshPayload[] = [];
  const r = await runFile(cfg, {
    emit: (e) => {
      if (e.type === 'run/refresh') refreshes.push(e.payload);
    },
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  // The refresh (gains, monitor) sees half of each class; the summary reports the whole validation set.
  assert.deepEqual(refreshes[0]!.val.support, [15, 15, 15, 15]);
  assert.deepEqual(r.summary.after.val.support, [30, 30, 30, 30]);
});

test('run/step events come at the first refresh and at the end, and a stop reports the step the run really reached', async () => {
  const { data, model, config } = problem({ steps: 60 });
  const m = model();
  const steps: number[] = [];
  let asked = 0;
  const r = await finetune(m, data, {
    config,
    emit: (e) => {
      if (e.type === 'run/step') steps.push(e.payload.step);
    },
    shouldStop: () => ++asked > 37,
  });
  r.bestWeights.forEach((t) => t.dispose());
  assert.equal(r.stoppedBy, 'cancel');
  // Refreshes here come far faster than MIN_STEP_EVENT_MS apart: the first is reported, then by time.
  assert.equal(steps[0], 10, `a step event at the first refresh boundary: ${steps.join(', ')}`);
  assert.equal(steps.at(-1), 37, 'the last event is the step where the run stopped');
  assert.equal(r.steps, 37);
});

/** A K = 120 head on 24 clustered features, 30 steps refreshing every 5 (the ONNX Runtime refresh tests' job). */
function k120Job(seed: number): { K: number; d: number; data: FinetuneData; W: Float32Array; config: SelmixConfig } {
  const rng = new Rng(seed);
  const K = 120,
    d = 24;
  const counts = Array.from({ length: K }, (_, k) => 4 + (k % 5));
  const tr = clusterSet(counts, d, rng, 1.5);
  const va = clusterSet(new Array<number>(K).fill(3), d, rng, 1.5);
  const data: FinetuneData = {
    train: { x: tr.x, y: tr.y, n: tr.n, shape: [d] },
    val: { x: va.x, y: va.y, n: va.n, shape: [d] },
    unlabeled: null,
    test: null,
    classNames: Array.from({ length: K }, (_, k) => `c${k}`),
  };
  const W = new Float32Array(d * K).map(() => 0.1 * rng.normal());
  const config = configSchema.parse({
    objective: 'minRecall',
    data: { kind: 'npy', train: { features: 'x' } },
    model: { kind: 'linear', weights: 'W' },
    training: { batchSize: 32, refreshEvery: 5, steps: 30 },
  });
  return { K, d, data, W, config };
}

test('argmaxPays: the argmax path where the N x K logits cost more in JS than K^2 d more multiply-adds on the provider (the two measured cases)', () => {
  assert.equal(argmaxPays(1000, 32, 8000), true, 'the largeK e2e: K = 1000, d = 32, N = 8,000');
  assert.equal(argmaxPays(1000, 2048, 3000), false, "issue 24's finetune: K = 1000, d = 2,048, N = 3,000");
  assert.equal(argmaxPays(10, 512, 100), true);
});

test("a head on features refreshes from ONNX Runtime's argmax of the validation logits (argmaxAffine), with the same confusion matrices and gains to float32 rounding as from the logits; a provider whose argmax says 'not finite' takes the logits path", async () => {
  const { ortMatMul } = await import('../../../../src/backend/onnxRuntime');
  const { K, d, data, W, config } = k120Job(19);
  let calls = 0;
  const { argmaxAffine, ...plain } = ortMatMul;
  const counted: MatMul = Object.assign((...a: Parameters<MatMul>) => ortMatMul(...a), {
    ...ortMatMul,
    argmaxAffine: (...a: Parameters<NonNullable<MatMul['argmaxAffine']>>) => {
      calls++;
      return argmaxAffine!(...a);
    },
  });
  const refusing: MatMul = Object.assign((...a: Parameters<MatMul>) => ortMatMul(...a), {
    ...plain,
    argmaxAffine: () => null,
  });
  const withoutArgmax: MatMul = Object.assign((...a: Parameters<MatMul>) => ortMatMul(...a), plain);
  const refreshes = async (matmul: MatMul) => {
    const m = linearModel(W, new Float32Array(K), d, K);
    const seen: { C: number[]; G: Float64Array }[] = [];
    const r = await finetune(m, data, {
      config,
      emit: (e) => {
        if (e.type === 'run/refresh')
          seen.push({ C: [...e.payload.val.recall], G: Float64Array.from(e.payload.gain!.data) });
      },
      shouldStop: () => false,
      matmul,
    });
    r.bestWeights.forEach((t) => t.dispose());
    disposeModel(m);
    return seen;
  };
  assert.ok(argmaxPays(K, d, data.val.n), 'at these sizes the argmax path is the one a run takes');
  const fast = await refreshes(counted);
  const slow = await refreshes(withoutArgmax);
  const fallback = await refreshes(refusing);
  assert.ok(fast.length >= 6, `${fast.length} refreshes`);
  assert.equal(calls, fast.length, 'every refresh took the argmax graph');
  // The first refresh sees the same model either way: the same recalls, and gains to float32 rounding (the centroid
  // logits from Z W + b instead of the class means of the logits).
  assert.deepEqual(fast[0]!.C, slow[0]!.C);
  const scale = Math.max(...slow[0]!.G.map(Math.abs));
  fast[0]!.G.forEach((g, t) => assert.ok(Math.abs(g - slow[0]!.G[t]!) <= 1e-5 * scale, `G[${t}]`));
  // The refusing provider computed the logits: the run is the one without argmaxAffine, bit for bit.
  assert.deepEqual(fallback, slow);
});

test("keepGainWork: a K = 120 run on ONNX Runtime products ends in the same state, bit for bit, with the gain's work arrays kept between refreshes and without", async () => {
  const { ortMatMul } = await import('../../../../src/backend/onnxRuntime');
  const { K, d, data, W, config } = k120Job(9);
  const finalState = async (keepGainWork: boolean): Promise<TrainState> => {
    const m = linearModel(W, new Float32Array(K), d, K);
    let last: TrainState | null = null;
    const r = await finetune(m, data, {
      config,
      emit: () => undefined,
      shouldStop: () => false,
      matmul: ortMatMul,
      keepGainWork,
      onCheckpoint: (s) => {
        last = s;
      },
    });
    r.bestWeights.forEach((t) => t.dispose());
    disposeModel(m);
    assert.ok(last, 'checkpoints were taken');
    return last;
  };
  const kept = await finalState(true);
  const fresh = await finalState(false);
  assert.ok(kept.G && kept.P, 'the run refreshed');
  assert.deepStrictEqual(kept, fresh);
});
