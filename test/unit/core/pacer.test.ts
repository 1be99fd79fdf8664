import assert from 'node:assert/strict';
import { test } from 'node:test';
import { etaSeconds, PROGRESS_EVENT_MS, ProgressPacer } from '../../../src/core/pacer';

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

test('etaSeconds: the time left at the rate so far, null without a rate', () => {
  assert.equal(etaSeconds(25, 100, 1000), 3);
  assert.equal(etaSeconds(0, 100, 1000), null);
  assert.equal(etaSeconds(5, 0, 1000), null);
  assert.equal(etaSeconds(100, 100, 1000), 0);
});
