// Mistakes in the model part of a config answer before any image is read (the images here are corrupt, so a run
// that decoded first would report them instead), each with advice that works when followed; and a starting model at
// chance level on validation is reported loudly (a warn event and report.json's startAtChance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../src/core/config';
import { writeNpy } from '../../src/data/npy';
import { loadInputs } from '../../src/run/inputs';
import { runRequest } from '../../src/run/run';
import { chanceLevel } from '../../src/run/chance';
import type { RunEvent } from '../../src/protocol/messages';
import { initBackend } from '../../src/backend/backend';

const FIX = join(__dirname, '..', 'fixtures', 'images');

/** Two class folders of files that are not images at all, and the 224x224 RGB fixture CNN. */
function corruptWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-failfast-'));
  for (const c of ['a', 'b']) {
    mkdirSync(join(dir, 'imgs', c), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, 'imgs', c, `${i}.jpg`), 'not a jpeg');
  }
  copyFileSync(join(FIX, 'tiny_imagenet_cnn.onnx'), join(dir, 'm.onnx'));
  return dir;
}

async function loadError(
  dir: string,
  model: Record<string, unknown>,
  data: Record<string, unknown> = {},
): Promise<Error> {
  const cfg = configSchema.parse({
    data: { kind: 'images', train: 'imgs', ...data },
    model: { kind: 'onnx', path: 'm.onnx', ...model },
  });
  try {
    await loadInputs(cfg, dir, join(dir, 'c.selmix.json'));
  } catch (e) {
    return e as Error;
  }
  throw new Error('loadInputs did not fail');
}

test('a wrong head, grayscale against an RGB model, a wrong layout and a size mismatch are reported before any image is decoded; the advice works', async () => {
  await initBackend({ choice: 'cpu' });
  const dir = corruptWorkspace();
  const corrupt = /unreadable or truncated image/;
  let e = await loadError(dir, { head: 'fc', preprocess: { preset: 'imagenet' } });
  assert.match(e.message, /has no node named "fc"/);
  assert.doesNotMatch(e.message, corrupt);
  e = await loadError(dir, { preprocess: { preset: 'imagenet' } }, { grayscale: true });
  assert.match(e.message, /set data.grayscale to false/);
  e = await loadError(dir, { preprocess: { preset: 'imagenet', layout: 'NHWC' } });
  assert.match(e.message, /set model.preprocess.layout to "NCHW"/);
  e = await loadError(dir, { preprocess: { preset: 'cifar' } });
  assert.doesNotMatch(e.message, /takes 224x224/, 'no size can be known before the first image without a crop');
  e = await loadError(dir, { preprocess: { preset: 'cifar', centerCrop: 32 } });
  assert.match(e.message, /set model.preprocess.centerCrop to \[224, 224\]/);
  // Each piece of advice followed: the model part passes and the first thing reported is the corrupt image.
  e = await loadError(dir, { preprocess: { preset: 'cifar', centerCrop: [224, 224] } });
  assert.match(e.message, corrupt);
  e = await loadError(dir, { preprocess: { preset: 'imagenet', layout: 'NCHW' } });
  assert.match(e.message, corrupt);
  e = await loadError(dir, { preprocess: { preset: 'imagenet' } }, { grayscale: false });
  assert.match(e.message, corrupt);
});

test('chanceLevel: at or below 1/K + 3 standard errors is at chance; clearly above is not', () => {
  assert.equal(chanceLevel(0.5, 10, 1000, ''), null);
  const c = chanceLevel(0.1, 10, 1000, 'hint')!;
  assert.ok(c && Math.abs(c.bound - (0.1 + 3 * Math.sqrt(0.09 / 1000))) < 1e-12);
  assert.match(
    c.message,
    /at chance level on validation: accuracy 10\.0 % on 1000 examples, chance 1\/K = 10\.0 %.*hint/,
  );
  assert.ok(chanceLevel(0.12, 10, 100, '') !== null, 'within noise on 100 examples');
  assert.equal(chanceLevel(0.12, 10, 100000, ''), null);
});

test('a linear head of zeros (every example class 0: accuracy 1/K on a balanced validation set) is reported: a warn event and report.json startAtChance', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-chance-'));
  const n = 60,
    d = 4,
    K = 3;
  writeNpy(
    join(dir, 'x.npy'),
    Float32Array.from({ length: n * d }, (_, i) => Math.sin(i)),
    [n, d],
  );
  writeNpy(
    join(dir, 'y.npy'),
    Int32Array.from({ length: n }, (_, i) => i % K),
    [n],
  );
  writeNpy(join(dir, 'W.npy'), new Float32Array(K * d), [K, d]);
  const cfg = {
    data: { kind: 'npy', train: { features: 'x.npy', labels: 'y.npy' }, val: { features: 'x.npy', labels: 'y.npy' } },
    model: { kind: 'linear', weights: 'W.npy' },
    training: { steps: 3, refreshEvery: 3, warmStart: 'none' },
    output: 'out',
  };
  const events: RunEvent[] = [];
  const r = await runRequest(
    { configText: JSON.stringify(cfg), configPath: join(dir, 'c.selmix.json') },
    { emit: (e) => events.push(e), shouldStop: () => false, backend: 'cpu' },
  );
  assert.ok(r.ok, r.ok ? '' : r.message);
  const warn = events.find(
    (e) => e.type === 'run/log' && e.payload.level === 'warn' && /chance level/.test(e.payload.message),
  );
  assert.ok(warn, 'a warn event');
  const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
    startAtChance?: { accuracy: number; chance: number };
  };
  assert.ok(report.startAtChance);
  assert.ok(Math.abs(report.startAtChance.chance - 1 / 3) < 1e-12);
});
