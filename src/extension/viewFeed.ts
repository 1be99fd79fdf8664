// What the host posts to its webviews while a run streams events: the run folded into a snapshot with
// applyEvent, and, per view, the events since its last post coalesced into one host/events message, at
// most `updatesPerSecond` a second and with at most MAX_IN_FLIGHT messages the view has not acknowledged
// (view/ack, sent once the page folded a message into its state; it draws at its own rate), so a slow view is
// never flooded: it gets fewer, larger batches (or a fresh snapshot) instead of a backlog. Two in flight, not
// one: the next batch travels while the last is acknowledged, so updates are not spaced by the round trip.
// The latest refresh and the terminal event are never dropped; loss points are thinned and large matrices
// downsampled, so thousands of events a second and K = 1000 stay cheap. Pure: no vscode import, unit-tested.
import { applyEvent, emptySnapshot, MAX_SNAPSHOT_LOGS } from '../protocol/messages';
import type { HostToWebview, RefreshPayload, RunEvent, RunSnapshot, StepPayload } from '../protocol/messages';
import { compactRefresh } from '../protocol/downsample';
import { DurationStats, GapStats } from '../core/gapStats';

/** At most this many messages a view has not acknowledged (drawn) yet. */
export const MAX_IN_FLIGHT = 2;
/** At most this many run/step events go into one coalesced message. */
export const MAX_STEPS_PER_POST = 50;

/** A refresh without its matrices (an older refresh in a batch: only its metrics feed the curves). */
function stripMatrices(p: RefreshPayload): RefreshPayload {
  return { ...p, gain: { K: p.gain.K, data: [] }, distribution: { K: p.distribution.K, data: [] } };
}

/**
 * A refresh's matrices as a webview's message carries them: Float32Array, which VS Code posts as binary (40 KB for a
 * 100 x 100 matrix) where a number array goes as JSON (about 200 KB, written by the extension host and parsed by the
 * workbench, on the thread that also runs the page at K = 100). Float32 is more than the heatmaps' colours and
 * four-digit tooltips need.
 */
export function binaryRefresh(p: RefreshPayload): RefreshPayload {
  const pack = (m: RefreshPayload['gain']): RefreshPayload['gain'] =>
    m.data.length === 0 || m.data instanceof Float32Array ? m : { ...m, data: Float32Array.from(m.data) };
  return { ...p, gain: pack(p.gain), distribution: pack(p.distribution) };
}

/** A snapshot carries the multipliers (K numbers) of at most this many refreshes, evenly spaced, always the last. */
export const MAX_SNAPSHOT_MULTIPLIER_ROWS = 300;

/**
 * The history with the multipliers of at most max refreshes (evenly spaced, always the last; the others null): at
 * K = 1000 with a refresh every few steps the multipliers would be most of a page's embedded state (megabytes of
 * JSON to move and parse before its first paint), and the chart draws at most a few hundred points of them.
 */
export function thinMultipliers(h: RunSnapshot['history'], max = MAX_SNAPSHOT_MULTIPLIER_ROWS): RunSnapshot['history'] {
  const withMult: number[] = [];
  h.forEach((x, i) => {
    if (x.multipliers !== null) withMult.push(i);
  });
  if (withMult.length <= max) return h;
  const keep = new Set(thinEvenly(withMult, max));
  return h.map((x, i) => (x.multipliers === null || keep.has(i) ? x : { ...x, multipliers: null }));
}

/**
 * A snapshot as a view gets it (matrices downsampled, the multipliers of at most a few hundred refreshes); a view
 * that draws no matrix (the sidebar) gets its last refresh without them.
 */
export function compactSnapshot(s: RunSnapshot, matrices = true): RunSnapshot {
  const history = thinMultipliers(s.history);
  const out = history === s.history ? s : { ...s, history };
  if (!out.lastRefresh) return out;
  return { ...out, lastRefresh: matrices ? compactRefresh(out.lastRefresh) : stripMatrices(out.lastRefresh) };
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
  /** Upper bound on messages a second to each view (selmix.dashboard.updatesPerSecond). */
  updatesPerSecond: number;
  clock?: Clock;
  /** A view that has not acknowledged a message for this long gets a fresh snapshot (ms). */
  ackTimeoutMs?: number;
  /** Called when a view is resynchronised that way (the run's log says so). */
  onStall?: (id: string, ackTimeoutMs: number) => void;
}

/** Events waiting for one view, already coalesced. */
interface Pending {
  started: RunEvent | null;
  /** The latest run/stage (only the newest matters: it replaces the one before). */
  stage: RunEvent | null;
  /** run/log events (the dashboard lists them; the gain monitor's warning comes this way). */
  logs: RunEvent[];
  refreshes: RefreshPayload[];
  steps: StepPayload[];
  /** The latest run/refreshing since the last step or refresh (an older one, or one they ended, is dropped). */
  refreshing: RunEvent | null;
  terminal: RunEvent | null;
}

/** More waiting refreshes than this and the view gets a snapshot instead (bounds memory for a stalled view). */
const MAX_PENDING_REFRESHES = 200;

/** One view as the feed sees it. */
interface Channel {
  id: string;
  post: (msg: HostToWebview) => void;
  /** Whether the view draws G and P: a view that does not (the sidebar) gets its refreshes without them. */
  matrices: boolean;
  /** At most this many posts a second to this view, below the feed's own rate (null: the feed's rate). */
  maxPerSecond: number | null;
  ready: boolean;
  /** Messages posted and not yet acknowledged. */
  inFlight: number;
  needsSnapshot: boolean;
  pending: Pending;
  lastPost: number;
  /** When the last post that carried a new step left (steps are paced on their own: see schedule). */
  lastStepPost: number;
  /** The next post's timer, or (the view owing MAX_IN_FLIGHT acks) the moment it counts as stalled: see schedule. */
  timer: unknown;
  /** When each unacknowledged message was posted, oldest first (acks come in order). */
  postTimes: number[];
  /** When the oldest step not yet posted to this view arrived (null: none waits). */
  stepSince: number | null;
}

/** What the run's log says about one view: how often it got a new step, how long steps waited, how soon it acked. */
interface ViewStats {
  stepPosts: GapStats;
  stepWait: DurationStats;
  ack: DurationStats;
  /** Times it owed its acks for ackTimeoutMs and was resynchronised with a snapshot. */
  stalls: number;
}

const emptyPending = (): Pending => ({
  started: null,
  stage: null,
  logs: [],
  refreshes: [],
  steps: [],
  refreshing: null,
  terminal: null,
});
const hasPending = (p: Pending): boolean =>
  p.started !== null ||
  p.stage !== null ||
  p.logs.length > 0 ||
  p.refreshes.length > 0 ||
  p.steps.length > 0 ||
  p.refreshing !== null ||
  p.terminal !== null;

/** Folds run events into the host's snapshot and feeds each view, coalesced, rate-limited and acknowledged. */
export class ViewFeed {
  private snap: RunSnapshot = emptySnapshot();
  private readonly views = new Map<string, Channel>();
  private intervalMs: number;
  private readonly clock: Clock;
  private readonly ackTimeoutMs: number;
  private readonly onStall: ((id: string, ackTimeoutMs: number) => void) | undefined;
  /**
   * The clock's time when the newest refresh arrived (null: none yet); sent to the views so they can measure their
   * latency.
   */
  private refreshAt: number | null = null;
  /**
   * Per view since the run started (closed views included): the gaps between posts that brought it a new step, how
   * long a step waited here before its post, and how long after a post its ack came (the run's log says).
   */
  private readonly stats = new Map<string, ViewStats>();

  constructor(opts: ViewFeedOptions) {
    this.clock = opts.clock ?? realClock;
    this.intervalMs = ViewFeed.interval(opts.updatesPerSecond);
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.onStall = opts.onStall;
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

  /** The snapshot a page embeds for its first paint (matrices downsampled, or none for a view that draws none). */
  bootstrapSnapshot(matrices = true): RunSnapshot {
    return compactSnapshot(this.snap, matrices);
  }

  /**
   * Registers a view; it gets nothing until viewReady. matrices false: a view that draws no matrix (the sidebar) is
   * posted every refresh without G and P (80 KB a refresh at K = 100 and up that it would only discard). maxPerSecond:
   * a lower rate for this view than the feed's (the sidebar: every view's page shares the workbench's thread in a
   * browser, so a summary drawn ten times a second takes time from the dashboard).
   */
  addView(
    id: string,
    post: (msg: HostToWebview) => void,
    { matrices = true, maxPerSecond = null }: { matrices?: boolean; maxPerSecond?: number | null } = {},
  ): void {
    this.views.set(id, {
      id,
      post,
      matrices,
      maxPerSecond,
      ready: false,
      inFlight: 0,
      needsSnapshot: false,
      pending: emptyPending(),
      lastPost: Number.NEGATIVE_INFINITY,
      lastStepPost: Number.NEGATIVE_INFINITY,
      timer: null,
      postTimes: [],
      stepSince: null,
    });
  }

  /** Forgets a view (disposed). */
  removeView(id: string): void {
    const ch = this.views.get(id);
    if (ch) this.clearTimer(ch);
    this.views.delete(id);
  }

  /**
   * Per view since the run started, in words: how often it was posted a new step, how long a step waited for its
   * post, how soon the view acknowledged a post, and how often it stopped acknowledging (then it got a snapshot).
   */
  describeStepPosts(): string {
    return (
      [...this.stats]
        .map(
          ([id, v]) =>
            `${id} ${v.stepPosts.describe()} (a step waited here ${v.stepWait.describe()}; acks ${v.ack.describe()} after their post${v.stalls > 0 ? `; resynchronised ${v.stalls === 1 ? 'once' : `${v.stalls} times`} after ${this.ackTimeoutMs} ms without an ack` : ''})`,
        )
        .join('; ') || 'no view'
    );
  }

  private statsOf(id: string): ViewStats {
    let v = this.stats.get(id);
    if (!v)
      this.stats.set(
        id,
        (v = { stepPosts: new GapStats(), stepWait: new DurationStats(), ack: new DurationStats(), stalls: 0 }),
      );
    return v;
  }

  /** Whether a view whose id starts with prefix (a kind: 'dashboard') has its page loaded now. */
  isReady(prefix: string): boolean {
    for (const ch of this.views.values()) if (ch.ready && ch.id.startsWith(prefix)) return true;
    return false;
  }

  /**
   * Resolves at the next view/ready of a view whose id starts with prefix, or after timeoutMs (the clock's), whichever
   * comes first; true when the view said so.
   */
  nextReady(prefix: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter = { prefix, resolve, timer: null as unknown };
      waiter.timer = this.clock.setTimeout(() => {
        this.readyWaiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.readyWaiters.add(waiter);
    });
  }

  private readonly readyWaiters = new Set<{ prefix: string; resolve: (ok: boolean) => void; timer: unknown }>();

  /** The view said view/ready (its page loaded): it starts from a snapshot. */
  viewReady(id: string): void {
    for (const w of this.readyWaiters)
      if (id.startsWith(w.prefix)) {
        this.readyWaiters.delete(w);
        this.clock.clearTimeout(w.timer);
        w.resolve(true);
      }
    const ch = this.views.get(id);
    if (!ch) return;
    this.clearTimer(ch);
    ch.ready = true;
    ch.needsSnapshot = true;
    ch.inFlight = 0;
    ch.postTimes = [];
    this.send(ch);
  }

  /** The view was hidden (its page is unloaded until shown again, when it says view/ready). */
  viewHidden(id: string): void {
    const ch = this.views.get(id);
    if (!ch) return;
    this.clearTimer(ch);
    ch.ready = false;
    ch.pending = emptyPending();
    ch.stepSince = null;
  }

  /** The view said view/ack: it took in a message and may get the next. */
  viewAck(id: string): void {
    const ch = this.views.get(id);
    if (!ch) return;
    ch.inFlight = Math.max(0, ch.inFlight - 1);
    const posted = ch.postTimes.shift();
    if (posted !== undefined) this.statsOf(id).ack.add(this.clock.now() - posted);
    // Whatever the timer waited for is decided afresh: a stall that will not come, or the same rate limit.
    this.clearTimer(ch);
    this.schedule(ch);
  }

  /** Folds one event in and queues it for every ready view. */
  push(e: RunEvent): void {
    const wasLive = this.snap.status === 'running' || this.snap.status === 'stopping';
    this.snap = applyEvent(this.snap, e);
    // A run/stage that starts a new run replaces whatever a view had pending from the previous one.
    const fresh = e.type === 'run/stage' && !wasLive;
    if (fresh) this.stats.clear();
    if (e.type === 'run/checkpoint') return; // the views do not draw these
    if (e.type === 'run/refresh') this.refreshAt = this.clock.now();
    else if (e.type === 'run/started') this.refreshAt = null;
    for (const ch of this.views.values()) {
      if (!ch.ready) continue;
      if (fresh) ch.pending = { ...emptyPending(), stage: e };
      else if (!ch.needsSnapshot) queue(ch, e);
      if (e.type === 'run/step' && ch.stepSince === null) ch.stepSince = this.clock.now();
      this.schedule(ch);
    }
  }

  /** Replaces the whole state (a run loaded from its report, or "stopping") and sends it to every ready view. */
  reset(snapshot: RunSnapshot): void {
    if (snapshot.lastRefresh !== this.snap.lastRefresh) this.refreshAt = null;
    this.snap = snapshot;
    for (const ch of this.views.values()) {
      if (!ch.ready) continue;
      ch.needsSnapshot = true;
      ch.pending = emptyPending();
      this.schedule(ch);
    }
  }

  /** Sends what is pending to every view that may receive now, ignoring the rate limit (tests, shutdown). */
  flush(): void {
    for (const ch of this.views.values()) {
      this.clearTimer(ch);
      if (ch.ready && ch.inFlight < MAX_IN_FLIGHT && (ch.needsSnapshot || hasPending(ch.pending))) this.send(ch);
    }
  }

  /** Stops every timer. */
  dispose(): void {
    for (const ch of this.views.values()) this.clearTimer(ch);
  }

  private clearTimer(ch: Channel): void {
    if (ch.timer !== null) {
      this.clock.clearTimeout(ch.timer);
      ch.timer = null;
    }
  }

  private schedule(ch: Channel): void {
    if (!ch.ready || ch.timer !== null) return;
    if (!ch.needsSnapshot && !hasPending(ch.pending)) return;
    const now = this.clock.now();
    if (ch.inFlight >= MAX_IN_FLIGHT) {
      // A view that stopped acknowledging (its page went away unnoticed) is resynchronised with a snapshot. Come back
      // when it counts as stalled: after the run's last event nothing else would, and the view would keep showing a
      // finished run as running.
      const stalledIn = ch.lastPost + this.ackTimeoutMs - now;
      if (stalledIn > 0) {
        ch.timer = this.clock.setTimeout(() => {
          ch.timer = null;
          this.schedule(ch);
        }, stalledIn);
        return;
      }
      this.statsOf(ch.id).stalls++;
      this.onStall?.(ch.id, this.ackTimeoutMs);
      ch.inFlight = 0;
      ch.postTimes = [];
      ch.needsSnapshot = true;
      ch.pending = emptyPending();
    }
    // A new step waits for the rate limit counted from the last post that carried one, not from any post: at K = 1000
    // a refresh's own post came 40 ms before the next step, which then waited 60 ms more (a step waited p50 87 ms
    // here in the e2e). Other posts keep the limit from any post, so a view gets at most two messages an interval.
    const since = !ch.needsSnapshot && ch.pending.steps.length > 0 ? ch.lastStepPost : ch.lastPost;
    const interval =
      ch.maxPerSecond === null ? this.intervalMs : Math.max(this.intervalMs, ViewFeed.interval(ch.maxPerSecond));
    const wait = since + interval - now;
    if (wait <= 0) {
      this.send(ch);
      return;
    }
    ch.timer = this.clock.setTimeout(() => {
      ch.timer = null;
      if (ch.ready && ch.inFlight < MAX_IN_FLIGHT) this.send(ch);
    }, wait);
  }

  private send(ch: Channel): void {
    let msg: Exclude<HostToWebview, { type: 'host/runs' }>;
    if (ch.needsSnapshot) {
      const snapshot = compactSnapshot(this.snap, ch.matrices);
      msg = {
        type: 'host/snapshot',
        // A view without matrices got its last refresh stripped by compactSnapshot: binaryRefresh leaves it so.
        snapshot: snapshot.lastRefresh ? { ...snapshot, lastRefresh: binaryRefresh(snapshot.lastRefresh) } : snapshot,
        ...(this.snap.lastRefresh && this.refreshAt !== null ? { refreshAt: this.refreshAt } : {}),
      };
    } else {
      const p = ch.pending;
      if (!hasPending(p)) return;
      const events: RunEvent[] = [];
      if (p.started) events.push(p.started);
      if (p.stage) events.push(p.stage);
      events.push(...p.logs);
      const last = p.refreshes.length - 1;
      p.refreshes.forEach((r, i) =>
        events.push({
          type: 'run/refresh',
          payload: !ch.matrices ? stripMatrices(r) : i === last ? binaryRefresh(compactRefresh(r)) : r,
        }),
      );
      for (const s of thinEvenly(p.steps, MAX_STEPS_PER_POST)) events.push({ type: 'run/step', payload: s });
      if (p.refreshing) events.push(p.refreshing);
      if (p.terminal) events.push(p.terminal);
      msg = {
        type: 'host/events',
        events,
        ...(p.refreshes.length > 0 && this.refreshAt !== null ? { refreshAt: this.refreshAt } : {}),
      };
    }
    ch.needsSnapshot = false;
    ch.pending = emptyPending();
    ch.inFlight++;
    ch.lastPost = this.clock.now();
    msg.postedAt = ch.lastPost;
    ch.postTimes.push(ch.lastPost);
    if (msg.type === 'host/snapshot' ? msg.snapshot.lastStep !== null : msg.events.some((e) => e.type === 'run/step')) {
      const v = this.statsOf(ch.id);
      ch.lastStepPost = ch.lastPost;
      v.stepPosts.record(ch.lastPost);
      if (ch.stepSince !== null) v.stepWait.add(ch.lastPost - ch.stepSince);
      ch.stepSince = null;
    }
    ch.post(msg);
  }
}

/** Adds an event to a view's pending batch, coalescing as it goes. */
function queue(ch: Channel, e: RunEvent): void {
  const p = ch.pending;
  switch (e.type) {
    case 'run/started':
      ch.pending = { ...emptyPending(), started: e };
      break;
    case 'run/stage':
      p.stage = e;
      break;
    case 'run/refreshing':
      p.refreshing = e;
      break;
    case 'run/step':
      p.refreshing = null;
      p.steps.push(e.payload);
      if (p.steps.length > 20 * MAX_STEPS_PER_POST) p.steps = thinEvenly(p.steps, MAX_STEPS_PER_POST);
      break;
    case 'run/refresh': {
      p.refreshing = null;
      const prev = p.refreshes.length - 1;
      if (prev >= 0) p.refreshes[prev] = stripMatrices(p.refreshes[prev]!);
      p.refreshes.push(e.payload);
      if (p.refreshes.length > MAX_PENDING_REFRESHES) {
        ch.needsSnapshot = true;
        ch.pending = emptyPending();
      }
      break;
    }
    case 'run/log':
      p.logs.push(e);
      if (p.logs.length > MAX_SNAPSHOT_LOGS) p.logs = p.logs.slice(-MAX_SNAPSHOT_LOGS);
      break;
    case 'run/finished':
    case 'run/failed':
      p.refreshing = null;
      p.terminal = e;
      break;
    case 'run/checkpoint':
      break;
  }
}
