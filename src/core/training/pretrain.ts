// Pre-training a baseline on a long-tailed labeled set with cross-entropy or logit-adjusted cross-entropy
// (docs/ALGORITHM.md section 5.9-5.10: LA adds log(prior) to the logits in the loss only, tau = 1), so that users
// and the demo have a starting model. SGD with momentum and a cosine schedule over all steps.
import * as tf from '@tensorflow/tfjs';
import type { SelmixConfig } from '../config';
import type { SelmixModel } from './model';
import { gatherRows, type ExampleSet } from './evaluate';
import { crossEntropy, dense } from './nn';
import { Rng } from '../numerics/rng';
import { learningRate, trainableVariables } from './train';
import { TrainingError } from '../errors';
import { ProgressPacer } from '../pacer';
import type { RunEvent } from '../../protocol/messages';

/** Trains every variable of the model; returns the number of steps taken and whether it was stopped. */
export async function pretrain(
  model: SelmixModel,
  train: ExampleSet & { y: Int32Array },
  cfg: SelmixConfig['pretrain'],
  emit: (e: RunEvent) => void,
  shouldStop: () => boolean,
): Promise<{ steps: number; cancelled: boolean }> {
  const K = model.K;
  const vars = trainableVariables(model, false);
  const mom = vars.map((v) => tf.variable(tf.zerosLike(v), false));
  const counts = new Array<number>(K).fill(0);
  for (const y of train.y) counts[y]!++;
  const logPrior = tf.tensor1d(counts.map((c) => Math.log(Math.max(c, 1) / train.n)));
  const rng = new Rng(cfg.seed);
  const perEpoch = Math.ceil(train.n / cfg.batchSize);
  const T = perEpoch * cfg.epochs;
  let t = 0;
  let lossSum = 0;
  let lossCount = 0;
  let tick = performance.now();
  const pacer = new ProgressPacer(tick);
  try {
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const order = rng.shuffle(Array.from({ length: train.n }, (_, i) => i));
      for (let s = 0; s < train.n; s += cfg.batchSize, t++) {
        if (shouldStop()) {
          // The views get the step the pre-training really reached.
          if (lossCount > 0)
            emit({
              type: 'run/step',
              payload: {
                step: t,
                totalSteps: T,
                loss: lossSum / lossCount,
                lr: learningRate(cfg.lr, t, T, 'cosine'),
                msPerStep: (performance.now() - tick) / lossCount,
              },
            });
          return { steps: t, cancelled: true };
        }
        const idx = order.slice(s, s + cfg.batchSize);
        const lr = learningRate(cfg.lr, t, T, 'cosine');
        const x = gatherRows(train, idx);
        const lossT = tf.tidy(() => {
          const y = tf.tensor1d(
            idx.map((i) => train.y[i]!),
            'int32',
          );
          const { value, grads } = tf.variableGrads(() => {
            const f = model.backbone ? model.backbone.apply(x) : (x.reshape([idx.length, model.d]) as tf.Tensor2D);
            let logits = tf.add(dense(f, model.W), model.b) as tf.Tensor2D;
            if (cfg.loss === 'logitAdjusted') logits = tf.add(logits, logPrior) as tf.Tensor2D;
            return crossEntropy(logits, y, K);
          }, vars);
          vars.forEach((v, i) => {
            let g = grads[v.name]!;
            if (i !== 1 && !/_b_/.test(v.name)) g = tf.add(g, tf.mul(v, 5e-4));
            const m = tf.add(tf.mul(mom[i]!, cfg.momentum), g);
            mom[i]!.assign(m);
            v.assign(tf.sub(v, tf.mul(m, lr)));
          });
          return value;
        });
        x.dispose();
        const loss = lossT.dataSync()[0]!;
        lossT.dispose();
        if (!Number.isFinite(loss))
          throw new TrainingError(
            `pre-training diverged at step ${t} (loss ${loss}); lower pretrain.lr (now ${cfg.lr})`,
          );
        lossSum += loss;
        lossCount++;
        // By wall time (at least every PROGRESS_EVENT_MS), not by a fraction of the steps.
        const now = performance.now();
        if (pacer.tick(now) || t + 1 === T) {
          emit({
            type: 'run/step',
            payload: { step: t + 1, totalSteps: T, loss: lossSum / lossCount, lr, msPerStep: (now - tick) / lossCount },
          });
          pacer.mark(now);
          tick = now;
          lossSum = 0;
          lossCount = 0;
          await new Promise((r) => setImmediate(r));
        }
      }
      emit({
        type: 'run/log',
        payload: { level: 'info', step: t, message: `pre-training: epoch ${epoch + 1}/${cfg.epochs} done` },
      });
    }
  } finally {
    mom.forEach((m) => m.dispose());
    logPrior.dispose();
  }
  return { steps: t, cancelled: false };
}
