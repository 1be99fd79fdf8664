// The demo as `selmix demo` and "SelMix: Run Demo" run it (src/request/demo.ts: the demo CNN pre-trained here,
// MNIST-LT, min recall, its baselines): the gain monitor stays quiet over the whole run (issue 21: a healthy run at the
// defaults does not warn). The other side, a run built to break the first-order estimate: test/unit/core/training.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConfig } from '../helpers/run';
import { DEMO_OUTPUT, demoConfigText } from '../../src/request/demo';
import type { RefreshPayload } from '../../src/protocol/messages';

test('the demo, pre-training included: no gain-monitor warning, and the monitor had the evidence to judge', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'selmix-demo-monitor-')), DEMO_OUTPUT);
  mkdirSync(out);
  const warns: string[] = [];
  let last: NonNullable<RefreshPayload['gainCheck']> | null = null;
  const r = await runConfig(demoConfigText(), join(out, 'demo.selmix.json'), {
    emit: (e) => {
      if (e.type === 'run/log' && e.payload.level === 'warn' && /first-order/.test(e.payload.message))
        warns.push(e.payload.message);
      if (e.type === 'run/refresh' && e.payload.gainCheck) last = e.payload.gainCheck;
    },
    shouldStop: () => false,
    backend: 'wasm',
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  assert.deepEqual(warns, [], JSON.stringify(last));
  const l = last as NonNullable<RefreshPayload['gainCheck']> | null;
  assert.ok(l !== null && l.tracking && l.intervals >= 20, JSON.stringify(l));
});
