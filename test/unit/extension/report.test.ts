import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readReportSnapshot, snapshotFromReport } from '../../../src/extension/report';
import { applyEvent, emptySnapshot, MAX_SNAPSHOT_LOGS } from '../../../src/protocol/messages';

const summary = { runId: 'r', outputDir: '/o', reportPath: '/o/report.json', stoppedBy: 'cancel', steps: 40, objective: 'minRecall',
  before: { objectiveValue: 0.1, val: {} }, after: { objectiveValue: 0.5, val: {} }, bestStep: 40, wallSeconds: 3 };

test('a report.json gives the dashboard its snapshot back', () => {
  const snap = applyEvent(emptySnapshot(), { type: 'run/finished', payload: summary as never });
  assert.deepEqual(snapshotFromReport({ summary, snapshot: snap, config: {} }), snap);
});

test('a snapshot without its finished part is completed from the summary', () => {
  const s = snapshotFromReport({ summary, snapshot: { ...emptySnapshot(), status: 'finished' } });
  assert.equal(s?.finished?.stoppedBy, 'cancel');
});

test('anything else is not a report', async () => {
  for (const bad of [null, 1, 'x', {}, { snapshot: {} }, { snapshot: { status: 'idle', history: 'no' } }]) assert.equal(snapshotFromReport(bad), null);
  const dir = mkdtempSync(join(tmpdir(), 'selmix-report-'));
  writeFileSync(join(dir, 'report.json'), '{ not json');
  assert.equal(await readReportSnapshot(join(dir, 'report.json')), null);
  assert.equal(await readReportSnapshot(join(dir, 'missing.json')), null);
});

test('the run\'s notes and warnings travel in the snapshot and come back from report.json; older reports have none', () => {
  let snap = applyEvent(emptySnapshot(), { type: 'run/log', payload: { level: 'warn', message: 'w' } });
  for (let i = 0; i < 60; i++) snap = applyEvent(snap, { type: 'run/log', payload: { level: 'info', message: `n${i}` } });
  assert.equal(snap.logs?.length, MAX_SNAPSHOT_LOGS, 'bounded');
  assert.equal(snap.logs?.at(-1)?.message, 'n59', 'the newest kept');
  assert.deepEqual(snapshotFromReport({ summary, snapshot: snap })?.logs, snap.logs);
  assert.equal(snapshotFromReport({ summary, snapshot: { ...emptySnapshot(), status: 'finished' } })?.logs, undefined);
});
