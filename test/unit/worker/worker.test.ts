// The training worker (src/worker/worker.ts, as bundled): what it posts to the host. Above 100 classes a refresh
// reaches the host with G and P in tiles, as the views draw them; the full matrices stay in the run's output files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { readNpy } from '../../../src/data/npy';
import type { RunEvent, WorkerRequest } from '../../../src/protocol/messages';
import { writeLinearJob } from '../../helpers/synthetic';
import { privateBundles } from '../../helpers/reliability';

/** A head-only job with K classes on d-dimensional clustered features (writeLinearJob); returns its config path. */
function job(K: number, d: number): { dir: string; configPath: string } {
  const dir = writeLinearJob('selmix-worker-', new Array<number>(K).fill(6), new Array<number>(K).fill(3), d, 9);
  const configPath = join(dir, 'run.selmix.json');
  const data = {
    kind: 'npy',
    train: { features: 'trx.npy', labels: 'try.npy' },
    val: { features: 'vax.npy', labels: 'vay.npy' },
  };
  const training = { steps: 20, batchSize: 16, refreshEvery: 10, seed: 1 };
  writeFileSync(
    configPath,
    JSON.stringify({
      objective: 'minRecall',
      data,
      model: { kind: 'linear', weights: 'W.npy' },
      training,
      output: 'out',
    }),
  );
  return { dir, configPath };
}

/** Runs the job in the bundled worker to its terminal event; the events it posted. */
function runInWorker(configPath: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  const worker = new Worker(join(privateBundles(), 'worker.js'));
  return new Promise((resolve, reject) => {
    worker.on('message', (e: RunEvent) => {
      events.push(e);
      if (e.type === 'run/finished' || e.type === 'run/failed') void worker.terminate().then(() => resolve(events));
    });
    worker.on('error', reject);
    worker.postMessage({
      type: 'worker/start',
      request: { configText: readFileSync(configPath, 'utf8'), configPath },
      backend: 'cpu',
    } satisfies WorkerRequest);
  });
}

test('a refresh at K = 120 reaches the host with G and P in 60 x 60 tiles of 2; gain.npy keeps the full 120 x 120', async () => {
  const K = 120;
  const { dir, configPath } = job(K, 16);
  try {
    const events = await runInWorker(configPath);
    const done = events.at(-1)!;
    assert.equal(done.type, 'run/finished', JSON.stringify(done.payload).slice(0, 300));
    const refreshes = events.flatMap((e) => (e.type === 'run/refresh' ? [e.payload] : []));
    assert.ok(refreshes.length >= 2, `refreshes: ${refreshes.length}`);
    for (const r of refreshes) {
      // Typed arrays: one copy across threads, not one JS number at a time.
      assert.ok(r.gain.data instanceof Float64Array && r.distribution.data instanceof Float64Array);
      assert.equal(r.gain.K, 60);
      assert.equal(r.gain.block, 2);
      assert.equal(r.gain.data.length, 60 * 60);
      assert.equal(r.distribution.K, 60);
      assert.equal(r.distribution.data.length, 60 * 60);
      // P's tiles are its mass: they still sum to 1.
      const mass = Array.from(r.distribution.data).reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(mass - 1) < 1e-9, `P's tiles sum to ${mass}`);
    }
    // The last refresh's full matrices are the run's files; its tile of largest |G| is their block maximum.
    const G = readNpy(join(dir, 'out', 'gain.npy'));
    assert.deepEqual(G.shape, [K, K]);
    const last = refreshes.at(-1)!;
    let m = 0;
    for (let j = 0; j < 2; j++)
      for (let l = 0; l < 2; l++) {
        const v = Number(G.data[j * K + l]!);
        if (Math.abs(v) > Math.abs(m)) m = v;
      }
    assert.equal(last.gain.data[0], m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('at K = 12 a refresh reaches the host whole, in typed arrays', async () => {
  const { dir, configPath } = job(12, 8);
  try {
    const events = await runInWorker(configPath);
    const r = events.flatMap((e) => (e.type === 'run/refresh' ? [e.payload] : [])).at(-1)!;
    assert.equal(r.gain.K, 12);
    assert.equal(r.gain.block, undefined);
    assert.ok(r.gain.data instanceof Float64Array, "the engine's own typed array");
    assert.equal(r.gain.data.length, 144);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
