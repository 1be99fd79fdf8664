// ONNX models keep the promise across runs (issue 23): external data is read from the model's folder and never from
// the working directory; a --resume under a changed model is refused naming the model; a damaged feature-cache entry
// is named and rebuilt, not trusted.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseNpy, goodConfig } from '../corpus/corpus';
import { bytesOf, externalize, mlpProto, mlpWeights } from '../corpus/onnxModels';
import { runCli, treeDiff, treeHashes } from '../helpers/reliability';
import { runConfig } from '../helpers/run';
import { initBackend } from '../../src/backend/backend';
import { readOnnxModel } from '../../src/data/onnxModel';
import { tensorFloats } from '../../src/formats/onnx/proto';
import type { RunEvent } from '../../src/protocol/messages';

before(async () => {
  await initBackend({ choice: 'cpu' });
});

/** A case folder: the corpus's npy data, an ONNX MLP at models/mlp.onnx (W1 in external data when asked), a config. */
function onnxJob(opts: { external?: boolean; training?: Record<string, unknown>; freezeBackbone?: boolean } = {}): {
  dir: string;
  cfgPath: string;
  cfg: Record<string, unknown>;
} {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-rel-onnx-'));
  baseNpy(dir);
  mkdirSync(join(dir, 'models'));
  const m = mlpProto();
  if (opts.external) writeFileSync(join(dir, 'models', 'w1.bin'), externalize(m, 'W1', 'w1.bin'));
  writeFileSync(join(dir, 'models', 'mlp.onnx'), bytesOf(m));
  const cfg = {
    ...goodConfig(),
    model: { kind: 'onnx', path: 'models/mlp.onnx', ...(opts.freezeBackbone ? { freezeBackbone: true } : {}) },
    training: { steps: 20, batchSize: 8, refreshEvery: 10, ...opts.training },
  };
  const cfgPath = join(dir, 'run.selmix.json');
  writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  return { dir, cfgPath, cfg };
}

test("external data: read from the model's folder whatever the working directory; a decoy w1.bin there is never read", async () => {
  const { dir, cfgPath } = onnxJob({ external: true });
  // The working directory holds a w1.bin of the right size with other values.
  const elsewhere = mkdtempSync(join(tmpdir(), 'selmix-rel-cwd-'));
  const decoy = new Float32Array(8 * 6).fill(7);
  writeFileSync(join(elsewhere, 'w1.bin'), new Uint8Array(decoy.buffer));
  const r = await runCli(['finetune', '--config', cfgPath, '--backend', 'cpu'], { cwd: elsewhere });
  assert.equal(r.code, 0, r.stderr);
  const out = readOnnxModel(join(dir, 'out', 'model.onnx'));
  const w1 = tensorFloats(out.proto.graph!.initializer!.find((t) => t.name === 'W1')!)!;
  assert.deepEqual(Array.from(w1), Array.from(mlpWeights().W1), "model.onnx carries the model folder's W1, inline");
  assert.equal(out.externalFiles.length, 0, 'the written model needs no external file');

  // Without w1.bin in the model's folder the run is refused, naming where it looked; the decoy is not used.
  const { dir: dir2, cfgPath: cfg2 } = onnxJob({ external: true });
  writeFileSync(join(dir2, 'models', 'w1.bin.moved'), readFileSync(join(dir2, 'models', 'w1.bin')));
  rmSync(join(dir2, 'models', 'w1.bin'));
  const beforeTree = treeHashes(dir2);
  const r2 = await runCli(['finetune', '--config', cfg2, '--backend', 'cpu'], { cwd: elsewhere });
  assert.equal(r2.code, 2, r2.stderr);
  assert.match(
    r2.stderr,
    new RegExp(
      `${join(dir2, 'models', 'mlp.onnx')}: initializer "W1" keeps its data in an external file "w1.bin": ${join(dir2, 'models', 'w1.bin')} cannot be read \\(ENOENT\\)`,
    ),
  );
  assert.deepEqual(treeDiff(beforeTree, treeHashes(dir2)), [], 'nothing written, nothing changed');
});

test('--resume under a changed model is refused naming the model, before anything is written; under the same model it resumes', async () => {
  const { dir, cfgPath, cfg } = onnxJob({ training: { checkpointEvery: 10 } });
  const first = await runConfig(cfg, cfgPath, { emit: () => undefined, shouldStop: () => false, backend: 'cpu' });
  assert.ok(first.ok, first.ok ? '' : first.message);
  assert.ok(readdirSync(join(dir, 'out', 'checkpoint')).length > 0, 'a checkpoint was written');

  // The same model: the resume is accepted.
  const same = await runConfig(cfg, cfgPath, {
    emit: () => undefined,
    shouldStop: () => false,
    backend: 'cpu',
    resume: true,
  });
  assert.ok(same.ok, same.ok ? '' : same.message);

  // The backbone edited (the head and every shape unchanged): refused, naming the model file.
  writeFileSync(join(dir, 'models', 'mlp.onnx'), bytesOf(mlpProto({ seed: 99 })));
  const outBefore = treeHashes(join(dir, 'out'));
  const events: RunEvent[] = [];
  const changed = await runConfig(cfg, cfgPath, {
    emit: (e) => events.push(e),
    shouldStop: () => false,
    backend: 'cpu',
    resume: true,
  });
  assert.ok(!changed.ok, 'the resume must be refused');
  assert.equal(changed.kind, 'data');
  assert.match(
    changed.message,
    new RegExp(`the model ${join(dir, 'models', 'mlp.onnx')} changed since the checkpoint was made`),
  );
  assert.ok(!events.some((e) => e.type === 'run/started'), 'refused before the run started');
  assert.deepEqual(treeDiff(outBefore, treeHashes(join(dir, 'out'))), [], "the stopped run's outputs are untouched");
});

test('a damaged feature-cache entry of the right shape is named and rebuilt, not trusted', async () => {
  // Head only: the frozen backbone's features are what the cache holds.
  const { dir, cfgPath, cfg } = onnxJob({ freezeBackbone: true });
  const first = await runConfig(cfg, cfgPath, { emit: () => undefined, shouldStop: () => false, backend: 'cpu' });
  assert.ok(first.ok, first.ok ? '' : first.message);
  const cacheDir = join(dir, '.selmix-cache', 'onnx-features');
  const entries = readdirSync(cacheDir).filter((f) => f.endsWith('.npy'));
  assert.equal(entries.length, 2, `train and validation entries: ${entries.join(', ')}`);
  const victim = join(cacheDir, entries[0]!);
  const bytes = readFileSync(victim);
  bytes[bytes.length - 3] ^= 0x40; // one value changed, the header (and so the shape) intact
  writeFileSync(victim, bytes);
  const logs: string[] = [];
  const second = await runConfig(cfg, cfgPath, {
    emit: (e) => {
      if (e.type === 'run/log') logs.push(e.payload.message);
    },
    shouldStop: () => false,
    backend: 'cpu',
  });
  assert.ok(second.ok, second.ok ? '' : second.message);
  assert.ok(
    logs.some((l) =>
      l.includes(`the feature cache entry ${victim} is damaged (its contents do not match its checksum)`),
    ),
    logs.join('\n'),
  );
  // Rebuilt: the same run again reads it from the cache with a matching checksum.
  const logs3: string[] = [];
  const third = await runConfig(cfg, cfgPath, {
    emit: (e) => {
      if (e.type === 'run/log') logs3.push(e.payload.message);
    },
    shouldStop: () => false,
    backend: 'cpu',
  });
  assert.ok(third.ok, third.ok ? '' : third.message);
  assert.ok(!logs3.some((l) => l.includes('is damaged')), logs3.join('\n'));
  assert.equal(logs3.filter((l) => l.includes('features from the cache')).length, 2, logs3.join('\n'));
});
