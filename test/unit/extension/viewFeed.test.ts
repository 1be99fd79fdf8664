import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compactSnapshot,
  MAX_IN_FLIGHT,
  MAX_SNAPSHOT_MULTIPLIER_ROWS,
  thinEvenly,
  thinMultipliers,
  ViewFeed,
} from '../../../src/extension/viewFeed';
import type { Clock } from '../../../src/extension/viewFeed';
import { applyEvent, emptySnapshot } from '../../../src/protocol/messages';
import type { HostToWebview, MetricsReport, RefreshPayload, RunEvent } from '../../../src/protocol/messages';
import { compactRefresh } from '../../../src/protocol/downsample';

/** A fake clock: timers fire when advance() passes them. */
function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (h) => {
      timers = timers.filter((t) => t.id !== h);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
  };
}

function metrics(K: number, r: number): MetricsReport {
  const recall = Array.from({ length: K }, () => r);
  return {
    accuracy: r,
    meanRecall: r,
    minRecall: r,
    maxRecall: r,
    gMean: r,
    hMean: r,
    headRecall: r,
    tailRecall: r,
    minHeadTailRecall: r,
    minCoverage: 0,
    headCoverage: 0,
    tailCoverage: 0,
    recall,
    coverage: recall,
    support: recall.map(() => 10),
  };
}
const matrices = new Map<number, { gain: number[]; dist: number[] }>();
function refresh(step: number, K: number): RefreshPayload {
  if (!matrices.has(K))
    matrices.set(K, {
      gain: Array.from({ length: K * K }, (_, i) => Math.sin(i)),
      dist: new Array<number>(K * K).fill(1 / (K * K)),
    });
  const { gain, dist } = matrices.get(K)!;
  return {
    step,
    objective: 'minRecall',
    objectiveValue: step / 1e4,
    val: metrics(K, step / 1e4),
    multipliers: null,
    gain: { K, data: gain },
    distribution: { K, data: dist },
    maxGain: 1,
  };
}
const started = (K: number): RunEvent => ({
  type: 'run/started',
  payload: {
    runId: 'r',
    name: 'n',
    objective: 'minRecall',
    K,
    classNames: Array.from({ length: K }, (_, i) => `c${i}`),
    totalSteps: 10_000,
    backend: 'cpu',
    outputDir: '/o',
    mode: 'finetune',
    notes: [],
  },
});
const step = (s: number): RunEvent => ({
  type: 'run/step',
  payload: { step: s, totalSteps: 10_000, loss: 1 / s, lr: 0.01, msPerStep: 0.1 },
});

test('thinEvenly keeps the last item and at most max', () => {
  const xs = Array.from({ length: 1000 }, (_, i) => i);
  const t = thinEvenly(xs, 50);
  assert.equal(t.length, 50);
  assert.equal(t.at(-1), 999);
  assert.deepEqual(thinEvenly([1, 2], 50), [1, 2]);
});

/** A view that acknowledges every message at once (a fast page). */
function fastView(feed: ViewFeed, posts: HostToWebview[], id = 'v'): void {
  feed.addView(id, (m) => {
    posts.push(m);
    queueMicrotask(() => feed.viewAck(id));
  });
  feed.viewReady(id);
}
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('coalesces a flood of events to the rate limit, keeping every refresh for the curves, the latest matrices and the terminal event', async () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  fastView(feed, posts);
  await settle();
  assert.equal(posts[0]?.type, 'host/snapshot', 'a ready view starts from a snapshot');
  const K = 1000;
  refresh(0, K); // build the test matrices outside the timing
  feed.push(started(K));
  // 10,000 steps over 2 s of fake time (5,000 events a second), a K = 1000 refresh every 200 steps.
  for (let s = 1; s <= 10_000; s++) {
    feed.push(step(s));
    if (s % 200 === 0) feed.push({ type: 'run/refresh', payload: refresh(s, K) });
    if (s % 5 === 0) {
      clock.advance(1);
      await settle();
    }
  }
  feed.push({
    type: 'run/finished',
    payload: {
      runId: 'r',
      outputDir: '/o',
      reportPath: '/o/r.json',
      stoppedBy: 'steps',
      steps: 10_000,
      objective: 'minRecall',
      before: { objectiveValue: 0, val: metrics(K, 0) },
      after: { objectiveValue: 1, val: metrics(K, 1) },
      bestStep: 10_000,
      wallSeconds: 2,
    },
  });
  for (let i = 0; i < 10; i++) {
    clock.advance(100);
    await settle();
  }
  // 2 s of fake time at 10 a second: about 20 batches (plus the snapshot and the trailing terminal).
  assert.ok(posts.length <= 24, `posted ${posts.length} messages`);
  const events = posts.flatMap((p) => (p.type === 'host/events' ? p.events : []));
  assert.equal(events.at(-1)?.type, 'run/finished');
  assert.equal(events.filter((e) => e.type === 'run/finished').length, 1);
  const refreshes = events.filter((e) => e.type === 'run/refresh');
  assert.equal(refreshes.length, 50);
  const last = refreshes.at(-1)!;
  assert.equal(last.type === 'run/refresh' && last.payload.step, 10_000);
  assert.equal(last.type === 'run/refresh' && last.payload.gain.K, 100);
  assert.equal(last.type === 'run/refresh' && last.payload.gain.block, 10);
  for (const p of posts) {
    if (p.type !== 'host/events') continue;
    assert.ok(p.events.filter((e) => e.type === 'run/refresh' && e.payload.gain.data.length > 0).length <= 1);
    assert.ok(p.events.filter((e) => e.type === 'run/step').length <= 50);
    assert.ok(JSON.stringify(p).length < 1_000_000);
  }
  assert.equal(feed.snapshot.lastRefresh?.gain.K, 1000, 'the host keeps full resolution');
  assert.equal(feed.snapshot.status, 'finished');
  assert.equal(feed.snapshot.history.length, 50);
});

test('a view that does not acknowledge gets at most MAX_IN_FLIGHT messages until it does, then one coalesced batch', () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  feed.addView('slow', (m) => posts.push(m));
  feed.push(started(10));
  assert.equal(posts.length, 0, 'nothing before view/ready');
  feed.viewReady('slow');
  assert.equal(posts.length, 1);
  assert.equal(posts[0]?.type, 'host/snapshot');
  for (let s = 1; s <= 500; s++) {
    feed.push(step(s));
    if (s % 20 === 0) feed.push({ type: 'run/refresh', payload: refresh(s, 10) });
    clock.advance(10);
  }
  assert.equal(MAX_IN_FLIGHT, 2);
  assert.equal(posts.length, 2, 'no ack: the snapshot and one batch, nothing more');
  const second = posts[1]!;
  assert.equal(second.type, 'host/events');
  assert.ok(second.type === 'host/events' && second.events.every((e) => e.type === 'run/step'));
  feed.viewAck('slow');
  assert.equal(posts.length, 3);
  const batch = posts[2]!;
  assert.equal(batch.type, 'host/events');
  // Each post says when it left (the host's clock), so the page can tell how long it travelled. The first step goes
  // out at once: the snapshot before it carried none.
  assert.deepEqual(
    posts.map((m) => (m.type === 'host/runs' ? null : m.postedAt)),
    [0, 0, 5000],
  );
  const ev = batch.type === 'host/events' ? batch.events : [];
  assert.equal(ev.filter((e) => e.type === 'run/refresh').length, 25);
  assert.equal(ev.filter((e) => e.type === 'run/step').length, 50);
  assert.equal(ev.filter((e) => e.type === 'run/refresh' && e.payload.gain.data.length > 0).length, 1);
});

test("a new step waits for the rate limit from the last post with a step, not from a refresh's post just before it", () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  feed.addView('v', (m) => {
    posts.push(m);
    feed.viewAck('v');
  });
  feed.push(started(1000));
  feed.viewReady('v');
  const at = (): number[] => posts.map((m) => (m.type === 'host/runs' ? -1 : m.postedAt!));
  // K = 1000's rhythm: a step right before a refresh, the refresh 170 ms later, ten quick steps, the next step event.
  clock.advance(1000);
  feed.push(step(10));
  clock.advance(170);
  feed.push({ type: 'run/refresh', payload: refresh(10, 1000) });
  clock.advance(40);
  feed.push(step(20));
  assert.deepEqual(at(), [0, 1000, 1170, 1210], 'the step at 1210 goes out at once (before: at 1270)');
  // Steps alone stay at the rate limit: one more 30 ms later waits until 100 ms after the last step's post.
  clock.advance(30);
  feed.push(step(21));
  assert.equal(posts.length, 4);
  clock.advance(70);
  assert.deepEqual(at().slice(4), [1310]);
  // Anything else waits 100 ms from any post: a refresh 20 ms after that step goes out at 1410.
  clock.advance(20);
  feed.push({ type: 'run/refresh', payload: refresh(21, 1000) });
  clock.advance(79);
  assert.equal(posts.length, 5);
  clock.advance(1);
  assert.deepEqual(at().slice(5), [1410]);
});

test('a refresh under way reaches a view as its latest run/refreshing, after the steps; a later step or refresh drops it', () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  feed.addView('v', (m) => posts.push(m));
  feed.push(started(10));
  feed.viewReady('v');
  feed.viewAck('v');
  const refreshing = (phase: 'validation' | 'gains', done: number): RunEvent => ({
    type: 'run/refreshing',
    payload: { step: 20, phase, done, total: 400 },
  });
  // The events the view got since the last call, every post acknowledged.
  let seen = posts.length;
  const batch = (): RunEvent[] => {
    clock.advance(200);
    const got = posts.slice(seen).flatMap((m) => {
      feed.viewAck('v');
      return m.type === 'host/events' ? m.events : [];
    });
    seen = posts.length;
    return got;
  };
  // Steps, then a refresh's parts: the steps, and of the parts the newest alone, last.
  feed.push(step(19));
  feed.push(step(20));
  feed.push(refreshing('validation', 0));
  feed.push(refreshing('validation', 256));
  feed.push(refreshing('gains', 0));
  assert.deepEqual(
    batch().map((e) => (e.type === 'run/refreshing' ? `refreshing ${e.payload.phase}` : e.type)),
    ['run/step', 'run/step', 'refreshing gains'],
  );
  assert.equal(feed.snapshot.refreshing?.phase, 'gains');
  // A step goes out at once (the rate limit allows it); within the limit a refresh starts and ends and a step
  // follows: the view gets no stale run/refreshing.
  feed.push(step(20));
  feed.push(refreshing('validation', 0));
  feed.push({ type: 'run/refresh', payload: refresh(20, 10) });
  feed.push(step(21));
  assert.deepEqual(
    batch().map((e) => e.type),
    ['run/step', 'run/refresh', 'run/step'],
  );
  assert.equal(feed.snapshot.refreshing, null);
});

/** A feed (acks due within 1 s) with one ready view and a run's start pushed: it owes two acks. */
function streamingView(clock: Clock, id = 'v'): { feed: ViewFeed; posts: HostToWebview[]; stalls: [string, number][] } {
  const posts: HostToWebview[] = [];
  const stalls: [string, number][] = [];
  const feed = new ViewFeed({
    updatesPerSecond: 10,
    clock,
    ackTimeoutMs: 1000,
    onStall: (view, ms) => stalls.push([view, ms]),
  });
  feed.addView(id, (m) => posts.push(m));
  feed.viewReady(id);
  feed.push(started(10));
  return { feed, posts, stalls };
}

test('a stalled view is resynchronised with a snapshot, and too long a backlog becomes a snapshot', () => {
  const clock = fakeClock();
  const { feed, posts } = streamingView(clock);
  clock.advance(2000);
  assert.equal(posts.length, 2, 'the snapshot and the started event, both unacknowledged');
  feed.push(step(1));
  assert.equal(posts.length, 3);
  assert.equal(posts[2]?.type, 'host/snapshot', 'no ack for 2 s: a fresh snapshot');
  feed.viewAck('v');
  for (let s = 1; s <= 300; s++) feed.push({ type: 'run/refresh', payload: refresh(s, 10) });
  clock.advance(200);
  const lastPost = posts.at(-1)!;
  assert.equal(posts.length, 4);
  assert.equal(lastPost.type, 'host/snapshot', 'a backlog over the bound is replaced by a snapshot');
  assert.equal(lastPost.type === 'host/snapshot' && lastPost.snapshot.history.length, 300);
});

test('hidden views get nothing; reset sends a snapshot to ready views', () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  feed.addView('v', (m) => posts.push(m));
  feed.viewReady('v');
  feed.viewAck('v');
  feed.viewHidden('v');
  feed.push(started(10));
  clock.advance(1000);
  assert.equal(posts.length, 1);
  feed.viewReady('v');
  assert.equal(posts.length, 2);
  feed.viewAck('v');
  feed.reset({ ...feed.snapshot, status: 'stopping' });
  clock.advance(1000);
  assert.equal(posts.at(-1)?.type, 'host/snapshot');
  assert.equal((posts.at(-1) as { snapshot: { status: string } }).snapshot.status, 'stopping');
  feed.push({ type: 'run/checkpoint', payload: { step: 1, path: '/c', best: false } });
  feed.viewAck('v');
  clock.advance(1000);
  assert.equal(posts.length, 3, 'checkpoints do not reach the views');
  feed.push({ type: 'run/log', payload: { level: 'warn', message: 'the first-order gain estimate is not tracking' } });
  clock.advance(1000);
  assert.equal(posts.length, 4, 'logs reach the views (the gain monitor warns through run/log)');
  assert.deepEqual(
    (posts.at(-1) as { events: RunEvent[] }).events.map((e) => e.type),
    ['run/log'],
  );
  assert.equal(feed.snapshot.logs?.at(-1)?.level, 'warn');
  assert.equal(feed.bootstrapSnapshot().status, 'stopping');
});

test("each stage of a run (pre-training, then fine-tuning) resets every view from its first event, over the previous run's G and P", async () => {
  const clock = fakeClock();
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  const fast: HostToWebview[] = [];
  fastView(feed, fast, 'fast');
  // A slow view: it never acknowledges, so its events pile up until its ack timeout resynchronises it.
  const slow: HostToWebview[] = [];
  feed.addView('slow', (m) => slow.push(m));
  feed.viewReady('slow');
  await settle();
  /** What a page holds after folding every message it got (as webview/common.ts does). */
  const pageState = (posts: HostToWebview[]) =>
    posts.reduce(
      (s, m) =>
        m.type === 'host/snapshot' ? m.snapshot : m.type === 'host/events' ? m.events.reduce(applyEvent, s) : s,
      emptySnapshot(),
    );
  const stage = (mode: 'pretrain' | 'finetune', name: string): RunEvent => {
    const e = started(4);
    return e.type === 'run/started'
      ? { type: 'run/started', payload: { ...e.payload, mode, name, totalSteps: mode === 'pretrain' ? 500 : 300 } }
      : e;
  };
  // The previous run: a refresh with G and P on screen.
  feed.push(stage('finetune', 'previous run'));
  feed.push({ type: 'run/refresh', payload: refresh(10, 4) });
  clock.advance(200);
  await settle();
  assert.equal(pageState(fast).lastRefresh?.gain.data.length, 16);
  // The demo: pre-training first.
  feed.push(stage('pretrain', 'demo: pre-training'));
  clock.advance(200);
  await settle();
  let s = pageState(fast);
  assert.equal(s.started?.mode, 'pretrain');
  assert.equal(s.started?.name, 'demo: pre-training');
  assert.equal(s.status, 'running');
  assert.equal(s.lastRefresh, null, 'no G or P of the previous run');
  assert.deepEqual(s.history, []);
  const lastBatch = fast.at(-1)!;
  assert.ok(
    lastBatch.type === 'host/events' && lastBatch.events[0]?.type === 'run/started',
    "the stage's first event leads its batch",
  );
  for (let i = 1; i <= 20; i++) feed.push(step(i));
  clock.advance(200);
  await settle();
  assert.equal(pageState(fast).lastStep?.step, 20);
  // Then fine-tuning: a second run/started, whose batch must not carry the pre-training's steps.
  for (let i = 21; i <= 30; i++) feed.push(step(i));
  feed.push(stage('finetune', 'demo'));
  feed.push(step(1));
  clock.advance(200);
  await settle();
  s = pageState(fast);
  assert.equal(s.started?.mode, 'finetune');
  assert.equal(s.lastStep?.step, 1);
  assert.deepEqual(
    s.losses.map((l) => l.step),
    [1],
    "the new stage's loss curve starts empty",
  );
  const b = fast.at(-1)!;
  assert.ok(
    b.type === 'host/events' &&
      b.events[0]?.type === 'run/started' &&
      !b.events.some((e) => e.type === 'run/step' && e.payload.step > 1),
  );
  assert.equal(feed.snapshot.started?.mode, 'finetune');
  // The slow view catches up with the same state, whatever it missed.
  clock.advance(20_000);
  feed.push(step(2));
  clock.advance(200);
  await settle();
  const slowState = pageState(slow);
  assert.equal(slowState.started?.mode, 'finetune');
  assert.equal(slowState.lastRefresh, null);
  assert.equal(slowState.lastStep?.step, 2);
  feed.dispose();
});

test("a new run's first stage event replaces the finished run in every view at once, and a late view gets it in its snapshot", async () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  fastView(feed, posts);
  feed.push(started(3));
  feed.push({
    type: 'run/finished',
    payload: {
      runId: 'r',
      outputDir: '/o',
      reportPath: '/o/report.json',
      stoppedBy: 'steps',
      steps: 1,
      objective: 'minRecall',
      before: { objectiveValue: 0, val: metrics(3, 0) },
      after: { objectiveValue: 1, val: metrics(3, 1) },
      bestStep: 1,
      wallSeconds: 1,
    },
  });
  clock.advance(1000);
  await settle();
  posts.length = 0;
  feed.push({
    type: 'run/stage',
    payload: { stage: 'starting', label: 'starting', done: 0, total: 0, etaSeconds: null, name: 'next' },
  });
  feed.push({
    type: 'run/stage',
    payload: { stage: 'decoding', label: 'decoding images (train)', done: 10, total: 100, etaSeconds: 1, name: 'next' },
  });
  clock.advance(200);
  await settle();
  let view = emptySnapshot();
  view = applyEvent(view, started(3));
  view = { ...view, status: 'finished' };
  for (const m of posts) {
    assert.equal(m.type, 'host/events');
    if (m.type === 'host/events') for (const e of m.events) view = applyEvent(view, e);
  }
  assert.equal(view.status, 'running');
  assert.equal(view.started, null, "the previous run's facts are gone");
  assert.equal(view.stage?.stage, 'decoding');
  assert.equal(feed.snapshot.stage?.done, 10);
  // A view that opens now paints the same state from its first message.
  const late: HostToWebview[] = [];
  fastView(feed, late, 'late');
  assert.equal(late[0]?.type, 'host/snapshot');
  if (late[0]?.type === 'host/snapshot') assert.equal(late[0].snapshot.stage?.label, 'decoding images (train)');
});

test('a snapshot for a view keeps every refresh of the history but the multipliers of at most a few hundred', () => {
  const row = (i: number, mult: boolean) => ({
    step: i,
    objective: i / 1000,
    meanRecall: 0.5,
    minRecall: 0.1,
    multipliers: mult ? [i, i + 1, i + 2] : null,
  });
  const short = Array.from({ length: 50 }, (_, i) => row(i, true));
  assert.equal(thinMultipliers(short), short, 'few enough: the same array');
  const long = Array.from({ length: 2000 }, (_, i) => row(i, i % 2 === 0 || i === 1999));
  const thin = thinMultipliers(long);
  assert.equal(thin.length, 2000, 'every refresh stays (the curves and the CSV)');
  const kept = thin.filter((x) => x.multipliers !== null);
  assert.equal(kept.length, MAX_SNAPSHOT_MULTIPLIER_ROWS);
  assert.deepEqual(kept.at(-1)?.multipliers, [1999, 2000, 2001], 'the last refresh keeps its multipliers');
  for (let i = 0; i < 2000; i++) {
    assert.equal(thin[i]!.objective, long[i]!.objective);
    if (thin[i]!.multipliers !== null) assert.deepEqual(thin[i]!.multipliers, long[i]!.multipliers);
  }
  const snap = { ...emptySnapshot(), status: 'running' as const, history: long };
  const compact = compactSnapshot(snap);
  assert.equal(compact.history.filter((x) => x.multipliers !== null).length, MAX_SNAPSHOT_MULTIPLIER_ROWS);
  assert.equal(snap.history, long, 'the host keeps its own snapshot whole');
});

test("the run's log line per view: how often it got a new step, how long a step waited for its post, how soon it acknowledged; a closed view's figures stay", () => {
  const clock = fakeClock();
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  const posted: number[] = [];
  feed.addView('dash', () => posted.push(clock.now()));
  feed.push(started(10));
  feed.viewReady('dash');
  // The page acknowledges every post 300 ms after it; a step comes every 50 ms for 3 s.
  for (let t = 0; t < 3000; t += 50) {
    feed.push(step(t / 50 + 1));
    clock.advance(50);
    while (posted.length > 0 && clock.now() - posted[0]! >= 300) {
      posted.shift();
      feed.viewAck('dash');
    }
  }
  const line = feed.describeStepPosts();
  assert.match(line, /^dash every p50 \d+ ms/);
  const ack = /acks p50 (\d+) ms/.exec(line);
  assert.ok(ack && Number(ack[1]) >= 300 && Number(ack[1]) <= 350, line);
  const wait = /a step waited here p50 (\d+) ms, p95 (\d+) ms/.exec(line);
  // Two posts per 300 ms round trip: a step waits up to a round trip and a half for its post.
  assert.ok(wait && Number(wait[1]) > 0 && Number(wait[2]) <= 500, line);
  feed.removeView('dash');
  assert.equal(feed.describeStepPosts(), line, 'a closed view keeps its figures for the log at the end of the run');
});

test('nextReady resolves at the next view/ready of that kind, or false after its timeout; isReady says whether one is loaded now', async () => {
  const clock = fakeClock();
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  feed.addView('sidebar-1', () => undefined);
  feed.addView('dashboard-2', () => undefined);
  assert.equal(feed.isReady('dashboard'), false);
  const first = feed.nextReady('dashboard', 1500);
  let firstSettled = false;
  void first.then(() => (firstSettled = true));
  feed.viewReady('sidebar-1'); // another kind of view does not count
  clock.advance(100);
  await settle();
  assert.equal(firstSettled, false, 'the sidebar loading is not the dashboard loading');
  feed.viewReady('dashboard-2');
  assert.equal(await first, true);
  assert.equal(feed.isReady('dashboard'), true);
  feed.viewHidden('dashboard-2');
  assert.equal(feed.isReady('dashboard'), false);
  const second = feed.nextReady('dashboard', 1500);
  clock.advance(1499);
  let settled = false;
  void second.then(() => (settled = true));
  await settle();
  assert.equal(settled, false, 'still waiting 1 ms before its timeout');
  clock.advance(1);
  assert.equal(await second, false);
  // A view/ready after the timeout finds no waiter left (and no timer fires twice).
  feed.viewReady('dashboard-2');
  clock.advance(5000);
});

test("a view's matrices travel as Float32Array (binary in VS Code's postMessage); the page's embedded snapshot keeps number arrays (JSON)", () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  feed.addView('v', (m) => posts.push(m));
  feed.push(started(1000));
  feed.push({ type: 'run/refresh', payload: refresh(10, 1000) });
  feed.push({ type: 'run/refresh', payload: refresh(20, 12) });
  feed.viewReady('v');
  const snap = posts[0]!;
  assert.equal(snap.type, 'host/snapshot');
  const inSnapshot = snap.type === 'host/snapshot' ? snap.snapshot.lastRefresh! : null;
  const expect = compactRefresh(refresh(20, 12));
  for (const [got, want] of [
    [inSnapshot!.gain, expect.gain],
    [inSnapshot!.distribution, expect.distribution],
  ] as const) {
    assert.ok(got.data instanceof Float32Array, 'the snapshot posted to a view: Float32Array');
    assert.deepEqual(Array.from(got.data), Array.from(want.data, Math.fround));
  }
  feed.viewAck('v');
  clock.advance(200);
  feed.push({ type: 'run/refresh', payload: refresh(30, 1000) });
  clock.advance(200);
  const last = posts.at(-1)!;
  const r = last.type === 'host/events' ? last.events.find((e) => e.type === 'run/refresh') : undefined;
  assert.ok(r?.type === 'run/refresh' && r.payload.gain.data instanceof Float32Array, 'a posted refresh too');
  if (r?.type === 'run/refresh') {
    assert.equal(r.payload.gain.K, 100, 'downsampled first');
    assert.deepEqual(
      Array.from(r.payload.gain.data),
      Array.from(compactRefresh(refresh(30, 1000)).gain.data, Math.fround),
    );
  }
  const page = feed.bootstrapSnapshot().lastRefresh!;
  assert.ok(Array.isArray(page.gain.data) && Array.isArray(page.distribution.data), 'embedded in the HTML as JSON');
  assert.ok(Array.isArray(feed.snapshot.lastRefresh!.gain.data), 'the host keeps what it was given');
});

test('a view that draws no matrix (the sidebar) gets every refresh, its snapshot and its embedded page state without G and P; a dashboard beside it gets them', () => {
  const clock = fakeClock();
  const side: HostToWebview[] = [],
    dash: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  feed.addView('sidebar-1', (m) => side.push(m), { matrices: false });
  feed.addView('dashboard-2', (m) => dash.push(m));
  feed.push(started(100));
  feed.push({ type: 'run/refresh', payload: refresh(10, 100) });
  feed.viewReady('sidebar-1');
  feed.viewReady('dashboard-2');
  const lastOf = (m: HostToWebview | undefined): RefreshPayload | null =>
    m?.type === 'host/snapshot' ? m.snapshot.lastRefresh : null;
  const s0 = lastOf(side[0]),
    d0 = lastOf(dash[0]);
  assert.ok(s0 && d0, 'both start from a snapshot with the refresh');
  assert.deepEqual([s0.gain.data.length, s0.distribution.data.length], [0, 0], 'the sidebar: no matrices');
  assert.equal(s0.step, 10, "the refresh's step and metrics are there");
  assert.deepEqual(s0.val, refresh(10, 100).val);
  assert.equal(d0.gain.data.length, 100 * 100, 'the dashboard: its matrices');
  feed.viewAck('sidebar-1');
  feed.viewAck('dashboard-2');
  clock.advance(200);
  feed.push({ type: 'run/refresh', payload: refresh(20, 100) });
  feed.push({ type: 'run/refresh', payload: refresh(30, 100) });
  clock.advance(200);
  const refreshes = (posts: HostToWebview[]): RefreshPayload[] =>
    posts.flatMap((m) =>
      m.type === 'host/events' ? m.events.flatMap((e) => (e.type === 'run/refresh' ? [e.payload] : [])) : [],
    );
  assert.deepEqual(
    refreshes(side).map((r) => [r.step, r.gain.data.length, r.distribution.data.length]),
    [
      [20, 0, 0],
      [30, 0, 0],
    ],
    'the sidebar gets each refresh, none with matrices',
  );
  const dashRefreshes = refreshes(dash);
  assert.deepEqual(
    dashRefreshes.map((r) => r.step),
    [20, 30],
  );
  assert.equal(dashRefreshes.at(-1)!.gain.data.length, 100 * 100, 'the dashboard gets the latest matrices');
  assert.equal(feed.bootstrapSnapshot(false).lastRefresh!.gain.data.length, 0, "the sidebar page's embedded state");
  assert.equal(feed.bootstrapSnapshot().lastRefresh!.gain.data.length, 100 * 100, "a dashboard page's");
  assert.equal(feed.snapshot.lastRefresh!.gain.data.length, 100 * 100, 'the host keeps what it was given');
});

test("a view with its own lower rate (the sidebar's 4 a second) gets a step every 250 ms while the dashboard gets one every 100 ms, and the run's end at once", () => {
  const clock = fakeClock();
  const side: HostToWebview[] = [],
    dash: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, clock });
  const acking = (id: string, posts: HostToWebview[]) => (m: HostToWebview) => {
    posts.push(m);
    feed.viewAck(id);
  };
  feed.addView('sidebar-1', acking('sidebar-1', side), { matrices: false, maxPerSecond: 4 });
  feed.addView('dashboard-2', acking('dashboard-2', dash));
  feed.push(started(100));
  feed.viewReady('sidebar-1');
  feed.viewReady('dashboard-2');
  // A step every 10 ms for 2 s.
  for (let k = 1; k <= 200; k++) {
    clock.advance(10);
    feed.push(step(k));
  }
  const stepPosts = (posts: HostToWebview[]): number[] =>
    posts.flatMap((m) =>
      m.type === 'host/events' && m.events.some((e) => e.type === 'run/step') ? [m.postedAt!] : [],
    );
  const gaps = (t: number[]): number[] => t.slice(1).map((x, i) => x - t[i]!);
  const sideGaps = gaps(stepPosts(side)),
    dashGaps = gaps(stepPosts(dash));
  assert.ok(
    sideGaps.length >= 6 && sideGaps.every((g) => g === 250),
    `sidebar step posts ${sideGaps.join(', ')} ms apart`,
  );
  assert.ok(dashGaps.length >= 15 && dashGaps.every((g) => g === 100), `dashboard step posts ${dashGaps.join(', ')}`);
  // The run's end waits for neither view's rate more than its interval: the sidebar gets it within 250 ms.
  clock.advance(1);
  feed.push({ type: 'run/failed', payload: { message: 'stopped for the test', kind: 'training' } });
  clock.advance(250);
  for (const [name, posts] of [
    ['sidebar', side],
    ['dashboard', dash],
  ] as const)
    assert.ok(
      posts.some((m) => m.type === 'host/events' && m.events.some((e) => e.type === 'run/failed')),
      `the ${name} got the end`,
    );
});

test('a view that owes its acks when the run ends gets the end once it counts as stalled, with no later event', () => {
  const clock = fakeClock();
  const { feed, posts, stalls } = streamingView(clock);
  clock.advance(200);
  assert.equal(posts.length, MAX_IN_FLIGHT, 'the snapshot and the started event, neither acknowledged');
  feed.push({ type: 'run/finished', payload: { step: 5 } } as unknown as RunEvent);
  clock.advance(500);
  assert.equal(posts.length, MAX_IN_FLIGHT, 'nothing more while the view may still be drawing');
  clock.advance(600);
  const last = posts.at(-1)!;
  assert.equal(posts.length, MAX_IN_FLIGHT + 1);
  assert.equal(last.type === 'host/snapshot' && last.snapshot.status, 'finished', 'a snapshot of the finished run');
  assert.match(
    feed.describeStepPosts(),
    /v .*; resynchronised once after 1000 ms without an ack\)$/,
    'the run log says so',
  );
  assert.deepEqual(stalls, [['v', 1000]], 'and so does the host log, at once');
  // An ack before the view counts as stalled sends what waits at once, and no stall snapshot follows.
  const { feed: feed2, posts: posts2, stalls: stalls2 } = streamingView(clock, 'w');
  clock.advance(200);
  feed2.push({ type: 'run/finished', payload: { step: 5 } } as unknown as RunEvent);
  clock.advance(100);
  feed2.viewAck('w');
  assert.equal(posts2.length, MAX_IN_FLIGHT + 1);
  assert.equal(posts2.at(-1)?.type, 'host/events');
  clock.advance(5000);
  assert.equal(posts2.length, MAX_IN_FLIGHT + 1, 'no snapshot after the ack');
  assert.doesNotMatch(feed2.describeStepPosts(), /resynchronised/);
  assert.deepEqual(stalls2, []);
});
