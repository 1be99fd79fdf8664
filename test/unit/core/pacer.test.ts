import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  etaSeconds,
  MIN_STEP_EVENT_MS,
  pauseEventDue,
  PROGRESS_EVENT_MS,
  ProgressPacer,
  stepEventDue,
} from '../../../src/core/pacer';

/** The gaps between the events a pacer asks for, over units of work of the given durations (ms). */
function gaps(unitMs: number[], interval = PROGRESS_EVENT_MS): number[] {
  const p = new ProgressPacer(0, interval);
  let t = 0;
  let last = 0;
  const out: number[] = [];
  for (const u of unitMs) {
    t += u;
    if (p.tick(t)) {
      p.mark(t);
      out.push(t - last);
      last = t;
    }
  }
  return out;
}

test('the pacer reports at least every interval whenever a unit of work is shorter than it, at any unit time', () => {
  for (const unit of [0.01, 1, 60, 100, 130, 249]) {
    const g = gaps(new Array<number>(Math.ceil(20_000 / unit)).fill(unit));
    assert.ok(g.length > 0, `unit ${unit} ms: some events`);
    assert.ok(Math.max(...g) <= PROGRESS_EVENT_MS + 1e-9, `unit ${unit} ms: largest gap ${Math.max(...g)} ms`);
    // Not much more often than needed either: no two events closer than half the interval (or one unit).
    assert.ok(
      Math.min(...g) >= Math.min(PROGRESS_EVENT_MS / 2, unit) - 1e-9,
      `unit ${unit} ms: smallest gap ${Math.min(...g)} ms`,
    );
  }
});

test('the pacer reports after every unit when a unit takes longer than the interval', () => {
  assert.deepEqual(gaps([300, 400, 500]), [300, 400, 500]);
});

test('the pacer follows a change of pace: once units slow down, it reports after each one', () => {
  // 100 units of 1 ms, then 200 ms units: the first slow unit could not be foreseen (300 ms), the ones after it are.
  assert.deepEqual(gaps([...new Array<number>(100).fill(1), 200, 200, 200]), [300, 200, 200]);
});

/**
 * A training loop on a simulated clock, as src/core/training/train.ts runs it: a pause of pauseMs (a refresh) before
 * every refreshEvery-th step, steps of stepMs; the times of the step events stepEventDue asks for, and for each gap
 * whether a pause lies inside it.
 */
function loopEvents(
  steps: number,
  stepMs: number,
  refreshEvery: number,
  pauseMs: number,
): { gaps: number[]; plain: number[]; spansPause: boolean[]; beforePause: number } {
  let t = 0;
  let last = 0;
  let lastPause = 0;
  let paused = false;
  let beforePause = 0;
  const gaps: number[] = [];
  const spansPause: boolean[] = [];
  for (let s = 0; s < steps; s++) {
    if (s % refreshEvery === 0) {
      t += pauseMs;
      lastPause = pauseMs;
      paused = true;
    }
    t += stepMs;
    const next = (Math.floor(s / refreshEvery) + 1) * refreshEvery;
    const due = stepEventDue({
      sinceEvent: t - last,
      unitMs: stepMs,
      stepsToPause: Math.min(next, steps) - s - 1,
      pauseMs: lastPause,
    });
    if (due || s + 1 === steps) {
      if ((s + 1) % refreshEvery === 0) beforePause++;
      gaps.push(t - last);
      spansPause.push(paused);
      paused = false;
      last = t;
    }
  }
  // The same loop with the plain pacer and its event before a refresh (what the loop did before stepEventDue).
  const p = new ProgressPacer(0);
  t = 0;
  last = 0;
  const plain: number[] = [];
  for (let s = 0; s < steps; s++) {
    if (s % refreshEvery === 0) t += pauseMs;
    t += stepMs;
    if (p.tick(t) || ((s + 1) % refreshEvery === 0 && t - last >= MIN_STEP_EVENT_MS)) {
      p.mark(t);
      plain.push(t - last);
      last = t;
    }
  }
  return { gaps, plain, spansPause, beforePause };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('step events: the step reached goes out before each long refresh, the steps between are spread evenly, no gap without a refresh passes the interval', () => {
  // The e2e's K = 1000 run on a busy machine: steps of 29 ms, a 300 ms refresh every 10 steps.
  const r = loopEvents(2000, 29, 10, 300);
  // Right before each of the 199 refreshes after the first (the run starts with one), and at the last step.
  assert.equal(r.beforePause, 200);
  const calm = r.gaps.filter((_, i) => !r.spansPause[i]);
  assert.ok(Math.max(...calm) <= PROGRESS_EVENT_MS, `largest gap without a refresh ${Math.max(...calm)} ms`);
  // The 261 ms between the event after a refresh and the one before the next are split in two.
  assert.ok(median(r.gaps) <= 150, `median gap ${median(r.gaps)} ms`);
  // The plain pacer left one gap of about 360 ms (its last event, the rest of the steps, the refresh) per refresh.
  assert.ok(median(r.plain) > 300, `plain pacer's median gap ${median(r.plain)} ms`);
  for (const [stepMs, every, pause] of [
    [100, 10, 250],
    [40, 50, 120],
    [5, 1000, 400],
    [249, 3, 1000],
  ] as const) {
    const q = loopEvents(3000, stepMs, every, pause);
    const quiet = q.gaps.filter((_, i) => !q.spansPause[i]);
    assert.ok(
      Math.max(...quiet) <= PROGRESS_EVENT_MS,
      `steps of ${stepMs} ms, refresh every ${every} (${pause} ms): largest gap without a refresh ${Math.max(...quiet)} ms`,
    );
    assert.ok(
      Math.max(...q.gaps) <= pause + stepMs + 1e-9 || Math.max(...q.gaps) <= PROGRESS_EVENT_MS,
      `steps of ${stepMs} ms: a gap over a refresh is that refresh and one step at most (${Math.max(...q.gaps)} ms)`,
    );
  }
});

test('step events: short refreshes many times a second (small K) give an event every MIN_STEP_EVENT_MS at most', () => {
  // Steps of 10 us, a 0.4 ms refresh every 20 steps: a refresh every 0.6 ms.
  const r = loopEvents(200_000, 0.01, 20, 0.4);
  const inner = r.gaps.slice(0, -1); // the last one is the end of the run
  assert.ok(Math.min(...inner) >= MIN_STEP_EVENT_MS, `smallest gap ${Math.min(...inner)} ms`);
  assert.ok(Math.max(...inner) <= PROGRESS_EVENT_MS, `largest gap ${Math.max(...inner)} ms`);
});

test('pause events: a refresh part is announced when it would end past the interval, never within the minimum gap', () => {
  assert.equal(pauseEventDue(100, 100), false, 'ends at 200 ms: the next part can speak');
  assert.equal(pauseEventDue(100, 200), true, 'would end at 300 ms');
  assert.equal(pauseEventDue(PROGRESS_EVENT_MS, 0), true, 'silent for the whole interval');
  assert.equal(pauseEventDue(MIN_STEP_EVENT_MS - 1, 10_000), false, 'right after an event');
  assert.equal(pauseEventDue(1e9, 1e9, Infinity), false, 'Infinity: never');
  assert.equal(pauseEventDue(0, 0, 0, 0), true, 'interval 0: at every part');
  // A refresh of parts 60, 90, 180, 40 ms (the e2e's K = 1000 under load) after a step event: no silence over the
  // interval but the parts' own length, and no more events than needed.
  const parts = [60, 90, 180, 40];
  let since = 0;
  const gaps: number[] = [];
  for (const ms of parts) {
    if (pauseEventDue(since, ms)) {
      gaps.push(since);
      since = 0;
    }
    since += ms;
  }
  gaps.push(since);
  assert.deepEqual(gaps, [150, 220]);
});

test('etaSeconds: the time left at the rate so far, null without a rate', () => {
  assert.equal(etaSeconds(25, 100, 1000), 3);
  assert.equal(etaSeconds(0, 100, 1000), null);
  assert.equal(etaSeconds(5, 0, 1000), null);
  assert.equal(etaSeconds(100, 100, 1000), 0);
});
