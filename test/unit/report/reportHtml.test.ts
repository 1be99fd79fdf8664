import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { renderReportHtml, reportCsp } from '../../../src/report/reportHtml';
import { emptySnapshot } from '../../../src/protocol/messages';
import type { MetricsReport, RunSnapshot } from '../../../src/protocol/messages';

const m = (r: number): MetricsReport => ({
  accuracy: r,
  meanRecall: r,
  minRecall: r / 2,
  maxRecall: 1,
  gMean: r,
  hMean: r,
  headRecall: r,
  tailRecall: r,
  minHeadTailRecall: r,
  minCoverage: 0.1,
  headCoverage: 0.1,
  tailCoverage: 0.1,
  recall: [r, r / 2, 1],
  coverage: [0.3, 0.3, 0.4],
  support: [5, 5, 5],
});

function snapshot(withTest: boolean): RunSnapshot {
  const s = emptySnapshot();
  return {
    ...s,
    status: 'finished',
    started: {
      runId: 'r',
      name: 'A <b>run</b>',
      objective: 'minRecall',
      K: 3,
      classNames: ['cat', 'dog', 'eel'],
      totalSteps: 10,
      backend: 'cpu',
      outputDir: '/o',
      mode: 'finetune',
      notes: [],
    },
    history: [
      { step: 0, objective: 0.2, meanRecall: 0.5, minRecall: 0.2, multipliers: null },
      { step: 10, objective: 0.4, meanRecall: 0.6, minRecall: 0.4, multipliers: null },
    ],
    losses: [
      { step: 1, loss: 1 },
      { step: 10, loss: 0.5 },
    ],
    lastRefresh: {
      step: 10,
      objective: 'minRecall',
      objectiveValue: 0.4,
      val: m(0.8),
      multipliers: null,
      gain: { K: 3, data: [0, 1, -1, 0, 0, 0, 1, 1, 1] },
      distribution: { K: 3, data: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2] },
      maxGain: 1,
    },
    finished: {
      runId: 'r',
      outputDir: '/o',
      reportPath: '/o/report.json',
      stoppedBy: 'steps',
      steps: 10,
      objective: 'minRecall',
      bestStep: 10,
      wallSeconds: 2,
      before: { objectiveValue: 0.2, val: m(0.4), ...(withTest ? { test: m(0.38) } : {}) },
      after: { objectiveValue: 0.4, val: m(0.8), ...(withTest ? { test: m(0.7) } : {}) },
    },
  };
}

test('the report page: self-contained under a strict CSP, before/after on validation and test, a row per class, charts as images', () => {
  const html = renderReportHtml({
    reportPath: '/o/report.json',
    json: { config: { name: 'x' }, backend: 'cpu' },
    snapshot: snapshot(true),
  });
  assert.ok(html.includes(reportCsp().replace(/'/g, '&#39;')), 'the CSP meta (attribute-escaped)');
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
  assert.ok(
    reportCsp().includes(createHash('sha256').update(style).digest('base64')),
    "the CSP hash is the style element's",
  );
  assert.ok(!/<script/i.test(html));
  assert.ok(!/(src|href)="(?!data:)/.test(html), 'only data: images');
  assert.match(html, /Test: after/);
  assert.match(html, /best iterate \(step 10\)/);
  assert.equal((html.match(/<tr><th>(cat|dog|eel)<\/th>/g) ?? []).length, 3);
  assert.ok((html.match(/<img /g) ?? []).length >= 5);
  assert.ok(html.includes('A &lt;b&gt;run&lt;/b&gt;'), `the name is escaped: ${/<h1>.*?<\/h1>/.exec(html)?.[0]}`);
  assert.ok(!/mean recall \(val\)/.test(html));
});

test('a constraint that is not met is said so', () => {
  const snap = snapshot(false);
  snap.finished = {
    ...snap.finished!,
    ...{ feasibility: { val: { constraint: 'min coverage', bound: 0.095, value: 0.081, met: false } } },
  };
  const html = renderReportHtml({ reportPath: '/o/report.json', json: {}, snapshot: snap });
  assert.match(html, /min coverage 0\.081 ≥ 0\.095: <b>not met<\/b>/);
});

test('a run without a test set says so and shows validation only', () => {
  const html = renderReportHtml({ reportPath: '/o/report.json', json: {}, snapshot: snapshot(false) });
  assert.ok(!/Test: after/.test(html));
  assert.match(html, /no test set/);
});

test('the report credits the warm start and SelMix separately (table#credit: start, warm start, SelMix)', () => {
  const snap = snapshot(true);
  snap.finished = { ...snap.finished!, warmStart: { tau: 0.8, objectiveValue: 0.3, val: m(0.6), test: m(0.75) } };
  const html = renderReportHtml({ reportPath: '/o/report.json', json: {}, snapshot: snap });
  const table = /<table id="credit">[\s\S]*?<\/table>/.exec(html)?.[0] ?? '';
  assert.match(
    table,
    /<tr data-credit="start"><th>starting model<\/th><td class="num">0\.200<\/td><td class="num "><\/td><td class="num">0\.190<\/td>/,
  );
  assert.match(
    table,
    /<tr data-credit="warmStart"><th>warm start: logit adjustment, tau = 0\.8<\/th><td class="num">0\.300<\/td><td class="num up">\+10\.00<\/td><td class="num">0\.375<\/td><td class="num up">\+18\.50<\/td>/,
  );
  assert.match(
    table,
    /<tr data-credit="selmix"><th>SelMix \(kept iterate, step 10\)<\/th><td class="num">0\.400<\/td><td class="num up">\+10\.00<\/td><td class="num">0\.350<\/td><td class="num down">-2\.50<\/td>/,
  );
});

test('a run with an unlabeled set says under its results which pseudo-labels it used and how many passed (p#pseudo-labels)', () => {
  const snap = snapshot(true);
  assert.ok(!renderReportHtml({ reportPath: '/o/report.json', json: {}, snapshot: snap }).includes('pseudo-labels'));
  snap.finished = {
    ...snap.finished!,
    pseudoLabels: { source: 'ema', decay: 0.99, threshold: 0.5, passed: 412, total: 492, step: 10 },
  };
  const html = renderReportHtml({ reportPath: '/o/report.json', json: {}, snapshot: snap });
  assert.match(
    html,
    /<p id="pseudo-labels">unlabeled partners: pseudo-labels from the Mean Teacher \(exponential moving average of the weights, decay 0\.99\); 412 of 492 unlabeled examples reached the confidence threshold 0\.5 at the last refresh \(step 10\)\.<\/p>/,
  );
});
