// The sidebar view: run status, objective value, best so far, a compact per-class recall list with bars,
// and buttons to start, stop and open the dashboard.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import type { RunSnapshot } from '../src/protocol/messages';
import { creditRows, pointsText } from '../src/protocol/credit';
import { stageLine } from '../src/protocol/stageLine';
import { fmtNumber, trainsText } from './viewModel';
import {
  bootstrapTrusted,
  button,
  className,
  connect,
  feasibilityOf,
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
  showGainMonitor,
  stageNote,
  startRecall,
  statusOf,
  vscode,
  watchCsp,
} from './common';

/** At most this many classes are listed; beyond it, the lowest recalls. */
const MAX_LISTED = 30;

watchCsp();
const app = document.getElementById('app')!;
app.className = 'sidebar';

const head = el('div', 'sb-head');
const status = el('vscode-badge');
status.id = 'sb-status';
const name = el('span', 'sb-name');
name.id = 'sb-name';
head.append(status, name);

const dl = el('dl', 'sb-facts');
const fObjective = fact(dl, 'Objective (last refresh)', 'sb-objective');
const fBest = fact(dl, 'Best so far', 'sb-best');
const fAfter = fact(dl, 'After: best iterate', 'sb-after');
const fTest = fact(dl, 'After: test', 'sb-test');
// Credit where it is due (src/protocol/credit.ts): what the warm start gave, and SelMix's own change from there.
const fWarm = fact(dl, 'Warm start', 'sb-warm-start');
const fOwn = fact(dl, "SelMix's own change", 'sb-selmix-own');
const fMin = fact(dl, 'Min recall', 'sb-min-recall');
const fStep = fact(dl, 'Step', 'sb-step');
const fTrains = fact(dl, 'Trains', 'sb-trains');
const fMs = fact(dl, 'Time / step', 'sb-ms-per-step');
const fGain = fact(dl, 'Gain vs reality', 'sb-gain-corr');
const fFeas = fact(dl, 'Constraint', 'sb-feasibility');

const buttons = el('div', 'sb-buttons');
function commandButton(
  id: string,
  icon: string,
  text: string,
  command: 'start' | 'stop' | 'openDashboard',
  secondary = false,
): HTMLElement {
  const b = button(id, text, { icon, secondary });
  b.addEventListener('click', () => vscode.postMessage({ type: 'view/command', command }));
  buttons.append(b);
  return b;
}
const startBtn = commandButton('sb-start', 'play', 'Fine-tune', 'start');
const trusted = bootstrapTrusted();
if (!trusted) startBtn.title = 'Runs are disabled in a restricted workspace';
const stopBtn = commandButton('sb-stop', 'debug-stop', 'Stop', 'stop');
commandButton('sb-dashboard', 'graph', 'Dashboard', 'openDashboard', true);

const recallHead = el('h2', 'sb-section', 'Per-class recall');
const recallNote = el('p', 'sb-note');
const list = el('ul', 'sb-recalls');
list.id = 'sb-recalls';
const stage = el('p', 'sb-note sb-stage');
stage.id = 'sb-stage';
stage.hidden = true;
const error = el('p', 'error');
error.id = 'sb-error';
const restricted = el('p', 'warning sb-restricted', RESTRICTED_NOTE);
restricted.id = 'sb-restricted';
restricted.hidden = trusted;
const trustLink = el('a', undefined, 'Manage Workspace Trust');
trustLink.href = '#';
trustLink.addEventListener('click', (e) => {
  e.preventDefault();
  vscode.postMessage({ type: 'view/command', command: 'manageTrust' });
});
restricted.append(' ', trustLink);
app.append(head, restricted, stage, dl, buttons, error, recallHead, recallNote, list);

function draw(s: RunSnapshot): void {
  const st = statusOf(s);
  status.textContent = st.label;
  status.dataset.status = st.key;
  document.body.dataset.status = st.key;
  name.textContent = s.started?.name ?? s.stage?.name ?? '';
  if (s.started) document.body.dataset.mode = s.started.mode;
  else delete document.body.dataset.mode;
  // The note about pre-training (what is to come), else the live run's stage line (the dashboard's, the status bar's).
  const stageText = stageNote(s) ?? stageLine(s)?.text ?? null;
  stage.hidden = stageText === null;
  stage.textContent = stageText ?? '';
  const results = finishedResults(s);
  const objName = s.started?.objective ?? s.finished?.objective ?? '';
  fObjective.textContent = `${fmt(s.lastRefresh?.objectiveValue ?? results?.after.objectiveValue)}${objName ? ` (${objName})` : ''}`;
  fObjective.dataset.value = String(s.lastRefresh?.objectiveValue ?? results?.after.objectiveValue ?? '');
  fBest.textContent = fmt(s.bestObjective);
  fMin.textContent = fmt(s.lastRefresh?.val.minRecall ?? results?.after.val.minRecall);
  const step = s.lastStep;
  fStep.textContent = step ? `${step.step} / ${step.totalSteps}` : '–';
  fTrains.textContent = trainsText(s.started?.trains);
  fMs.textContent = step ? `${fmtNumber(step.msPerStep)} ms` : '–';
  showFeasibility(fFeas, feasibilityOf(s.lastRefresh) ?? finishedFeasibility(results).val);
  const gm = gainMonitor(s);
  showGainMonitor(fGain, gm);
  fGain.title =
    gm.state === 'off'
      ? GAIN_MONITOR_WARNING
      : 'Correlation of the predicted gain of the sampled pairs with the realised change of the objective, over the refresh intervals so far.';
  startBtn.toggleAttribute('disabled', !trusted || s.status === 'running' || s.status === 'stopping');
  const showAfter = results !== null;
  for (const d of [fAfter, fTest, fWarm, fOwn]) {
    d.hidden = !showAfter;
    (d.previousElementSibling as HTMLElement).hidden = !showAfter;
  }
  if (results) {
    fAfter.textContent = `${fmt(results.after.objectiveValue)} val, step ${results.bestStep}`;
    const t = results.after.test
      ? (results.after.test as unknown as Record<string, unknown>)[results.objective]
      : undefined;
    const [, warm, own] = creditRows(results);
    const tauText = results.warmStart ? `tau ${+results.warmStart.tau.toFixed(3)}` : 'none';
    fWarm.textContent = `${tauText}: ${pointsText(warm!.changeVal)} val${warm!.changeTest !== null ? `, ${pointsText(warm!.changeTest)} test` : ''}`;
    fOwn.textContent = `${pointsText(own!.changeVal)} val${own!.changeTest !== null ? `, ${pointsText(own!.changeTest)} test` : ''} (points)`;
    fOwn.dataset.val = String(own!.changeVal ?? '');
    fOwn.dataset.test = String(own!.changeTest ?? '');
    fTest.textContent =
      typeof t === 'number'
        ? `${fmt(t)} (start ${fmt((results.before.test as unknown as Record<string, unknown> | undefined)?.[results.objective] as number | undefined)})`
        : 'no test set';
  }
  stopBtn.toggleAttribute('disabled', s.status !== 'running');
  error.hidden = s.error === null;
  error.textContent = s.error ?? '';

  const now = currentRecall(s);
  const start = startRecall(s);
  list.replaceChildren();
  if (!now) {
    recallNote.textContent = 'Appears at the first refresh of a run.';
    return;
  }
  let idx = now.map((_, k) => k);
  if (idx.length > MAX_LISTED) {
    idx = idx.sort((a, b) => now[a]! - now[b]!).slice(0, MAX_LISTED);
    recallNote.textContent = `The ${MAX_LISTED} lowest of ${now.length} classes.`;
  } else {
    recallNote.textContent = '';
  }
  for (const k of idx) {
    const v = now[k]!;
    const li = el('li');
    li.dataset.class = String(k);
    li.dataset.recall = v.toFixed(4);
    const label = el('span', 'sb-class', className(s, k));
    const bar = el('span', 'sb-bar');
    const fill = el('span', 'sb-fill');
    fill.style.width = `${Math.max(0, Math.min(1, v)) * 100}%`; // CSSOM: allowed by the CSP, unlike style attributes
    bar.append(fill);
    if (start && start[k] !== undefined) {
      const tick = el('span', 'sb-start');
      tick.style.left = `${Math.max(0, Math.min(1, start[k]!)) * 100}%`;
      tick.title = `start ${fmt(start[k])}`;
      bar.append(tick);
    }
    const val = el('span', 'sb-value', fmt(v, 2));
    li.append(label, bar, val);
    li.title = `${className(s, k)}: recall ${fmt(v)}${start ? ` (start ${fmt(start[k])})` : ''}`;
    list.append(li);
  }
}

connect(initialSnapshot(), draw);
