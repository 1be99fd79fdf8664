import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurationStats, GapStats } from '../../../src/core/gapStats';

test('GapStats: percentiles of the gaps between recorded times (nearest rank), none before two events', () => {
  const g = new GapStats();
  assert.equal(g.summary(), null);
  g.record(1000);
  assert.equal(g.summary(), null);
  assert.equal(g.describe(), 'fewer than two');
  // gaps 10, 20, ..., 200 (20 gaps)
  let t = 1000;
  for (let i = 1; i <= 20; i++) g.record((t += 10 * i));
  assert.deepEqual(g.summary(), { count: 20, p50: 100, p95: 190, max: 200 });
  assert.equal(g.describe(), 'every p50 100 ms, p95 190 ms, max 200 ms (20 gaps)');
});

test('GapStats keeps the newest gaps only, and reset forgets the last event too', () => {
  const g = new GapStats(3);
  for (const t of [0, 1000, 1001, 1002, 1003]) g.record(t);
  assert.deepEqual(g.summary(), { count: 3, p50: 1, p95: 1, max: 1 });
  g.reset();
  g.record(5000);
  assert.equal(g.summary(), null);
  g.record(5250);
  assert.deepEqual(g.summary(), { count: 1, p50: 250, p95: 250, max: 250 });
});

test('DurationStats: percentiles of the durations recorded (nearest rank), "none" before the first, the newest kept', () => {
  const d = new DurationStats(4);
  assert.equal(d.summary(), null);
  assert.equal(d.describe(), 'none');
  for (const ms of [500, 40, 30, 20, 10]) d.add(ms);
  assert.deepEqual(d.summary(), { count: 4, p50: 20, p95: 40, max: 40 });
  assert.equal(d.describe(), 'p50 20 ms, p95 40 ms, max 40 ms (4)');
  // count and sum cover every duration recorded, the one no longer kept included; reset forgets them.
  assert.equal(d.count, 5);
  assert.equal(d.sum, 600);
  d.reset();
  assert.equal(d.count, 0);
  assert.equal(d.sum, 0);
});
