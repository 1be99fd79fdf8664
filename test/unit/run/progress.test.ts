import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageReporter } from '../../../src/run/progress';
import type { RunEvent, StagePayload } from '../../../src/protocol/messages';

test('a stage is announced at once, then reported by wall time and at its last unit, with an ETA', () => {
  let now = 0;
  const events: RunEvent[] = [];
  const r = new StageReporter(
    (e) => events.push(e),
    'my run',
    () => now,
  );
  const progress = r.enter('decoding', 'decoding images (train)', 0);
  assert.equal(events.length, 1, 'announced before the first unit');
  // 1000 images at 2 ms each: 2 s of work.
  for (let i = 1; i <= 1000; i++) {
    now += 2;
    progress(i, 1000);
  }
  const p = events.map((e) => (e as Extract<RunEvent, { type: 'run/stage' }>).payload);
  assert.ok(p.every((x) => x.stage === 'decoding' && x.name === 'my run'));
  assert.deepEqual(p[0], {
    stage: 'decoding',
    label: 'decoding images (train)',
    done: 0,
    total: 0,
    etaSeconds: null,
    name: 'my run',
  });
  assert.equal(p.at(-1)!.done, 1000, 'the last unit is reported');
  assert.equal(p.at(-1)!.etaSeconds, 0);
  // 2 s of work: about 8 events at 250 ms, not 1000.
  assert.ok(p.length >= 8 && p.length <= 12, `${p.length} events`);
  const mid = p.find((x) => x.done > 0 && x.done < 1000) as StagePayload;
  assert.ok(Math.abs(mid.etaSeconds! - (1000 - mid.done) * 0.002) < 1e-9, `eta ${mid.etaSeconds} at ${mid.done}`);
});

test('a stage left for the next one stops reporting', () => {
  const events: RunEvent[] = [];
  let now = 0;
  const r = new StageReporter(
    (e) => events.push(e),
    undefined,
    () => now,
  );
  const old = r.enter('decoding', 'a', 10);
  r.enter('extracting', 'b', 10);
  now = 1000;
  old(10, 10);
  assert.deepEqual(
    events.map((e) => e.type === 'run/stage' && e.payload.stage),
    ['decoding', 'extracting'],
  );
  assert.ok(events.every((e) => e.type === 'run/stage' && !('name' in e.payload)));
});
