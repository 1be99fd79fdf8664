// Reading a run back from report.json and the .npy matrices beside it, so the dashboard shows a past run as it was.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readReportSnapshot, snapshotFromReport, writeReport } from '../../../src/report/report';
import { applyEvent, emptySnapshot, MAX_SNAPSHOT_LOGS } from '../../../src/protocol/messages';

const summary = {
  runId: 'r',
  outputDir: '/o',
  reportPath: '/o/report.json',
  stoppedBy: 'cancel',
  steps: 40,
  objective: 'minRecall',
  before: { objectiveValue: 0.1, val: {} },
  after: { objectiveValue: 0.5, val: {} },
  bestStep: 40,
  wallSeconds: 3,
};

test('a report.json gives the dashboard its snapshot back', () => {
  const snap = applyEvent(emptySnapshot(), { type: 'run/finished', payload: summary as never });
  assert.deepEqual(snapshotFromReport({ summary, snapshot: snap, config: {} }), snap);
});

test('a snapshot without its finished part is completed from the summary', () => {
  const s = snapshotFromReport({ summary, snapshot: { ...emptySnapshot(), status: 'finished' } });
  assert.equal(s?.finished?.stoppedBy, 'cancel');
});

test('anything else is not a report', () => {
  for (const bad of [null, 1, 'x', {}, { snapshot: {} }, { snapshot: { status: 'idle', history: 'no' } }])
    assert.equal(snapshotFromReport(bad), null);
  const dir = mkdtempSync(join(tmpdir(), 'selmix-report-'));
  writeFileSync(join(dir, 'report.json'), '{ not json');
  assert.equal(readReportSnapshot(join(dir, 'report.json')), null);
  assert.equal(readReportSnapshot(join(dir, 'missing.json')), null);
});

test("the run's notes and warnings travel in the snapshot and come back from report.json; older reports have none", () => {
  let snap = applyEvent(emptySnapshot(), { type: 'run/log', payload: { level: 'warn', message: 'w' } });
  for (let i = 0; i < 60; i++)
    snap = applyEvent(snap, { type: 'run/log', payload: { level: 'info', message: `n${i}` } });
  assert.equal(snap.logs?.length, MAX_SNAPSHOT_LOGS, 'bounded');
  assert.equal(snap.logs?.at(-1)?.message, 'n59', 'the newest kept');
  assert.deepEqual(snapshotFromReport({ summary, snapshot: snap })?.logs, snap.logs);
  assert.equal(snapshotFromReport({ summary, snapshot: { ...emptySnapshot(), status: 'finished' } })?.logs, undefined);
});

test('report.json keeps G and P in .npy files beside it; reading the report puts them back (a missing one shows as an empty matrix)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-report-'));
  const gain = { K: 2, data: [0.5, -0.25, 0, 1] };
  const distribution = { K: 2, data: [0.4, 0.1, 0.2, 0.3] };
  let snap = applyEvent(emptySnapshot(), {
    type: 'run/refresh',
    payload: {
      step: 10,
      objective: 'minRecall',
      objectiveValue: 0.3,
      val: {} as never,
      multipliers: [1, 2],
      gain,
      distribution,
      maxGain: 1,
    },
  });
  snap = applyEvent(snap, {
    type: 'run/finished',
    payload: { ...summary, reportPath: join(dir, 'report.json') } as never,
  });
  writeReport(dir, { summary, snapshot: snap });
  const back = readReportSnapshot(join(dir, 'report.json'));
  assert.deepEqual(back?.lastRefresh?.gain, gain);
  assert.deepEqual(back?.lastRefresh?.distribution, distribution);
  assert.deepEqual(back?.history[0]?.multipliers, [1, 2]);
  rmSync(join(dir, 'gain.npy'));
  assert.deepEqual(readReportSnapshot(join(dir, 'report.json'))?.lastRefresh?.gain, { K: 2, data: [] });
});
