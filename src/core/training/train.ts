// The SelMix fine-tuning loop (docs/ALGORITHM.md section 5): every refreshEvery steps a validation pass gives the
// confusion matrix, the multipliers, the gain matrix G and the sampling distribution P; between refreshes each step
// draws (anchor, partner) pairs from P, mixes their features with lambda ~ U[lambdaMin, 1], and takes one SGD step on
// the cross-entropy against the anchor's label. The loop is a FinetuneRun: its mutable state lives in one object, and a
// checkpoint (TrainState) is written and read back through one table of fields, so snapshot and restore mirror each
// other.
import * as tf from '@tensorflow/tfjs';
import type { SelmixConfig } from '../config';
import type { SelmixModel } from './model';
import { forwardAll, gatherRows, metricsOf, type ExampleSet } from './evaluate';
import { argmaxRows, type ClassStats } from '../numerics/classStats';
import { crossEntropy, dense } from './nn';
import { cutmixRows } from './mixup';
import { LinearHeadTrainer, type HeadTrainer, type HeadTrainerFactory } from './headStep';
import type { NetworkTrainer, NetworkTrainerFactory } from './networkStep';
import { augmentImages, type AugmentSpec } from './augment';
import { cutmixImages, puzzleImages, saliencyGrid, softTargets, type ImageLayout } from './inputMix';
import { Rng } from '../numerics/rng';
import { PairSampler } from '../numerics/sampler';
import { computeRefresh, type RefreshCache } from '../numerics/refresh';
import { GainScratch, type MatMul } from '../numerics/gain';
import { smoothDistribution } from '../numerics/distribution';
import type { CompiledObjective } from '../objectives/compiledObjective';
import { compileObjective } from '../objectives/compileObjective';
import { adjustedMetrics, betterScore, logPrior, searchTau, type Scored } from '../numerics/logitAdjust';
import type { ObjectiveOptions } from '../objectives/objectives';
import { TrainingError } from '../errors';
import { MIN_STEP_EVENT_MS, pauseEventDue, PROGRESS_EVENT_MS, stepEventDue } from '../pacer';
import { DurationStats } from '../gapStats';
import {
  changeNoise,
  emptyGainTrack,
  gainVerdict,
  monitorChange,
  recordPairs,
  type GainTrack,
  type GainVerdict,
} from '../numerics/gainMonitor';
import { metricsOfStats, metricsReport } from '../numerics/metrics';
import { classSupport, confusionMatrix } from '../numerics/confusion';
import type {
  MetricsReport,
  PseudoLabelSummary,
  RunEvent,
  RefreshPayload,
  RefreshPhase,
  WarmStartSummary,
} from '../../protocol/messages';

/** Labeled train set, validation set, optional unlabeled and test sets. */
export interface FinetuneData {
  train: ExampleSet & { y: Int32Array };
  val: ExampleSet & { y: Int32Array };
  unlabeled: ExampleSet | null;
  test: ExampleSet | null;
  classNames: string[];
}

/** One tensor of a checkpoint: its shape and its float32 values, row-major. */
export interface StateTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Everything needed to continue a run bit-exactly from a step (docs/ALGORITHM.md section 5.5). Arrays are typed, so
 * src/data/checkpoint.ts stores them as one binary buffer; every other field is a small JSON value.
 */
export interface TrainState {
  /** The next step to run. */
  step: number;
  /** True when the refresh due at this step has already been done (checkpoints taken at a refresh). */
  afterRefresh: boolean;
  /** The trainable variables (same order as trainableVariables). */
  weights: StateTensor[];
  /** The SGD momentum buffer of each variable. */
  momentum: StateTensor[];
  /** The scale of W the head step on features carries (weights[0] holds W / headScale); 1 elsewhere. */
  headScale: number;
  /** The weights of the best validation iterate so far. */
  bestWeights: StateTensor[];
  /** The random generator's four 32-bit words. */
  rng: number[];
  multipliers: Float64Array | null;
  /** Sampling distribution and gain matrix of the last refresh (K x K, row-major); null before the first. */
  P: Float64Array | null;
  G: Float64Array | null;
  /** Classes of the unlabeled partners (-1: below the pseudo-label threshold); null without an unlabeled set. */
  partnerLabels: Int32Array | null;
  /** max G at every refresh, after the dummy first entry (docs/ALGORITHM.md section 5.6). */
  maxGainHistory: Float64Array;
  best: { step: number; score: number; feasible: boolean };
  pendingEarlyStop: boolean;
  gainTrack: {
    predicted: Float64Array;
    realised: Float64Array;
    lastObjective: number | null;
    predictedSum: number;
    predictedCount: number;
    /** Absent in checkpoints written before the monitor weighed noise (read as unknown). */
    noise?: Float64Array;
    lastPreds?: Int32Array | null;
  };
  /** The warm start's tau (null: none applied). A resumed run recomputes what it gave from the starting model. */
  warmStart: { tau: number } | null;
  /** The validation predictions of the kept iterate (training.selectionMargin compares a new one with them). */
  bestPreds: Int32Array | null;
  /**
   * The Mean Teacher's weights (selmix.teacher "ema"), in the variables' order with W exact (no carried scale); null
   * before the teacher first saw the weights, and without a teacher.
   */
  teacher: StateTensor[] | null;
}

/** The longest the loop runs without yielding to the event loop (ms), so a stop request is seen promptly. */
export const YIELD_EVERY_MS = 100;

/** Resolves after the event loop has run its pending I/O and messages (a macrotask, not a microtask). */
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** What the loop needs besides the model and the data. */
export interface FinetuneOptions {
  config: SelmixConfig;
  emit: (e: RunEvent) => void;
  shouldStop: () => boolean;
  /** Called with the current state at every refresh and when stopping; best = this is the best so far. */
  onCheckpoint?: (state: TrainState, best: boolean) => void | Promise<void>;
  /** Continue from a saved state instead of starting fresh. */
  resume?: TrainState;
  /**
   * Steps between run/step events (tests); default: by wall time, at least every PROGRESS_EVENT_MS and at every
   * refresh.
   */
  stepEventEvery?: number;
  /**
   * The longest a refresh (during which no step runs) stays silent, ms: it sends run/refreshing events as it starts its
   * parts (pauseEventDue). Default PROGRESS_EVENT_MS; Infinity (the default with stepEventEvery): none.
   */
  refreshEventMs?: number;
  /** Matmul provider for the gain refresh (float32 tensor backend, fast at large K); absent: exact float64. */
  matmul?: MatMul;
  /**
   * Keep the gain's work arrays between refreshes (GainScratch: about 50 MB at K = 1000), default true: where fresh
   * memory comes in 4 KB pages, faulting them in anew cost a K = 1000 refresh about as much as its arithmetic here.
   * The run layer turns it off where malloc hands out huge pages (the CLI's child, bin/selmix.js), to keep the peak
   * memory down.
   */
  keepGainWork?: boolean;
  /** The config's objective (custom or built-in), compiled once by the caller for this K (here when absent). */
  objective?: CompiledObjective;
  /**
   * The head step on features (default: LinearHeadTrainer on the tfjs backend; the run layer may hand in ONNX Runtime's
   * fused step).
   */
  headTrainer?: HeadTrainerFactory;
  /**
   * The whole-network step outside tfjs (an ONNX network on ONNX Runtime): used instead of sgdStep when the backbone
   * trains.
   */
  networkTrainer?: NetworkTrainerFactory;
  /** Random crop and flip of the training images of a whole-network step (never of validation or test). */
  augment?: AugmentSpec;
  /** The images' layout, for input-level mixing (CutMix, PuzzleMix) in a whole-network step. */
  image?: ImageLayout;
}

/** The outcome of the loop. */
export interface FinetuneResult {
  stoppedBy: 'steps' | 'earlyStop' | 'cancel';
  steps: number;
  bestStep: number;
  lastRefresh: RefreshPayload | null;
  /** Weights of the best validation iterate (same order as trainableVariables). */
  bestWeights: tf.Tensor[];
  /** The correlation of the gain monitor over every refresh interval (for display). */
  gainCorrelation: number | null;
  /** The gain monitor's verdict over every refresh interval: the one its last warning or withdrawal stated. */
  gainCheck: GainVerdict;
  /**
   * The warm start, when one was applied: the tau chosen on validation, the objective there, its val and test metrics.
   */
  warmStart: WarmStartSummary | null;
  /** The kept iterate is the final one of a run that used its whole step budget (more steps may help). */
  bestIsLast: boolean;
  /** The step budget of this run (training.steps, or the one derived from training.passes). */
  totalSteps: number;
  /** The unlabeled set's pseudo-labels at the last refresh (null without one, or with oracle labels). */
  pseudoLabels: PseudoLabelSummary | null;
}

/**
 * Where a training loop's time went, in words for the run's log: the pauses (refreshes, with their checkpoints) and the
 * steps, each as a count, p50 and p95, and their shares of the loop's wall time (the rest: yielding to the event loop
 * and sending events).
 */
export function loopTimeLine(wallMs: number, pauses: DurationStats, steps: DurationStats): string {
  const part = (what: string, d: DurationStats): string => {
    const g = d.summary();
    if (!g) return `no ${what}`;
    const share = wallMs > 0 ? Math.round((100 * d.sum) / wallMs) : 0;
    return `${d.count} ${what} p50 ${g.p50.toFixed(1)} ms, p95 ${g.p95.toFixed(1)} ms (${share} % of its time)`;
  };
  return `the training loop ran ${(wallMs / 1000).toFixed(1)} s: ${part('pauses for refreshes and checkpoints took', pauses)}; ${part('steps took', steps)}`;
}

/**
 * The step budget: training.steps when given, else ceil(passes * labeled / batchSize), at least one refresh interval.
 */
export function resolveSteps(tr: SelmixConfig['training'], nTrain: number): number {
  if (tr.steps !== undefined) return tr.steps;
  return Math.min(1_000_000, Math.max(tr.refreshEvery, Math.ceil((tr.passes * nTrain) / tr.batchSize)));
}

/** The model's trainable variables in a fixed order: W, b, then the backbone's. */
export function trainableVariables(model: SelmixModel, freezeBackbone: boolean): tf.Variable[] {
  return [model.W, model.b, ...(model.backbone && !freezeBackbone ? model.backbone.variables : [])];
}

/** Objective options of the config's selmix section. */
export function objectiveOptions(cfg: SelmixConfig): ObjectiveOptions {
  return {
    priorMode: cfg.selmix.priorMode,
    headFrac: cfg.selmix.headFrac,
    minRecall: { ...cfg.selmix.minRecall },
    coverage: { ...cfg.selmix.coverage },
  };
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

/** Learning rate at step t (cosine annealing to 0 over T steps, or constant). */
export function learningRate(base: number, t: number, T: number, schedule: 'cosine' | 'constant'): number {
  return schedule === 'cosine' ? base * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, T)) / T)) : base;
}

/**
 * How an iterate scores for "best": feasible iterates first, then the objective's value (docs/ALGORITHM.md section
 * 5.6).
 */
type Score = Scored;
const better = betterScore;

/** The loop's mutable state, all of it in one object (the tensors' values live in their variables and tensors). */
interface LoopState {
  step: number;
  afterRefresh: boolean;
  rng: Rng;
  multipliers: Float64Array | null;
  P: Float64Array | null;
  G: Float64Array | null;
  partnerLabels: Int32Array | null;
  maxGainHistory: number[];
  best: Score & { step: number };
  bestWeights: tf.Tensor[];
  pendingEarlyStop: boolean;
  gainTrack: GainTrack;
  bestPreds: Int32Array | null;
}

/** How one TrainState field is taken from a run and put back: the two halves of snapshot and restore, side by side. */
interface Field<T> {
  save(r: FinetuneRun): T | Promise<T>;
  load(r: FinetuneRun, v: T): void;
}

/**
 * A copy of a tensor's values, with its shape. tfjs's cpu backend hands out its own array, so that one is copied; the
 * others (wasm, tfjs-node, webgl) already return a copy of their memory, and a second one cost 25 MB a checkpoint at
 * K = 1000, d = 2048 (W, its momentum and the best W).
 */
async function stateTensor(t: tf.Tensor): Promise<StateTensor> {
  const data = (await t.data()) as Float32Array;
  return { shape: t.shape.slice(), data: tf.getBackend() === 'cpu' ? data.slice() : data };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Assigns saved values to variables after checking count and shapes (a checkpoint that does not fit is refused, not a
 * tfjs error).
 */
function assignAll(what: string, vars: tf.Variable[], saved: StateTensor[]): void {
  if (saved.length !== vars.length)
    throw new TrainingError(`checkpoint has ${saved.length} ${what} tensors, the model ${vars.length}`);
  saved.forEach((w, i) => {
    if (!sameShape(w.shape, vars[i]!.shape))
      throw new TrainingError(`checkpoint ${what} ${i} has shape [${w.shape}], the model [${vars[i]!.shape}]`);
  });
  tf.tidy(() => saved.forEach((w, i) => vars[i]!.assign(tf.tensor(w.data, w.shape))));
}

/**
 * One fine-tuning run. Construct it, optionally `restore` a checkpoint, then `run` it once. Tensors are created inside
 * tidy scopes; the count stays flat across steps.
 */
export class FinetuneRun {
  /**
   * Every TrainState field, each with its save and load side by side. The mapped type makes a field of TrainState
   * without an entry a compile error; snapshot and restore both walk this table in its order (weights and momentum
   * before headScale, whose load rebuilds the head step from them).
   */
  private static readonly fields: { [K in keyof TrainState]-?: Field<TrainState[K]> } = {
    // First: its load measures the warm start on the starting model, before the weights below replace it.
    warmStart: {
      save: (r) => (r.warmStart ? { tau: r.warmStart.tau } : null),
      load: (r, v) => {
        r.warmStart = v ? r.measureWarmStart(v.tau, false) : null;
      },
    },
    step: {
      save: (r) => r.s.step,
      load: (r, v) => {
        r.s.step = v;
      },
    },
    afterRefresh: {
      save: (r) => r.s.afterRefresh,
      load: (r, v) => {
        r.s.afterRefresh = v;
      },
    },
    weights: { save: (r) => Promise.all(r.vars.map(stateTensor)), load: (r, v) => assignAll('weight', r.vars, v) },
    momentum: {
      save: (r) => Promise.all(r.momentum.map(stateTensor)),
      load: (r, v) => assignAll('momentum', r.momentum, v),
    },
    headScale: {
      save: (r) => r.head?.wScale ?? 1,
      load: (r, v) => {
        r.head?.dispose?.();
        r.head = r.newHead(v);
        r.net?.reload();
      },
    },
    bestWeights: {
      save: (r) => Promise.all(r.s.bestWeights.map(stateTensor)),
      load: (r, v) => {
        v.forEach((w, i) => {
          if (!r.vars[i] || !sameShape(w.shape, r.vars[i].shape))
            throw new TrainingError(
              `checkpoint best weight ${i} has shape [${w.shape}], the model [${r.vars[i]?.shape ?? 'none'}]`,
            );
        });
        if (v.length !== r.vars.length)
          throw new TrainingError(`checkpoint has ${v.length} best-weight tensors, the model ${r.vars.length}`);
        r.s.bestWeights.forEach((t) => t.dispose());
        r.s.bestWeights = v.map((w) => tf.tensor(w.data, w.shape));
      },
    },
    // A resumed run continues the same average (without it the teacher would restart from the resumed weights).
    teacher: {
      save: (r) => r.teacher?.map((t, i) => ({ shape: r.vars[i]!.shape.slice(), data: t.slice() })) ?? null,
      load: (r, v) => {
        if (v) {
          if (v.length !== r.vars.length)
            throw new TrainingError(`checkpoint has ${v.length} teacher tensors, the model ${r.vars.length}`);
          v.forEach((w, i) => {
            if (!sameShape(w.shape, r.vars[i]!.shape))
              throw new TrainingError(
                `checkpoint teacher weight ${i} has shape [${w.shape}], the model [${r.vars[i]!.shape}]`,
              );
          });
        }
        r.teacher = v ? v.map((w) => w.data.slice()) : null;
      },
    },
    rng: {
      save: (r) => r.s.rng.getState(),
      load: (r, v) => {
        r.s.rng = Rng.fromState(v);
      },
    },
    multipliers: {
      save: (r) => r.s.multipliers?.slice() ?? null,
      load: (r, v) => {
        r.s.multipliers = v?.slice() ?? null;
      },
    },
    // P and G are replaced at every refresh, never changed in place: a checkpoint takes them as they are (two K x K
    // copies, 16 MB at K = 1000, at every refresh otherwise).
    P: {
      save: (r) => r.s.P,
      load: (r, v) => {
        r.s.P = v?.slice() ?? null;
      },
    },
    G: {
      save: (r) => r.s.G,
      load: (r, v) => {
        r.s.G = v?.slice() ?? null;
      },
    },
    // Without an unlabeled set the partners are the labeled examples: nothing to save, rebuilt from the data.
    partnerLabels: {
      save: (r) => (r.s.partnerLabels && r.data.unlabeled ? r.s.partnerLabels.slice() : null),
      load: (r, v) => {
        r.s.partnerLabels = v?.slice() ?? null;
      },
    },
    maxGainHistory: {
      save: (r) => Float64Array.from(r.s.maxGainHistory),
      load: (r, v) => {
        r.s.maxGainHistory = Array.from(v);
      },
    },
    best: {
      save: (r) => ({ ...r.s.best }),
      load: (r, v) => {
        r.s.best = { ...v };
      },
    },
    pendingEarlyStop: {
      save: (r) => r.s.pendingEarlyStop,
      load: (r, v) => {
        r.s.pendingEarlyStop = v;
      },
    },
    bestPreds: {
      save: (r) => r.s.bestPreds?.slice() ?? null,
      load: (r, v) => {
        r.s.bestPreds = v?.slice() ?? null;
      },
    },
    gainTrack: {
      save: (r) => {
        const g = r.s.gainTrack;
        return {
          ...g,
          predicted: Float64Array.from(g.predicted),
          realised: Float64Array.from(g.realised),
          noise: Float64Array.from(g.noise),
          lastPreds: g.lastPreds?.slice() ?? null,
        };
      },
      load: (r, v) => {
        const predicted = Array.from(v.predicted);
        const noise = v.noise ? Array.from(v.noise) : predicted.map(() => Number.NaN);
        r.s.gainTrack = {
          ...v,
          predicted,
          realised: Array.from(v.realised),
          noise,
          lastPreds: v.lastPreds?.slice() ?? null,
        };
      },
    },
  };

  /** The names of TrainState's fields, in the order snapshot and restore walk them. */
  static readonly fieldNames = Object.keys(FinetuneRun.fields) as (keyof TrainState)[];

  private readonly s: LoopState;
  private readonly cfg: SelmixConfig;
  private readonly K: number;
  private readonly objective: CompiledObjective;
  private readonly freeze: boolean;
  private readonly vars: tf.Variable[];
  private readonly momentum: tf.Variable[];
  private readonly isBias: boolean[];
  private readonly lrFactor: number[];
  private readonly anchorsByClass: number[][];
  /** The partners' set: the unlabeled examples, or the labeled ones. */
  private readonly pool: ExampleSet;
  // On precomputed features (no backbone) with feature mixup: the lean head step of src/core/training/headStep.ts. It
  // carries
  // the bias and a scale of W outside the variables; sync() makes them exact before anything reads them.
  private head: HeadTrainer | null;
  // A whole ONNX network steps on ONNX Runtime; it holds the parameters between sync() calls, as the head step does.
  private net: NetworkTrainer | null = null;
  /** The Mean Teacher's weights (variables' order, W exact), once a step or a refresh has needed them. */
  private teacher: Float32Array[] | null = null;
  private pseudoLabels: PseudoLabelSummary | null = null;
  /** When the last checkpoint was written (performance.now()); none yet: the first refresh writes one. */
  private checkpointedAt = Number.NEGATIVE_INFINITY;
  /** When the last run/step or run/refreshing event went out (performance.now()). */
  private lastEventAt = performance.now();
  /** The part of a refresh under way and when it started (null outside a refresh). */
  private part: { phase: RefreshPhase; at: number } | null = null;
  /** How long each part of a refresh took last time, ms (a validation batch: one batch). */
  private readonly partMs = new Map<RefreshPhase, number>();
  // Transient state, rebuilt from the checkpointed state (the sampler) or not needed to continue it.
  private sampler: PairSampler | null = null;
  private lastRefresh: RefreshPayload | null = null;
  private readonly T: number;
  private warmStart: WarmStartSummary | null = null;
  // Without a backbone the validation features never change: their centroids and Gram matrix are computed once.
  private readonly refreshCache: RefreshCache | undefined;
  /** The gain's work arrays, the same memory at every refresh (K x K and K x d: 4 to 16 MB each at K = 1000). */
  private readonly gainScratch = new GainScratch();
  /** Examples per class in the validation set (the noise of each class's recall). */
  private readonly valSupport: number[];
  /**
   * training.selection "split": the validation rows that feed the gains (and the warm start) and those that pick the
   * kept iterate, every other example of each class; null: all rows do both.
   */
  private readonly split: {
    gain: Int32Array;
    sel: Int32Array;
    gainY: Int32Array;
    selY: Int32Array;
    selSupport: number[];
  } | null;
  private gainFeatures: { source: Float32Array; rows: Float32Array } | null = null;

  constructor(
    private readonly model: SelmixModel,
    private readonly data: FinetuneData,
    private readonly opts: FinetuneOptions,
  ) {
    const cfg = opts.config;
    this.cfg = cfg;
    this.K = model.K;
    this.objective = opts.objective ?? compileObjective(cfg, model.K);
    this.freeze = cfg.model && 'freezeBackbone' in cfg.model ? cfg.model.freezeBackbone : false;
    this.vars = trainableVariables(model, this.freeze);
    this.isBias = this.vars.map((v, i) => i === 1 || /_b_/.test(v.name));
    this.lrFactor = this.vars.map((_, i) => (i < 2 ? 1 : cfg.training.backboneLrFactor));
    // tf.variable keeps its initial value's data but not the tensor object: the tidy releases that (and assign's).
    this.momentum = this.vars.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
    this.anchorsByClass = indicesByClass(data.train.y, model.K);
    this.pool = data.unlabeled ?? data.train;
    this.refreshCache = model.backbone ? undefined : {};
    this.valSupport = classSupport(data.val.y, model.K);
    this.split = cfg.training.selection === 'split' ? splitRows(data.val.y, model.K) : null;
    this.T = resolveSteps(cfg.training, data.train.n);
    // The warm start changes b before anything is copied from it (a resumed run restores its own weights instead).
    if (cfg.training.warmStart === 'logitAdjusted' && !opts.resume) this.applyWarmStart();
    this.s = {
      step: 0,
      afterRefresh: false,
      rng: new Rng(cfg.training.seed),
      multipliers: null,
      P: null,
      G: null,
      partnerLabels: null,
      maxGainHistory: [1000],
      best: { step: -1, score: -Infinity, feasible: false },
      bestWeights: this.vars.map((v) => tf.clone(v)),
      pendingEarlyStop: false,
      gainTrack: emptyGainTrack(),
      bestPreds: null,
    };
    this.head = this.newHead(1);
    if (model.backbone && !this.freeze && opts.networkTrainer) {
      if (cfg.training.mixup !== 'feature' && !opts.image)
        throw new TrainingError(`training.mixup "${cfg.training.mixup}" mixes images: the inputs are not images`);
      this.net = opts.networkTrainer(this.vars, this.momentum);
    }
    if (cfg.training.mixup === 'puzzle' && !this.net?.saliency)
      throw new TrainingError(
        'training.mixup "puzzle" needs a whole ONNX network (the saliency is its input gradient)',
      );
  }

  /**
   * How a validation confusion matrix (and its metrics report) scores for this run's objective; C may be a function
   * that builds the matrix (the warm start's tau search builds it only for an objective that reads it).
   */
  private scoreOf(C: Float64Array | (() => Float64Array), m: MetricsReport): Score {
    return this.objective.scoreAt(C, m, this.cfg.selmix.coverage.alpha);
  }

  /**
   * Starts from post-hoc logit adjustment (docs/ALGORITHM.md section 5.1): b <- b - tau log(labeled prior), with tau
   * chosen on validation for the objective (tau = 0, no change, when no adjustment helps). The step-0 refresh then
   * scores this point, so the kept iterate is never worse on validation than the adjusted start.
   */
  private applyWarmStart(): void {
    const { model, data, K, cfg } = this;
    const fw = forwardAll(model, data.val, undefined, this.opts.matmul);
    const lp = logPrior(data.train.y, K);
    // With a selection split, tau is searched on the gains' half only, so the half that picks the kept iterate has not
    // seen it.
    const logits = this.split ? takeRows(fw.logits, K, this.split.gain) : fw.logits;
    const labels = this.split ? this.split.gainY : data.val.y;
    const c = searchTau(logits, labels, K, lp, cfg.selmix.headFrac, (C, m) => this.scoreOf(C, m));
    const a0 = adjustedMetrics(logits, labels, K, lp, 0, cfg.selmix.headFrac);
    const before = this.scoreOf(a0.C, a0.metrics);
    this.warmStart = this.measureWarmStart(c.tau, true);
    const name = this.objective.name;
    this.opts.emit({
      type: 'run/log',
      payload: {
        level: 'info',
        step: 0,
        message:
          c.tau > 0
            ? `warm start: post-hoc logit adjustment of the head (b <- b - tau log prior), tau = ${+c.tau.toFixed(4)} chosen on validation for ${name}: ${before.score.toFixed(4)} -> ${c.score.toFixed(4)}${c.feasible ? '' : ' (constraint not met)'}`
            : `warm start: no logit adjustment improves ${name} on validation (tau = 0); starting from the model as it is`,
      },
    });
  }

  /**
   * What the warm start with this tau gives from the model as it is now (the starting model): the objective and the
   * metrics on validation, and on test when the test set is labeled. apply: also shift b (a fresh run; a resumed one
   * only measures, its weights come from the checkpoint).
   */
  private measureWarmStart(tau: number, apply: boolean): WarmStartSummary {
    const { model, data, K, cfg } = this;
    const headFrac = cfg.selmix.headFrac;
    const lp = logPrior(data.train.y, K);
    const onSet = (set: ExampleSet & { y: Int32Array }) =>
      adjustedMetrics(forwardAll(model, set, undefined, this.opts.matmul).logits, set.y, K, lp, tau, headFrac);
    const v = onSet(data.val);
    const testSet = data.test?.y ? (data.test as ExampleSet & { y: Int32Array }) : null;
    const t = testSet ? onSet(testSet) : null;
    if (apply && tau > 0)
      tf.tidy(() => model.b.assign(tf.sub(model.b, tf.mul(tf.tensor1d(Float32Array.from(lp)), tau))));
    return {
      tau,
      objectiveValue: this.scoreOf(v.C, v.metrics).score,
      val: v.metrics,
      ...(t ? { test: t.metrics, testObjectiveValue: this.scoreOf(t.C, t.metrics).score } : {}),
    };
  }

  /** The head step on features, with W's carried scale, or null when the generic step trains the model. */
  private newHead(scale: number): HeadTrainer | null {
    if (this.model.backbone || this.cfg.training.mixup === 'cutmix') {
      if (scale !== 1)
        throw new TrainingError(
          `checkpoint carries a head scale (${scale}) but this run does not train a head on features`,
        );
      return null;
    }
    const [W, b] = this.vars;
    const v = { W: W!, b: b!, mW: this.momentum[0]!, mb: this.momentum[1]! };
    return this.opts.headTrainer ? this.opts.headTrainer(v, scale) : new LinearHeadTrainer(v, scale);
  }

  /**
   * The state as a checkpoint. W's carried scale is kept as it is (and recorded), so a resumed run rounds exactly as
   * one never stopped.
   */
  async snapshot(): Promise<TrainState> {
    this.head?.writeBias();
    this.net?.sync();
    const out: Partial<Record<keyof TrainState, unknown>> = {};
    for (const k of FinetuneRun.fieldNames) out[k] = await FinetuneRun.fields[k].save(this);
    return out as TrainState;
  }

  /** Continues from a checkpoint: the mirror of snapshot, field for field. Call before run. */
  restore(state: TrainState): void {
    for (const k of FinetuneRun.fieldNames) (FinetuneRun.fields[k] as Field<unknown>).load(this, state[k]);
  }

  /** Frees what the run holds besides the result's tensors (the momentum buffers; the best weights unless returned). */
  dispose(withBest: boolean): void {
    this.gainScratch.release();
    this.head?.dispose?.();
    this.net?.dispose?.();
    this.momentum.forEach((m) => m.dispose());
    if (withBest) this.s.bestWeights.forEach((t) => t.dispose());
  }

  /** Runs the loop to the end, an early stop or a stop request (docs/ALGORITHM.md sections 5.5 and 5.6). */
  async run(): Promise<FinetuneResult> {
    const { s, opts } = this;
    const tr = this.cfg.training;
    const T = this.T;
    const stepEvery = opts.stepEventEvery;
    let lastReported = s.step;
    this.lastEventAt = performance.now();
    // Step events keep their own pace (stepEventDue), whatever run/refreshing events went out between them.
    let lastStepEventAt = this.lastEventAt;
    /** How long the last refresh (with its checkpoint) held the loop, ms. */
    let pauseMs = 0;
    const start = s.step;
    this.rebuildSampler();
    let stoppedBy: FinetuneResult['stoppedBy'] = 'steps';
    let tStep = performance.now();
    let lossSum = 0;
    let lossCount = 0;
    let lastLr = 0;
    let lastYield = performance.now();
    let refreshed = false;
    // Where the loop's time goes (the run's log says at its end): pauses for refreshes and checkpoints, and steps.
    const loopStart = performance.now();
    const pauses = new DurationStats();
    const steps = new DurationStats();
    for (; s.step < T; s.step++, s.afterRefresh = false) {
      const t = s.step;
      // Let a stop request (a worker message, the CLI's SIGINT) in: after every refresh, and at least every
      // YIELD_EVERY_MS. Awaiting a refresh runs only microtasks, so without this a stop waited for the next
      // run/step event: T / 200 steps, 30 s at K = 1000.
      if (refreshed || performance.now() - lastYield >= YIELD_EVERY_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
        refreshed = false;
      }
      if (opts.shouldStop()) {
        stoppedBy = 'cancel';
        break;
      }
      if (s.pendingEarlyStop && t % tr.refreshEvery === 1 % tr.refreshEvery) {
        stoppedBy = 'earlyStop';
        break;
      }
      let checkpointed = false;
      const pauseAt = performance.now();
      if (t % tr.refreshEvery === 0 && !s.afterRefresh) {
        checkpointed = await this.refresh();
        refreshed = true;
      }
      // Extra checkpoints (a refresh writes one every training.checkpointSeconds).
      let paused = refreshed;
      if (!checkpointed && tr.checkpointEvery && t % tr.checkpointEvery === 0 && t > start) {
        this.refreshPart('checkpoint');
        await this.checkpoint(false);
        this.endRefreshParts();
        paused = true;
      }
      const stepAt = performance.now();
      if (paused) {
        pauses.add(stepAt - pauseAt);
      }
      if (refreshed) pauseMs = stepAt - pauseAt;
      const { loss, lr } = this.step(t, T);
      if (!Number.isFinite(loss) || loss > 1e4) {
        throw new TrainingError(
          `training diverged at step ${t}: loss = ${loss}. Lower training.lr (now ${tr.lr}); the best checkpoint (step ${s.best.step}) is kept.`,
        );
      }
      lossSum += loss;
      lossCount++;
      lastLr = lr;
      // A run/step event by wall time (stepEventDue: right before each refresh, evenly between two, at least every
      // PROGRESS_EVENT_MS whatever the step time) and at the end.
      const now = performance.now();
      steps.add(now - stepAt);
      const nextRefresh = (Math.floor(t / tr.refreshEvery) + 1) * tr.refreshEvery;
      const stepsToPause = Math.min(nextRefresh, T) - t - 1;
      // The first refresh boundary is always reported: the views show a step as soon as there is one.
      const due =
        (stepsToPause === 0 && lastReported === start) ||
        stepEventDue({ sinceEvent: now - lastStepEventAt, unitMs: now - stepAt, stepsToPause, pauseMs });
      if (stepEvery !== undefined ? (t + 1) % stepEvery === 0 || t + 1 === T : due || t + 1 === T) {
        opts.emit({
          type: 'run/step',
          payload: { step: t + 1, totalSteps: T, loss: lossSum / lossCount, lr, msPerStep: (now - tStep) / lossCount },
        });
        this.lastEventAt = now;
        lastStepEventAt = now;
        lastReported = t + 1;
        tStep = now;
        lossSum = 0;
        lossCount = 0;
      }
    }
    // Stopped between two events: the views get the step the run really reached (its checkpoint's).
    if (s.step !== lastReported && lossCount > 0) {
      opts.emit({
        type: 'run/step',
        payload: {
          step: s.step,
          totalSteps: T,
          loss: lossSum / lossCount,
          lr: lastLr,
          msPerStep: (performance.now() - tStep) / lossCount,
        },
      });
    }
    if (s.step > start)
      opts.emit({
        type: 'run/log',
        payload: {
          level: 'info',
          step: s.step,
          message: loopTimeLine(performance.now() - loopStart, pauses, steps),
        },
      });
    // A final validation pass, so the last iterate competes for "best" and the report has the end state.
    // On cancel, keep the state exactly as it is so a resumed run continues as if never stopped.
    if (stoppedBy === 'cancel') {
      await this.checkpoint(false);
      this.head?.sync();
      this.net?.sync();
    } else {
      await this.refresh(true);
    }
    const bestIsLast = stoppedBy === 'steps' && s.best.step === s.step && s.step > 0;
    if (bestIsLast) {
      opts.emit({
        type: 'run/log',
        payload: {
          level: 'warn',
          step: s.step,
          message: `the kept iterate is the last one (step ${s.step}): the validation objective was still improving when the budget ran out; more steps (training.steps, now ${T}, or training.passes) may help`,
        },
      });
    }
    this.dispose(false);
    return {
      stoppedBy,
      steps: s.step,
      bestStep: s.best.step,
      lastRefresh: this.lastRefresh,
      bestWeights: s.bestWeights,
      gainCorrelation: gainVerdict(s.gainTrack).correlation,
      gainCheck: gainVerdict(s.gainTrack),
      warmStart: this.warmStart,
      bestIsLast,
      totalSteps: T,
      pseudoLabels: this.pseudoLabels,
    };
  }

  private async checkpoint(best: boolean): Promise<void> {
    if (this.opts.onCheckpoint) await this.opts.onCheckpoint(await this.snapshot(), best);
    this.checkpointedAt = performance.now();
  }

  /** One SGD step at step t: draw the pairs and their lambda, mix, update. Returns the batch's loss and the lr. */
  private step(t: number, T: number): { loss: number; lr: number } {
    const { s, data, pool, K } = this;
    const tr = this.cfg.training;
    const plain = this.cfg.selmix.policy === 'plain';
    const batch = plain ? plainBatch(data.train.y, tr.batchSize, s.rng) : this.sampler!.draw(tr.batchSize);
    const lam = new Float32Array(tr.batchSize);
    if (plain) lam.fill(1);
    else for (let i = 0; i < lam.length; i++) lam[i] = s.rng.uniform(tr.lambdaMin, 1);
    const lr = learningRate(tr.lr, t, T, tr.schedule);
    // The first-order change a step predicts is its learning rate times the gain of its pairs.
    if (s.G) recordPairs(s.gainTrack, s.G, K, batch.anchorClass, batch.partnerClass, lr);
    // CutMix mixes inputs (one forward pass of the mixed image); otherwise features are mixed.
    if (this.net) {
      const rows = (set: ExampleSet, idx: Int32Array): Float32Array => {
        const per = set.x.length / Math.max(1, set.n);
        const out = new Float32Array(idx.length * per);
        for (let i = 0; i < idx.length; i++) out.set(set.x.subarray(idx[i]! * per, (idx[i]! + 1) * per), i * per);
        if (this.opts.augment) augmentImages(out, idx.length, this.opts.augment, s.rng);
        return out;
      };
      const xa = rows(data.train, batch.anchors);
      const xp = rows(plain ? data.train : pool, batch.partners);
      const hp = { lr, momentum: tr.momentum, wd: tr.weightDecay, backboneLrFactor: tr.backboneLrFactor };
      let loss: number;
      if (tr.mixup !== 'feature' && !plain) {
        // Input-level mixing (section 4.1): the mixed image against the soft target weighted by pixel share.
        const mixed = this.mixInputs(xa, xp, batch.anchorClass, batch.partnerClass, lam);
        const y = softTargets(batch.anchorClass, batch.partnerClass, mixed.lamEff, K);
        loss = this.net.step({ xa: mixed.x, xp, lam, ya: batch.anchorClass, y }, hp);
      } else loss = this.net.step({ xa, xp, lam, ya: batch.anchorClass }, hp);
      this.updateTeacher();
      return { loss, lr };
    }
    const cut =
      tr.mixup === 'cutmix' && !plain ? cutmixRows(data.train, pool, batch.anchors, batch.partners, lam, s.rng) : null;
    const loss = this.head
      ? this.head.step(
          {
            anchorSet: data.train.x,
            partnerSet: (plain ? data.train : pool).x,
            anchors: batch.anchors,
            partners: plain ? null : batch.partners,
            ya: batch.anchorClass,
            lam,
          },
          { lr: lr * this.lrFactor[0]!, momentum: tr.momentum, wd: tr.weightDecay },
        )
      : sgdStep(this.model, this.vars, this.momentum, this.isBias, this.lrFactor, {
          xa: cut ? tf.tensor(cut.x, [tr.batchSize, ...data.train.shape]) : gatherRows(data.train, batch.anchors),
          xp: cut ? null : gatherRows(plain ? data.train : pool, batch.partners),
          ya: batch.anchorClass,
          lam,
          lr,
          momentum: tr.momentum,
          wd: tr.weightDecay,
          freeze: this.freeze,
        });
    this.updateTeacher();
    return { loss, lr };
  }

  /**
   * CutMix or saliency-guided mixing of a whole-network batch (docs/ALGORITHM.md section 4.1); the saliency is the
   * input gradient of each image's loss with its own label (anchor or partner class) at the current weights.
   */
  private mixInputs(
    xa: Float32Array,
    xp: Float32Array,
    ya: Int32Array,
    yp: Int32Array,
    lam: Float32Array,
  ): { x: Float32Array; lamEff: Float32Array } {
    const tr = this.cfg.training;
    const img = this.opts.image!;
    const B = ya.length;
    if (tr.mixup === 'cutmix') return cutmixImages(xa, xp, B, img, lam, this.s.rng);
    const both = new Float32Array(xa.length + xp.length);
    both.set(xa);
    both.set(xp, xa.length);
    const labels = new Int32Array(2 * B);
    labels.set(ya);
    labels.set(yp, B);
    const grad = this.net!.saliency!(both, labels);
    const g = tr.puzzleGrid;
    const sal = saliencyGrid(grad, 2 * B, img, g);
    return puzzleImages(xa, xp, B, img, g, sal.subarray(0, B * g * g), sal.subarray(B * g * g), lam);
  }

  /**
   * The weights as they are now, in the variables' order (W exact): what the teacher averages. A head trainer holds
   * W and b ahead of their variables between sync calls (ONNX Runtime's keeps W in its own arrays), so it is asked.
   */
  private currentValues(): Float32Array[] {
    if (this.net?.values) return this.net.values();
    if (this.head) {
      const { W, b } = this.head.current();
      return [W, b];
    }
    return this.vars.map((v) => v.dataSync() as Float32Array);
  }

  /**
   * Mean Teacher (selmix.teacher "ema"): teacher <- decay x teacher + (1 - decay) x weights after every step. The
   * teacher starts from the weights of the first refresh or step it sees (the starting model); a resumed run restores
   * it from the checkpoint (TrainState.teacher).
   */
  private updateTeacher(): void {
    const sm = this.cfg.selmix;
    if (sm.teacher !== 'ema' || !this.data.unlabeled || sm.partnerLabels === 'oracle') return;
    const cur = this.currentValues();
    if (!this.teacher) {
      this.teacher = cur.map((v) => Float32Array.from(v));
      return;
    }
    const d = sm.teacherDecay;
    this.teacher.forEach((t, i) => {
      const c = cur[i]!;
      for (let j = 0; j < t.length; j++) t[j] = d * t[j]! + (1 - d) * c[j]!;
    });
  }

  /**
   * Classes of the partners: the labeled set's, the unlabeled set's true labels ("oracle"), or pseudo-labels (section
   * 5.8).
   */
  private partnerLabelsFor(): Int32Array {
    const { data, model, K } = this;
    const sm = this.cfg.selmix;
    if (!data.unlabeled) return data.train.y;
    if (sm.partnerLabels === 'oracle') {
      if (!data.unlabeled.y) throw new TrainingError('partnerLabels "oracle" needs labels for the unlabeled set');
      return data.unlabeled.y;
    }
    const ema = sm.teacher === 'ema';
    if (ema && !this.teacher) this.teacher = this.currentValues().map((v) => Float32Array.from(v));
    const fw = ema
      ? this.withWeights(this.teacher!, () => forwardAll(model, data.unlabeled!, undefined, this.opts.matmul))
      : forwardAll(model, data.unlabeled, undefined, this.opts.matmul);
    const pl = argmaxRows(fw.logits, fw.n, K);
    let passed = fw.n;
    if (sm.pseudoLabelThreshold > 0) {
      for (let i = 0; i < fw.n; i++) {
        let mx = -Infinity,
          z = 0;
        for (let k = 0; k < K; k++) mx = Math.max(mx, fw.logits[i * K + k]!);
        for (let k = 0; k < K; k++) z += Math.exp(fw.logits[i * K + k]! - mx);
        if (1 / z < sm.pseudoLabelThreshold) {
          pl[i] = -1;
          passed--;
        }
      }
    }
    this.pseudoLabels = {
      source: ema ? 'ema' : 'self',
      ...(ema ? { decay: sm.teacherDecay } : {}),
      threshold: sm.pseudoLabelThreshold,
      passed,
      total: fw.n,
      step: this.s.step,
    };
    return pl;
  }

  /**
   * Runs f with the variables holding the given weights (variables' order, W exact), then puts the model's back. The
   * head trainer is synced first, so W carries no scale while they are swapped.
   */
  private withWeights<T>(values: Float32Array[], f: () => T): T {
    this.head?.sync();
    const keep = this.vars.map((v) => tf.clone(v));
    try {
      tf.tidy(() => this.vars.forEach((v, i) => v.assign(tf.tensor(values[i]!.slice(), v.shape))));
      return f();
    } finally {
      tf.tidy(() => this.vars.forEach((v, i) => v.assign(keep[i]!)));
      keep.forEach((t) => t.dispose());
    }
  }

  /** A sampler over P for the current partner labels, drawing from the run's generator. */
  private newSampler(P: Float64Array, partnerLabels: Int32Array): PairSampler {
    // Without an unlabeled set the partners are the labeled examples: the same per-class lists as the anchors.
    const partnersByClass =
      partnerLabels === this.data.train.y ? this.anchorsByClass : indicesByClass(partnerLabels, this.K);
    const eps = this.cfg.selmix.samplerEps;
    return new PairSampler({
      P,
      K: this.K,
      anchorsByClass: this.anchorsByClass,
      partnersByClass,
      rng: this.s.rng,
      ...(eps !== undefined ? { eps } : {}),
    });
  }

  /**
   * After a restore: the sampler of the last refresh, from its P and partner labels (nothing before the first refresh).
   */
  private rebuildSampler(): void {
    const { s } = this;
    if (!s.P) return;
    s.partnerLabels = s.partnerLabels ?? this.partnerLabelsFor();
    this.sampler = this.newSampler(s.P, s.partnerLabels);
  }

  /**
   * A refresh at the current step (docs/ALGORITHM.md section 5.5, step 2), ending with a checkpoint when
   * training.checkpointSeconds have passed since the last one, or when it is the run's final refresh. Returns whether
   * it wrote one.
   */
  private async refresh(final = false): Promise<boolean> {
    const { s, model, data, K, objective, opts } = this;
    const { training: tr, selmix: sm } = this.cfg;
    const step = s.step;
    this.refreshPart('validation', 0, data.val.n);
    this.head?.sync();
    this.net?.sync();
    // A head on fixed features with a provider that keeps the logits to itself (ONNX Runtime), where that pays: only
    // each row's argmax comes back. The logits themselves are computed only when some are not finite (argmaxRows then
    // names the row).
    const W = (await model.W.data()) as Float32Array;
    const b32 = (await model.b.data()) as Float32Array;
    const fast =
      !model.backbone && opts.matmul?.argmaxAffine && argmaxPays(K, model.d, data.val.n)
        ? this.headPredictions(opts.matmul.argmaxAffine, W, b32)
        : null;
    const fw = fast
      ? null
      : forwardAll(model, data.val, undefined, opts.matmul, (done, total) =>
          this.refreshPart('validation', done, total),
        );
    const features = fw ? fw.features : data.val.x;
    const b = Float64Array.from(b32);
    const sp = this.split;
    // The gains' rows: with a selection split, half of each class (the features array is kept while the features do
    // not change, so the refresh cache of a head on fixed features still applies).
    const gLabels = sp ? sp.gainY : data.val.y;
    const rows = fw
      ? { logits: sp ? takeRows(fw.logits, K, sp.gain) : fw.logits }
      : { preds: takeInts(fast!, sp?.gain) };
    let gFeatures: ArrayLike<number> = features;
    if (sp) {
      if (!this.gainFeatures || this.gainFeatures.source !== features || model.backbone)
        this.gainFeatures = {
          source: features,
          rows: Float32Array.from(takeRows(features, model.d, sp.gain)),
        };
      gFeatures = this.gainFeatures.rows;
    }
    const r = computeRefresh({
      K,
      d: model.d,
      features: gFeatures,
      labels: gLabels,
      ...rows,
      W,
      b,
      objective,
      prevMultipliers: s.multipliers,
      round: Math.round(step / tr.refreshEvery),
      options: objectiveOptions(this.cfg),
      s: sm.temperature,
      lambdaBar: (tr.lambdaMin + 1) / 2,
      variant: sm.deltaW,
      ...(sm.epsMask !== undefined ? { epsMask: sm.epsMask } : {}),
      matmul: opts.matmul,
      ...(this.refreshCache ? { cache: this.refreshCache } : {}),
      ...(opts.keepGainWork !== false ? { scratch: this.gainScratch } : {}),
      logitsFromHead: true,
      onPhase: (phase) => this.refreshPart(phase),
    });
    s.multipliers = r.multipliers;
    // SelMix samples from P averaged over refreshes (selmix.smoothing, docs/ALGORITHM.md section 4); the baselines keep
    // the bookkeeping but sample from their own distribution.
    // r.P is this refresh's own array, read nowhere else: the smoothed P goes into it.
    const P = sm.policy === 'selmix' ? smoothDistribution(s.P, r.P, sm.smoothing, r.P) : r.P;
    s.P = sm.policy === 'selmix' ? P : new Float64Array(K * K).fill(1 / (K * K));
    s.G = r.G;
    // The noise of the objective's change since the last refresh as measured on this validation set (each class's
    // recall noise carried through it), seeded by the step so a resumed run measures the same, without drawing from the
    // run's generator.
    const support = sp ? classSupport(gLabels, K) : this.valSupport;
    const preds = r.preds;
    const prev = s.gainTrack.lastPreds;
    const objectiveOfC = (C: () => Float64Array, st: ClassStats) =>
      this.scoreOf(C, metricsOfStats(st, K, support, sm.headFrac)).score;
    const noise = prev
      ? changeNoise(prev, preds, gLabels, K, objectiveOfC, (tr.seed * 1000003 + step) | 0, K > 300 ? 8 : 24)
      : null;
    const monitor = monitorChange(s.gainTrack, r.objectiveValue, noise, preds);
    s.partnerLabels = this.partnerLabelsFor();
    this.sampler = this.newSampler(s.P, s.partnerLabels);
    // The kept iterate is picked on the selection rows (all of validation, or the selection half of a split).
    const selPreds = !sp
      ? preds
      : fw
        ? argmaxRows(takeRows(fw.logits, K, sp.sel), sp.sel.length, K)
        : takeInts(fast!, sp.sel);
    const selLabels = sp ? sp.selY : data.val.y;
    const selSupport = sp ? sp.selSupport : this.valSupport;
    const selC = sp ? confusionMatrix(selLabels, selPreds, K) : r.C;
    const sc: Score = sp
      ? this.scoreOf(selC, metricsReport(selC, K, selSupport, sm.headFrac))
      : this.scoreOf(r.C, r.metrics);
    let isBest = s.best.step < 0 || better(sc, s.best);
    // training.selectionMargin: between two iterates of the same feasibility, a better one replaces the kept one only
    // when the improvement exceeds that many standard errors of the change between them on the selection rows.
    if (isBest && s.best.step >= 0 && tr.selectionMargin > 0 && sc.feasible === s.best.feasible && s.bestPreds) {
      const selObjective = (C: () => Float64Array, st: ClassStats) =>
        this.scoreOf(C, metricsOfStats(st, K, selSupport, sm.headFrac)).score;
      const se = changeNoise(
        s.bestPreds,
        selPreds,
        selLabels,
        K,
        selObjective,
        (tr.seed * 1000033 + step) | 0,
        K > 300 ? 8 : 24,
      );
      if (sc.score - s.best.score <= tr.selectionMargin * se) isBest = false;
    }
    if (isBest) {
      s.bestPreds = selPreds;
      s.best = { step, ...sc };
      s.bestWeights.forEach((t) => t.dispose());
      s.bestWeights = this.vars.map((v) => tf.clone(v));
    }
    // Say so when the first-order estimate stops tracking reality, and withdraw it when it tracks again
    // (docs/ALGORITHM.md
    // section 3, "Approximations"). Raised or not is a function of the checkpointed track, so a resumed run agrees.
    const corr = monitor.correlation;
    const what = objective.name;
    const v = monitor.verdict;
    const over = `mean change per interval in the predicted direction ${v.meanChange?.toFixed(4)} ± ${v.meanChangeSE?.toFixed(4)} (standard error, from the validation noise of each change of ${what}${noise !== null ? `, ±${noise.toFixed(4)} for the last` : ''}), ${v.against} of ${v.intervals} intervals against the prediction beyond their noise, correlation ${corr?.toFixed(2)}, up to step ${step}`;
    if (monitor.change === 'raised') {
      opts.emit({
        type: 'run/log',
        payload: {
          level: 'warn',
          step,
          message: `the first-order gain estimate is wrong here: the realised change of ${what} runs against the predicted one beyond the noise (${over}); consider a lower learning rate or a more frequent refresh`,
        },
      });
    } else if (monitor.change === 'withdrawn') {
      opts.emit({
        type: 'run/log',
        payload: {
          level: 'info',
          step,
          message: `the realised change of ${what} no longer runs against the first-order estimate beyond the noise (${over}): the earlier warning is withdrawn`,
        },
      });
    }
    const feasibility = objective.feasibility(r.metrics, sm.coverage.alpha);
    this.lastRefresh = {
      step,
      objective: what,
      objectiveValue: r.objectiveValue,
      val: r.metrics,
      multipliers: r.multipliers ? Array.from(r.multipliers) : null,
      // The engine's own arrays, not plain-array copies (FlatMatrix): G and P are never written in place after this.
      gain: { K, data: r.G },
      distribution: { K, data: P },
      maxGain: r.maxGain,
      gainCorrelation: corr,
      gainCheck: {
        tracking: v.tracking,
        meanChange: v.meanChange,
        meanChangeSE: v.meanChangeSE,
        intervals: v.intervals,
        against: v.against,
        dispersion: v.dispersion,
        noise,
      },
      ...(feasibility ? { feasibility } : {}),
    };
    this.endRefreshParts();
    opts.emit({ type: 'run/refresh', payload: this.lastRefresh });
    s.maxGainHistory.push(r.maxGain);
    if (tr.earlyStop && s.maxGainHistory.length >= tr.earlyStop.window) {
      const last = s.maxGainHistory.slice(-tr.earlyStop.window);
      const mean = last.reduce((a, v) => a + v, 0) / last.length;
      // The reference stops after one more step once the plateau test fires (docs/ALGORITHM.md section 5.6).
      if (Math.abs(mean - r.maxGain) < tr.earlyStop.tol * Math.abs(mean)) s.pendingEarlyStop = true;
    }
    // The plateau of the validation objective: no better iterate for `patience` refreshes.
    if (
      tr.patience !== null &&
      !s.pendingEarlyStop &&
      s.best.step >= 0 &&
      step - s.best.step >= tr.patience * tr.refreshEvery &&
      step < this.T
    ) {
      s.pendingEarlyStop = true;
      opts.emit({
        type: 'run/log',
        payload: {
          level: 'info',
          step,
          message: `no better validation ${what} for ${tr.patience} refreshes (the best is still step ${s.best.step}): stopping early`,
        },
      });
    }
    s.afterRefresh = true;
    // At most one checkpoint every training.checkpointSeconds from refreshes (each holds W, its momentum, the best
    // weights, P and G: 40 MB at K = 1000, d = 2048, hashed and synced); the last refresh of a run always writes one.
    if (!final && performance.now() - this.checkpointedAt < tr.checkpointSeconds * 1000) return false;
    this.refreshPart('checkpoint');
    await this.checkpoint(isBest);
    this.endRefreshParts();
    return true;
  }

  /**
   * Each validation row's predicted class from a head on fixed features (W d x K and b, as the refresh read them),
   * through the provider's argmaxAffine (the logits stay in it); null when some logit is not finite.
   */
  private headPredictions(
    argmaxAffine: NonNullable<MatMul['argmaxAffine']>,
    W: Float32Array,
    b: Float32Array,
  ): Int32Array | null {
    const { model } = this;
    const { x, n } = this.data.val;
    // One batch of all the rows: the refresh has already said it starts on them.
    const preds = argmaxAffine(x.length === n * model.d ? x : x.subarray(0, n * model.d), W, b, n, model.d, model.K);
    this.refreshPart('validation', n, n);
    return preds;
  }

  /**
   * A refresh (or a checkpoint between refreshes) starts its next part, or its validation pass its next batch: records
   * how long the part before took, and sends run/refreshing when pauseEventDue says so (no step runs meanwhile, and at
   * K = 1000 a refresh holds the loop for hundreds of ms; a whole network's validation pass for seconds).
   */
  private refreshPart(phase: RefreshPhase, done = 0, total = 0): void {
    const now = performance.now();
    if (this.part) this.partMs.set(this.part.phase, now - this.part.at);
    this.part = { phase, at: now };
    const interval =
      this.opts.refreshEventMs ?? (this.opts.stepEventEvery !== undefined ? Infinity : PROGRESS_EVENT_MS);
    const minGap = Math.min(MIN_STEP_EVENT_MS, interval);
    if (!pauseEventDue(now - this.lastEventAt, this.partMs.get(phase) ?? 0, interval, minGap)) return;
    this.opts.emit({ type: 'run/refreshing', payload: { step: this.s.step, phase, done, total } });
    this.lastEventAt = now;
  }

  /** The pause's last part ended (its duration kept for the next one). */
  private endRefreshParts(): void {
    if (this.part) this.partMs.set(this.part.phase, performance.now() - this.part.at);
    this.part = null;
  }
}

/** Runs SelMix fine-tuning: a FinetuneRun, from opts.resume when given. */
export async function finetune(model: SelmixModel, data: FinetuneData, opts: FinetuneOptions): Promise<FinetuneResult> {
  const run = new FinetuneRun(model, data, opts);
  try {
    if (opts.resume) run.restore(opts.resume);
    return await run.run();
  } catch (e) {
    // A failed run (a checkpoint that does not fit, divergence, a failed write) returns no tensors: free them all.
    run.dispose(true);
    throw e;
  }
}

/**
 * Whether a refresh of a head on fixed features should take only each validation row's argmax from the provider
 * (MatMul.argmaxAffine) instead of the N x K logits. It then computes the centroid logits as Z W + b, K^2 d
 * multiply-adds more on the provider, and no longer copies the logits out and passes over them in JS (the bias, the
 * argmax, the class means: about 4 ns a logit here, against about 0.02 ns a multiply-add for ONNX Runtime on two
 * cores). Measured with bench/runCycle.ts, a refresh held the loop p50 157 and 172 ms with it against 184 and 215 ms
 * without at K = 1000, d = 32, N = 8,000 (K d = 32,000 against 200 N = 1,600,000), and 312 and 286 ms with it
 * against 274 and 239 ms without at K = 1000, d = 2,048, N = 3,000 (K d = 2,048,000 against 200 N = 600,000).
 */
export function argmaxPays(K: number, d: number, N: number): boolean {
  return K * d < 200 * N;
}

/** The entries idx of a (all of a, itself, without idx). */
function takeInts(a: Int32Array, idx?: ArrayLike<number>): Int32Array {
  if (!idx) return a;
  const out = new Int32Array(idx.length);
  for (let t = 0; t < idx.length; t++) out[t] = a[idx[t]!]!;
  return out;
}

/** Rows idx of a row-major n x w array, in that order. */
function takeRows(a: ArrayLike<number>, w: number, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length * w);
  for (let t = 0; t < idx.length; t++) for (let c = 0; c < w; c++) out[t * w + c] = a[idx[t]! * w + c]!;
  return out;
}

/** A selection split: within each class, examples alternate between the gains' half and the selection half. */
export function splitRows(
  labels: Int32Array,
  K: number,
): { gain: Int32Array; sel: Int32Array; gainY: Int32Array; selY: Int32Array; selSupport: number[] } {
  const seen = new Array<number>(K).fill(0);
  const gain: number[] = [],
    sel: number[] = [];
  for (let i = 0; i < labels.length; i++) (seen[labels[i]!]!++ % 2 === 0 ? gain : sel).push(i);
  const gainY = Int32Array.from(gain, (i) => labels[i]!),
    selY = Int32Array.from(sel, (i) => labels[i]!);
  return { gain: Int32Array.from(gain), sel: Int32Array.from(sel), gainY, selY, selSupport: classSupport(selY, K) };
}

/** A batch for plain fine-tuning: examples drawn uniformly from the labeled set, no partner. */
function plainBatch(
  labels: Int32Array,
  n: number,
  rng: Rng,
): { anchors: Int32Array; partners: Int32Array; anchorClass: Int32Array; partnerClass: Int32Array } {
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
 * One SGD step on mean CE(logits of lambda*g(xa) + (1-lambda)*g(xp), label of xa) (docs/ALGORITHM.md section 4).
 * With no trainable backbone the head gradient is written by hand: dL/da = (softmax(a) - onehot)/B,
 * dW = f^T dL/da, db = sum_rows dL/da (section 8.11), using an explicit transpose.
 */
export function sgdStep(
  model: SelmixModel,
  vars: tf.Variable[],
  mom: tf.Variable[],
  isBias: boolean[],
  lrFactor: number[],
  s: StepInput,
): number {
  const B = s.ya.length;
  const K = model.K;
  const lossT = tf.tidy(() => {
    const lam = tf.tensor2d(s.lam, [B, 1]);
    const ya = tf.tensor1d(s.ya, 'int32');
    let grads: tf.Tensor[];
    let loss: tf.Scalar;
    if (!model.backbone || s.freeze) {
      const feat = (x: tf.Tensor) =>
        model.backbone ? model.backbone.apply(x) : (x.reshape([B, model.d]) as tf.Tensor2D);
      // f = lambda*g(xa) + (1-lambda)*g(xp), written as g(xp) + lambda*(g(xa) - g(xp)): one kernel fewer.
      let f = feat(s.xa);
      if (s.xp) {
        const fp = feat(s.xp);
        f = tf.add(fp, tf.mul(lam, tf.sub(f, fp))) as tf.Tensor2D;
      }
      const oneHot = tf.oneHot(ya, K).toFloat();
      const logits = tf.add(tf.matMul(f, model.W), model.b);
      const g = tf.div(tf.sub(tf.softmax(logits), oneHot), B) as tf.Tensor2D;
      grads = [tf.matMul(tf.transpose(f), g), tf.sum(g, 0)];
      // CE = logsumexp(a) - a_y, exact (it overflows to Infinity when the logits explode, which stops the run).
      loss = tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(oneHot, logits), 1))) as tf.Scalar;
    } else {
      const bb = model.backbone;
      const r = tf.variableGrads(() => {
        const f = s.xp
          ? (tf.add(tf.mul(lam, bb.apply(s.xa)), tf.mul(tf.sub(1, lam), bb.apply(s.xp))) as tf.Tensor2D)
          : bb.apply(s.xa);
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
export function evaluateSet(
  model: SelmixModel,
  set: ExampleSet & { y: Int32Array },
  headFrac: number,
  mm?: MatMul,
): MetricsReport {
  const fw = forwardAll(model, set, undefined, mm);
  return metricsOf(fw.logits, set.y, model.K, headFrac);
}
