import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyEvent, emptySnapshot, type RunEvent, type RunSnapshot } from '../../../src/protocol/messages';
import { endedWithWindow, formatDuration, stageLine, statusOf } from '../../../src/protocol/stageLine';

const stage = (
  stageId: 'starting' | 'decoding' | 'checking',
  done = 0,
  total = 0,
  eta: number | null = null,
): RunEvent => ({
  type: 'run/stage',
  payload: {
    stage: stageId,
    label: stageId === 'decoding' ? 'decoding images (train)' : stageId,
    done,
    total,
    etaSeconds: eta,
    name: 'cifar',
  },
});
const started = (mode: 'finetune' | 'pretrain', trains?: 'head' | 'network'): RunEvent => ({
  type: 'run/started',
  payload: {
    runId: 'r',
    name: 'cifar',
    objective: 'minRecall',
    K: 3,
    classNames: ['a', 'b', 'c'],
    totalSteps: 1000,
    backend: 'cpu',
    outputDir: '/o',
    mode,
    notes: [],
    ...(trains ? { trains } : {}),
  },
});
const fold = (s: RunSnapshot, ...es: RunEvent[]): RunSnapshot => es.reduce(applyEvent, s);

test('the first stage event of a run replaces a finished run at once: running, no results, its name', () => {
  const done = fold(emptySnapshot(), started('finetune'), {
    type: 'run/finished',
    payload: {
      runId: 'r',
      outputDir: '/o',
      reportPath: '/o/report.json',
      stoppedBy: 'steps',
      steps: 1000,
      objective: 'minRecall',
      before: { objectiveValue: 0, val: {} as never },
      after: { objectiveValue: 1, val: {} as never },
      bestStep: 1,
      wallSeconds: 1,
    },
  });
  assert.equal(done.status, 'finished');
  const s = applyEvent(done, stage('starting'));
  assert.equal(s.status, 'running');
  assert.equal(s.finished, null);
  assert.equal(s.started, null);
  assert.equal(s.stage?.name, 'cifar');
  assert.equal(stageLine(s)?.text, 'starting…');
  // A later stage of the same run keeps it running; run/started clears the stage.
  const d = applyEvent(s, stage('decoding', 500, 2000, 12.4));
  assert.deepEqual(stageLine(d), {
    stage: 'decoding',
    text: 'decoding images (train) 500/2000 (25 %), about 12 s left',
    fraction: 0.25,
    etaSeconds: 12.4,
  });
  const f = applyEvent(d, started('finetune', 'network'));
  assert.equal(f.stage, null);
  assert.equal(stageLine(f)?.text, 'fine-tuning the whole network: step 0/1000 (0 %)');
  const g = applyEvent(f, {
    type: 'run/step',
    payload: { step: 250, totalSteps: 1000, loss: 1, lr: 0.1, msPerStep: 100 },
  });
  assert.deepEqual(stageLine(g), {
    stage: 'finetuning',
    text: 'fine-tuning the whole network: step 250/1000 (25 %), about 1 min 15 s left',
    fraction: 0.25,
    etaSeconds: 75,
  });
  assert.equal(
    stageLine({ ...g, status: 'stopping' })?.text,
    'stopping: fine-tuning the whole network: step 250/1000 (25 %)',
  );
  assert.equal(stageLine(applyEvent(emptySnapshot(), started('pretrain')))?.text, 'pre-training: step 0/1000 (0 %)');
  assert.equal(stageLine(done), null);
});

test('a refresh under way is said after the step it holds, until the next step, refresh or end', () => {
  const refreshing = (
    phase: 'validation' | 'gains' | 'distribution' | 'checkpoint',
    done = 0,
    total = 0,
  ): RunEvent => ({
    type: 'run/refreshing',
    payload: { step: 250, phase, done, total },
  });
  const step = (n: number): RunEvent => ({
    type: 'run/step',
    payload: { step: n, totalSteps: 1000, loss: 1, lr: 0.1, msPerStep: 100 },
  });
  const s = fold(emptySnapshot(), started('finetune', 'head'), step(250), refreshing('validation', 2048, 8000));
  assert.deepEqual(s.refreshing, { step: 250, phase: 'validation', done: 2048, total: 8000 });
  assert.equal(
    stageLine(s)?.text,
    'fine-tuning the head: step 250/1000 (25 %), about 1 min 15 s left · refreshing: validation 2048/8000',
  );
  assert.equal(stageLine(fold(s, refreshing('gains')))?.text.split(' · ')[1], 'refreshing: the gain matrix');
  assert.equal(
    stageLine(fold(s, refreshing('distribution')))?.text.split(' · ')[1],
    'refreshing: the sampling distribution',
  );
  assert.equal(stageLine(fold(s, refreshing('checkpoint')))?.text.split(' · ')[1], 'writing a checkpoint');
  assert.equal(stageLine(fold(s, refreshing('validation')))?.text.split(' · ')[1], 'refreshing: validation');
  // The next step ends it; so does the refresh's own event, and a terminal one.
  const next = fold(s, step(260));
  assert.equal(next.refreshing, null);
  assert.equal(stageLine(next)?.text, 'fine-tuning the head: step 260/1000 (26 %), about 1 min 14 s left');
  assert.equal(fold(s, { type: 'run/failed', payload: { message: 'x', kind: 'training' } }).refreshing, null);
  // A stopping run still says it (the refresh after a stop is the run's last).
  assert.match(
    stageLine({ ...s, status: 'stopping' })?.text ?? '',
    /^stopping: .* · refreshing: validation 2048\/8000$/,
  );
});

test("a run/log line carries the worker's own step when it gives one", () => {
  const s = fold(
    emptySnapshot(),
    started('finetune'),
    { type: 'run/step', payload: { step: 240, totalSteps: 1000, loss: 1, lr: 0.1, msPerStep: 1 } },
    { type: 'run/log', payload: { level: 'warn', message: 'up to step 250', step: 250 } },
    { type: 'run/log', payload: { level: 'info', message: 'no step' } },
  );
  assert.deepEqual(
    s.logs?.map((l) => l.step),
    [250, 240],
  );
});

test('formatDuration', () => {
  assert.equal(formatDuration(0.2), '< 1 s');
  assert.equal(formatDuration(42.4), '42 s');
  assert.equal(formatDuration(185), '3 min 5 s');
  assert.equal(formatDuration(120), '2 min');
  assert.equal(formatDuration(7620), '2 h 7 min');
  assert.equal(formatDuration(Number.NaN), '–');
});

test('a saved snapshot of a run live when the window reloaded is shown as ended, not running', () => {
  const live = applyEvent(emptySnapshot(), started('finetune'));
  const e = endedWithWindow(live);
  assert.equal(e.status, 'failed');
  assert.match(e.error!, /window reloaded/);
  assert.equal(stageLine(e), null);
});

test('statusOf names every status (the views and the HTML first paint share it)', () => {
  const base = emptySnapshot();
  assert.deepEqual(statusOf(base), { key: 'idle', label: 'No run yet' });
  assert.deepEqual(statusOf(applyEvent(base, stage('starting'))), { key: 'starting', label: 'Starting…' });
  assert.deepEqual(statusOf({ ...base, status: 'stopping' }), { key: 'stopping', label: 'Stopping…' });
  assert.deepEqual(statusOf({ ...base, status: 'failed' }), { key: 'failed', label: 'Failed' });
  const fin = (stoppedBy: 'cancel' | 'earlyStop' | 'steps', reportPath: string | null): RunSnapshot =>
    ({ ...base, status: 'finished', finished: { stoppedBy, reportPath } }) as unknown as RunSnapshot;
  assert.deepEqual(statusOf(fin('cancel', null)), { key: 'stopped', label: 'Stopped (pre-training)' });
  assert.deepEqual(statusOf(fin('cancel', '/r.json')), { key: 'stopped', label: 'Stopped' });
  assert.deepEqual(statusOf(fin('earlyStop', '/r.json')), { key: 'finished', label: 'Finished (early stop)' });
  assert.deepEqual(statusOf(fin('steps', '/r.json')), { key: 'finished', label: 'Finished' });
});
