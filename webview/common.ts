// What the dashboard and the sidebar pages share: the VS Code webview API, the bootstrap state, the
// host channel (one per page: postMessage), saved state, theme colours and small formatters.
import { applyEvent, emptySnapshot } from '../src/protocol/messages';
import { endedWithWindow } from '../src/protocol/stageLine';
export { statusOf } from '../src/protocol/stageLine';
import type { HostToWebview, RunFinishedPayload, RunSnapshot, WebviewToHost } from '../src/protocol/messages';
import { SCRIPT_START } from './scriptStart';

interface VsCodeApi {
  postMessage(msg: WebviewToHost): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** The page's handle on VS Code (acquireVsCodeApi may be called once). */
export const vscode: VsCodeApi = acquireVsCodeApi();

/** What the page saves with setState, so it redraws at once when shown again or after a reload. */
interface SavedState {
  snapshot: RunSnapshot;
}

let embedded: { value: Record<string, unknown> | null } | null = null;

/**
 * The state the host embedded in the page (#bootstrap), parsed once (it holds the snapshot, large at big K); null when
 * absent or unreadable.
 */
function bootstrap(): Record<string, unknown> | null {
  if (!embedded) {
    let value: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = JSON.parse(document.getElementById('bootstrap')?.textContent ?? 'null');
      value = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : null;
    } catch {
      value = null;
    }
    embedded = { value };
  }
  return embedded.value;
}

/** The snapshot embedded by the host, or the saved one when the host has nothing newer (e.g. after a window reload). */
export function initialSnapshot(): RunSnapshot {
  const boot = (bootstrap()?.snapshot as RunSnapshot | undefined) ?? null;
  const saved = (vscode.getState() as SavedState | undefined)?.snapshot ?? null;
  if (boot && boot.status !== 'idle') return boot;
  // The host has no run, so a run this page saw live ended with the window (a reload ends the extension host).
  if (saved && (saved.status === 'running' || saved.status === 'stopping')) return endedWithWindow(saved);
  return saved ?? boot ?? emptySnapshot();
}

/** The host's timing marks embedded in the page (commandAt, panelAt, htmlAt), or none. */
function bootstrapTiming(): Record<string, number> {
  const t = bootstrap()?.timing;
  if (typeof t !== 'object' || t === null) return {};
  return Object.fromEntries(Object.entries(t).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

/** Whether runs may start in this workspace (false when it is restricted), from the embedded state. */
export function bootstrapTrusted(): boolean {
  return bootstrap()?.trusted !== false;
}

/** What a restricted workspace means for runs, in a sentence. */
export const RESTRICTED_NOTE =
  'Runs are disabled in this restricted workspace: training executes on your data and writes model files. Trust the workspace to run SelMix; past runs and config checks work here.';

/** Saves the snapshot for the next load of this page. */
export function saveSnapshot(snapshot: RunSnapshot): void {
  vscode.setState({ snapshot } satisfies SavedState);
}

/** Appends x to list, keeps the newest 60, and writes them on <body data-...> (key: the dataset name) for the e2e. */
export function keepRecent(list: number[], x: number, key: string): void {
  list.push(x);
  if (list.length > 60) list.shift();
  document.body.dataset[key] = list.join(',');
}

/**
 * How long the host's messages took to arrive here (the host's post -> this page's handler, ms; the newest 60), on
 * <body data-transit-ms> for the e2e: VS Code's relay plus the time the message waited for this page's thread.
 */
const transits: number[] = [];
function recordTransit(ms: number): void {
  keepRecent(transits, ms, 'transitMs');
}

/** Redraws a second, at most (the host may send more often; updates in between are folded into one draw). */
const MAX_DRAWS_PER_SECOND = 8;

/**
 * Connects to the host: folds host/events into the snapshot with applyEvent (and acknowledges each message with
 * view/ack once folded in: flow control, the host keeps at most two unacknowledged), replaces it on host/snapshot,
 * and draws at most MAX_DRAWS_PER_SECOND (once per animation frame, or after a short timeout when frames are
 * throttled), then saves the state. The ack does not wait for the draw: a draw that takes long only merges more
 * messages into the next one, and a page whose thread is blocked acknowledges nothing. onFolded runs at every
 * message, for what must not wait for a draw (the dashboard's step counter and stage line). Sends view/ready last.
 */
export function connect(
  initial: RunSnapshot,
  draw: (s: RunSnapshot, refreshAt: number | null) => void,
  onRuns?: (m: Extract<HostToWebview, { type: 'host/runs' }>) => void,
  onFolded?: (s: RunSnapshot) => void,
): { current(): RunSnapshot } {
  let snap = initial;
  /** The host's time of the newest refresh received and not yet drawn. */
  let refreshAt: number | null = null;
  let frame = 0;
  let fallback = 0;
  const flush = (): void => {
    cancelAnimationFrame(frame);
    clearTimeout(fallback);
    frame = 0;
    fallback = 0;
    lastDraw = performance.now();
    const drawnRefreshAt = refreshAt;
    refreshAt = null;
    draw(snap, drawnRefreshAt);
    // The saved state (a structured clone of the whole snapshot, large at big K) at most once a second while a run
    // streams; at once when it ends.
    if (lastDraw - lastSave >= 1000 || (snap.status !== 'running' && snap.status !== 'stopping')) {
      lastSave = lastDraw;
      saveSnapshot(snap);
    }
  };
  let lastSave = Number.NEGATIVE_INFINITY;
  let lastDraw = 0;
  const schedule = (): void => {
    if (frame !== 0 || fallback !== 0) return;
    // At most MAX_DRAWS_PER_SECOND redraws; the messages that come in between are merged into the next one.
    const wait = Math.max(0, lastDraw + 1000 / MAX_DRAWS_PER_SECOND - performance.now());
    fallback = window.setTimeout(() => {
      fallback = window.setTimeout(flush, 250); // hidden or throttled pages get no frames; still draw
      frame = requestAnimationFrame(flush);
    }, wait);
  };
  window.addEventListener('message', (ev: MessageEvent<unknown>) => {
    const msg = ev.data as HostToWebview | null;
    if (typeof msg !== 'object' || msg === null) return;
    if (msg.type === 'host/runs') {
      if (Array.isArray(msg.runs) && Array.isArray(msg.curves)) onRuns?.(msg);
      return;
    }
    if (msg.type === 'host/snapshot' && typeof msg.snapshot === 'object' && msg.snapshot !== null) {
      // A host with nothing to show (a fresh window) does not blank a page that restored a run of its own.
      if (!(msg.snapshot.status === 'idle' && snap.status !== 'idle')) snap = msg.snapshot;
    } else if (msg.type === 'host/events' && Array.isArray(msg.events)) {
      for (const e of msg.events) snap = applyEvent(snap, e);
    } else {
      return;
    }
    if (typeof msg.refreshAt === 'number') refreshAt = msg.refreshAt;
    if (typeof msg.postedAt === 'number') recordTransit(Date.now() - msg.postedAt);
    vscode.postMessage({ type: 'view/ack' });
    // What must not wait for the next draw (a few text nodes: the stage line and the step), at once.
    onFolded?.(snap);
    schedule();
  });
  draw(snap, null);
  // First paint from the embedded state, before any round trip (the e2e reads it: ms since the page's navigation
  // start).
  document.body.dataset.firstPaintMs = performance.now().toFixed(0);
  // Where the time to open went (epoch ms): the host's marks from the bootstrap, then this page's.
  const origin = performance.timeOrigin;
  document.body.dataset.timing = JSON.stringify({
    ...bootstrapTiming(),
    navigationStart: Math.round(origin),
    scriptStart: Math.round(origin + SCRIPT_START),
    firstPaint: Math.round(origin + performance.now()),
  });
  watchLongTasks();
  vscode.postMessage({ type: 'view/ready' });
  return { current: () => snap };
}

/**
 * Sums the page's long tasks (over 50 ms, as the browser reports them) on <body data-long-task-ms> and
 * <body data-long-tasks>, for the e2e: how long this page's thread was unavailable to the host's messages.
 */
function watchLongTasks(): void {
  if (!PerformanceObserver.supportedEntryTypes?.includes('longtask')) return;
  let ms = 0;
  let n = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      ms += e.duration;
      n++;
    }
    document.body.dataset.longTaskMs = ms.toFixed(0);
    document.body.dataset.longTasks = String(n);
  }).observe({ type: 'longtask', buffered: true });
}

/** Counts CSP violations on the page (exposed on <body data-csp-violations> for the e2e, and logged). */
export function watchCsp(): void {
  let n = 0;
  document.body.dataset.cspViolations = '0';
  document.addEventListener('securitypolicyviolation', (e) => {
    n++;
    document.body.dataset.cspViolations = String(n);
    console.warn(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
  });
}

/** A --vscode-* colour of the current theme (with a fallback). */
export function themeColor(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

/** Calls fn when the colour theme changes (VS Code swaps the body's classes). */
export function onThemeChange(fn: () => void): void {
  new MutationObserver(fn).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}

/** A number with 3 decimals, or an en dash. */
export function fmt(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

/** The finished summary when it carries results (a run stopped during pre-training wrote nothing and has none). */
export function finishedResults(s: RunSnapshot): RunFinishedPayload | null {
  return s.finished && s.finished.reportPath !== null ? s.finished : null;
}

/** A sentence about the run's stage while it has no SelMix state to show (pre-training), or null. */
export function stageNote(s: RunSnapshot): string | null {
  if (s.finished && s.finished.reportPath === null)
    return `Stopped during pre-training after ${s.finished.steps} steps; nothing was written (the next run pre-trains again).`;
  if (s.started?.mode !== 'pretrain') return null;
  if (s.status === 'stopping') return 'Stopping the pre-training: nothing will be written.';
  if (s.status === 'failed') return 'Pre-training failed; nothing was written.';
  const step = s.lastStep;
  return `Pre-training the starting model${step ? ` (step ${step.step} of ${step.totalSteps})` : ''}. G, P and the per-class recall come with fine-tuning.`;
}

/** Creates an element with a class and optional text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A vscode-elements button with an id, a label, and optionally a codicon and the secondary look. */
export function button(id: string, text: string, opts: { icon?: string; secondary?: boolean } = {}): HTMLElement {
  const b = document.createElement('vscode-button');
  b.id = id;
  if (opts.icon) b.setAttribute('icon', opts.icon);
  if (opts.secondary) b.setAttribute('secondary', '');
  b.textContent = text;
  return b;
}

/** The per-class recall at the start of the run (from run/started, else the first refresh's). */
export function startRecall(s: RunSnapshot): number[] | null {
  return s.started?.startVal?.recall ?? finishedResults(s)?.before.val.recall ?? null;
}

/** The current per-class recall (last refresh, else the finished summary). */
export function currentRecall(s: RunSnapshot): number[] | null {
  return s.lastRefresh?.val.recall ?? finishedResults(s)?.after.val.recall ?? null;
}

/** The name of class k. */
export function className(s: RunSnapshot, k: number): string {
  return s.started?.classNames[k] ?? String(k);
}

/** The linear-approximation monitor as the views show it (an interval lies between two refreshes). */
export interface GainMonitorView {
  /** Pearson correlation of predicted gain and realised objective change; null until enough intervals. */
  r: number | null;
  intervals: number;
  /**
   * collecting: no correlation yet; off: the monitor's verdict (gainCheck.tracking false: the realised changes ran
   * against the predicted ones beyond their noise; for runs written before it, r <= 0); tracking otherwise.
   */
  state: 'collecting' | 'tracking' | 'off';
  /** The monitor's own verdict when the refresh carries one (null: an older run, judged by the sign of r). */
  verdict: boolean | null;
  text: string;
}

/** What the views say about the gain estimate, from a snapshot. */
export function gainMonitor(s: RunSnapshot): GainMonitorView {
  const r = s.lastRefresh?.gainCorrelation ?? null;
  const intervals = Math.max(0, s.history.length - 1);
  if (r === null || !Number.isFinite(r)) {
    const live = s.status === 'running' || s.status === 'stopping';
    return {
      r: null,
      intervals,
      state: 'collecting',
      verdict: s.lastRefresh?.gainCheck?.tracking ?? null,
      text: live ? 'collecting…' : s.history.length > 0 ? 'too few intervals' : '–',
    };
  }
  // The monitor's noise-aware verdict (gainCheck); runs written before it are judged by the sign of r.
  const verdict = s.lastRefresh?.gainCheck?.tracking ?? null;
  const tracking = verdict ?? r > 0;
  return {
    r,
    intervals,
    verdict,
    state: tracking ? 'tracking' : 'off',
    text: `r = ${r.toFixed(2)} (${intervals} interval${intervals === 1 ? '' : 's'})`,
  };
}

/** Why a correlation <= 0 matters, in a sentence for the views. */
export const GAIN_MONITOR_WARNING =
  'The realised change of the objective runs against the predicted gains of the sampled pairs by more than the validation noise allows, so the sampling distribution P is misled here. Consider a lower learning rate or a more frequent refresh.';

/** A constraint as the views show it (the protocol's Feasibility: the bound, the value reached, whether it holds). */
export interface FeasibilityView {
  constraint: string;
  bound: number;
  value: number;
  met: boolean;
}

/** The constraint a refresh carries (or a finished run's, per split), when the objective has one. */
export function feasibilityOf(x: object | null | undefined): FeasibilityView | undefined {
  const f = (x as { feasibility?: unknown } | null | undefined)?.feasibility as FeasibilityView | undefined;
  return f && typeof f.constraint === 'string' && typeof f.met === 'boolean' ? f : undefined;
}

/** A finished run's constraint at its kept iterate, on validation and test. */
export function finishedFeasibility(f: RunFinishedPayload | null): { val?: FeasibilityView; test?: FeasibilityView } {
  const x = (f as { feasibility?: { val?: object; test?: object } } | null)?.feasibility;
  return { val: feasibilityOf({ feasibility: x?.val }), test: feasibilityOf({ feasibility: x?.test }) };
}

/**
 * A constrained objective's constraint in words ("min coverage 0.081 ≥ 0.095: not met"), or null for an unconstrained
 * one.
 */
export function feasibilityText(f: FeasibilityView | undefined | null): string | null {
  if (!f) return null;
  return `${f.constraint} ${fmt(f.value)} ≥ ${fmt(f.bound)}: ${f.met ? 'met' : 'not met'}`;
}

/**
 * Shows a constraint in a value element (hidden with its label when the objective has none), warning style when not
 * met.
 */
export function showFeasibility(target: HTMLElement, f: FeasibilityView | undefined | null): void {
  const text = feasibilityText(f);
  const wrap = target.parentElement?.classList.contains('fact') ? target.parentElement : null;
  target.hidden = text === null;
  if (wrap) wrap.hidden = text === null;
  else if (target.previousElementSibling) (target.previousElementSibling as HTMLElement).hidden = text === null;
  target.textContent = text ?? '';
  target.dataset.met = f ? String(f.met) : '';
  target.classList.toggle('warn', f ? !f.met : false);
}

/**
 * Appends a labelled value (dt + dd with an id, '–' until set) to a list, in a div of class wrapClass when given;
 * returns the dd.
 */
export function fact(list: HTMLElement, label: string, id: string, wrapClass?: string): HTMLElement {
  const dt = el('dt', undefined, label);
  const dd = el('dd', undefined, '–');
  dd.id = id;
  if (wrapClass) {
    const wrap = el('div', wrapClass);
    wrap.append(dt, dd);
    list.append(wrap);
  } else {
    list.append(dt, dd);
  }
  return dd;
}

/** Shows the gain monitor in a value element: its text, its numbers as data attributes, a warning style when off. */
export function showGainMonitor(target: HTMLElement, gm: GainMonitorView): void {
  target.textContent = gm.text;
  target.dataset.value = gm.r === null ? '' : gm.r.toFixed(4);
  target.dataset.intervals = String(gm.intervals);
  target.dataset.state = gm.state;
  target.dataset.tracking = gm.verdict === null ? '' : String(gm.verdict);
  target.classList.toggle('warn', gm.state === 'off');
}
