// The protocol's pure pieces: the reducer every surface folds run events with, and the checks on what crosses a
// boundary (run events from the worker or a report, messages from a webview).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_SNAPSHOT_LOGS,
  VIEW_COMMANDS,
  applyEvent,
  emptySnapshot,
  isRunEvent,
  jsonSafe,
  parseWebviewMessage,
  type FlatMatrix,
  type RefreshPayload,
  type RunEvent,
  type RunSnapshot,
  type RunStartedPayload,
} from '../../../src/protocol/messages';

const started: RunStartedPayload = {
  runId: 'r1',
  name: 'demo',
  objective: 'minRecall',
  K: 2,
  classNames: ['a', 'b'],
  totalSteps: 10,
  backend: 'cpu',
  outputDir: '/o',
  mode: 'finetune',
  notes: [],
};

function refresh(step: number, objectiveValue: number): RefreshPayload {
  const m = {
    accuracy: 0.5,
    meanRecall: objectiveValue + 0.1,
    minRecall: objectiveValue,
  } as unknown as RefreshPayload['val'];
  return {
    step,
    objective: 'minRecall',
    objectiveValue,
    val: m,
    multipliers: [0.5, 0.5],
    gain: { K: 2, data: [0, 1, 2, 3] },
    distribution: { K: 2, data: [0.25, 0.25, 0.25, 0.25] },
    maxGain: 3,
  };
}

function fold(events: RunEvent[], from: RunSnapshot = emptySnapshot()): RunSnapshot {
  return events.reduce(applyEvent, from);
}

test('run/started resets everything from an earlier run and marks the snapshot running', () => {
  const old = fold([
    { type: 'run/started', payload: started },
    { type: 'run/step', payload: { step: 3, totalSteps: 10, loss: 1, lr: 0.1, msPerStep: 2 } },
    { type: 'run/failed', payload: { message: 'boom', kind: 'training' } },
  ]);
  assert.equal(old.status, 'failed');
  const s = applyEvent(old, { type: 'run/started', payload: { ...started, runId: 'r2' } });
  assert.equal(s.status, 'running');
  assert.equal(s.started?.runId, 'r2');
  assert.equal(s.lastStep, null);
  assert.deepEqual(s.losses, []);
  assert.equal(s.error, null);
});

test('refreshes append to the history and keep the best objective seen', () => {
  const s = fold([
    { type: 'run/started', payload: started },
    { type: 'run/refresh', payload: refresh(0, 0.4) },
    { type: 'run/refresh', payload: refresh(50, 0.7) },
    { type: 'run/refresh', payload: refresh(100, 0.6) },
  ]);
  assert.deepEqual(
    s.history.map((h) => [h.step, h.objective, h.minRecall]),
    [
      [0, 0.4, 0.4],
      [50, 0.7, 0.7],
      [100, 0.6, 0.6],
    ],
  );
  assert.equal(s.bestObjective, 0.7);
  assert.equal(s.lastRefresh?.step, 100);
  // A refresh under way is the snapshot's until its run/refresh comes.
  const r = applyEvent(s, { type: 'run/refreshing', payload: { step: 150, phase: 'gains', done: 0, total: 0 } });
  assert.equal(r.refreshing?.phase, 'gains');
  assert.equal(applyEvent(r, { type: 'run/refresh', payload: refresh(150, 0.5) }).refreshing, null);
});

test('steps record the loss curve, thinned to stay bounded, and the reducer never mutates its input', () => {
  let s = fold([{ type: 'run/started', payload: started }]);
  const before = s;
  for (let i = 1; i <= 5000; i++)
    s = applyEvent(s, { type: 'run/step', payload: { step: i, totalSteps: 5000, loss: 1 / i, lr: 0.1, msPerStep: 1 } });
  assert.deepEqual(before.losses, []);
  assert.ok(s.losses.length <= 2000, `${s.losses.length} loss points`);
  assert.equal(s.losses.at(-1)?.step, 5000, 'the newest point is kept');
  assert.equal(s.lastStep?.step, 5000);
});

test('log lines carry the step they came after and are capped at MAX_SNAPSHOT_LOGS', () => {
  let s = fold([
    { type: 'run/started', payload: started },
    { type: 'run/step', payload: { step: 7, totalSteps: 10, loss: 1, lr: 0.1, msPerStep: 1 } },
  ]);
  for (let i = 0; i < MAX_SNAPSHOT_LOGS + 5; i++)
    s = applyEvent(s, { type: 'run/log', payload: { level: i === 0 ? 'warn' : 'info', message: `m${i}` } } as RunEvent);
  assert.equal(s.logs?.length, MAX_SNAPSHOT_LOGS);
  assert.equal(s.logs?.[0]?.message, 'm5', 'the oldest are dropped');
  assert.equal(s.logs?.at(-1)?.step, 7);
});

test('isRunEvent accepts every event tag with a payload and nothing else', () => {
  for (const type of [
    'run/started',
    'run/step',
    'run/refreshing',
    'run/refresh',
    'run/checkpoint',
    'run/log',
    'run/finished',
    'run/failed',
  ]) {
    assert.equal(isRunEvent({ type, payload: {} }), true, type);
  }
  assert.equal(isRunEvent({ type: 'run/started' }), false, 'no payload');
  assert.equal(isRunEvent({ type: 'run/unknown', payload: {} }), false);
  assert.equal(isRunEvent({ type: 'toString', payload: {} }), false, 'an inherited property is not a tag');
  assert.equal(isRunEvent(null), false);
  assert.equal(isRunEvent('run/step'), false);
});

test('parseWebviewMessage returns well-formed messages typed and refuses everything else', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'view/ready' }), { type: 'view/ready' });
  assert.deepEqual(parseWebviewMessage({ type: 'view/ack' }), { type: 'view/ack' });
  for (const command of VIEW_COMMANDS)
    assert.deepEqual(parseWebviewMessage({ type: 'view/command', command }), { type: 'view/command', command });
  assert.deepEqual(parseWebviewMessage({ type: 'view/export', format: 'csv', name: 'gain matrix', data: 'a,b' }), {
    type: 'view/export',
    format: 'csv',
    name: 'gain matrix',
    data: 'a,b',
  });
  assert.deepEqual(parseWebviewMessage({ type: 'view/runs', compare: ['/a/report.json'] }), {
    type: 'view/runs',
    compare: ['/a/report.json'],
  });
  const refused: unknown[] = [
    null,
    42,
    'view/ready',
    {},
    { type: 'view/ready', extra: 1 },
    { type: 'view/command', command: 'rm -rf' },
    { type: 'view/command' },
    { type: 'view/export', format: 'png', name: 'x', data: 'not a data url' },
    { type: 'view/export', format: 'csv', name: '../../etc/passwd', data: '' },
    { type: 'view/export', format: 'svg', name: 'x', data: '' },
    { type: 'view/runs', compare: new Array(9).fill('/r.json') },
    { type: 'view/runs', compare: [1] },
    { type: 'host/snapshot' },
  ];
  for (const m of refused) assert.equal(parseWebviewMessage(m), null, JSON.stringify(m));
});

test('jsonSafe writes a FlatMatrix held as a Float64Array as the plain array JSON readers expect', () => {
  const typed: FlatMatrix = { K: 2, data: Float64Array.from([0.5, -1, 2.25, 0]) };
  const plain: FlatMatrix = { K: 2, data: [0.5, -1, 2.25, 0] };
  const text = JSON.stringify(
    {
      type: 'run/refresh',
      payload: { gain: typed, multipliers: Float32Array.from([1, 2]), ids: Int32Array.from([3]) },
    },
    jsonSafe,
  );
  assert.deepEqual(JSON.parse(text), { type: 'run/refresh', payload: { gain: plain, multipliers: [1, 2], ids: [3] } });
  assert.equal(JSON.stringify(plain, jsonSafe), JSON.stringify(plain));
});
