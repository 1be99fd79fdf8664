// Credit where it is due: the starting model, the warm start and SelMix's own change, from one finished summary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { creditRows, creditSentence, pointsText } from '../../../src/protocol/credit';
import type { MetricsReport, RunFinishedPayload } from '../../../src/protocol/messages';

function metrics(minRecall: number): MetricsReport {
  return {
    accuracy: 0.9,
    meanRecall: 0.9,
    minRecall,
    maxRecall: 1,
    gMean: 0.9,
    hMean: 0.9,
    headRecall: 0.9,
    tailRecall: 0.9,
    minHeadTailRecall: 0.9,
    minCoverage: 0.1,
    headCoverage: 0.1,
    tailCoverage: 0.1,
    recall: [minRecall, 1],
    coverage: [0.5, 0.5],
    support: [5, 5],
  };
}

const base: RunFinishedPayload = {
  runId: 'r',
  outputDir: '/o',
  reportPath: '/o/report.json',
  stoppedBy: 'steps',
  steps: 100,
  objective: 'minRecall',
  bestStep: 60,
  wallSeconds: 1,
  before: { objectiveValue: 0.5, val: metrics(0.5), test: metrics(0.45) },
  after: { objectiveValue: 0.8, val: metrics(0.8), test: metrics(0.7) },
  warmStart: { tau: 1.3, objectiveValue: 0.7, val: metrics(0.7), test: metrics(0.72) },
};

test('three rows: start, warm start (its tau), SelMix; each change is from the row above, on validation and test', () => {
  const [start, warm, own] = creditRows(base);
  assert.deepEqual([start!.key, warm!.key, own!.key], ['start', 'warmStart', 'selmix']);
  assert.equal(start!.val, 0.5);
  assert.equal(start!.test, 0.45);
  assert.equal(start!.changeVal, null);
  assert.match(warm!.label, /tau = 1\.3$/);
  assert.ok(Math.abs(warm!.changeVal! - 0.2) < 1e-12);
  assert.ok(Math.abs(warm!.changeTest! - 0.27) < 1e-12);
  assert.match(own!.label, /step 60/);
  assert.ok(Math.abs(own!.changeVal! - 0.1) < 1e-12, 'SelMix is credited with after - warm start, not after - start');
  assert.ok(
    Math.abs(own!.changeTest! - -0.02) < 1e-12,
    'a loss on test against the warm start shows as a negative change',
  );
});

test('the test value of a custom objective comes from testObjectiveValue; a run without a warm start credits it with nothing', () => {
  const custom: RunFinishedPayload = {
    ...base,
    objective: 'myMetric',
    before: { ...base.before, testObjectiveValue: 0.3 },
    after: { ...base.after, testObjectiveValue: 0.4 },
  };
  delete (custom as { warmStart?: unknown }).warmStart;
  const [start, warm, own] = creditRows(custom);
  assert.equal(start!.test, 0.3);
  assert.match(warm!.label, /none/);
  assert.equal(warm!.changeVal, 0);
  assert.equal(warm!.changeTest, 0);
  assert.ok(Math.abs(own!.changeVal! - 0.3) < 1e-12);
  assert.ok(Math.abs(own!.changeTest! - 0.1) < 1e-12);
});

test('an older summary (warm start without metrics, no test set) gives nulls, not NaN', () => {
  const old: RunFinishedPayload = {
    ...base,
    before: { objectiveValue: 0.5, val: metrics(0.5) },
    after: { objectiveValue: 0.8, val: metrics(0.8) },
    warmStart: { tau: 1, objectiveValue: 0.7 },
  };
  const rows = creditRows(old);
  assert.deepEqual(
    rows.map((r) => r.test),
    [null, null, null],
  );
  assert.equal(rows[2]!.changeTest, null);
  assert.equal(pointsText(null), 'n/a');
  assert.equal(pointsText(-0.0123), '-1.23');
  assert.equal(pointsText(0.1), '+10.00');
});

test("the sentence names the warm start and SelMix's own change on both splits", () => {
  assert.equal(
    creditSentence(base),
    "Of the change in minRecall on validation, the warm start (tau = 1.3) +20.00 points, SelMix's own +10.00 points (test: warm start +27.00, SelMix -2.00).",
  );
});

test('creditSentence without a warm start says so in words (not "no warm start points")', () => {
  const f = {
    runId: 'r',
    outputDir: '/o',
    reportPath: null,
    stoppedBy: 'steps',
    steps: 10,
    objective: 'minRecall',
    before: { objectiveValue: 0.5, val: {} },
    after: { objectiveValue: 0.6, val: {} },
    bestStep: 10,
  } as unknown as RunFinishedPayload;
  assert.equal(
    creditSentence(f),
    "Of the change in minRecall on validation, no warm start (0 points), SelMix's own +10.00 points.",
  );
});
