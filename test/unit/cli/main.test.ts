// The CLI's terminal summary stays short at any K: the aggregate metrics and the worst classes (report.json has all).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beforeAfterTable, creditTable, summaryNotes, TERMINAL_CLASSES } from '../../../src/cli/main';
import type { MetricsReport, RunFinishedPayload } from '../../../src/protocol/messages';

function metrics(recall: number[]): MetricsReport {
  const m = recall.reduce((a, b) => a + b, 0) / recall.length;
  return {
    accuracy: m,
    meanRecall: m,
    minRecall: Math.min(...recall),
    maxRecall: Math.max(...recall),
    gMean: m,
    hMean: m,
    headRecall: m,
    tailRecall: m,
    minHeadTailRecall: m,
    minCoverage: 0,
    headCoverage: 0,
    tailCoverage: 0,
    recall,
    coverage: recall.map(() => 0),
    support: recall.map(() => 3),
  };
}

function summary(K: number): RunFinishedPayload {
  const before = Array.from({ length: K }, (_, k) => (k % 10) / 10);
  const after = Array.from({ length: K }, (_, k) => ((k * 7919) % K) / K);
  return {
    runId: 'r',
    outputDir: '/o',
    reportPath: '/o/report.json',
    stoppedBy: 'steps',
    steps: 1,
    objective: 'minRecall',
    before: { objectiveValue: 0, val: metrics(before) },
    after: { objectiveValue: 0, val: metrics(after) },
    bestStep: 1,
    wallSeconds: 1,
  };
}

test('at K = 10 every class has a row', () => {
  const t = beforeAfterTable(summary(10));
  for (let k = 0; k < 10; k++) assert.match(t, new RegExp(`^recall ${k} `, 'm'));
});

test('at K = 1000 the table lists the classes of lowest recall after, worst first, and says so', () => {
  const t = beforeAfterTable(summary(1000));
  const lines = t.split('\n');
  assert.ok(lines.length < 40, `${lines.length} lines`);
  const classes = lines.filter((l) => l.startsWith('recall ')).map((l) => Number(/^recall (\d+)/.exec(l)![1]));
  assert.equal(classes.length, TERMINAL_CLASSES);
  const after = summary(1000).after.val.recall;
  for (let i = 1; i < classes.length; i++) assert.ok(after[classes[i - 1]!]! <= after[classes[i]!]!);
  assert.equal(
    Math.max(...classes.map((k) => after[k]!)) <= [...after].sort((a, b) => a - b)[TERMINAL_CLASSES - 1]!,
    true,
  );
  assert.match(t, /lowest recall after; every class is in report\.json/);
});

test("the table has the warm start column and SelMix's own change (after - warm start) beside the total change", () => {
  const s = summary(3);
  s.warmStart = { tau: 1.5, objectiveValue: 0, val: metrics([0.5, 0.5, 0.5]) };
  const t = beforeAfterTable(s);
  assert.match(t.split('\n')[0]!, /start\s+warm\s+after\s+SelMix\s+total$/);
  // recall 0: start 0, warm 50, after 0: SelMix -50 from the warm start, total 0.
  assert.match(t, /^recall 0\s+0\.00\s+50\.00\s+0\.00\s+-50\.00\s+\+0\.00$/m);
  assert.match(t, /warm: the logit-adjusted warm start, tau = 1\.5/);
});

test('the credit table: start, warm start and SelMix rows on validation and test', () => {
  const s = summary(3);
  s.before = { ...s.before, objectiveValue: 0.2, test: metrics([0.1, 0.5, 0.5]) };
  s.after = { ...s.after, objectiveValue: 0.6, test: metrics([0.4, 0.5, 0.5]) };
  s.warmStart = { tau: 1, objectiveValue: 0.5, val: metrics([0.5, 0.5, 0.5]), test: metrics([0.3, 0.5, 0.5]) };
  const lines = creditTable(s).split('\n');
  assert.match(lines[0]!, /^minRecall \(%\)\s+val\s+change\s+test\s+change$/);
  assert.match(lines[2]!, /^starting model\s+20\.00\s+10\.00$/);
  assert.match(lines[3]!, /^warm start: logit adjustment, tau = 1\s+50\.00\s+\+30\.00\s+30\.00\s+\+20\.00$/);
  assert.match(lines[4]!, /^SelMix \(kept iterate, step 1\)\s+60\.00\s+\+10\.00\s+40\.00\s+\+10\.00$/);
});

test('an infeasible constrained run says so under the summary', () => {
  const s = summary(3);
  s.infeasible = 'infeasible on validation: min coverage >= 31.67 % was not met by any iterate';
  assert.ok(summaryNotes(s).includes(s.infeasible));
  assert.ok(!summaryNotes(summary(3)).some((l) => l.startsWith('infeasible')));
});
