// The host's words for a finished run: the one-line outcome, the gain monitor's verdict, and a run stopped
// during its pre-training stage (it wrote nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmt, gainMonitorOf, gainMonitorSentence, summaryLine } from '../../../src/extension/summary';
import { applyEvent, emptySnapshot } from '../../../src/protocol/messages';
import type { MetricsReport, RunFinishedPayload } from '../../../src/protocol/messages';

function metrics(r: number): MetricsReport {
  return {
    accuracy: r,
    meanRecall: r,
    minRecall: r / 2,
    maxRecall: r,
    gMean: r,
    hMean: r,
    headRecall: r,
    tailRecall: r,
    minHeadTailRecall: r,
    minCoverage: 0,
    headCoverage: 0,
    tailCoverage: 0,
    recall: [r, r],
    coverage: [0.5, 0.5],
    support: [5, 5],
  };
}
const finished: RunFinishedPayload = {
  runId: 'r1',
  outputDir: '/o',
  reportPath: '/o/report.json',
  stoppedBy: 'steps',
  steps: 40,
  objective: 'minRecall',
  before: { objectiveValue: 0.1, val: metrics(0.2) },
  after: { objectiveValue: 0.101, val: metrics(0.3) },
  bestStep: 40,
  wallSeconds: 1,
};

test('the end-of-run message carries the gain monitor: r over n intervals, or not enough intervals yet', () => {
  let snap = emptySnapshot();
  const refresh = (step: number, corr: number | null) => ({
    type: 'run/refresh' as const,
    payload: {
      step,
      objective: 'minRecall',
      objectiveValue: 0.1,
      val: metrics(0.2),
      multipliers: null,
      gain: { K: 2, data: [0, 0, 0, 0] },
      distribution: { K: 2, data: [0.25, 0.25, 0.25, 0.25] },
      maxGain: 0,
      gainCorrelation: corr,
    },
  });
  snap = applyEvent(snap, refresh(0, null));
  assert.deepEqual(gainMonitorOf(snap), { r: null, intervals: 0, tracking: null });
  assert.match(gainMonitorSentence(gainMonitorOf(snap)), /not enough refresh intervals/);
  for (let i = 1; i <= 5; i++) snap = applyEvent(snap, refresh(i * 10, i < 3 ? null : -0.25));
  assert.deepEqual(gainMonitorOf(snap), { r: -0.25, intervals: 5, tracking: null });
  const line = summaryLine(finished, 'demo', gainMonitorOf(snap));
  assert.match(line, /^SelMix "demo" finished 40 steps: minRecall 0\.100 → 0\.101/);
  assert.match(
    line,
    /Gain estimate vs reality: r = -0\.25 over 5 intervals: the realised change of the objective ran against/,
    'an older run (no gainCheck) is judged by the sign of r',
  );
  // A negative r within the noise is not a warning; a verdict of not tracking is.
  assert.match(
    gainMonitorSentence({ r: -0.3, intervals: 20, tracking: true }),
    /r = -0\.30 over 20 intervals \(within the validation noise of the estimate\)\.$/,
  );
  assert.match(
    gainMonitorSentence({ r: 0.2, intervals: 20, tracking: false }),
    /ran against the first-order gain estimate beyond the validation noise/,
  );
  assert.doesNotMatch(summaryLine(finished, 'demo'), /Gain estimate/);
  assert.equal(
    snap.history.at(-1)?.gainCorrelation,
    -0.25,
    "the history (and so report.json's snapshot) keeps the correlation",
  );
});

test('stopped and early-stopped runs say so', () => {
  assert.match(summaryLine({ ...finished, stoppedBy: 'cancel', steps: 7 }, 'x'), /^SelMix "x" stopped at step 7:/);
  assert.match(
    summaryLine({ ...finished, stoppedBy: 'earlyStop', steps: 9 }, 'x'),
    /^SelMix "x" stopped early at step 9:/,
  );
});

test('a run stopped during pre-training (no report) says that nothing was written, with no numbers', () => {
  const nan = {
    ...finished,
    reportPath: null,
    stoppedBy: 'cancel' as const,
    steps: 12,
    before: { objectiveValue: Number.NaN, val: metrics(0) },
    after: { objectiveValue: Number.NaN, val: metrics(0) },
  };
  const line = summaryLine(nan, 'MNIST-LT demo', gainMonitorOf(emptySnapshot()));
  assert.equal(
    line,
    'SelMix "MNIST-LT demo" stopped during pre-training after 12 steps; nothing was written (the next run pre-trains again).',
  );
  assert.doesNotMatch(line, /NaN|n\/a|Gain estimate/);
});

test('fmt', () => {
  assert.equal(fmt(0.12345), '0.123');
  for (const v of [null, undefined, Number.NaN, Infinity]) assert.equal(fmt(v), 'n/a');
});

test("the end-of-run message credits the warm start and SelMix's own change separately", () => {
  const line = summaryLine({ ...finished, warmStart: { tau: 2, objectiveValue: 0.09 } }, 'x');
  assert.match(line, /the warm start \(tau = 2\) -1\.00 points, SelMix's own \+1\.10 points/);
});
