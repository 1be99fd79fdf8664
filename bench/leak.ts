// Benchmark (f): tensor leak check over a long head-only fine-tuning run: tf.memory().numTensors before and
// after, its range over the refreshes, and the peak RSS of the process.
import * as tf from '@tensorflow/tfjs';
import { configSchema } from '../src/core/config';
import { disposeModel } from '../src/core/training/model';
import { finetune } from '../src/core/training/train';
import { RssSampler } from './lib';
import { syntheticProblem } from './overhead';

/** Leak-check figures. */
export interface LeakResult {
  steps: number;
  K: number;
  d: number;
  tensorsBefore: number;
  tensorsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  /** numTensors seen at each refresh: min and max. */
  atRefresh: { min: number; max: number; count: number };
  peakRssBytes: number;
  rssBefore: number;
  wallS: number;
}

/** Runs `steps` head-only steps (refresh every 50) and reports the tensor count around them. */
export async function benchLeak(opts: { K: number; d: number; steps: number }): Promise<LeakResult> {
  const { model, data } = syntheticProblem(opts.K, opts.d, 11);
  // The head's variables, made when first read, are the model's: made before the count.
  if (model.W.rank !== 2) throw new Error('bench/leak.ts: the head is not a matrix');
  const cfg = configSchema.parse({
    objective: 'minRecall',
    data: { kind: 'npy', train: { features: 'x.npy', labels: 'y.npy' } },
    model: { kind: 'linear', weights: 'w.npy' },
    training: { steps: opts.steps, refreshEvery: 50, seed: 0 },
  });
  const rss = new RssSampler();
  const rssBefore = process.memoryUsage().rss;
  const before = tf.memory();
  const seen: number[] = [];
  rss.start(50);
  const t0 = performance.now();
  const res = await finetune(model, data, {
    config: cfg,
    shouldStop: () => false,
    emit: (e) => {
      if (e.type === 'run/refresh') {
        seen.push(tf.memory().numTensors);
        rss.sample();
      }
    },
  });
  const wallS = (performance.now() - t0) / 1000;
  res.bestWeights.forEach((t) => t.dispose());
  const peak = rss.stop();
  const after = tf.memory();
  disposeModel(model);
  return {
    steps: opts.steps,
    K: opts.K,
    d: opts.d,
    tensorsBefore: before.numTensors,
    tensorsAfter: after.numTensors,
    bytesBefore: before.numBytes,
    bytesAfter: after.numBytes,
    atRefresh: { min: Math.min(...seen), max: Math.max(...seen), count: seen.length },
    peakRssBytes: peak,
    rssBefore,
    wallS,
  };
}
