// The dashboard page: run facts, the gain matrix G and the sampling distribution P as heatmaps, per-class
// recall (start vs now) and curves over steps. Drawn from a RunSnapshot; the host throttles updates.
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import type { FlatMatrix, RunSnapshot } from '../src/protocol/messages';
import { curvesOption, heatmapOption, makeChart, palette, recallBarsOption } from './charts';
import type { ChartOption } from './charts';
import { className, connect, currentRecall, el, fact, finishedResults, fmt, GAIN_MONITOR_WARNING, gainMonitor, initialSnapshot, showGainMonitor, onThemeChange, stageNote, startRecall, statusOf, vscode, watchCsp } from './common';

watchCsp();
const app = document.getElementById('app')!;
app.className = 'dashboard';

// Static layout, built once.
const header = el('header', 'run-header');
const title = el('h1', 'run-name');
title.id = 'run-name';
const badge = el('vscode-badge');
badge.id = 'status';
const actions = el('div', 'actions');
const stopBtn = el('vscode-button');
stopBtn.id = 'btn-stop';
stopBtn.setAttribute('icon', 'debug-stop');
stopBtn.textContent = 'Stop';
const reportBtn = el('vscode-button');
reportBtn.id = 'btn-report';
reportBtn.setAttribute('secondary', '');
reportBtn.setAttribute('icon', 'file-code');
reportBtn.textContent = 'Open report';
actions.append(stopBtn, reportBtn);
header.append(title, badge, actions);

const facts = el('dl', 'facts');
const fStep = fact(facts, 'Step', 'step', 'fact');
const fObjName = fact(facts, 'Objective', 'objective-name', 'fact');
const fObj = fact(facts, 'Value', 'objective', 'fact');
const fBest = fact(facts, 'Best', 'best', 'fact');
const fMin = fact(facts, 'Min recall', 'min-recall', 'fact');
const fMean = fact(facts, 'Mean recall', 'mean-recall', 'fact');
const fLr = fact(facts, 'Learning rate', 'lr', 'fact');
const fBackend = fact(facts, 'Backend', 'backend', 'fact');
const fMs = fact(facts, 'Time / step', 'ms-per-step', 'fact');
const fGain = fact(facts, 'Gain estimate vs reality', 'gain-corr', 'fact');
fGain.title = 'Pearson correlation, over the refresh intervals so far, between the mean predicted gain G(i, j) of the pairs sampled in an interval and the change of the objective realised over it.';
const gainWarning = el('p', 'warning');
gainWarning.id = 'gain-corr-warning';
gainWarning.hidden = true;
const progress = el('vscode-progress-bar');
progress.id = 'progress';
const stage = el('p', 'note stage');
stage.id = 'stage-note';
stage.hidden = true;
const note = el('p', 'note');
note.id = 'downsample-note';
note.hidden = true;
const error = el('p', 'error');
error.id = 'error';
error.hidden = true;
const empty = el('p', 'empty', 'No run yet. Run "SelMix: Fine-tune" on a *.selmix.json file, or "SelMix: Run Demo".');
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
const gainDom = card('Gain matrix G', 'gain-heatmap', 'Predicted objective gain of mixing anchor class i with partner class j (red: gain, blue: loss).');
const distDom = card('Sampling distribution P', 'dist-heatmap', 'Probability of drawing the pair (i, j): a softmax of the positive gains.');
const recallDom = card('Per-class recall', 'recall-bars', 'Validation recall of each class: the starting model against now.', true);
const curvesDom = card('Objective and recall', 'curves', 'On the validation set, at every refresh.');
const lossDom = card('Training loss', 'loss-chart', 'Cross-entropy of the mixed batch.');
const multDom = card('Multipliers λ', 'multipliers-chart', 'The Lagrange multipliers of the objective, per class.', true);
const multCard = multDom.parentElement!;
const gainCorrDom = card('Gain estimate vs reality', 'gain-corr-chart', 'Correlation of the predicted gain of the sampled pairs with the realised change of the objective, at every refresh (above 0: the first-order estimate tracks reality).');
const logCard = el('figure', 'card wide');
logCard.append(el('figcaption', undefined, 'Notes and warnings'));
const logList = el('ul', 'run-log');
logList.id = 'run-log';
logCard.append(logList);
grid.append(logCard);
app.append(header, facts, gainWarning, progress, stage, error, empty, note, grid);

stopBtn.addEventListener('click', () => vscode.postMessage({ type: 'view/command', command: 'stop' }));
reportBtn.addEventListener('click', () => vscode.postMessage({ type: 'view/command', command: 'openReport' }));

const charts = {
  gain: makeChart(gainDom), dist: makeChart(distDom), recall: makeChart(recallDom),
  curves: makeChart(curvesDom), loss: makeChart(lossDom), mult: makeChart(multDom), gainCorr: makeChart(gainCorrDom),
};

/** Exposes a matrix's numbers on its container (data-values, 4 significant digits) for tests and tools. */
function exposeMatrix(dom: HTMLElement, m: FlatMatrix, step: number): void {
  dom.dataset.k = String(m.K);
  dom.dataset.block = String(m.block ?? 1);
  dom.dataset.step = String(step);
  dom.dataset.values = m.data.length <= 10_000 ? m.data.map((v) => Number(v.toPrecision(4))).join(',') : '';
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
/** What each chart last drew, so an update redraws only the charts whose data changed. */
let drawn: { refresh: unknown; history: unknown; losses: unknown; recall: unknown; logs: unknown; theme: number } = { refresh: null, history: null, losses: null, recall: null, logs: null, theme: -1 };
let themeVersion = 0;

/** Draws the page from a snapshot (charts only where their data changed). */
function draw(s: RunSnapshot): void {
  const t0 = performance.now();
  lastDrawn = s;
  const themeChanged = drawn.theme !== themeVersion;
  if (themeChanged) drawn = { refresh: null, history: null, losses: null, recall: null, logs: null, theme: themeVersion };
  const p = palette();
  const st = statusOf(s);
  const started = s.started;
  const K = started?.K ?? s.lastRefresh?.val.recall.length ?? 0;
  const name = (k: number): string => className(s, k);
  title.textContent = started?.name ?? 'SelMix';
  badge.textContent = st.label;
  badge.dataset.status = st.key;
  document.body.dataset.status = st.key;
  if (s.finished) document.body.dataset.stoppedBy = s.finished.stoppedBy;
  else delete document.body.dataset.stoppedBy;
  if (started) document.body.dataset.mode = started.mode;
  else delete document.body.dataset.mode;
  empty.hidden = s.status !== 'idle';
  stopBtn.toggleAttribute('disabled', s.status !== 'running');
  const results = finishedResults(s);
  reportBtn.toggleAttribute('disabled', results === null);
  const stageText = stageNote(s);
  stage.hidden = stageText === null;
  stage.textContent = stageText ?? '';

  const step = s.lastStep;
  const total = step?.totalSteps ?? started?.totalSteps ?? 0;
  fStep.textContent = step ? `${step.step} / ${total}` : s.finished ? `${s.finished.steps} / ${total}` : '–';
  fStep.dataset.step = String(step?.step ?? s.finished?.steps ?? 0);
  fObjName.textContent = started?.objective ?? s.finished?.objective ?? '–';
  fObj.textContent = fmt(s.lastRefresh?.objectiveValue ?? results?.after.objectiveValue);
  fBest.textContent = fmt(s.bestObjective);
  fMin.textContent = fmt(s.lastRefresh?.val.minRecall ?? results?.after.val.minRecall);
  fMean.textContent = fmt(s.lastRefresh?.val.meanRecall ?? results?.after.val.meanRecall);
  fLr.textContent = step ? step.lr.toExponential(2) : '–';
  fBackend.textContent = started?.backend ?? '–';
  fMs.textContent = step ? `${step.msPerStep.toFixed(1)} ms` : '–';
  if (total > 0) {
    progress.setAttribute('value', String(Math.round((100 * (step?.step ?? 0)) / total)));
    progress.removeAttribute('indeterminate');
  }
  progress.hidden = s.status !== 'running' && s.status !== 'stopping';
  const gm = gainMonitor(s);
  showGainMonitor(fGain, gm);
  gainWarning.hidden = gm.state !== 'off';
  gainWarning.textContent = gm.state === 'off' ? `Gain estimate vs reality: r = ${gm.r!.toFixed(2)} over ${gm.intervals} intervals. ${GAIN_MONITOR_WARNING}` : '';
  if (s.logs !== drawn.logs) drawLogs(s);
  error.hidden = s.error === null;
  error.textContent = s.error ? `Run failed: ${s.error}` : '';

  const r = s.lastRefresh;
  const newRefresh = r !== drawn.refresh;
  drawn.refresh = r;
  if (newRefresh && !r) {
    // A new run (or stage) starts without SelMix state: the previous run's G and P must not stay on screen.
    for (const [chart, dom] of [[charts.gain, gainDom], [charts.dist, distDom]] as const) {
      chart.clear();
      exposeMatrix(dom, { K: 0, data: [] }, 0);
      dom.removeAttribute('aria-label');
    }
  }
  if (newRefresh && r && r.gain.data.length > 0) {
    set(charts.gain, heatmapOption(r.gain, 'gain', K, name, p));
    exposeMatrix(gainDom, r.gain, r.step);
    gainDom.setAttribute('aria-label', `Gain matrix at step ${r.step}, ${r.gain.K} by ${r.gain.K} cells, max gain ${fmt(r.maxGain)}`);
  }
  if (newRefresh && r && r.distribution.data.length > 0) {
    set(charts.dist, heatmapOption(r.distribution, 'dist', K, name, p));
    exposeMatrix(distDom, r.distribution, r.step);
    distDom.setAttribute('aria-label', `Sampling distribution at step ${r.step}`);
  }
  const b = r?.gain.block ?? 1;
  note.hidden = b <= 1;
  note.textContent = b > 1 ? `K = ${K}: the heatmaps are downsampled to ${r!.gain.K} × ${r!.gain.K} tiles of ${b} × ${b} classes (G: the entry of largest |G| in each tile; P: the tile's total probability). Hover a tile for its class range.` : '';

  const names = Array.from({ length: K }, (_, k) => name(k));
  const start = startRecall(s);
  const now = currentRecall(s);
  if (K > 0 && now !== drawn.recall) {
    drawn.recall = now;
    set(charts.recall, recallBarsOption(names, start, now, p));
    recallDom.dataset.values = (now ?? []).map((v) => v.toFixed(4)).join(',');
    recallDom.dataset.start = (start ?? []).map((v) => v.toFixed(4)).join(',');
    recallDom.dataset.step = String(r?.step ?? 0);
  }

  const h = s.history;
  if (h !== drawn.history) drawCurves(s, p);
  if (s.losses !== drawn.losses) {
    drawn.losses = s.losses;
    set(charts.loss, curvesOption([{ name: 'loss', points: thinForDisplay(s.losses, MAX_CURVE_POINTS).map((x) => [x.step, x.loss]), color: p.purple }], p, 'loss'));
    lossDom.dataset.points = String(s.losses.length);
  }
  const ms = performance.now() - t0;
  document.body.dataset.drawMs = ms.toFixed(1);
  document.body.dataset.drawMsMax = Math.max(ms, Number(document.body.dataset.drawMsMax ?? 0)).toFixed(1);
}

/** The run's notes and warnings (run/log), newest last. */
function drawLogs(s: RunSnapshot): void {
  drawn.logs = s.logs;
  const logs = s.logs ?? [];
  logList.replaceChildren(...logs.map((l) => {
    const li = el('li', l.level === 'warn' ? 'warn' : undefined);
    li.dataset.level = l.level;
    if (l.step !== null) li.append(el('span', 'log-step', `step ${l.step}`));
    li.append(el('span', 'log-text', `${l.level === 'warn' ? 'Warning: ' : ''}${l.message}`));
    return li;
  }));
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
  set(charts.curves, curvesOption([
    { name: started?.objective ?? 'objective', points: h.map((x) => [x.step, x.objective]), color: p.red },
    { name: 'mean recall', points: h.map((x) => [x.step, x.meanRecall]), color: p.blue },
    { name: 'min recall', points: h.map((x) => [x.step, x.minRecall]), color: p.orange, dashed: true },
  ], p, 'value'));
  curvesDom.dataset.points = String(s.history.length);
  const corr = h.filter((x) => x.gainCorrelation !== null && x.gainCorrelation !== undefined).map((x) => [x.step, x.gainCorrelation!] as [number, number]);
  set(charts.gainCorr, curvesOption([{ name: 'r (predicted vs realised)', points: corr, color: p.green }], p, 'r'));
  gainCorrDom.dataset.points = String(corr.length);
  gainCorrDom.dataset.values = corr.slice(-50).map(([, v]) => v.toFixed(3)).join(',');

  const withMult = h.filter((x) => x.multipliers !== null);
  multCard.hidden = withMult.length === 0;
  if (withMult.length > 0) {
    const Km = withMult[withMult.length - 1]!.multipliers!.length;
    const series = Km <= 12
      ? Array.from({ length: Km }, (_, k) => ({ name: name(k), points: withMult.map((x) => [x.step, x.multipliers![k] ?? 0] as [number, number]) }))
      : [{ name: 'max λ', points: withMult.map((x) => [x.step, Math.max(...x.multipliers!)] as [number, number]) },
        { name: 'min λ', points: withMult.map((x) => [x.step, Math.min(...x.multipliers!)] as [number, number]) }];
    set(charts.mult, curvesOption(series, p, 'λ'));
  }
}

onThemeChange(() => {
  themeVersion++;
  if (lastDrawn) draw(lastDrawn);
});
connect(initialSnapshot(), draw);
