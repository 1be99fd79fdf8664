import assert from 'node:assert/strict';
import { test } from 'node:test';
import { downsampleMatrix, thinEvenly, ViewFeed } from '../../../src/extension/viewFeed';
import type { Clock } from '../../../src/extension/viewFeed';
import type { HostToWebview, MetricsReport, RefreshPayload, RunEvent } from '../../../src/protocol/messages';

/** A fake clock: timers fire when advance() passes them. */
function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  return {
    now: () => now,
    setTimeout: (fn, ms) => { const id = next++; timers.push({ at: now + ms, fn, id }); return id; },
    clearTimeout: (h) => { timers = timers.filter((t) => t.id !== h); },
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
  return { accuracy: r, meanRecall: r, minRecall: r, maxRecall: r, gMean: r, hMean: r, headRecall: r, tailRecall: r, minHeadTailRecall: r,
    minCoverage: 0, headCoverage: 0, tailCoverage: 0, recall, coverage: recall, support: recall.map(() => 10) };
}
const matrices = new Map<number, { gain: number[]; dist: number[] }>();
function refresh(step: number, K: number): RefreshPayload {
  if (!matrices.has(K)) matrices.set(K, { gain: Array.from({ length: K * K }, (_, i) => Math.sin(i)), dist: new Array<number>(K * K).fill(1 / (K * K)) });
  const { gain, dist } = matrices.get(K)!;
  return { step, objective: 'minRecall', objectiveValue: step / 1e4, val: metrics(K, step / 1e4), multipliers: null,
    gain: { K, data: gain }, distribution: { K, data: dist }, maxGain: 1 };
}
const started = (K: number): RunEvent => ({ type: 'run/started', payload: { runId: 'r', name: 'n', objective: 'minRecall', K, classNames: Array.from({ length: K }, (_, i) => `c${i}`), totalSteps: 10_000, backend: 'cpu', outputDir: '/o', mode: 'finetune', notes: [] } });
const step = (s: number): RunEvent => ({ type: 'run/step', payload: { step: s, totalSteps: 10_000, loss: 1 / s, lr: 0.01, msPerStep: 0.1 } });

test('downsampleMatrix keeps small matrices and block-reduces large ones', () => {
  const small = { K: 3, data: [1, 2, 3, 4, 5, 6, 7, 8, 9] };
  assert.equal(downsampleMatrix(small, 'maxAbs'), small);
  const K = 4;
  const m = { K, data: [1, -5, 0, 0, 2, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, -2] };
  assert.deepEqual(downsampleMatrix(m, 'maxAbs', 2), { K: 2, data: [-5, 1, 0, -2], block: 2 });
  assert.deepEqual(downsampleMatrix(m, 'sum', 2), { K: 2, data: [1, 1, 0, -2], block: 2 });
  // K = 1000 -> 100 x 100, tiles of 10; the sum of a distribution is kept.
  const big = { K: 1000, data: new Array<number>(1e6).fill(1e-6) };
  const d = downsampleMatrix(big, 'sum');
  assert.equal(d.K, 100);
  assert.equal(d.block, 10);
  assert.ok(Math.abs(d.data.reduce((a, b) => a + b, 0) - 1) < 1e-9);
});

test('thinEvenly keeps the last item and at most max', () => {
  const xs = Array.from({ length: 1000 }, (_, i) => i);
  const t = thinEvenly(xs, 50);
  assert.equal(t.length, 50);
  assert.equal(t.at(-1), 999);
  assert.deepEqual(thinEvenly([1, 2], 50), [1, 2]);
});

test('coalesces a flood of events to the rate limit, keeping the latest refresh and the terminal event', () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, post: (m) => posts.push(m), clock });
  const K = 1000;
  refresh(0, K); // build the test matrices outside the timing
  const t0 = performance.now();
  feed.push(started(K));
  // 10,000 steps over 2 s of fake time (5,000 events a second), a K = 1000 refresh every 200 steps.
  for (let s = 1; s <= 10_000; s++) {
    feed.push(step(s));
    if (s % 200 === 0) feed.push({ type: 'run/refresh', payload: refresh(s, K) });
    if (s % 5 === 0) clock.advance(1);
  }
  feed.push({ type: 'run/finished', payload: { runId: 'r', outputDir: '/o', reportPath: '/o/r.json', stoppedBy: 'steps', steps: 10_000, objective: 'minRecall',
    before: { objectiveValue: 0, val: metrics(K, 0) }, after: { objectiveValue: 1, val: metrics(K, 1) }, bestStep: 10_000, wallSeconds: 2 } });
  clock.advance(1000);
  const elapsed = performance.now() - t0;
  // 2 s of fake time at 10 a second: about 20 posts (plus the leading one and the trailing terminal).
  assert.ok(posts.length <= 23, `posted ${posts.length} messages`);
  assert.ok(elapsed < 1500, `took ${elapsed} ms`);
  const events = posts.flatMap((p) => (p.type === 'host/events' ? p.events : []));
  assert.equal(events.at(-1)?.type, 'run/finished');
  assert.equal(events.filter((e) => e.type === 'run/finished').length, 1);
  // Every refresh reaches the views (the curves need them); only the last of a batch carries matrices, downsampled.
  const refreshes = events.filter((e) => e.type === 'run/refresh');
  assert.equal(refreshes.length, 50);
  const last = refreshes.at(-1)!;
  assert.equal(last.type === 'run/refresh' && last.payload.step, 10_000);
  assert.equal(last.type === 'run/refresh' && last.payload.gain.K, 100);
  assert.equal(last.type === 'run/refresh' && last.payload.gain.block, 10);
  for (const p of posts) {
    if (p.type !== 'host/events') continue;
    const withData = p.events.filter((e) => e.type === 'run/refresh' && e.payload.gain.data.length > 0);
    assert.ok(withData.length <= 1);
    assert.ok(p.events.filter((e) => e.type === 'run/step').length <= 50);
    assert.ok(JSON.stringify(p).length < 1_000_000);
  }
  // The host keeps the full-resolution snapshot.
  assert.equal(feed.snapshot.lastRefresh?.gain.K, 1000);
  assert.equal(feed.snapshot.status, 'finished');
  assert.equal(feed.snapshot.history.length, 50);
});

test('the first event is posted at once, later ones at the next slot; a new view gets a compact snapshot without duplicates', () => {
  const clock = fakeClock();
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, post: (m) => posts.push(m), clock });
  feed.push(started(200));
  assert.equal(posts.length, 1);
  feed.push(step(1));
  feed.push({ type: 'run/refresh', payload: refresh(1, 200) });
  assert.equal(posts.length, 1);
  const snap = feed.snapshotForNewView();
  assert.equal(posts.length, 2, 'pending events go out before the snapshot');
  assert.equal(snap.lastRefresh?.gain.K, 100);
  assert.equal(snap.lastRefresh?.gain.block, 2);
  clock.advance(500);
  assert.equal(posts.length, 2, 'nothing pending, nothing posted');
  feed.push({ type: 'run/log', payload: { level: 'info', message: 'x' } });
  clock.advance(500);
  assert.equal(posts.length, 2, 'logs do not reach the views');
});

test('reset posts a snapshot (a run loaded from its report)', () => {
  const posts: HostToWebview[] = [];
  const feed = new ViewFeed({ updatesPerSecond: 10, post: (m) => posts.push(m), clock: fakeClock() });
  feed.reset({ ...feed.snapshot, status: 'finished' });
  assert.equal(posts[0]?.type, 'host/snapshot');
  assert.equal(feed.snapshot.status, 'finished');
});
