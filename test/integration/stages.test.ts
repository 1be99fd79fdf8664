// Staged runs through runRequest (what the worker and the CLI call): when the demo model is not cached, the run
// first pre-trains it as a stage of its own (run/started with mode "pretrain"), then fine-tunes (a second
// run/started). A stop during pre-training ends the whole run and writes nothing: no cache, no output folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRequest } from '../../src/run/run';
import type { RunEvent } from '../../src/protocol/messages';

/** A small demo-like config: MNIST-LT with few images, the demo CNN cached at cache/, one pre-training epoch. */
function demoLike(steps = 20): string {
  return JSON.stringify(
    {
      name: 'staged',
      objective: 'minRecall',
      data: { kind: 'builtin', rho: 10, nMax: 60, valPerClass: 5, testPerClass: 5 },
      model: { kind: 'pretrained-demo', path: 'cache/cnn/model.json' },
      training: { steps, refreshEvery: 10, batchSize: 16 },
      pretrain: { epochs: 1, batchSize: 16 },
      output: 'out',
    },
    null,
    2,
  );
}

test('Stop during the pre-training stage ends the run: nothing cached, no output folder, reportPath null', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-stage-stop-'));
  const events: RunEvent[] = [];
  let stop = false;
  const r = await runRequest(
    { configText: demoLike(), configPath: join(dir, 'run.selmix.json') },
    {
      emit: (e) => {
        events.push(e);
        if (e.type === 'run/step') stop = true;
      },
      shouldStop: () => stop,
      backend: 'wasm',
    },
  );
  assert.ok(r.ok, r.ok ? '' : r.message);
  assert.equal(r.summary.stoppedBy, 'cancel');
  assert.equal(r.summary.reportPath, null);
  const started = events.filter((e) => e.type === 'run/started');
  assert.equal(started.length, 1);
  assert.equal(started[0]!.type === 'run/started' && started[0]!.payload.mode, 'pretrain');
  assert.equal(events[0]!.type, 'run/stage', 'the run is announced by its first stage, before anything loads');
  assert.equal(
    events.find((e) => e.type !== 'run/stage')!.type,
    'run/started',
    'the stage is announced before its first step',
  );
  assert.equal(events.at(-1)!.type, 'run/finished');
  assert.ok(!existsSync(join(dir, 'cache')), 'no cache folder');
  assert.ok(!existsSync(join(dir, 'out')), 'no output folder');
});

test('an uncached demo model: a pre-training stage, then a fine-tuning stage, each announced; the cache is written once complete', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-stage-full-'));
  const events: RunEvent[] = [];
  const r = await runRequest(
    { configText: demoLike(), configPath: join(dir, 'run.selmix.json') },
    { emit: (e) => events.push(e), shouldStop: () => false, backend: 'wasm' },
  );
  assert.ok(r.ok, r.ok ? '' : r.message);
  const modes = events.flatMap((e) => (e.type === 'run/started' ? [e.payload.mode] : []));
  assert.deepEqual(modes, ['pretrain', 'finetune']);
  const first = events.findIndex((e) => e.type === 'run/started');
  const second = events.findIndex((e, i) => i > first && e.type === 'run/started');
  assert.ok(
    events.slice(0, second).some((e) => e.type === 'run/step'),
    'pre-training reports its own progress',
  );
  assert.ok(existsSync(join(dir, 'cache', 'cnn', 'model.json')));
  assert.ok(existsSync(join(dir, 'out', 'report.json')));
  assert.equal(r.summary.reportPath, join(dir, 'out', 'report.json'));
  // A second run finds the cache: fine-tuning only.
  const again: RunEvent[] = [];
  const r2 = await runRequest(
    { configText: demoLike(10), configPath: join(dir, 'run.selmix.json') },
    { emit: (e) => again.push(e), shouldStop: () => false, backend: 'wasm' },
  );
  assert.ok(r2.ok);
  assert.deepEqual(
    again.flatMap((e) => (e.type === 'run/started' ? [e.payload.mode] : [])),
    ['finetune'],
  );
});
