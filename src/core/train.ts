// The SelMix fine-tuning loop (SELMIX.md section 5): every refreshEvery steps a validation pass gives the
// confusion matrix, the multipliers, the gain matrix G and the sampling distribution P; between refreshes
// each step draws (anchor, partner) pairs from P, mixes their features with lambda ~ U[lambdaMin, 1],
// and takes one SGD step on the cross-entropy against the anchor's label.
import * as tf from '@tensorflow/tfjs';
import type { SelmixConfig } from './config';
import type { SelmixModel } from './model';
import { forwardAll, gatherRows, metricsOf, type ExampleSet } from './evaluate';
import { argmaxRows } from './classStats';
import { crossEntropy, dense } from './nn';
import { cutmixRows } from './mixup';
import { LinearHeadTrainer } from './headStep';
import { Rng } from './rng';
import { PairSampler } from './sampler';
import { computeRefresh, type RefreshCache } from './refresh';
import type { MatMul } from './gain';
import { compileCustomObjective, type CompiledObjective } from './customObjective';
import { constraintSatisfied } from './metrics';
import type { ObjectiveId } from './objectiveIds';
import type { ObjectiveOptions } from './objectives';
import { TrainingError } from './errors';
import type { MetricsReport, RunEvent, RefreshPayload } from '../protocol/messages';

/** Labeled train set, validation set, optional unlabeled and test sets. */
export interface FinetuneData {
  train: ExampleSet & { y: Int32Array };
  val: ExampleSet & { y: Int32Array };
  unlabeled: ExampleSet | null;
  test: ExampleSet | null;
  classNames: string[];
}

/** Everything needed to continue a run bit-exactly from a step. */
export interface TrainState {
  step: number;
  /** True when the refresh due at this step has already been done (checkpoints taken at a refresh). */
  afterRefresh: boolean;
  weights: { name: string; shape: number[]; data: number[] }[];
  momentum: { shape: number[]; data: number[] }[];
  rng: number[];
  multipliers: number[] | null;
  P: number[];
  G: number[];
  partnerLabels: number[] | null;
  maxGainHistory: number[];
  best: { step: number; score: number; feasible: boolean };
  bestWeights: { shape: number[]; data: number[] }[];
  pendingEarlyStop: boolean;
  gainTrack: GainTrack;
  /** The scale of W the head step on features carries (weights[0] holds W / headScale); absent: 1. */
  headScale?: number;
}

/** Predicted gains of the sampled pairs against realised objective changes, one entry per interval. */
export interface GainTrack {
  predicted: number[];
  realised: number[];
  lastObjective: number | null;
  predictedSum: number;
  predictedCount: number;
}

/** What the loop needs besides the model and the data. */
export interface FinetuneOptions {
  config: SelmixConfig;
  emit: (e: RunEvent) => void;
  shouldStop: () => boolean;
  /** Called with the current state at every refresh and when stopping; best = this is the best so far. */
  onCheckpoint?: (state: TrainState, best: boolean) => void | Promise<void>;
  /** Continue from a saved state instead of starting fresh. */
  resume?: TrainState;
  /** Steps between run/step events (default: about 200 events per run). */
  stepEventEvery?: number;
  /** Matmul provider for the gain refresh (float32 tensor backend, fast at large K); absent: exact float64. */
  matmul?: MatMul;
  /** The config's custom objective, compiled once by the caller for this K (compiled here when absent). */
  custom?: CompiledObjective;
}

/** The outcome of the loop. */
export interface FinetuneResult {
  stoppedBy: 'steps' | 'earlyStop' | 'cancel';
  steps: number;
  bestStep: number;
  lastRefresh: RefreshPayload | null;
  /** Weights of the best validation iterate (same order as trainableVariables). */
  bestWeights: tf.Tensor[];
  gainCorrelation: number | null;
}

/** The model's trainable variables in a fixed order: W, b, then the backbone's. */
export function trainableVariables(model: SelmixModel, freezeBackbone: boolean): tf.Variable[] {
  return [model.W, model.b, ...(model.backbone && !freezeBackbone ? model.backbone.variables : [])];
}

/** Objective options of the config's selmix section. */
export function objectiveOptions(cfg: SelmixConfig): ObjectiveOptions {
  return { priorMode: cfg.selmix.priorMode, headFrac: cfg.selmix.headFrac, minRecall: { ...cfg.selmix.minRecall }, coverage: { ...cfg.selmix.coverage } };
}

/** Indices of each class's examples. */
export function indicesByClass(labels: ArrayLike<number>, K: number, keep?: (i: number) => boolean): number[][] {
  const out: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y >= 0 && y < K && (!keep || keep(i))) out[y]!.push(i);
  }
  return out;
}

/** Refresh intervals needed before the gain monitor judges the estimate. */
export const MONITOR_MIN_INTERVALS = 5;

/** Pearson correlation, or null with fewer than 3 points or zero variance. */
export function pearson(a: number[], b: number[]): number | null {
  const n = Math.min(a.length, b.length);
  if (n < 3) return null;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { const x = a[i]! - ma, y = b[i]! - mb; sab += x * y; saa += x * x; sbb += y * y; }
  if (saa <= 0 || sbb <= 0) return null;
  return sab / Math.sqrt(saa * sbb);
}

/** Learning rate at step t (cosine annealing to 0 over T steps, or constant). */
export function learningRate(base: number, t: number, T: number, schedule: 'cosine' | 'constant'): number {
  return schedule === 'cosine' ? base * 0.5 * (1 + Math.cos(Math.PI * Math.min(t, T) / T)) : base;
}

/** Scores an iterate for "best": feasible iterates first, then the objective's metric. */
function score(objective: ObjectiveId, m: MetricsReport, K: number, alpha: number, value: number): { score: number; feasible: boolean } {
  return { score: value, feasible: constraintSatisfied(objective, m, K, alpha) };
}

function better(a: { score: number; feasible: boolean }, b: { score: number; feasible: boolean }): boolean {
  if (a.feasible !== b.feasible) return a.feasible;
  return a.score > b.score;
}

/** Runs SelMix fine-tuning. Tensors are created inside tidy scopes; the count stays flat across steps. */
export async function finetune(model: SelmixModel, data: FinetuneData, opts: FinetuneOptions): Promise<FinetuneResult> {
  const cfg = opts.config;
  const tr = cfg.training;
  const sm = cfg.selmix;
  const K = model.K;
  const objective = cfg.objective;
  const objOpts = objectiveOptions(cfg);
  const custom = opts.custom ?? (cfg.customObjective ? compileCustomObjective(cfg.customObjective, K) : undefined);
  const freeze = cfg.model && 'freezeBackbone' in cfg.model ? cfg.model.freezeBackbone : false;
  const vars = trainableVariables(model, freeze);
  const isBias = vars.map((v, i) => i === 1 || /_b_/.test(v.name));
  const lrFactor = vars.map((_, i) => (i < 2 ? 1 : tr.backboneLrFactor));
  // tf.variable keeps its initial value's data but not the tensor object: the tidy releases that (and assign's below).
  const momentum = vars.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
  const T = tr.steps;
  const stepEvery = opts.stepEventEvery ?? Math.max(1, Math.round(T / 200));
  const anchorsByClass = indicesByClass(data.train.y, K);
  const pool = data.unlabeled ?? data.train;

  let rng = new Rng(tr.seed);
  let multipliers: Float64Array | null = null;
  let P: Float64Array | null = null;
  let G: Float64Array | null = null;
  let partnerLabels: Int32Array | null = null;
  let maxGainHistory: number[] = [1000];
  let best = { step: -1, score: -Infinity, feasible: false };
  let bestWeights: tf.Tensor[] = vars.map((v) => tf.clone(v));
  let gainTrack: GainTrack = { predicted: [], realised: [], lastObjective: null, predictedSum: 0, predictedCount: 0 };
  let pendingEarlyStop = false;
  let start = 0;

  if (opts.resume) {
    const s = opts.resume;
    if (s.weights.length !== vars.length) throw new TrainingError(`checkpoint has ${s.weights.length} weight tensors, the model ${vars.length}`);
    tf.tidy(() => {
      s.weights.forEach((w, i) => vars[i]!.assign(tf.tensor(w.data, w.shape)));
      s.momentum.forEach((m, i) => momentum[i]!.assign(tf.tensor(m.data, m.shape)));
    });
    rng = Rng.fromState(s.rng);
    multipliers = s.multipliers ? Float64Array.from(s.multipliers) : null;
    P = Float64Array.from(s.P);
    G = Float64Array.from(s.G);
    partnerLabels = s.partnerLabels ? Int32Array.from(s.partnerLabels) : null;
    maxGainHistory = s.maxGainHistory.slice();
    best = { ...s.best };
    bestWeights.forEach((t) => t.dispose());
    bestWeights = s.bestWeights.map((w) => tf.tensor(w.data, w.shape));
    pendingEarlyStop = s.pendingEarlyStop;
    gainTrack = structuredClone(s.gainTrack);
    start = s.step;
  }

  const partnerLabelsFor = (): Int32Array => {
    if (!data.unlabeled) return data.train.y;
    if (sm.partnerLabels === 'oracle') {
      if (!data.unlabeled.y) throw new TrainingError('partnerLabels "oracle" needs labels for the unlabeled set');
      return data.unlabeled.y;
    }
    const fw = forwardAll(model, data.unlabeled);
    const pl = argmaxRows(fw.logits, fw.n, K);
    if (sm.pseudoLabelThreshold > 0) {
      for (let i = 0; i < fw.n; i++) {
        let mx = -Infinity, z = 0;
        for (let k = 0; k < K; k++) mx = Math.max(mx, fw.logits[i * K + k]!);
        for (let k = 0; k < K; k++) z += Math.exp(fw.logits[i * K + k]! - mx);
        if (1 / z < sm.pseudoLabelThreshold) pl[i] = -1;
      }
    }
    return pl;
  };

  // On precomputed features (no backbone) with feature mixup: the lean head step of src/core/headStep.ts. It carries
  // the bias and a scale of W outside the variables; sync() makes them exact before anything reads them.
  const head = !model.backbone && tr.mixup !== 'cutmix'
    ? new LinearHeadTrainer({ W: vars[0]!, b: vars[1]!, mW: momentum[0]!, mb: momentum[1]! }, opts.resume?.headScale ?? 1) : null;

  // A snapshot keeps W's carried scale as it is (and records it), so a resumed run rounds exactly as one never stopped.
  const snapshotState = async (step: number, afterRefresh: boolean): Promise<TrainState> => {
    head?.writeBias();
    return {
      step,
      afterRefresh,
      weights: await Promise.all(vars.map(async (v) => ({ name: v.name, shape: v.shape.slice(), data: Array.from(await v.data()) }))),
      momentum: await Promise.all(momentum.map(async (m) => ({ shape: m.shape.slice(), data: Array.from(await m.data()) }))),
      rng: rng.getState(),
      multipliers: multipliers ? Array.from(multipliers) : null,
      P: P ? Array.from(P) : [],
      G: G ? Array.from(G) : [],
      partnerLabels: partnerLabels && data.unlabeled ? Array.from(partnerLabels) : null,
      maxGainHistory: maxGainHistory.slice(),
      best: { ...best },
      bestWeights: await Promise.all(bestWeights.map(async (w) => ({ shape: w.shape.slice(), data: Array.from(await w.data()) }))),
      pendingEarlyStop,
      gainTrack: structuredClone(gainTrack),
      ...(head && head.wScale !== 1 ? { headScale: head.wScale } : {}),
    };
  };

  let sampler: PairSampler | null = null;
  let lastRefresh: RefreshPayload | null = null;
  // Without a backbone the validation features never change: their centroids and Gram matrix are computed once.
  const refreshCache: RefreshCache | undefined = model.backbone ? undefined : {};
  let warnedTracking = false;

  const refresh = async (step: number): Promise<void> => {
    head?.sync();
    const fw = forwardAll(model, data.val);
    const W = Float64Array.from(await model.W.data());
    const b = Float64Array.from(await model.b.data());
    const r = computeRefresh({
      K, d: model.d, features: fw.features, labels: data.val.y, logits: fw.logits, W, b, objective,
      prevMultipliers: multipliers, options: objOpts, custom, s: sm.temperature, lambdaBar: (tr.lambdaMin + 1) / 2,
      variant: sm.deltaW, ...(sm.epsMask !== undefined ? { epsMask: sm.epsMask } : {}), matmul: opts.matmul,
      ...(refreshCache ? { cache: refreshCache } : {}), logitsFromHead: true,
    });
    multipliers = r.multipliers;
    // Baselines keep the bookkeeping but replace SelMix's distribution.
    P = sm.policy === 'selmix' ? r.P : new Float64Array(K * K).fill(1 / (K * K));
    G = r.G;
    // Linear-approximation monitor: the mean predicted gain of the pairs drawn over the last interval
    // against the realised change of the objective over that interval.
    if (gainTrack.lastObjective !== null && gainTrack.predictedCount > 0) {
      gainTrack.predicted.push(gainTrack.predictedSum / gainTrack.predictedCount);
      gainTrack.realised.push(r.objectiveValue - gainTrack.lastObjective);
    }
    gainTrack.lastObjective = r.objectiveValue;
    gainTrack.predictedSum = 0;
    gainTrack.predictedCount = 0;
    partnerLabels = partnerLabelsFor();
    // Without an unlabeled set the partners are the labeled examples: the same per-class lists as the anchors.
    const partnersByClass = partnerLabels === data.train.y ? anchorsByClass : indicesByClass(partnerLabels, K);
    sampler = new PairSampler({ P, K, anchorsByClass, partnersByClass, rng, ...(sm.samplerEps !== undefined ? { eps: sm.samplerEps } : {}) });
    const sc = custom ? { score: r.objectiveValue, feasible: custom.feasible(r.C) } : score(objective, r.metrics, K, sm.coverage.alpha, r.objectiveValue);
    const isBest = best.step < 0 || better(sc, best);
    if (isBest) {
      best = { step, ...sc };
      bestWeights.forEach((t) => t.dispose());
      bestWeights = vars.map((v) => tf.clone(v));
    }
    const corr = pearson(gainTrack.predicted, gainTrack.realised);
    // Say so when the first-order estimate stops tracking reality (SELMIX.md section 3, "Approximations").
    const tracking = corr === null || gainTrack.predicted.length < MONITOR_MIN_INTERVALS || corr > 0;
    if (!tracking && !warnedTracking) {
      warnedTracking = true;
      opts.emit({ type: 'run/log', payload: { level: 'warn', message: `the first-order gain estimate is not tracking the realised change of ${custom?.name ?? objective} (correlation ${corr!.toFixed(2)} over ${gainTrack.predicted.length} intervals): consider a lower learning rate or a more frequent refresh` } });
    } else if (tracking) warnedTracking = false;
    lastRefresh = {
      step, objective: custom?.name ?? objective, objectiveValue: r.objectiveValue, val: r.metrics,
      multipliers: r.multipliers ? Array.from(r.multipliers) : null,
      gain: { K, data: Array.from(r.G) }, distribution: { K, data: Array.from(r.P) }, maxGain: r.maxGain, gainCorrelation: corr,
    };
    opts.emit({ type: 'run/refresh', payload: lastRefresh });
    maxGainHistory.push(r.maxGain);
    if (tr.earlyStop && maxGainHistory.length >= tr.earlyStop.window) {
      const last = maxGainHistory.slice(-tr.earlyStop.window);
      const mean = last.reduce((s, v) => s + v, 0) / last.length;
      // The reference stops after one more step once the plateau test fires (SELMIX.md section 5.6).
      if (Math.abs(mean - r.maxGain) < tr.earlyStop.tol * Math.abs(mean)) pendingEarlyStop = true;
    }
    if (opts.onCheckpoint) await opts.onCheckpoint(await snapshotState(step, true), isBest);
  };

  const rebuildSampler = (): void => {
    if (!P) return;
    partnerLabels = partnerLabels ?? partnerLabelsFor();
    sampler = new PairSampler({ P, K, anchorsByClass, partnersByClass: indicesByClass(partnerLabels, K), rng, ...(sm.samplerEps !== undefined ? { eps: sm.samplerEps } : {}) });
  };
  if (opts.resume) rebuildSampler();

  let stoppedBy: FinetuneResult['stoppedBy'] = 'steps';
  let t = start;
  let tStep = performance.now();
  let lossSum = 0;
  let lossCount = 0;
  for (; t < T; t++) {
    if (opts.shouldStop()) { stoppedBy = 'cancel'; break; }
    if (pendingEarlyStop && t % tr.refreshEvery === 1 % tr.refreshEvery) { stoppedBy = 'earlyStop'; break; }
    if (t % tr.refreshEvery === 0 && !(opts.resume?.afterRefresh && t === start)) await refresh(t);
    // Extra checkpoints between refreshes (a refresh always writes one).
    else if (tr.checkpointEvery && t % tr.checkpointEvery === 0 && t > start && opts.onCheckpoint) await opts.onCheckpoint(await snapshotState(t, false), false);
    const batch = sm.policy === 'plain' ? plainBatch(data.train.y, tr.batchSize, rng) : sampler!.draw(tr.batchSize);
    if (G) {
      for (let i = 0; i < batch.anchorClass.length; i++) gainTrack.predictedSum += G[batch.anchorClass[i]! * K + batch.partnerClass[i]!]!;
      gainTrack.predictedCount += batch.anchorClass.length;
    }
    const lam = new Float32Array(tr.batchSize);
    if (sm.policy === 'plain') lam.fill(1);
    else for (let i = 0; i < lam.length; i++) lam[i] = rng.uniform(tr.lambdaMin, 1);
    const lr = learningRate(tr.lr, t, T, tr.schedule);
    // CutMix mixes inputs (one forward pass of the mixed image); otherwise features are mixed.
    const cut = tr.mixup === 'cutmix' && sm.policy !== 'plain'
      ? cutmixRows(data.train, pool, batch.anchors, batch.partners, lam, rng) : null;
    const loss = head ? head.step({
      anchorSet: data.train.x, partnerSet: (sm.policy === 'plain' ? data.train : pool).x, anchors: batch.anchors,
      partners: sm.policy === 'plain' ? null : batch.partners, ya: batch.anchorClass, lam,
    }, { lr: lr * lrFactor[0]!, momentum: tr.momentum, wd: tr.weightDecay }) : sgdStep(model, vars, momentum, isBias, lrFactor, {
      xa: cut ? tf.tensor(cut.x, [tr.batchSize, ...data.train.shape]) : gatherRows(data.train, batch.anchors),
      xp: cut ? null : gatherRows(sm.policy === 'plain' ? data.train : pool, batch.partners),
      ya: batch.anchorClass, lam, lr, momentum: tr.momentum, wd: tr.weightDecay, freeze,
    });
    if (!Number.isFinite(loss) || loss > 1e4) {
      throw new TrainingError(`training diverged at step ${t}: loss = ${loss}. Lower training.lr (now ${tr.lr}); the best checkpoint (step ${best.step}) is kept.`);
    }
    lossSum += loss;
    lossCount++;
    if ((t + 1) % stepEvery === 0 || t + 1 === T) {
      const now = performance.now();
      opts.emit({ type: 'run/step', payload: { step: t + 1, totalSteps: T, loss: lossSum / lossCount, lr, msPerStep: (now - tStep) / lossCount } });
      tStep = now;
      lossSum = 0;
      lossCount = 0;
      await new Promise((r) => setImmediate(r)); // let a stop request in
    }
  }
  // A final validation pass, so the last iterate competes for "best" and the report has the end state.
  // On cancel, keep the state exactly as it is so a resumed run continues as if never stopped.
  if (stoppedBy === 'cancel') {
    if (opts.onCheckpoint) await opts.onCheckpoint(await snapshotState(t, false), false);
    head?.sync();
  } else {
    await refresh(t);
  }
  momentum.forEach((m) => m.dispose());
  return { stoppedBy, steps: t, bestStep: best.step, lastRefresh, bestWeights, gainCorrelation: pearson(gainTrack.predicted, gainTrack.realised) };
}

/** A batch for plain fine-tuning: examples drawn uniformly from the labeled set, no partner. */
function plainBatch(labels: Int32Array, n: number, rng: Rng): { anchors: Int32Array; partners: Int32Array; anchorClass: Int32Array; partnerClass: Int32Array } {
  const anchors = new Int32Array(n);
  for (let i = 0; i < n; i++) anchors[i] = rng.int(labels.length);
  const anchorClass = anchors.map((i) => labels[i]!);
  return { anchors, partners: anchors, anchorClass, partnerClass: anchorClass };
}

/** Inputs of one SGD step. */
export interface StepInput {
  xa: tf.Tensor;
  /** Partner inputs for feature mixup, or null when xa is already mixed (CutMix). */
  xp: tf.Tensor | null;
  ya: Int32Array;
  lam: Float32Array;
  lr: number;
  momentum: number;
  wd: number;
  freeze: boolean;
}

/**
 * One SGD step on mean CE(logits of lambda*g(xa) + (1-lambda)*g(xp), label of xa) (SELMIX.md section 4).
 * With no trainable backbone the head gradient is written by hand: dL/da = (softmax(a) - onehot)/B,
 * dW = f^T dL/da, db = sum_rows dL/da (section 8.11), using an explicit transpose.
 */
export function sgdStep(model: SelmixModel, vars: tf.Variable[], mom: tf.Variable[], isBias: boolean[], lrFactor: number[], s: StepInput): number {
  const B = s.ya.length;
  const K = model.K;
  const lossT = tf.tidy(() => {
    const lam = tf.tensor2d(s.lam, [B, 1]);
    const ya = tf.tensor1d(s.ya, 'int32');
    let grads: tf.Tensor[];
    let loss: tf.Scalar;
    if (!model.backbone || s.freeze) {
      const feat = (x: tf.Tensor) => (model.backbone ? model.backbone.apply(x) : (x.reshape([B, model.d]) as tf.Tensor2D));
      // f = lambda*g(xa) + (1-lambda)*g(xp), written as g(xp) + lambda*(g(xa) - g(xp)): one kernel fewer.
      let f = feat(s.xa);
      if (s.xp) { const fp = feat(s.xp); f = tf.add(fp, tf.mul(lam, tf.sub(f, fp))) as tf.Tensor2D; }
      const oneHot = tf.oneHot(ya, K).toFloat();
      const logits = tf.add(tf.matMul(f, model.W), model.b);
      const g = tf.div(tf.sub(tf.softmax(logits), oneHot), B) as tf.Tensor2D;
      grads = [tf.matMul(tf.transpose(f), g), tf.sum(g, 0)];
      // CE = logsumexp(a) - a_y, exact (it overflows to Infinity when the logits explode, which stops the run).
      loss = tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(oneHot, logits), 1))) as tf.Scalar;
    } else {
      const bb = model.backbone;
      const r = tf.variableGrads(() => {
        const f = s.xp ? tf.add(tf.mul(lam, bb.apply(s.xa)), tf.mul(tf.sub(1, lam), bb.apply(s.xp))) as tf.Tensor2D : bb.apply(s.xa);
        const logits = tf.add(dense(f, model.W), model.b) as tf.Tensor2D;
        return crossEntropy(logits, ya, K);
      }, vars);
      grads = vars.map((v) => r.grads[v.name]!);
      loss = r.value;
    }
    vars.forEach((v, i) => {
      const lr = s.lr * lrFactor[i]!;
      if (lr === 0) return;
      const wd = isBias[i] ? 0 : s.wd;
      if (s.momentum > 0) {
        const m = tf.add(tf.mul(mom[i]!, s.momentum), wd > 0 ? tf.add(grads[i]!, tf.mul(v, wd)) : grads[i]!);
        mom[i]!.assign(m);
        v.assign(tf.sub(v, tf.mul(m, lr)));
      } else {
        // Plain SGD with decay, fused: v (1 - lr wd) - lr g.
        v.assign(tf.sub(wd > 0 ? tf.mul(v, 1 - lr * wd) : v, tf.mul(grads[i]!, lr)));
      }
    });
    return loss;
  });
  s.xa.dispose();
  s.xp?.dispose();
  const l = lossT.dataSync()[0]!;
  lossT.dispose();
  return l;
}

/** Final metrics of the model on a labeled set. */
export function evaluateSet(model: SelmixModel, set: ExampleSet & { y: Int32Array }, headFrac: number): MetricsReport {
  const fw = forwardAll(model, set);
  return metricsOf(fw.logits, set.y, model.K, headFrac);
}
