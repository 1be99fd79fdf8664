import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunCurve } from '../../../src/protocol/messages';
import {
  compareAxisName,
  compareCsv,
  compareSeries,
  csvCell,
  fmtNumber,
  multiplierClasses,
  recallView,
  runLabel,
  RECALL_EXTREMES,
  trainsText,
} from '../../../webview/viewModel';

test('trainsText: whole network, head only, or a dash for a run that does not say', () => {
  assert.equal(trainsText('network'), 'whole network');
  assert.equal(trainsText('head'), 'head only');
  assert.equal(trainsText(undefined), '–');
  assert.equal(trainsText(null), '–');
});

test('fmtNumber formats by magnitude', () => {
  assert.equal(fmtNumber(0.05), '0.05');
  assert.equal(fmtNumber(6e-9), '6e-9');
  assert.equal(fmtNumber(1.23456e-5), '1.23e-5');
  assert.equal(fmtNumber(0.123456), '0.123');
  assert.equal(fmtNumber(1234.5), '1230');
  assert.equal(fmtNumber(123456), '1.23e5');
  assert.equal(fmtNumber(0), '0');
  assert.equal(fmtNumber(-0.5), '-0.5');
  assert.equal(fmtNumber(null), '–');
});

const curve = (
  name: string,
  objective: string,
  temperature: number | null,
  extra: Partial<RunCurve> = {},
): RunCurve => ({
  reportPath: `/w/${name}/${objective}/report.json`,
  name,
  objective,
  temperature,
  lr: 0.01,
  trains: 'head',
  steps: [0, 10, 20],
  series: {
    objective: [0.1, 0.2, 0.3],
    minRecall: [0.1, 0.2, 0.3],
    meanRecall: [0.5, 0.6, 0.7],
    gMean: [0.4, Number.NaN, 0.6],
    hMean: [0.3, 0.4, 0.5],
    accuracy: [0.6, 0.7, 0.8],
  },
  ...extra,
});

test('runs with different objectives are told apart in the legend, the axis and the CSV', () => {
  const a = curve('cifar', 'minRecall', 10);
  const b = curve('cifar', 'gMean', 10, { trains: 'network', lr: 6e-9 });
  assert.equal(runLabel(a), 'cifar · minRecall · s = 10 · lr 0.01 · head only');
  assert.equal(runLabel(b), 'cifar · gMean · s = 10 · lr 6e-9 · whole network');
  const s = compareSeries([a, b], 'gMean');
  assert.deepEqual(
    s[0]!.points,
    [
      [0, 0.4],
      [20, 0.6],
    ],
    'a missing value is left out, not drawn as 0',
  );
  assert.equal(compareAxisName([a, b], 'objective'), "each run's objective");
  assert.equal(compareAxisName([a, a], 'objective'), 'minRecall');
  assert.equal(compareAxisName([a, b], 'hMean'), 'H-mean');
  assert.deepEqual(
    compareSeries([a, a], 'hMean').map((x) => x.name),
    [runLabel(a), `${runLabel(a)} (2)`],
  );
  const csv = compareCsv([a, b], 'hMean').trim().split('\n');
  assert.equal(csv[0], 'run,objective,temperature,lr,trains,metric,step,value');
  assert.equal(csv[1], 'cifar,minRecall,10,0.01,head,hMean,0,0.3');
  assert.equal(csv[4], 'cifar,gMean,10,6e-9,network,hMean,0,0.3');
  assert.equal(compareCsv([a], 'objective').trim().split('\n')[1], 'cifar,minRecall,10,0.01,head,minRecall,0,0.1');
});

test('csvCell guards text a spreadsheet would run as a formula, quotes what needs it, keeps numbers', () => {
  assert.equal(csvCell('=HYPERLINK("x")'), '"\'=HYPERLINK(""x"")"');
  assert.equal(csvCell('+1'), '"\'+1"');
  assert.equal(csvCell('-2+3'), '"\'-2+3"');
  assert.equal(csvCell('@SUM(A1)'), '"\'@SUM(A1)"');
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('plain'), 'plain');
  assert.equal(csvCell(-0.5), '-0.5');
  assert.equal(csvCell(Number.NaN), '');
  assert.equal(csvCell(null), '');
});

test('per-class recall at large K: the lowest and highest classes and a histogram, not a bar per class', () => {
  const K = 1000;
  const now = Array.from({ length: K }, (_, k) => ((k * 7919) % K) / K);
  const start = Array.from({ length: K }, () => 0.55);
  const v = recallView(start, now, K);
  assert.equal(v.classes.length, 2 * RECALL_EXTREMES);
  const sorted = [...now].sort((a, b) => a - b);
  assert.deepEqual(
    v.classes.slice(0, RECALL_EXTREMES).map((k) => now[k]),
    sorted.slice(0, RECALL_EXTREMES),
  );
  assert.deepEqual(
    v.classes.slice(-RECALL_EXTREMES).map((k) => now[k]),
    sorted.slice(-RECALL_EXTREMES),
  );
  assert.deepEqual(v.histogram!.now, new Array(10).fill(100));
  assert.deepEqual(v.histogram!.start, [0, 0, 0, 0, 0, 1000, 0, 0, 0, 0]);
  assert.equal(recallView(start.slice(0, 10), now.slice(0, 10), 10).histogram, null);
  assert.equal(recallView(null, [1, 1], 2).classes.length, 2);
});

test('the multipliers chart keeps the classes whose multiplier moved most', () => {
  const h = [[0, 0, 0, 0], [0.1, 0.9, 0, 0.5], null, [0, 0.2, 0.05, 0.5]];
  assert.deepEqual(multiplierClasses(h, 2), [1, 3]);
  assert.deepEqual(multiplierClasses(h, 10), [0, 1, 2, 3]);
  assert.deepEqual(multiplierClasses([null], 2), []);
});
