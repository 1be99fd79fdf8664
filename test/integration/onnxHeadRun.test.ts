// A run on ONNX Runtime trains its head with the fused ONNX step (src/backend/onnxHeadStep.ts) handed to the loop by
// the run layer, and ends where the tfjs step ends: the same data, seed and settings give the same head to float32
// rounding. (Each backend runs in a process of its own: the backend is chosen once per process.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '../../src/data/npy';
import { spawnSync } from 'node:child_process';
import { root, smallJob } from '../helpers/reliability';

test(
  'fine-tuning a head on ONNX Runtime gives the head the tfjs step gives (to float32 rounding)',
  { timeout: 180_000 },
  async () => {
    const training = { steps: 120, refreshEvery: 20 };
    const heads: Float32Array[] = [];
    const backends: string[] = [];
    for (const backend of ['onnxruntime', 'wasm']) {
      const j = smallJob(training);
      // The built CLI (dist/, built by scripts/test.mjs), where onnxruntime-node stays an external native package.
      const r = spawnSync(
        process.execPath,
        [join(root, 'bin', 'selmix.js'), 'finetune', '--config', j.configPath, '--backend', backend, '--json'],
        { cwd: j.dir, encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      const started = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((e) => e.type === 'run/started' && e.payload.mode === 'finetune');
      backends.push(started.payload.backend);
      assert.equal(
        started.payload.notes.some((n: string) => /head step runs on ONNX Runtime/.test(n)),
        backend === 'onnxruntime',
        started.payload.notes.join('; '),
      );
      heads.push(readNpy(join(j.dir, 'out', 'W.npy')).data as Float32Array);
      assert.ok(readFileSync(join(j.dir, 'out', 'report.json')).length > 0);
    }
    assert.match(backends[0]!, /^onnxruntime/, `the run says it used ONNX Runtime: ${backends[0]}`);
    assert.match(backends[1]!, /^wasm/);
    let maxDiff = 0;
    for (let i = 0; i < heads[0]!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(heads[0]![i]! - heads[1]![i]!));
    assert.ok(maxDiff < 1e-3, `max |W_ort - W_tfjs| = ${maxDiff}`);
  },
);
