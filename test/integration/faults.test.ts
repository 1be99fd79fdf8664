// Faults: a worker killed mid-run, cancel and resume, a failed write, a run pointed at its own
// input, and divergence. Each runs a linear head on small synthetic features (K = 5, d = 8) in seconds.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs, { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { runConfig, type RunConfigOptions } from '../helpers/run';
import { initBackend, tf } from '../../src/backend/backend';
import { encodeNpy, readNpy } from '../../src/data/npy';
import type { TrainState } from '../../src/core/training/train';
import type { RunEvent, WorkerRequest } from '../../src/protocol/messages';
import { readCheckpoint } from '../../src/data/checkpoint';
import { releaseThreadLock } from '../../src/data/outputFolder';
import { layersModel } from '../corpus/corpus';
import { privateBundles, runCli, smallJob, treeDiff, treeHashes, type SmallJob } from '../helpers/reliability';

before(async () => {
  await initBackend({ choice: 'cpu' });
  privateBundles();
});

const opts = (events: RunEvent[], extra: Partial<RunConfigOptions> = {}): RunConfigOptions => ({
  emit: (e) => events.push(e),
  shouldStop: () => false,
  backend: 'cpu',
  ...extra,
});
const run = (j: SmallJob, events: RunEvent[], extra: Partial<RunConfigOptions> = {}) =>
  runConfig(readFileSync(j.configPath, 'utf8'), j.configPath, opts(events, extra));
const bytes = (j: SmallJob, f: string) => readFileSync(join(j.dir, 'out', f));
const failure = (events: RunEvent[]) => {
  const e = events.find((x) => x.type === 'run/failed');
  assert.ok(e && e.type === 'run/failed', `a run/failed event, got ${events.map((x) => x.type).join(', ')}`);
  return e.payload;
};

/**
 * Asserts that a checkpoint folder reads back (checksums, schema, its own fingerprint) with finite weights of the
 * head's shapes.
 */
function assertCheckpoint(dir: string): TrainState {
  const meta = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
    fingerprint: Parameters<typeof readCheckpoint>[1];
  };
  const s = readCheckpoint(dir, meta.fingerprint).state;
  assert.ok(Number.isInteger(s.step) && s.step >= 0);
  assert.deepEqual(
    s.weights.map((w) => w.shape),
    [[8, 5], [5]],
  );
  for (const w of [...s.weights, ...s.bestWeights])
    assert.ok(w.data.length === w.shape.reduce((a, b) => a * b, 1) && w.data.every(Number.isFinite));
  assert.ok(Array.isArray(s.rng) && s.P !== null && s.P.length === 25);
  return s;
}

test('a worker terminated mid-run: exit without a terminal event, an intact checkpoint, and resuming it gives the uninterrupted weights', async () => {
  // A checkpoint at every refresh (checkpointSeconds 0), so the worker is killed right after one at step 50.
  const training = { steps: 600, refreshEvery: 25, checkpointSeconds: 0 };
  const killed = smallJob(training);
  const events: RunEvent[] = [];
  const checkpoints: number[] = [];
  const worker = new Worker(join(privateBundles(), 'worker.js'));
  const threadId = worker.threadId;
  const exitCode = await new Promise<number>((resolveP, reject) => {
    worker.on('message', (e: RunEvent) => {
      events.push(e);
      if (e.type === 'run/checkpoint') {
        checkpoints.push(e.payload.step);
        if (e.payload.step >= 50) void worker.terminate();
      }
    });
    worker.on('error', reject);
    worker.on('exit', resolveP);
    worker.postMessage({
      type: 'worker/start',
      request: { configText: readFileSync(killed.configPath, 'utf8'), configPath: killed.configPath },
      backend: 'cpu',
    } satisfies WorkerRequest);
  });
  assert.equal(exitCode, 1, 'terminate() ends the thread with code 1');
  assert.ok(
    !events.some((e) => e.type === 'run/finished' || e.type === 'run/failed'),
    'no terminal event: the host must notice the exit itself',
  );
  assert.ok(events.some((e) => e.type === 'run/started'));
  const state = assertCheckpoint(join(killed.dir, 'out', 'checkpoint'));
  assert.ok(
    checkpoints.includes(state.step),
    `the checkpoint on disk (step ${state.step}) is one the worker reported (${checkpoints.join(', ')})`,
  );
  assert.ok(state.step < training.steps);
  const files = readdirSync(join(killed.dir, 'out', 'checkpoint')).sort();
  assert.equal(files.length, 2, `state.json and one arrays file, no temp file: ${files.join(', ')}`);
  assert.match(files[0]!, /^arrays-[0-9a-f]{16}\.bin$/);
  assert.equal(files[1], 'state.json');

  // The killed worker's lock on the output folder outlives it; the host releases it, as RunSession does.
  const refused = await run(killed, [], { resume: true });
  assert.ok(
    !refused.ok && /another run is writing to the output folder/.test(refused.message),
    refused.ok ? 'resumed over a held lock' : refused.message,
  );
  releaseThreadLock(join(killed.dir, 'out'), threadId);
  const resumed = await run(killed, [], { resume: true });
  assert.ok(resumed.ok, resumed.ok ? '' : resumed.message);
  const whole = smallJob(training);
  const r = await run(whole, []);
  assert.ok(r.ok);
  assert.deepEqual(bytes(killed, 'W.npy'), bytes(whole, 'W.npy'));
  assert.deepEqual(bytes(killed, 'b.npy'), bytes(whole, 'b.npy'));
});

// With momentum the head step keeps W exact; without it (the default) W carries a weight-decay scale between
// refreshes, which the checkpoint records instead of folding in.
for (const momentum of [0.9, 0])
  test(`cancel keeps a checkpoint, and resuming it gives bit-identical final weights to an uninterrupted run (momentum ${momentum})`, async () => {
    const training = { steps: 200, momentum, weightDecay: 5e-3 };
    const a = smallJob(training);
    const b = smallJob(training);
    const whole = await run(a, []);
    assert.ok(whole.ok);

    // The loop asks shouldStop once before each step: the 88th question comes before step 87 (0-based), so 87 steps are
    // done.
    let asked = 0;
    const events: RunEvent[] = [];
    const first = await run(b, events, {
      shouldStop: () => ++asked > 87,
      emit: (e) => {
        events.push(e);
      },
    });
    assert.ok(first.ok && first.summary.stoppedBy === 'cancel');
    const state = assertCheckpoint(join(b.dir, 'out', 'checkpoint'));
    assert.equal(state.step, 87, 'the checkpoint is taken where the run stopped');
    if (momentum === 0) assert.ok(state.headScale < 1, `the checkpoint records W's scale (${state.headScale})`);
    else assert.equal(state.headScale, 1, 'with momentum W carries no scale');
    const last = events.filter((e) => e.type === 'run/checkpoint').pop();
    assert.ok(last?.type === 'run/checkpoint' && last.payload.step === 87);

    const tensors = tf.memory().numTensors;
    const resumed = await run(b, [], { resume: true });
    assert.equal(tf.memory().numTensors, tensors, 'a resumed run leaves no tensor behind');
    assert.ok(resumed.ok && resumed.summary.stoppedBy === 'steps' && resumed.summary.steps === 200);
    assert.equal(resumed.summary.bestStep, whole.summary.bestStep);
    assert.deepEqual(bytes(b, 'W.npy'), bytes(a, 'W.npy'), 'W.npy bit-identical');
    assert.deepEqual(bytes(b, 'b.npy'), bytes(a, 'b.npy'), 'b.npy bit-identical');
  });

test('a full disk while writing the outputs leaves the previous W.npy, b.npy and report.json intact and names the path', async () => {
  const j = smallJob({ steps: 40 });
  assert.ok((await run(j, [])).ok);
  const out = join(j.dir, 'out');
  const previous = treeHashes(out);
  // A second run with another seed (other weights) hits ENOSPC half-way through staging b.npy.
  writeFileSync(j.configPath, JSON.stringify({ ...j.config, training: { ...(j.config.training as object), seed: 8 } }));
  const target = join(out, 'b.npy');
  const doomed = new Set<number>();
  const { openSync, writeSync } = fs;
  const patched = fs as unknown as { openSync: (...a: unknown[]) => number; writeSync: (...a: unknown[]) => number };
  patched.openSync = (...a: unknown[]) => {
    const fd = (openSync as (...x: unknown[]) => number)(...a);
    if (typeof a[0] === 'string' && a[0].startsWith(join(out, '.b.npy.'))) doomed.add(fd);
    return fd;
  };
  patched.writeSync = (...a: unknown[]) => {
    const fd = a[0] as number;
    if (doomed.has(fd)) {
      doomed.delete(fd);
      (writeSync as (...x: unknown[]) => number)(fd, a[1], 0, 16);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return (writeSync as (...x: unknown[]) => number)(...a);
  };
  const events: RunEvent[] = [];
  let r;
  try {
    r = await run(j, events);
  } finally {
    patched.openSync = openSync as never;
    patched.writeSync = writeSync as never;
  }
  assert.ok(!r.ok);
  const f = failure(events);
  assert.equal(f.kind, 'training', 'a failed write is a failed run, not an internal error');
  assert.ok(f.message.includes(target) && f.message.includes('ENOSPC'), f.message);
  // The checkpoint belongs to the new run; every other output is the previous one, and no temp file is left.
  assert.deepEqual(
    treeDiff(previous, treeHashes(out), (rel) => rel.startsWith('checkpoint/')),
    [],
  );
  assert.ok(!readdirSync(out).some((n) => n.endsWith('.tmp')));
});

test('an output folder that cannot be created is a config error at "output" (exit 2), and nothing is written', async () => {
  const j = smallJob({ steps: 20 });
  writeFileSync(join(j.dir, 'blocker'), 'a file\n');
  writeFileSync(j.configPath, JSON.stringify({ ...j.config, output: 'blocker/out' }, null, 2));
  const before = treeHashes(j.dir);
  const r = await runCli(['finetune', '--config', j.configPath, '--backend', 'cpu']);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(`${j.configPath}: invalid config`), r.stderr);
  assert.match(r.stderr, /line \d+:\d+: output: cannot create the output folder .*: .*blocker is a file, not a folder/);
  assert.ok(r.stderr.includes(join(j.dir, 'blocker', 'out')));
  assert.deepEqual(treeDiff(before, treeHashes(j.dir)), []);
});

test('a run refuses to write over its own input model (config, feature mode and a tfjs model): exit 2, inputs untouched', async () => {
  const j = smallJob({ steps: 20 });
  writeFileSync(j.configPath, JSON.stringify({ ...j.config, output: 'head' }, null, 2));
  const before = treeHashes(j.dir);
  const viaConfig = await runCli(['finetune', '--config', j.configPath, '--backend', 'cpu']);
  assert.equal(viaConfig.code, 2, viaConfig.stderr);
  assert.ok(
    viaConfig.stderr.includes(`${join(j.dir, 'head', 'W.npy')}: output would overwrite the input file`),
    viaConfig.stderr,
  );
  const viaFlags = await runCli(
    [
      'finetune',
      '--features',
      'train_x.npy',
      '--labels',
      'train_y.npy',
      '--val-features',
      'val_x.npy',
      '--val-labels',
      'val_y.npy',
      '--weights',
      'head/W.npy',
      '--bias',
      'head/b.npy',
      '--objective',
      'minRecall',
      '--steps',
      '20',
      '--out',
      'head',
      '--backend',
      'cpu',
    ],
    { cwd: j.dir },
  );
  assert.equal(viaFlags.code, 2, viaFlags.stderr);
  assert.ok(viaFlags.stderr.includes('output would overwrite the input file'), viaFlags.stderr);
  assert.deepEqual(treeDiff(before, treeHashes(j.dir)), [], 'nothing written, nothing modified');

  // A tfjs model at prev/model/model.json with output "prev" would be overwritten by prev/model/model.json.
  layersModel(join(j.dir, 'prev', 'model'), { inputShape: [8], flatten: false, units: [5] });
  writeFileSync(
    j.configPath,
    JSON.stringify({ ...j.config, model: { kind: 'tfjs', path: 'prev/model/model.json' }, output: 'prev' }, null, 2),
  );
  const tfjsBefore = treeHashes(j.dir);
  const events: RunEvent[] = [];
  const r = await run(j, events);
  assert.ok(!r.ok);
  const f = failure(events);
  assert.equal(f.kind, 'data');
  assert.ok(
    f.message.includes(join(j.dir, 'prev', 'model', 'model.json')) && f.message.includes('would overwrite the input'),
    f.message,
  );
  assert.deepEqual(treeDiff(tfjsBefore, treeHashes(j.dir)), []);
});

test('divergence: a huge lr stops the run with a training error naming the step and the lr; the checkpoint on disk is the last good one', async () => {
  const j = smallJob({ steps: 300, lr: 10, refreshEvery: 5, schedule: 'constant' });
  // Features 40 times larger: at lr 10 the logits grow until the loss explodes some 30 steps in.
  const p = join(j.dir, 'train_x.npy');
  const a = readNpy(p);
  writeFileSync(
    p,
    encodeNpy(
      Float32Array.from(a.data as Float32Array, (v) => v * 40),
      a.shape,
    ),
  );
  const events: RunEvent[] = [];
  const r = await run(j, events);
  assert.ok(!r.ok);
  const f = failure(events);
  assert.equal(f.kind, 'training');
  const m = /diverged at step (\d+)/.exec(f.message);
  assert.ok(m, f.message);
  const divergedAt = Number(m[1]);
  assert.match(f.message, /training\.lr \(now 10\)/);
  const lastCheckpoint = events.filter((e) => e.type === 'run/checkpoint').pop();
  assert.ok(lastCheckpoint?.type === 'run/checkpoint');
  const state = assertCheckpoint(join(j.dir, 'out', 'checkpoint'));
  assert.equal(state.step, lastCheckpoint.payload.step, 'the file is the last checkpoint reported');
  assert.ok(
    state.step <= divergedAt && state.best.step <= state.step,
    `checkpoint step ${state.step}, best ${state.best.step}, diverged at ${divergedAt}`,
  );
  assert.ok(!events.some((e) => e.type === 'run/finished'));
  for (const o of ['W.npy', 'b.npy', 'report.json'])
    assert.ok(!fs.existsSync(join(j.dir, 'out', o)), `${o} is not written by a diverged run`);
});
