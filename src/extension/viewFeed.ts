// What the host posts to its webviews while a run streams events: the run folded into a snapshot with
// applyEvent, and the events since the last post coalesced into one host/events message at most
// `updatesPerSecond` times a second. The latest refresh and the terminal event are never dropped; loss
// points are thinned and large matrices downsampled, so thousands of events a second and K = 1000 stay
// cheap for the views. Pure: no vscode import, unit-tested under Node.
import { applyEvent, emptySnapshot } from '../protocol/messages';
import type { FlatMatrix, HostToWebview, RefreshPayload, RunEvent, RunSnapshot, StepPayload } from '../protocol/messages';

/** Matrices larger than this per side are downsampled before they reach a view. */
export const MAX_VIEW_SIDE = 100;
/** At most this many run/step events go into one coalesced message. */
export const MAX_STEPS_PER_POST = 50;

/** How a tile of a downsampled matrix is summarised. */
export type BlockReduce = 'maxAbs' | 'sum';

/** Downsamples a K x K matrix to at most maxSide per side by block x block tiles (block = ceil(K / maxSide)). */
export function downsampleMatrix(m: FlatMatrix, reduce: BlockReduce, maxSide = MAX_VIEW_SIDE): FlatMatrix {
  const K = m.K;
  if (K <= maxSide || m.data.length !== K * K) return m;
  const block = Math.ceil(K / maxSide);
  const n = Math.ceil(K / block);
  const out = new Array<number>(n * n).fill(0);
  for (let i = 0; i < K; i++) {
    const bi = Math.floor(i / block) * n;
    const row = i * K;
    for (let j = 0; j < K; j++) {
      const v = m.data[row + j]!;
      const c = bi + Math.floor(j / block);
      if (reduce === 'sum') out[c]! += v;
      else if (Math.abs(v) > Math.abs(out[c]!)) out[c] = v;
    }
  }
  return { K: n, data: out, block };
}

/** A refresh as a view gets it: G and P downsampled when K is large. */
export function compactRefresh(p: RefreshPayload): RefreshPayload {
  return { ...p, gain: downsampleMatrix(p.gain, 'maxAbs'), distribution: downsampleMatrix(p.distribution, 'sum') };
}

/** A refresh without its matrices (an older refresh in a batch: only its metrics feed the curves). */
function stripMatrices(p: RefreshPayload): RefreshPayload {
  return { ...p, gain: { K: p.gain.K, data: [] }, distribution: { K: p.distribution.K, data: [] } };
}

/** A snapshot as a view gets it (matrices downsampled). */
export function compactSnapshot(s: RunSnapshot): RunSnapshot {
  return s.lastRefresh ? { ...s, lastRefresh: compactRefresh(s.lastRefresh) } : s;
}

/** Keeps at most max items, evenly spaced, always the last. */
export function thinEvenly<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const out: T[] = [];
  const stride = xs.length / max;
  for (let k = max - 1; k >= 0; k--) out.push(xs[xs.length - 1 - Math.floor(k * stride)]!);
  return out;
}

/** Timer functions, injectable so tests run on a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Options of a ViewFeed. */
export interface ViewFeedOptions {
  /** Upper bound on host/events messages a second (selmix.dashboard.updatesPerSecond). */
  updatesPerSecond: number;
  /** Delivers a message to every ready view. */
  post: (msg: HostToWebview) => void;
  clock?: Clock;
}

/** Folds run events into the host's snapshot and posts them to the views, coalesced and rate-limited. */
export class ViewFeed {
  private snap: RunSnapshot = emptySnapshot();
  private started: RunEvent | null = null;
  private refreshes: RefreshPayload[] = [];
  private steps: StepPayload[] = [];
  private terminal: RunEvent | null = null;
  private lastPost = Number.NEGATIVE_INFINITY;
  private timer: unknown = null;
  private intervalMs: number;
  private readonly clock: Clock;

  constructor(private readonly opts: ViewFeedOptions) {
    this.clock = opts.clock ?? realClock;
    this.intervalMs = ViewFeed.interval(opts.updatesPerSecond);
  }

  private static interval(perSecond: number): number {
    return 1000 / (Number.isFinite(perSecond) && perSecond > 0 ? Math.min(perSecond, 60) : 10);
  }

  /** Changes the rate limit (the setting changed). */
  setUpdatesPerSecond(perSecond: number): void {
    this.intervalMs = ViewFeed.interval(perSecond);
  }

  /** The full-resolution snapshot of everything pushed so far. */
  get snapshot(): RunSnapshot {
    return this.snap;
  }

  /** Folds one event in and schedules a post. */
  push(e: RunEvent): void {
    this.snap = applyEvent(this.snap, e);
    switch (e.type) {
      case 'run/started':
        this.started = e;
        this.refreshes = [];
        this.steps = [];
        this.terminal = null;
        break;
      case 'run/step':
        this.steps.push(e.payload);
        // Bound the queue when no post happens for a while (views hidden, rate very low).
        if (this.steps.length > 20 * MAX_STEPS_PER_POST) this.steps = thinEvenly(this.steps, MAX_STEPS_PER_POST);
        break;
      case 'run/refresh': {
        const prev = this.refreshes.length - 1;
        if (prev >= 0) this.refreshes[prev] = stripMatrices(this.refreshes[prev]!);
        this.refreshes.push(e.payload);
        break;
      }
      case 'run/finished':
      case 'run/failed':
        this.terminal = e;
        break;
      case 'run/checkpoint':
      case 'run/log':
        return; // the views do not draw these
    }
    this.schedule();
  }

  /** Replaces the whole state (a run loaded from its report) and posts it to every view. */
  reset(snapshot: RunSnapshot): void {
    this.clearPending();
    this.snap = snapshot;
    this.opts.post({ type: 'host/snapshot', snapshot: compactSnapshot(snapshot) });
  }

  /** Posts what is pending now, then returns the snapshot a newly ready view should start from. */
  snapshotForNewView(): RunSnapshot {
    this.flush();
    return compactSnapshot(this.snap);
  }

  /** True when events wait to be posted. */
  get hasPending(): boolean {
    return this.started !== null || this.refreshes.length > 0 || this.steps.length > 0 || this.terminal !== null;
  }

  /** Posts everything pending as one host/events message, bypassing the rate limit. */
  flush(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.hasPending) return;
    const events: RunEvent[] = [];
    if (this.started) events.push(this.started);
    const last = this.refreshes.length - 1;
    this.refreshes.forEach((p, i) => events.push({ type: 'run/refresh', payload: i === last ? compactRefresh(p) : p }));
    for (const p of thinEvenly(this.steps, MAX_STEPS_PER_POST)) events.push({ type: 'run/step', payload: p });
    if (this.terminal) events.push(this.terminal);
    this.clearPending();
    this.lastPost = this.clock.now();
    this.opts.post({ type: 'host/events', events });
  }

  /** Posts what is pending and stops the timer. */
  dispose(): void {
    this.flush();
  }

  private clearPending(): void {
    this.started = null;
    this.refreshes = [];
    this.steps = [];
    this.terminal = null;
  }

  private schedule(): void {
    if (this.timer !== null) return;
    const wait = this.lastPost + this.intervalMs - this.clock.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }
}
