// The dashboard page: run facts, the gain matrix G and the sampling distribution P as heatmaps, per-class
// recall (start vs now) and curves over steps. Drawn from a RunSnapshot; the host throttles updates.
import './scriptStart';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import {
  COMPARE_METRICS,
  type CompareMetric,
  type FlatMatrix,
  type HostToWebview,
  type MetricsReport,
  type RunFinishedPayload,
  type RunSnapshot,
} from '../src/protocol/messages';
import { creditRows, pointsText } from '../src/protocol/credit';
import { pseudoLabelLine } from '../src/protocol/pseudoLabels';
import { stageLine } from '../src/protocol/stageLine';
import {
  CATEGORICAL,
  curvesOption,
  makeChart,
  matrixLabels,
  palette,
  recallBarsOption,
  recallHistogramOption,
  smooth,
} from './charts';
import {
  compareAxisName,
  compareCsv as compareCsvOf,
  compareSeries,
  fmtNumber,
  METRIC_LABELS,
  multiplierClasses,
  recallView,
  runLabel,
  toCsv,
  trainsText,
} from './viewModel';
import type { ChartOption, Curve } from './charts';
import { Heatmap } from './heatmap';
import {
  bootstrapTrusted,
  button,
  className,
  connect,
  feasibilityOf,
  feasibilityText,
  finishedFeasibility,
  showFeasibility,
  RESTRICTED_NOTE,
  currentRecall,
  el,
  fact,
  finishedResults,
  fmt,
  GAIN_MONITOR_WARNING,
  gainMonitor,
  initialSnapshot,
  keepRecent,
  showGainMonitor,
  onThemeChange,
  stageNote,
  startRecall,
  statusOf,
  vscode,
  watchCsp,
} from './common';

watchCsp();
const app = document.getElementById('app')!;
/** Whether a live run's stage line is on screen (the HTML's first paint may have shown one: webviewHtml.ts). */
let liveShown = document.getElementById('stage-line') !== null;
app.className = 'dashboard';

// Static layout, built once.
const header = el('header', 'run-header');
const title = el('h1', 'run-name');
title.id = 'run-name';
const badge = el('vscode-badge');
badge.id = 'status';
const actions = el('div', 'actions');
const stopBtn = button('btn-stop', 'Stop', { icon: 'debug-stop' });
const reportBtn = button('btn-report', 'Open report', { icon: 'file-code', secondary: true });
actions.append(stopBtn, reportBtn);
header.append(title, badge, actions);

const facts = el('dl', 'facts');
const fStep = fact(facts, 'Step', 'step', 'fact');
const fObjName = fact(facts, 'Objective', 'objective-name', 'fact');
const fObj = fact(facts, 'Value (last refresh)', 'objective', 'fact');
const fBest = fact(facts, 'Best so far', 'best', 'fact');
const fMin = fact(facts, 'Min recall', 'min-recall', 'fact');
const fMean = fact(facts, 'Mean recall', 'mean-recall', 'fact');
const fLr = fact(facts, 'Learning rate', 'lr', 'fact');
const fBackend = fact(facts, 'Backend', 'backend', 'fact');
const fTrains = fact(facts, 'Trains', 'trains', 'fact');
const fMs = fact(facts, 'Time / step', 'ms-per-step', 'fact');
const fGain = fact(facts, 'Gain estimate vs reality', 'gain-corr', 'fact');
const fFeas = fact(facts, 'Constraint (last refresh)', 'feasibility', 'fact');
fGain.title =
  'Pearson correlation, over the refresh intervals so far, between the mean predicted gain G(i, j) of the pairs sampled in an interval and the change of the objective realised over it.';
const gainWarning = el('p', 'warning');
gainWarning.id = 'gain-corr-warning';
gainWarning.hidden = true;
const progress = el('vscode-progress-bar');
progress.id = 'progress';
const stage = el('p', 'note stage');
stage.id = 'stage-note';
stage.hidden = true;
/** The live run's stage, progress and time left (the same sentence as the status bar and the notification). */
const stageLive = el('p', 'stage-line');
stageLive.id = 'stage-line';
stageLive.setAttribute('role', 'status');
stageLive.hidden = true;
const note = el('p', 'note');
note.id = 'downsample-note';
note.hidden = true;
const error = el('p', 'error');
error.id = 'error';
error.hidden = true;
const trusted = bootstrapTrusted();
const empty = el(
  'p',
  'empty',
  trusted ? 'No run yet. Run "SelMix: Fine-tune" on a *.selmix.json file, or "SelMix: Run Demo".' : 'No run yet.',
);
const restricted = el('p', 'warning', RESTRICTED_NOTE);
restricted.id = 'restricted-note';
restricted.hidden = trusted;
const trustBtn = button('btn-trust', 'Manage Workspace Trust', { secondary: true });
trustBtn.addEventListener('click', () => vscode.postMessage({ type: 'view/command', command: 'manageTrust' }));
restricted.append(' ', trustBtn);

// Results of a finished run: before and after on every split the run evaluated.
const results = el('section', 'results');
results.id = 'results';
results.hidden = true;
empty.id = 'empty';

/** A card with a heading, an optional caption and a chart container. */
function card(heading: string, id: string, caption: string, wide = false): HTMLElement {
  const fig = el('figure', wide ? 'card wide' : 'card');
  const h = el('figcaption', undefined, heading);
  const c = el('p', 'caption', caption);
  const chart = el('div', 'chart');
  chart.id = id;
  chart.setAttribute('role', 'img');
  fig.append(h, c, chart);
  grid.append(fig);
  return chart;
}
const grid = el('section', 'grid');
const gainDom = card(
  'Gain matrix G',
  'gain-heatmap',
  'Predicted objective gain of mixing anchor class i with partner class j (red: gain, blue: loss).',
);
const distDom = card(
  'Sampling distribution P',
  'dist-heatmap',
  'Probability of drawing the pair (i, j): a softmax of the positive gains.',
);
const recallDom = card(
  'Per-class recall',
  'recall-bars',
  'Validation recall of each class: the starting model against now.',
  true,
);
const recallCard = recallDom.parentElement!;
const recallCaption = recallCard.querySelector('.caption')!;
const histDom = el('div', 'chart');
histDom.id = 'recall-histogram';
histDom.hidden = true;
recallCard.append(histDom);
// Which iterate the bars show once a run has finished: the last refresh, or the best iterate the run keeps.
const keptLabel = el('label', 'chart-tools');
const keptBox = el('input');
keptBox.type = 'checkbox';
keptBox.id = 'recall-kept';
keptLabel.append(keptBox, ' show the kept (best) iterate');
keptLabel.hidden = true;
recallCard.insertBefore(keptLabel, recallDom);
const curvesDom = card('Objective and recall', 'curves', 'On the validation set, at every refresh.');
const lossDom = card('Training loss', 'loss-chart', 'Cross-entropy of the mixed batch.');
const multDom = card(
  'Multipliers λ',
  'multipliers-chart',
  'The Lagrange multipliers of the objective, per class.',
  true,
);
const multCard = multDom.parentElement!;
const multCaption = multCard.querySelector('.caption')!;
/** At most this many multiplier curves (12 distinct colours). */
const MAX_MULT_SERIES = 10;
/** Smoothing weight of the curves (exponential moving average; 0: raw). */
let smoothing = 0;
const gainCorrDom = card(
  'Gain estimate vs reality',
  'gain-corr-chart',
  'Correlation of the predicted gain of the sampled pairs with the realised change of the objective, at every refresh (above 0: the first-order estimate tracks reality).',
);
const logCard = el('figure', 'card wide');
logCard.append(el('figcaption', undefined, 'Notes and warnings'));
const logList = el('ul', 'run-log');
logList.id = 'run-log';
logCard.append(logList);
grid.append(logCard);

// Run history: the workspace's past runs (their report.json files); tick two or more to overlay their curves.
const runsCard = el('figure', 'card wide');
runsCard.id = 'runs-card';
const runsHead = el('figcaption', undefined, 'Runs in this workspace');
const runsCaption = el(
  'p',
  'caption',
  "From each run's report.json and its output folder's history (.selmix-history). Tick runs to overlay a validation metric below, at every refresh.",
);
const metricLabel = el('label', 'chart-tools');
metricLabel.textContent = 'Metric ';
const metricSelect = el('select');
metricSelect.id = 'compare-metric';
for (const m of COMPARE_METRICS) {
  const o = el('option', undefined, METRIC_LABELS[m]);
  o.value = m;
  metricSelect.append(o);
}
metricLabel.append(metricSelect);
let compareMetric: CompareMetric = 'objective';
const runsTable = el('table', 'runs');
runsTable.id = 'runs-table';
const runsRefresh = button('btn-runs-refresh', 'Refresh list', { icon: 'refresh', secondary: true });
const compareDom = el('div', 'chart');
compareDom.id = 'compare-chart';
compareDom.hidden = true;
runsCard.append(runsHead, runsCaption, runsRefresh, runsTable, metricLabel, compareDom);
grid.append(runsCard);
const compared = new Set<string>();
const askRuns = (): void => vscode.postMessage({ type: 'view/runs', compare: [...compared].slice(0, 8) });
runsRefresh.addEventListener('click', askRuns);
let lastRuns: Extract<HostToWebview, { type: 'host/runs' }> | null = null;

/** The run history and the comparison chart. */
function drawRuns(m: Extract<HostToWebview, { type: 'host/runs' }>): void {
  lastRuns = m;
  const head = el('tr');
  for (const h of [
    '',
    'Run',
    'Objective',
    'Temperature',
    'lr',
    'Trains',
    'Steps',
    'Before (val)',
    'After: best iterate (val)',
    'After (test)',
    'Written',
  ])
    head.append(el('th', undefined, h));
  const rows = m.runs.map((r) => {
    const tr = el('tr');
    tr.dataset.report = r.reportPath;
    const box = el('input');
    box.type = 'checkbox';
    box.checked = compared.has(r.reportPath);
    box.title = "Overlay this run's curve";
    box.addEventListener('change', () => {
      if (box.checked) compared.add(r.reportPath);
      else compared.delete(r.reportPath);
      askRuns();
    });
    const cell = el('td');
    cell.append(box);
    tr.dataset.objective = r.objective;
    if (r.archived) tr.classList.add('archived');
    tr.append(
      cell,
      el('td', undefined, r.name + (r.archived ? ' (earlier run)' : '')),
      el('td', undefined, r.objective),
      el('td', 'num', fmtNumber(r.temperature)),
      el('td', 'num', fmtNumber(r.lr)),
      el('td', undefined, trainsText(r.trains)),
      el('td', 'num', String(r.steps)),
      el('td', 'num', fmt(r.before)),
      el('td', 'num', fmt(r.after)),
      el('td', 'num', fmt(r.testAfter)),
      el('td', undefined, new Date(r.writtenAt).toLocaleString()),
    );
    return tr;
  });
  runsTable.replaceChildren(head, ...rows);
  runsTable.dataset.count = String(m.runs.length);
  if (m.runs.length === 0)
    runsTable.replaceChildren(
      el('caption', 'note', 'No report.json in this workspace yet: a run writes one when it finishes.'),
    );
  compareDom.hidden = m.curves.length === 0;
  metricLabel.hidden = m.curves.length === 0;
  compareDom.dataset.series = m.curves.map((c) => runLabel(c)).join('|');
  compareDom.dataset.metric = compareMetric;
  if (m.curves.length > 0) {
    const curves: Curve[] = compareSeries(m.curves, compareMetric).map((c) => ({
      name: c.name,
      points: smooth(c.points, smoothing),
    }));
    set(charts.compare, curvesOption(curves, palette(), compareAxisName(m.curves, compareMetric)));
  }
}

/** Adds PNG and CSV export buttons to a chart card. */
function exportButtons(
  dom: HTMLElement,
  name: string,
  chart: () => { getDataURL(o: object): string },
  rows: () => string,
): HTMLElement {
  const bar = el('div', 'chart-tools');
  for (const format of ['png', 'csv'] as const) {
    const b = button(`${dom.id}-export-${format}`, format.toUpperCase(), {
      icon: format === 'png' ? 'file-media' : 'table',
      secondary: true,
    });
    b.title = format === 'png' ? 'Save the chart as a PNG image' : "Save the chart's data as CSV";
    b.addEventListener('click', () => {
      const data =
        format === 'png' ? chart().getDataURL({ type: 'png', pixelRatio: 2, backgroundColor: palette().bg }) : rows();
      vscode.postMessage({ type: 'view/export', format, name, data });
    });
    bar.append(b);
  }
  dom.parentElement!.insertBefore(bar, dom);
  return bar;
}

// Smoothing of every curve chart (exponential moving average), kept with the page's state.
const smoothLabel = el('label', 'chart-tools smoothing');
smoothLabel.textContent = 'Smoothing ';
const smoothInput = el('input');
smoothInput.id = 'smoothing';
smoothInput.type = 'range';
smoothInput.min = '0';
smoothInput.max = '0.95';
smoothInput.step = '0.05';
smoothInput.value = '0';
smoothLabel.append(smoothInput);
curvesDom.parentElement!.insertBefore(smoothLabel, curvesDom);
app.replaceChildren(
  header,
  restricted,
  stageLive,
  facts,
  gainWarning,
  progress,
  stage,
  error,
  empty,
  results,
  note,
  grid,
);

stopBtn.addEventListener('click', () => vscode.postMessage({ type: 'view/command', command: 'stop' }));
reportBtn.addEventListener('click', () => vscode.postMessage({ type: 'view/command', command: 'openReport' }));

const charts = {
  recall: makeChart(recallDom),
  hist: makeChart(histDom),
  curves: makeChart(curvesDom),
  loss: makeChart(lossDom),
  mult: makeChart(multDom),
  gainCorr: makeChart(gainCorrDom),
  compare: makeChart(compareDom),
};
smoothInput.addEventListener('input', () => {
  smoothing = Number(smoothInput.value);
  document.body.dataset.smoothing = smoothInput.value;
  if (lastDrawn) drawCurves(lastDrawn, palette());
  if (lastRuns) drawRuns(lastRuns);
});
metricSelect.addEventListener('change', () => {
  compareMetric = metricSelect.value as CompareMetric;
  if (lastRuns) drawRuns(lastRuns);
});
keptBox.addEventListener('change', () => {
  if (lastDrawn) {
    drawn.recall = null;
    draw(lastDrawn);
  }
});
/** CSV of the curves chart: step and every series (the raw values, not smoothed). */
function curvesCsv(): string {
  const h = lastDrawn?.history ?? [];
  return toCsv(
    ['step', 'objective', 'mean_recall', 'min_recall', 'g_mean', 'h_mean', 'accuracy', 'gain_correlation'],
    h.map((x) => [x.step, x.objective, x.meanRecall, x.minRecall, x.gMean, x.hMean, x.accuracy, x.gainCorrelation]),
  );
}
/**
 * CSV of the comparison: every run's metric at every refresh, with its objective, temperature, lr and what it trained.
 */
function compareCsv(): string {
  return compareCsvOf(lastRuns?.curves ?? [], compareMetric);
}
exportButtons(curvesDom, 'selmix-curves', () => charts.curves, curvesCsv);
exportButtons(compareDom, 'selmix-compare', () => charts.compare, compareCsv);
const heatmaps = { gain: new Heatmap(gainDom), dist: new Heatmap(distDom) };

/**
 * Refresh latencies (host received the refresh -> its heatmaps painted here), newest last, for the e2e and the curious.
 */
const latencies: number[] = [];
function recordLatency(ms: number): void {
  latencies.push(ms);
  if (latencies.length > 500) latencies.shift();
  const sorted = [...latencies].sort((a, b) => a - b);
  document.body.dataset.refreshLatencyMs = ms.toFixed(0);
  document.body.dataset.refreshLatencyMax = sorted[sorted.length - 1]!.toFixed(0);
  document.body.dataset.refreshLatencyP95 =
    sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!.toFixed(0);
  document.body.dataset.refreshLatencyCount = String(latencies.length);
}

/**
 * When something shown last changed (epoch ms), the gaps between such changes (the newest 60) and how many there were
 * in all (so a test can take the gaps of a window of its own), on the body as data-<name>-gaps and
 * data-<name>-gap-count, for the e2e: the step shown, and the stage line (the step or what a refresh holding it does).
 */
class UpdateGaps {
  private last = 0;
  private readonly gaps: number[] = [];
  private count = 0;

  constructor(private readonly name: 'step' | 'progress') {}

  record(): void {
    const now = Date.now();
    if (this.last > 0) {
      keepRecent(this.gaps, now - this.last, `${this.name}Gaps`);
      this.count++;
      document.body.dataset[`${this.name}GapCount`] = String(this.count);
    }
    this.last = now;
  }
}
const stepUpdates = new UpdateGaps('step');
const progressUpdates = new UpdateGaps('progress');

/** The most matrix entries exposeMatrix writes out as text (K = 50). */
const MAX_EXPOSED_VALUES = 2_500;

/**
 * Exposes a matrix's size, tiling and step on its container, and up to K = 50 its numbers (data-values, 4 significant
 * digits) for tests and tools. A 100 x 100 matrix's numbers took about 6 ms to format (100 KB of text) twice a refresh,
 * on the thread the page shares with the workbench in code-server.
 */
function exposeMatrix(dom: HTMLElement, m: FlatMatrix, step: number): void {
  dom.dataset.k = String(m.K);
  dom.dataset.block = String(m.block ?? 1);
  dom.dataset.step = String(step);
  dom.dataset.values =
    m.data.length <= MAX_EXPOSED_VALUES ? Array.from(m.data, (v: number) => Number(v.toPrecision(4))).join(',') : '';
}

function set(chart: { setOption(o: ChartOption, opts?: object): void }, option: ChartOption): void {
  chart.setOption(option, { notMerge: true, lazyUpdate: true });
}

/** Curves draw at most this many points (evenly spaced, always the last); long runs stay cheap to redraw. */
const MAX_CURVE_POINTS = 600;

/** Keeps at most max items, evenly spaced, always the first and the last. */
function thinForDisplay<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const out: T[] = [];
  const stride = (xs.length - 1) / (max - 1);
  for (let k = 0; k < max; k++) out.push(xs[Math.round(k * stride)]!);
  return out;
}

let lastDrawn: RunSnapshot | null = null;
let lastStatus: RunSnapshot['status'] | null = null;
/** What each chart last drew, so an update redraws only the charts whose data changed. */
let drawn: { refresh: unknown; history: unknown; losses: unknown; recall: unknown; logs: unknown; theme: number } = {
  refresh: null,
  history: null,
  losses: null,
  recall: null,
  logs: null,
  theme: -1,
};
let themeVersion = 0;

/**
 * The stage line, the step counter and the progress bar: a few text nodes, written at every message the page folds
 * in (connect's onFolded), so the step never waits for a scheduled draw, and again by each draw.
 */
function drawProgress(s: RunSnapshot): void {
  const live = stageLine(s);
  // When a run became live on this page (epoch ms; the e2e measures command -> live stage line with it). When the
  // HTML's first paint showed the stage line, its paint time is already there (the page's inline script).
  if (live && !liveShown) document.body.dataset.stagePaintedAt = String(Date.now());
  liveShown = live !== null;
  stageLive.hidden = live === null;
  if (live && s.status === 'running' && stageLive.textContent !== live.text) progressUpdates.record();
  stageLive.textContent = live?.text ?? '';
  if (live) document.body.dataset.stage = live.stage;
  else delete document.body.dataset.stage;
  const step = s.lastStep;
  const total = step?.totalSteps ?? s.started?.totalSteps ?? 0;
  fStep.textContent = step ? `${step.step} / ${total}` : s.finished ? `${s.finished.steps} / ${total}` : '–';
  const shownStep = String(step?.step ?? s.finished?.steps ?? 0);
  if (fStep.dataset.step !== shownStep && s.status === 'running') stepUpdates.record();
  fStep.dataset.step = shownStep;
  if (live && live.fraction !== null) {
    progress.setAttribute('value', String(Math.round(100 * live.fraction)));
    progress.removeAttribute('indeterminate');
  } else if (live) {
    progress.setAttribute('indeterminate', '');
  }
  progress.hidden = s.status !== 'running' && s.status !== 'stopping';
}

/** Draws the page from a snapshot (charts only where their data changed). */
function draw(s: RunSnapshot, refreshAt: number | null = null): void {
  const t0 = performance.now();
  lastDrawn = s;
  const themeChanged = drawn.theme !== themeVersion;
  if (themeChanged)
    drawn = { refresh: null, history: null, losses: null, recall: null, logs: null, theme: themeVersion };
  const st = statusOf(s);
  const started = s.started;
  title.textContent = started?.name ?? s.stage?.name ?? 'SelMix';
  badge.textContent = st.label;
  badge.dataset.status = st.key;
  document.body.dataset.status = st.key;
  if (s.finished) document.body.dataset.stoppedBy = s.finished.stoppedBy;
  else delete document.body.dataset.stoppedBy;
  if (started) document.body.dataset.mode = started.mode;
  else delete document.body.dataset.mode;
  empty.hidden = s.status !== 'idle';
  // No empty chart cards (a run stopped during pre-training, a run that has not refreshed yet); shown before drawing
  // into them.
  lossDom.parentElement!.hidden = s.losses.length === 0;
  curvesDom.parentElement!.hidden = s.history.length === 0;
  gainDom.parentElement!.hidden = distDom.parentElement!.hidden = !s.lastRefresh;
  drawResults(s);
  // A run that just ended has written its report: list it.
  if (s.status !== lastStatus && lastStatus !== null && (s.status === 'finished' || s.status === 'failed')) askRuns();
  lastStatus = s.status;
  stopBtn.toggleAttribute('disabled', s.status !== 'running');
  const results = finishedResults(s);
  reportBtn.toggleAttribute('disabled', results === null);
  const stageText = stageNote(s);
  stage.hidden = stageText === null;
  stage.textContent = stageText ?? '';
  drawProgress(s);
  const step = s.lastStep;
  fObjName.textContent = started?.objective ?? s.finished?.objective ?? '–';
  fObj.textContent = fmt(s.lastRefresh?.objectiveValue ?? results?.after.objectiveValue);
  fBest.textContent = fmt(s.bestObjective);
  fMin.textContent = fmt(s.lastRefresh?.val.minRecall ?? results?.after.val.minRecall);
  fMean.textContent = fmt(s.lastRefresh?.val.meanRecall ?? results?.after.val.meanRecall);
  fLr.textContent = step ? fmtNumber(step.lr) : '–';
  fBackend.textContent = started?.backend ?? '–';
  fTrains.textContent = trainsText(started?.trains);
  fMs.textContent = step ? `${fmtNumber(step.msPerStep)} ms` : '–';
  showFeasibility(fFeas, feasibilityOf(s.lastRefresh) ?? finishedFeasibility(finishedResults(s)).val);
  const gm = gainMonitor(s);
  showGainMonitor(fGain, gm);
  gainWarning.hidden = gm.state !== 'off';
  gainWarning.textContent =
    gm.state === 'off'
      ? `Gain estimate vs reality: r = ${gm.r!.toFixed(2)} over ${gm.intervals} intervals. ${GAIN_MONITOR_WARNING}`
      : '';
  if (s.logs !== drawn.logs) drawLogs(s);
  error.hidden = s.error === null;
  error.textContent = s.error ? `Run failed: ${s.error}` : '';

  // The heatmaps (this page's own canvases, a few ms at 100 x 100) at every draw that brings a new refresh, so a
  // refresh shows a frame after it arrives; the ECharts charts at a bounded rate while a run streams (they cost tens to
  // hundreds of ms at large K on a busy machine); the facts above, the step and the stage line at every update
  // (microseconds), so they never wait for a chart.
  drawMatrices(s, refreshAt);
  const now = performance.now();
  const wait = chartsDrawnAt + Math.max(CHARTS_MIN_MS, 2 * chartsMs) - now;
  const streaming = s.status === 'running' || s.status === 'stopping';
  if (!streaming || themeChanged || wait <= 0) drawChartsNow();
  else if (chartsTimer === 0) chartsTimer = window.setTimeout(drawChartsNow, wait);
  const ms = performance.now() - t0;
  document.body.dataset.drawMs = ms.toFixed(1);
  document.body.dataset.drawMsMax = Math.max(ms, Number(document.body.dataset.drawMsMax ?? 0)).toFixed(1);
}

/**
 * The ECharts charts are drawn at most every CHARTS_MIN_MS (or twice their last cost) while a run streams, so the
 * page's thread is free at least half the time for the step, the stage line and the heatmaps (and, where the webview
 * shares its thread with the workbench, for VS Code). They are drawn a part per frame (per-class recall, the curves,
 * the loss), so no single task holds the thread for all of them, and their cost is counted up to the end of the frame
 * after the last: ECharts lays out and paints in that frame (lazyUpdate), which at K = 100 costs more than the options
 * themselves.
 */
const CHARTS_MIN_MS = 300;
let chartsDrawnAt = Number.NEGATIVE_INFINITY;
let chartsMs = 0;
let chartsTimer = 0;

function drawChartsNow(): void {
  window.clearTimeout(chartsTimer);
  chartsTimer = 0;
  if (!lastDrawn) return;
  const t0 = performance.now();
  chartsDrawnAt = t0;
  const s = lastDrawn;
  const parts = [
    (): void => drawRecall(s),
    (): void => {
      if (s.history !== drawn.history) drawCurves(s, palette());
    },
    (): void => drawLoss(s),
  ];
  // Each part in its own task, after the frame that painted the one before (a part of a later draw supersedes the
  // rest: charts drawn again meanwhile, on a theme change or when the run ends, draw every part that changed).
  const run = (i: number): void => {
    if (chartsDrawnAt !== t0) return;
    if (i === parts.length) {
      chartsMs = performance.now() - t0;
      document.body.dataset.chartsMs = chartsMs.toFixed(1);
      return;
    }
    parts[i]!();
    afterFrame(() => run(i + 1));
  };
  run(0);
}

/**
 * Runs fn in a task after the next frame has been painted (the first task after it), or after 100 ms when the page
 * gets no frames (hidden or throttled).
 */
function afterFrame(fn: () => void): void {
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    window.clearTimeout(fallback);
    fn();
  };
  const fallback = window.setTimeout(once, 100);
  requestAnimationFrame(() => window.setTimeout(once, 0));
}

/** The run's number of classes: from its start, else from its last refresh (0 before either). */
function classCount(s: RunSnapshot): number {
  return s.started?.K ?? s.lastRefresh?.val.recall.length ?? 0;
}

/** The heatmaps of G and P (when a new refresh came) and the downsampling note. */
function drawMatrices(s: RunSnapshot, refreshAt: number | null): void {
  const p = palette();
  const K = classCount(s);
  const name = (k: number): string => className(s, k);
  const r = s.lastRefresh;
  const newRefresh = r !== drawn.refresh;
  drawn.refresh = r;
  if (newRefresh && !r) {
    // A new run (or stage) starts without SelMix state: the previous run's G and P must not stay on screen.
    for (const [chart, dom] of [
      [heatmaps.gain, gainDom],
      [heatmaps.dist, distDom],
    ] as const) {
      chart.clear();
      exposeMatrix(dom, { K: 0, data: [] }, 0);
      dom.removeAttribute('aria-label');
    }
  }
  if (newRefresh && r && r.gain.data.length > 0) {
    heatmaps.gain.draw(
      { m: r.gain, kind: 'gain', labels: matrixLabels(r.gain, K, name), what: r.gain.block ? 'max |G| of block' : 'G' },
      p,
    );
    exposeMatrix(gainDom, r.gain, r.step);
    gainDom.setAttribute(
      'aria-label',
      `Gain matrix at step ${r.step}, ${r.gain.K} by ${r.gain.K} cells, max gain ${fmt(r.maxGain)}`,
    );
  }
  if (newRefresh && r && r.distribution.data.length > 0) {
    heatmaps.dist.draw(
      {
        m: r.distribution,
        kind: 'dist',
        labels: matrixLabels(r.distribution, K, name),
        what: r.distribution.block ? 'P mass of block' : 'P',
      },
      p,
    );
    exposeMatrix(distDom, r.distribution, r.step);
    distDom.setAttribute('aria-label', `Sampling distribution at step ${r.step}`);
  }
  if (newRefresh && r && refreshAt !== null) recordLatency(Date.now() - refreshAt);
  const b = r?.gain.block ?? 1;
  note.hidden = b <= 1;
  note.textContent =
    b > 1
      ? `K = ${K}: the heatmaps are downsampled to ${r!.gain.K} × ${r!.gain.K} tiles of ${b} × ${b} classes (G: the entry of largest |G| in each tile; P: the tile's total probability). Hover a tile for its class range.`
      : '';
}

/** Per-class recall (the bars, and the histogram at large K), when it changed. */
function drawRecall(s: RunSnapshot): void {
  const p = palette();
  const K = classCount(s);
  const name = (k: number): string => className(s, k);
  const r = s.lastRefresh;
  const start = startRecall(s);
  const kept = finishedResults(s)?.after.val.recall ?? null;
  keptLabel.hidden = kept === null;
  const showKept = kept !== null && keptBox.checked;
  const now = showKept ? kept : currentRecall(s);
  // A stop during pre-training leaves no per-class recall: no empty chart cards, and no numbers of an earlier run.
  recallCard.hidden = now === null;
  if (now === null && drawn.recall !== null) {
    drawn.recall = null;
    recallDom.dataset.values = recallDom.dataset.start = '';
  }
  if (K > 0 && now !== drawn.recall) {
    drawn.recall = now;
    const view = recallView(start, now, K);
    const pick = <T>(xs: T[] | null): T[] | null => (xs ? view.classes.map((k) => xs[k]!) : null);
    set(
      charts.recall,
      recallBarsOption(
        view.classes.map((k) => name(k)),
        pick(start),
        pick(now),
        p,
      ),
    );
    histDom.hidden = view.histogram === null;
    if (view.histogram)
      set(charts.hist, recallHistogramOption(view.histogram.bins, view.histogram.start, view.histogram.now, p));
    recallCaption.textContent = `${view.histogram ? `K = ${K}: the ${view.classes.length / 2} lowest and ${view.classes.length / 2} highest classes by recall, and below, how many classes fall in each tenth of recall. ` : ''}Validation recall of each class: the starting model against ${showKept ? `the kept iterate (step ${finishedResults(s)!.bestStep})` : 'the last refresh'}.`;
    recallDom.dataset.values = (now ?? []).map((v) => v.toFixed(4)).join(',');
    recallDom.dataset.start = (start ?? []).map((v) => v.toFixed(4)).join(',');
    recallDom.dataset.step = String(showKept ? finishedResults(s)!.bestStep : (r?.step ?? 0));
    recallDom.dataset.bars = String(view.classes.length);
  }
}

/** The loss curve, when new losses came. */
function drawLoss(s: RunSnapshot): void {
  const p = palette();
  if (s.losses !== drawn.losses) {
    drawn.losses = s.losses;
    set(
      charts.loss,
      curvesOption(
        [
          {
            name: 'loss',
            points: thinForDisplay(s.losses, MAX_CURVE_POINTS).map((x) => [x.step, x.loss]),
            color: p.purple,
          },
        ],
        p,
        'loss',
      ),
    );
    lossDom.dataset.points = String(s.losses.length);
  }
}

/** The value of a metric of a report by its key (the objective's own key when it is a plain field). */
function metric(m: MetricsReport | undefined, key: string): number | null {
  const v = m ? (m as unknown as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' ? v : null;
}

/** The before/after table of a finished run: validation and test (when the run had a test set). */
function drawResults(s: RunSnapshot): void {
  const f = finishedResults(s);
  results.hidden = f === null;
  if (!f) return;
  const hasTest = f.before.test !== undefined || f.after.test !== undefined;
  const keys: [string, string][] = [
    ['accuracy', 'accuracy'],
    ['meanRecall', 'mean recall'],
    ['minRecall', 'min recall'],
    ['gMean', 'G-mean'],
    ['hMean', 'H-mean'],
  ];
  if (!keys.some(([k]) => k === f.objective)) keys.unshift([f.objective, f.objective]);
  const table = el('table', 'results-table');
  table.id = 'results-table';
  const head = el('tr');
  for (const h of ['', 'Validation: start', 'Validation: after', ...(hasTest ? ['Test: start', 'Test: after'] : [])])
    head.append(el('th', undefined, h));
  table.append(head);
  const objRow = el('tr');
  objRow.dataset.metric = 'objective';
  objRow.append(
    el('th', undefined, `${f.objective} (objective)`),
    el('td', 'num', fmt(f.before.objectiveValue)),
    el('td', 'num', fmt(f.after.objectiveValue)),
  );
  if (hasTest)
    objRow.append(
      el('td', 'num', fmt(metric(f.before.test, f.objective))),
      el('td', 'num', fmt(metric(f.after.test, f.objective))),
    );
  table.append(objRow);
  for (const [k, label] of keys) {
    const tr = el('tr');
    tr.dataset.metric = k;
    tr.append(
      el('th', undefined, label),
      el('td', 'num', fmt(metric(f.before.val, k))),
      el('td', 'num', fmt(metric(f.after.val, k))),
    );
    if (hasTest)
      tr.append(el('td', 'num', fmt(metric(f.before.test, k))), el('td', 'num', fmt(metric(f.after.test, k))));
    table.append(tr);
  }
  const last = s.lastRefresh?.step;
  const note = el('p', 'caption');
  note.id = 'results-note';
  const ff = finishedFeasibility(f);
  const feas = [
    ff.val ? `validation: ${feasibilityText(ff.val)}` : '',
    ff.test ? `test: ${feasibilityText(ff.test)}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  note.textContent = `"After" is the best iterate (step ${f.bestStep}), the model the run keeps; the values above the charts are from the last refresh${last !== undefined ? ` (step ${last})` : ''}.${hasTest ? '' : ' This run had no test set (data.test).'}${feas ? ` Constraint at the kept iterate: ${feas}.` : ''}`;
  if (f.infeasible) note.textContent += ` ${f.infeasible}`;
  note.classList.toggle('warn', ff.val?.met === false || ff.test?.met === false);
  // Which pseudo-labels the unlabeled partners had, and how many unlabeled examples passed the threshold.
  const extra: HTMLElement[] = [];
  if (f.pseudoLabels) {
    const pseudo = el('p', 'caption', `${pseudoLabelLine(f.pseudoLabels)}.`);
    pseudo.id = 'pseudo-labels-note';
    pseudo.dataset.source = f.pseudoLabels.source;
    extra.push(pseudo);
  }
  results.replaceChildren(el('h2', undefined, 'Results'), creditTable(f), table, note, ...extra);
  results.dataset.test = String(hasTest);
}

/** The objective split: the starting model, the warm start and SelMix's own change from it (table#credit-table). */
function creditTable(f: RunFinishedPayload): HTMLElement {
  const rows = creditRows(f);
  const hasTest = rows.some((r) => r.test !== null);
  const table = el('table', 'results-table');
  table.id = 'credit-table';
  const head = el('tr');
  for (const h of ['', 'Validation', 'change', ...(hasTest ? ['Test', 'change'] : [])])
    head.append(el('th', undefined, h));
  table.append(el('caption', undefined, `${f.objective}: where the change came from (changes in points)`), head);
  const change = (v: number | null): HTMLElement => {
    const td = el('td', 'num', v === null ? '' : pointsText(v));
    if (v !== null) td.dataset.change = String(v);
    return td;
  };
  for (const r of rows) {
    const tr = el('tr');
    tr.dataset.credit = r.key;
    tr.append(el('th', undefined, r.label), el('td', 'num', fmt(r.val)), change(r.changeVal));
    if (hasTest) tr.append(el('td', 'num', fmt(r.test)), change(r.changeTest));
    table.append(tr);
  }
  return table;
}

/** The run's notes and warnings (run/log), newest last. */
function drawLogs(s: RunSnapshot): void {
  drawn.logs = s.logs;
  const logs = s.logs ?? [];
  logList.replaceChildren(
    ...logs.map((l) => {
      const li = el('li', l.level === 'warn' ? 'warn' : undefined);
      li.dataset.level = l.level;
      if (l.step !== null) li.append(el('span', 'log-step', `step ${l.step}`));
      li.append(el('span', 'log-text', `${l.level === 'warn' ? 'Warning: ' : ''}${l.message}`));
      return li;
    }),
  );
  logList.dataset.count = String(logs.length);
  logList.dataset.warnings = String(logs.filter((l) => l.level === 'warn').length);
  logCard.hidden = logs.length === 0;
}

/** The objective/recall curves and the multipliers, from the refresh history. */
function drawCurves(s: RunSnapshot, p: ReturnType<typeof palette>): void {
  drawn.history = s.history;
  const h = thinForDisplay(s.history, MAX_CURVE_POINTS);
  const started = s.started;
  const name = (k: number): string => className(s, k);
  const objName = started?.objective ?? 'objective';
  const objective: Curve = { name: objName, points: h.map((x) => [x.step, x.objective]), color: p.red };
  const others: Curve[] = [
    { name: 'mean recall', points: h.map((x) => [x.step, x.meanRecall]), color: p.blue },
    { name: 'min recall', points: h.map((x) => [x.step, x.minRecall]), color: p.orange, dashed: true },
  ];
  // An objective that is mean or min recall itself would draw the same line twice: keep it once, under the objective's
  // name.
  const same = (c: Curve): boolean =>
    c.points.length === objective.points.length &&
    c.points.every((q, i) => Math.abs(q[1] - objective.points[i]![1]) <= 1e-12);
  const curves = [objective, ...others.filter((c) => !same(c))].map((c) => ({
    ...c,
    points: smooth(c.points, smoothing),
  }));
  set(charts.curves, curvesOption(curves, p, 'value'));
  curvesDom.dataset.series = curves.map((c) => c.name).join(',');
  curvesDom.dataset.points = String(s.history.length);
  const corr = h
    .filter((x) => x.gainCorrelation !== null && x.gainCorrelation !== undefined)
    .map((x) => [x.step, x.gainCorrelation!] as [number, number]);
  set(charts.gainCorr, curvesOption([{ name: 'r (predicted vs realised)', points: corr, color: p.green }], p, 'r'));
  gainCorrDom.dataset.points = String(corr.length);
  gainCorrDom.dataset.values = corr
    .slice(-50)
    .map(([, v]) => v.toFixed(3))
    .join(',');

  const withMult = h.filter((x) => x.multipliers !== null);
  multCard.hidden = withMult.length === 0;
  if (withMult.length > 0) {
    const Km = withMult[withMult.length - 1]!.multipliers!.length;
    // Up to MAX_MULT_SERIES classes, each in its own colour: all of them when few, else those whose λ moved most. A
    // multiplier holds between refreshes, so each is a step line (a min-recall objective moves its weight between
    // classes at a refresh: a step reads as such, a sloped line as a zigzag).
    const shown = multiplierClasses(
      withMult.map((x) => x.multipliers),
      MAX_MULT_SERIES,
    );
    const series: Curve[] = shown.map((k, i) => ({
      name: name(k),
      color: CATEGORICAL[i % CATEGORICAL.length],
      stepped: true,
      points: smooth(
        withMult.map((x) => [x.step, x.multipliers![k] ?? 0] as [number, number]),
        smoothing,
      ),
    }));
    multCaption.textContent =
      Km <= MAX_MULT_SERIES
        ? 'The Lagrange multipliers of the objective, per class (each holds until the next refresh).'
        : `The Lagrange multipliers of the ${shown.length} classes (of ${Km}) whose λ moved most over the run; each holds until the next refresh.`;
    multDom.dataset.series = series.map((c) => c.name).join(',');
    set(charts.mult, curvesOption(series, p, 'λ'));
  }
}

onThemeChange(() => {
  themeVersion++;
  if (lastDrawn) draw(lastDrawn);
});
connect(initialSnapshot(), draw, drawRuns, drawProgress);
askRuns();
