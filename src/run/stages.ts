// The two stages of a run, each announced by its own run/started (with its mode), so the views reset at the
// start of each and show its own progress: pre-training (the demo CNN when it is not cached yet, or a
// "pretrain" config) and fine-tuning. A stop during pre-training ends the whole run and writes nothing.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { headTrainerFactory, hugePageMalloc, prepareGainMatMul, tf } from '../backend/backend';
import type { SelmixConfig } from '../core/config';
import type { CompiledObjective } from '../core/objectives/compiledObjective';
import { compileObjective } from '../core/objectives/compileObjective';
import { ConfigError, ExprError, OutputFolderError } from '../core/errors';
import { metricsReport, objectiveMetricValue } from '../core/numerics/metrics';
import { logPrior } from '../core/numerics/logitAdjust';
import { forwardAll, metricsOf } from '../core/training/evaluate';
import { demoCnn, disposeModel, fromLayersModel, writeBack, type SelmixModel } from '../core/training/model';
import { pretrain } from '../core/training/pretrain';
import {
  evaluateSet,
  finetune,
  resolveSteps,
  trainableVariables,
  type FinetuneData,
  type TrainState,
} from '../core/training/train';
import type { ExampleSet } from '../core/training/evaluate';
import {
  applyEvent,
  emptySnapshot,
  type BaselineRow,
  type MetricsReport,
  type RunEvent,
  type RunFinishedPayload,
  type RunSnapshot,
} from '../protocol/messages';
import { creditRows } from '../protocol/credit';
import { assertNoInputInside, assertNotInput } from '../data/atomicWrite';
import {
  checkOutputFolder,
  checkReplaceable,
  createOutputFolder,
  LOCK_FILE,
  lockOutputFolder,
  markRunFolder,
  removeIfUnused,
} from '../data/outputFolder';
import {
  checkpointFingerprint,
  inputsDigest,
  readCheckpoint,
  writeCheckpoint,
  type CheckpointFingerprint,
} from '../data/checkpoint';
import { encodeNpy } from '../data/npy';
import { loadLayersModelFromFile, saveLayersModelToDir } from '../data/modelIo';
import type { BackendInfo } from '../backend/backend';
import { configErrorAt, type PreparedRun } from '../request/prepare';
import { checkInputShape, checkLabels, featurize, type RunInputs } from './inputs';
import {
  fineTunedNetworkOnnx,
  fineTunedOnnx,
  onnxFeaturize,
  prepareOnnxNetwork,
  type OnnxVerification,
  type PreparedNetwork,
} from './onnxStage';
import { chanceLevel } from './chance';
import { materializeSet } from './imageSource';
import { writeReport, type OutputFile } from '../report/report';
import { HISTORY_DIR } from '../data/runArchive';
import type { StageEnter } from './progress';
import { pseudoLabelLine } from '../protocol/pseudoLabels';

/** What a stage needs from the run around it. */
export interface StageContext {
  runId: string;
  emit: (e: RunEvent) => void;
  shouldStop: () => boolean;
  backend: BackendInfo;
  t0: number;
  /** The run's snapshot so far (the report keeps it). */
  snapshot: () => RunSnapshot;
  /** Live tensors when the run began, for the report's leak count. */
  tensorsAtStart: number;
  /** Reports a stage outside the training loop (run/stage); absent: not reported. */
  enter?: StageEnter;
}

/**
 * Compiles the config's objective (its custom expression, or the built-in one) for K once per run; a custom expression
 * that does not fit K, or is undefined everywhere, is a ConfigError at its line.
 */
export function reportedObjective(p: PreparedRun, cfg: SelmixConfig, K: number): CompiledObjective {
  try {
    const c = compileObjective(cfg, K);
    if (!definedSomewhere(c, K)) {
      throw configErrorAt(
        p,
        'customObjective.expression',
        `"${c.name}" is not finite at any confusion matrix tried (a perfect, a uniform and a mostly right classifier): ` +
          'it is undefined everywhere (a division by 0, log(0), the square root of a negative, or an overflow), so there is nothing to optimise',
      );
    }
    return c;
  } catch (e) {
    if (!(e instanceof ExprError)) throw e;
    throw configErrorAt(p, e.path ?? 'customObjective.expression', e.message);
  }
}

/** The report's record of an output folder outside the config's folder (nothing otherwise). */
function outsideField(
  p: PreparedRun,
  outputDir: string,
): { outputOutsideConfigFolder?: { output: string; configFolder: string } } {
  return p.outputOutsideConfigFolder
    ? { outputOutsideConfigFolder: { output: outputDir, configFolder: p.baseDir } }
    : {};
}

/**
 * Whether a compiled objective has a finite value at one of a few confusion matrices (perfect, uniform, 70 % right),
 * checked before a run starts.
 */
function definedSomewhere(c: CompiledObjective, K: number): boolean {
  const probe = (diag: number): Float64Array => {
    const C = new Float64Array(K * K);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) C[i * K + j] = (i === j ? diag : (1 - diag) / (K - 1)) / K;
    return C;
  };
  const support = new Array<number>(K).fill(1);
  return [1, 1 / K, 0.7].some((diag) => {
    try {
      const C = probe(diag);
      return Number.isFinite(c.valueAt(C, metricsReport(C, K, support)));
    } catch {
      return false;
    }
  });
}

/** The run's name: the config's, with its temperature when a request sets it (a sweep's runs are told apart by it). */
export function runName(p: Pick<PreparedRun, 'request'>, cfg: SelmixConfig): string {
  const base = cfg.name ?? 'SelMix run';
  const s = p.request.overrides?.temperature;
  return s === undefined ? base : `${base} · s = ${s}`;
}

/** Every file a run may write directly in its output folder. */
export function outputFiles(outputDir: string): string[] {
  return [
    'report.json',
    'report.html',
    'run.log',
    'gain.npy',
    'distribution.npy',
    'multipliers.npy',
    'W.npy',
    'b.npy',
    'model.onnx',
    LOCK_FILE,
  ].map((f) => join(outputDir, f));
}

/**
 * The sub-folders a run owns whole (their file names vary: checkpoint arrays are named by their hash; the history by
 * time).
 */
export function outputFolders(outputDir: string): string[] {
  return ['model', 'checkpoint', HISTORY_DIR].map((f) => join(outputDir, f));
}

/**
 * Checks that the run may write its outputs: none of them resolves to an input, and the output folder can be made on a
 * real, writable file system outside every input folder. Nothing is created. A problem is a ConfigError at "output".
 */
export function checkOutputs(p: PreparedRun, outputDir: string, inputs: string[]): void {
  for (const out of outputFiles(outputDir)) assertNotInput(out, inputs);
  for (const folder of outputFolders(outputDir)) assertNoInputInside(folder, inputs);
  try {
    checkOutputFolder(outputDir, inputs);
    checkReplaceable(
      outputDir,
      [...outputFiles(outputDir), ...outputFolders(outputDir)]
        .map((f) => relative(outputDir, f))
        .filter((f) => f !== LOCK_FILE),
    );
  } catch (e) {
    if (e instanceof OutputFolderError) throw configErrorAt(p, 'output', e.message);
    throw e;
  }
}

/** Creates the output folder, once every check has passed, and takes its lock; returns the lock's release. */
export function makeOutputDir(p: PreparedRun, outputDir: string, what: string): () => void {
  try {
    createOutputFolder(outputDir);
    const release = lockOutputFolder(outputDir, what);
    try {
      markRunFolder(outputDir, what);
    } catch (e) {
      release();
      throw e;
    }
    return release;
  } catch (e) {
    if (e instanceof OutputFolderError) throw configErrorAt(p, 'output', e.message);
    throw e;
  }
}

/** How the pre-training stage is shown and where it saves. */
interface PretrainStageOptions {
  name: string;
  notes: string[];
  /** Folder of the saved model.json and weights.bin. */
  saveDir: string;
  /** Evaluate the untrained model first (the "pretrain" task reports before/after). */
  withStart: boolean;
  /** Called once training is done, before anything is written (e.g. to create the output folder). */
  beforeSave?: () => void;
}

/**
 * The pre-training stage: trains the demo CNN on the labeled set and saves it. Returns the trained model, or
 * cancelled when the user stopped it (then nothing is written).
 */
export async function pretrainStage(
  ctx: StageContext,
  cfg: SelmixConfig,
  data: FinetuneData,
  o: PretrainStageOptions,
): Promise<
  | { model: SelmixModel; lm: tf.LayersModel; steps: number; startVal?: MetricsReport }
  | { cancelled: true; steps: number }
> {
  const { name, notes, saveDir, withStart } = o;
  const K = data.classNames.length;
  const lm = demoCnn(K, cfg.pretrain.seed, data.train.shape);
  const model = fromLayersModel(lm);
  let keep = false;
  try {
    const startVal = withStart ? evaluateSet(model, data.val, cfg.selmix.headFrac) : undefined;
    const perEpoch = Math.ceil(data.train.n / cfg.pretrain.batchSize);
    ctx.emit({
      type: 'run/started',
      payload: {
        runId: ctx.runId,
        name,
        objective: cfg.objective,
        K,
        classNames: data.classNames,
        totalSteps: perEpoch * cfg.pretrain.epochs,
        backend: ctx.backend.name,
        outputDir: saveDir,
        mode: 'pretrain',
        notes,
        trains: 'network',
        lr: cfg.pretrain.lr,
        ...(startVal ? { startVal } : {}),
      },
    });
    for (const n of notes) ctx.emit({ type: 'run/log', payload: { level: 'info', message: n } });
    const r = await pretrain(model, data.train, cfg.pretrain, ctx.emit, ctx.shouldStop);
    if (r.cancelled) return { cancelled: true, steps: r.steps };
    writeBack(model);
    o.beforeSave?.();
    await saveLayersModelToDir(lm, saveDir);
    keep = true;
    return { model, lm, steps: r.steps, ...(startVal ? { startVal } : {}) };
  } finally {
    if (!keep) {
      disposeModel(model);
      lm.dispose();
    }
  }
}

/** A stage context whose snapshot follows every event it emits (the report keeps that snapshot). */
export function stageContext(
  emit: (e: RunEvent) => void,
  shouldStop: () => boolean,
  backend: BackendInfo,
  enter?: StageEnter,
): StageContext {
  let snapshot: RunSnapshot = emptySnapshot();
  return {
    runId: randomUUID(),
    shouldStop,
    backend,
    t0: performance.now(),
    snapshot: () => snapshot,
    tensorsAtStart: tf.memory().numTensors,
    ...(enter ? { enter } : {}),
    emit: (e) => {
      snapshot = applyEvent(snapshot, e);
      emit(e);
    },
  };
}

/**
 * The starting model of a fine-tuning or evaluation, checked against the data: the loaded one, or the demo CNN made
 * by the pre-training stage and read back from its cache (as a later run that finds it cached does). Cancelled: the
 * user stopped the pre-training (nothing was written). The model is the caller's to dispose.
 */
export async function startingModel(
  ctx: StageContext,
  cfg: SelmixConfig,
  inputs: RunInputs,
  configPath: string,
  everyClassLabeled: boolean,
): Promise<{ model: SelmixModel } | { cancelled: true; steps: number }> {
  const source = inputs.model;
  if (!source) throw new ConfigError(configPath, [{ path: 'model', message: 'this run needs a "model"' }]);
  let model: SelmixModel;
  let file: string;
  if (source.kind === 'pretrain') {
    const r = await pretrainStage(ctx, cfg, inputs.data, {
      saveDir: dirname(source.cachePath),
      name: `${cfg.name ?? 'SelMix run'}: pre-training the demo CNN`,
      notes: [
        `no pre-trained model at ${source.cachePath}: pre-training the demo CNN first (cached there for later runs)`,
      ],
      withStart: false,
    });
    if ('cancelled' in r) return r;
    disposeModel(r.model);
    r.lm.dispose();
    model = fromLayersModel(await loadLayersModelFromFile(source.cachePath));
    file = source.cachePath;
    inputs.inputs.push(source.cachePath);
  } else {
    model = source.model;
    file = source.file;
  }
  try {
    checkInputShape(model, inputs.data, inputs.files, file);
    checkLabels(inputs, model.K, configPath, everyClassLabeled);
  } catch (e) {
    disposeModel(model);
    throw e;
  }
  return { model };
}

/** The summary of a run stopped before it wrote anything (during its pre-training stage). */
export function stoppedEarly(
  ctx: StageContext,
  cfg: SelmixConfig,
  outputDir: string,
  steps: number,
): RunFinishedPayload {
  const empty = ctx.snapshot().started?.startVal;
  const none: MetricsReport = empty ?? {
    accuracy: 0,
    meanRecall: 0,
    minRecall: 0,
    maxRecall: 0,
    gMean: 0,
    hMean: 0,
    headRecall: 0,
    tailRecall: 0,
    minHeadTailRecall: 0,
    minCoverage: 0,
    headCoverage: 0,
    tailCoverage: 0,
    recall: [],
    coverage: [],
    support: [],
  };
  return {
    runId: ctx.runId,
    outputDir,
    reportPath: null,
    stoppedBy: 'cancel',
    steps,
    objective: cfg.objective,
    before: { objectiveValue: Number.NaN, val: none },
    after: { objectiveValue: Number.NaN, val: none },
    bestStep: 0,
    wallSeconds: (performance.now() - ctx.t0) / 1000,
  };
}

/** The "pretrain" task: the pre-training stage with the model saved under <output>/model and a report. */
export async function pretrainTask(
  ctx: StageContext,
  p: PreparedRun,
  cfg: SelmixConfig,
  inputs: RunInputs,
  outputDir: string,
): Promise<RunFinishedPayload> {
  if (cfg.model && cfg.model.kind !== 'pretrained-demo') {
    throw configErrorAt(
      p,
      'model',
      `a "pretrain" run trains the demo CNN from scratch, so a "${cfg.model.kind}" model has nothing to do here: remove "model", or use "task": "finetune" to fine-tune it`,
    );
  }
  if (inputs.data.train.shape.length !== 3) {
    throw configErrorAt(
      p,
      'data',
      `a "pretrain" run trains the demo CNN, which needs images (H x W x C), but the training examples have shape [${inputs.data.train.shape.join(', ')}]; a linear head on features needs no pre-training`,
    );
  }
  checkOutputs(p, outputDir, inputs.inputs);
  let release: (() => void) | null = null;
  const r = await pretrainStage(ctx, cfg, inputs.data, {
    saveDir: join(outputDir, 'model'),
    name: cfg.name ?? 'pre-training',
    notes: inputs.notes,
    withStart: true,
    beforeSave: () => {
      release = makeOutputDir(p, outputDir, `pre-training "${cfg.name ?? p.request.configPath}"`);
    },
  });
  if ('cancelled' in r) return stoppedEarly(ctx, cfg, outputDir, r.steps);
  try {
    const metric = (m: MetricsReport) => objectiveMetricValue(cfg.objective, m);
    const afterVal = evaluateSet(r.model, inputs.data.val, cfg.selmix.headFrac);
    const afterTest = inputs.data.test
      ? evaluateSet(r.model, inputs.data.test as ExampleSet & { y: Int32Array }, cfg.selmix.headFrac)
      : undefined;
    const summary: RunFinishedPayload = {
      runId: ctx.runId,
      outputDir,
      reportPath: join(outputDir, 'report.json'),
      stoppedBy: 'steps',
      steps: r.steps,
      objective: cfg.objective,
      before: { objectiveValue: metric(r.startVal!), val: r.startVal! },
      after: { objectiveValue: metric(afterVal), val: afterVal, ...(afterTest ? { test: afterTest } : {}) },
      bestStep: r.steps,
      wallSeconds: (performance.now() - ctx.t0) / 1000,
    };
    writeReport(outputDir, {
      summary,
      snapshot: applyEvent(ctx.snapshot(), { type: 'run/finished', payload: summary }),
      config: cfg,
      backend: ctx.backend.name,
      notes: inputs.notes,
      ...outsideField(p, outputDir),
    });
    return summary;
  } finally {
    (release as (() => void) | null)?.();
    disposeModel(r.model);
    r.lm.dispose();
  }
}

/**
 * The checkpoint to resume from, validated against this run's fingerprint (settings, shapes, inputs) before anything
 * is written; a safe setting that changed since (training.steps, training.checkpointEvery) becomes a note, logged.
 */
function readResumePoint(ckptDir: string, fingerprint: CheckpointFingerprint, notes: string[]): TrainState {
  const r = readCheckpoint(ckptDir, fingerprint);
  notes.push(
    `resumed from the checkpoint at step ${r.state.step}`,
    ...r.changes.map((c) => `changed since the checkpoint: ${c}`),
  );
  return r.state;
}

/** The fine-tuning stage: SelMix from the starting model, then the outputs (model, report) written together. */
export async function finetuneStage(
  ctx: StageContext,
  p: PreparedRun,
  cfg: SelmixConfig,
  inputs: RunInputs,
  model: SelmixModel,
  outputDir: string,
): Promise<RunFinishedPayload> {
  const { data, notes } = inputs;
  const headFrac = cfg.selmix.headFrac;
  const freeze = cfg.model && 'freezeBackbone' in cfg.model ? cfg.model.freezeBackbone : false;
  const objective = reportedObjective(p, cfg, model.K);
  // A whole ONNX network trains on ONNX Runtime: its backbone is set on the model before the checkpoint fingerprint
  // (which lists every trained tensor) is taken.
  const onnxNet =
    inputs.model?.kind === 'loaded' && inputs.model.onnx && inputs.model.network && !freeze
      ? { onnx: inputs.model.onnx, network: inputs.model.network }
      : undefined;
  // A whole ONNX network gets its backbone below (prepareOnnxNetwork); any other model must have one already.
  if (cfg.training.mixup === 'cutmix' && ((!model.backbone && !onnxNet) || data.train.shape.length !== 3)) {
    throw configErrorAt(
      p,
      'training.mixup',
      'cutmix mixes images: it needs image inputs (HxWxC, or CxHxW for an ONNX model) and a model with a backbone; use "feature" for feature vectors',
    );
  }
  if (cfg.training.mixup === 'puzzle' && (!onnxNet || data.train.shape.length !== 3))
    throw configErrorAt(
      p,
      'training.mixup',
      'puzzle mixes images by the saliency of a whole ONNX network: it needs an ONNX model with model.freezeBackbone false; use "cutmix" or "feature"',
    );
  // Training through the backbone reads images at every step: an ONNX model's image splits (listed, not held, by
  // src/run/imageSource.ts) are decoded once here.
  if (onnxNet) {
    for (const [name, set] of [
      ['training', data.train],
      ['validation', data.val],
      ['unlabeled', data.unlabeled],
      ['test', data.test],
    ] as const) {
      if (set && set.x.length === 0 && set.n > 0)
        await materializeSet(
          set,
          ctx.enter?.('decoding', `decoding the ${name} images for whole-network training`, set.n),
        );
    }
  }
  const prepared = onnxNet ? prepareOnnxNetwork(cfg, onnxNet.onnx, onnxNet.network, model, data) : undefined;
  if (prepared) notes.push(...prepared.notes);
  else if (inputs.model?.kind === 'loaded' && inputs.model.onnx) {
    notes.push(
      'head only: the backbone is frozen (model.freezeBackbone); its features are computed once on ONNX Runtime',
    );
    if (cfg.training.augment)
      notes.push('training.augment does not apply: the head trains on features computed once (model.freezeBackbone)');
  }
  const ckptDir = join(outputDir, 'checkpoint');
  const fingerprint = checkpointFingerprint(
    cfg,
    {
      K: model.K,
      d: model.d,
      weights: trainableVariables(model, freeze).map((v) => v.shape.slice()),
      unlabeled: data.unlabeled?.n ?? 0,
    },
    inputsDigest(data),
    modelFingerprint(inputs, model),
  );
  const resume = p.request.resume ? readResumePoint(ckptDir, fingerprint, notes) : undefined;
  checkOutputs(p, outputDir, inputs.inputs);
  const created = !existsSync(outputDir);
  const release = makeOutputDir(p, outputDir, `fine-tuning "${cfg.name ?? p.request.configPath}"`);
  let wrote = false;
  try {
    let trainModel = model;
    let trainData = data;
    // A frozen backbone is applied once to every set, instead of at every step (not with CutMix, which mixes inputs).
    if (freeze && model.backbone && cfg.training.mixup !== 'cutmix') {
      ctx.enter?.('extracting', 'running the frozen backbone once over every set');
      ({ model: trainModel, data: trainData } = featurize(model, data));
    }
    // An ONNX model's frozen backbone runs once per set on ONNX Runtime (features cached beside the config).
    const onnx = inputs.model?.kind === 'loaded' ? inputs.model.onnx : undefined;
    if (onnx && !prepared) {
      const f = await onnxFeaturize(onnx, model, data, {
        emit: ctx.emit,
        shouldStop: ctx.shouldStop,
        cacheDir: join(p.baseDir, '.selmix-cache', 'onnx-features'),
        ...(ctx.enter ? { enter: ctx.enter } : {}),
      });
      ({ model: trainModel, data: trainData } = f);
      notes.push(...f.notes);
    }
    if (ctx.backend.note) notes.push(ctx.backend.note);
    // The run's matmul provider: the gain's products and, for a head on features, the evaluation passes.
    const mm = await prepareGainMatMul(model.K);
    ctx.enter?.('checking', 'evaluating the starting model');
    const startVal = evaluateSet(trainModel, trainData.val, headFrac, mm);
    const startTest = trainData.test?.y
      ? evaluateSet(trainModel, trainData.test as ExampleSet & { y: Int32Array }, headFrac, mm)
      : undefined;
    // On ONNX Runtime a head on features steps with its fused graph (a backbone keeps tfjs, which has the autodiff).
    const headTrainer = !trainModel.backbone && cfg.training.mixup !== 'cutmix' ? headTrainerFactory() : undefined;
    if (headTrainer)
      notes.push(
        'the head step runs on ONNX Runtime (one fused graph per batch size: mixup, cross-entropy gradient, SGD update)',
      );
    ctx.emit({
      type: 'run/started',
      payload: {
        runId: ctx.runId,
        name: runName(p, cfg),
        objective: objective.name,
        K: model.K,
        classNames: data.classNames,
        totalSteps: resolveSteps(cfg.training, trainData.train.n),
        backend: ctx.backend.name,
        outputDir,
        mode: 'finetune',
        notes,
        startVal,
        ...(startTest ? { startTest } : {}),
        trains: trainModel.backbone && !freeze ? 'network' : 'head',
        temperature: cfg.selmix.temperature,
        lr: cfg.training.lr,
      },
    });
    for (const n of notes) ctx.emit({ type: 'run/log', payload: { level: 'info', message: n } });
    const startAtChance = chanceLevel(
      startVal.accuracy,
      model.K,
      trainData.val.n,
      cfg.model?.kind === 'onnx' && cfg.data.kind === 'images'
        ? 'Check model.preprocess: the preset (resize, crop, mean, std), layout and channels must be those the model was trained with.'
        : "Check that the inputs are preprocessed as the model was trained, and that the class order matches the model's outputs.",
    );
    if (startAtChance) {
      notes.push(`warning: ${startAtChance.message}`);
      ctx.emit({ type: 'run/log', payload: { level: 'warn', message: startAtChance.message } });
    }
    const baselines = await baselineRows(ctx, cfg, trainModel, trainData, freeze, objective, prepared);

    const result = await finetune(trainModel, trainData, {
      config: cfg,
      emit: ctx.emit,
      shouldStop: ctx.shouldStop,
      ...(resume ? { resume } : {}),
      objective,
      matmul: mm,
      keepGainWork: !hugePageMalloc(),
      ...(headTrainer ? { headTrainer } : {}),
      ...(prepared
        ? {
            networkTrainer: prepared.trainer,
            ...(prepared.augment ? { augment: prepared.augment } : {}),
            ...(prepared.image ? { image: prepared.image } : {}),
          }
        : {}),
      onCheckpoint: (state, best) => {
        const path = writeCheckpoint(ckptDir, state, fingerprint);
        ctx.emit({ type: 'run/checkpoint', payload: { step: state.step, path, best } });
      },
    });
    // The best validation iterate is the result (docs/ALGORITHM.md section 5.6 names the issue with the reference's
    // choice).
    const vars = trainableVariables(trainModel, freeze);
    vars.forEach((v, i) => v.assign(result.bestWeights[i]!));
    result.bestWeights.forEach((t) => t.dispose());
    const afterVal = evaluateSet(trainModel, trainData.val, headFrac, mm);
    const afterTest = trainData.test?.y
      ? evaluateSet(trainModel, trainData.test as ExampleSet & { y: Int32Array }, headFrac, mm)
      : undefined;
    const headFiles = await saveModel(cfg, model, outputDir);
    let onnxCheck: OnnxVerification | undefined;
    // What an ONNX run trained, for report.json: the whole network (every trained initializer, by name) or the head.
    let trained: { scope: 'network' | 'head'; parameters: string[] } | undefined;
    if (onnx && prepared) {
      // The same graph with every trained initializer replaced, checked against the run's forward pass before anything
      // is written.
      const out = join(outputDir, 'model.onnx');
      assertNotInput(out, inputs.inputs);
      const r = await fineTunedNetworkOnnx(onnx, prepared.net, model, data.val, out);
      headFiles.push({ path: out, data: r.bytes });
      onnxCheck = r.check;
      trained = { scope: 'network', parameters: r.trained.slice() };
      const line = `model.onnx checked on ONNX Runtime: its logits on the ${r.check.examples} validation examples match the run's forward pass (whole network, ${r.trained.length} trained tensors replaced) to ${r.check.maxAbsDiff.toExponential(2)} (tolerance ${r.check.tolerance})`;
      notes.push(line);
      ctx.emit({ type: 'run/log', payload: { level: 'info', message: line } });
    } else if (onnx) {
      // The same graph with the fine-tuned head, checked on the validation set before anything is written.
      const out = join(outputDir, 'model.onnx');
      assertNotInput(out, inputs.inputs);
      const r = await fineTunedOnnx(
        onnx,
        Float32Array.from(await model.W.data()),
        Float32Array.from(await model.b.data()),
        data.val,
        trainData.val,
        out,
      );
      headFiles.push({ path: out, data: r.bytes });
      onnxCheck = r.check;
      trained = {
        scope: 'head',
        parameters: [onnx.head.weightName, ...(onnx.head.biasName ? [onnx.head.biasName] : [])],
      };
      const line = `model.onnx checked on ONNX Runtime: its logits on the ${r.check.examples} validation examples match features x W + b to ${r.check.maxAbsDiff.toExponential(2)} (tolerance ${r.check.tolerance})`;
      notes.push(line);
      ctx.emit({ type: 'run/log', payload: { level: 'info', message: line } });
    }
    if (result.pseudoLabels) {
      const pl = result.pseudoLabels;
      const line = pseudoLabelLine(pl);
      notes.push(line);
      ctx.emit({ type: 'run/log', payload: { level: 'info', message: line } });
    }
    const summary: RunFinishedPayload = {
      runId: ctx.runId,
      outputDir,
      reportPath: join(outputDir, 'report.json'),
      stoppedBy: result.stoppedBy,
      steps: result.steps,
      objective: objective.name,
      before: {
        objectiveValue: objective.valueFromMetrics(startVal),
        val: startVal,
        ...(startTest ? { test: startTest, testObjectiveValue: objective.valueFromMetrics(startTest) } : {}),
      },
      after: {
        objectiveValue: objective.valueFromMetrics(afterVal),
        val: afterVal,
        ...(afterTest ? { test: afterTest, testObjectiveValue: objective.valueFromMetrics(afterTest) } : {}),
      },
      bestStep: result.bestStep,
      wallSeconds: (performance.now() - ctx.t0) / 1000,
      ...feasibilityField(objective, cfg.selmix.coverage.alpha, afterVal, afterTest),
      ...(baselines.length ? { baselines } : {}),
      ...(result.warmStart ? { warmStart: result.warmStart } : {}),
      ...(result.pseudoLabels ? { pseudoLabels: result.pseudoLabels } : {}),
    };
    // A constrained run that misses its bound on validation says so, and why (report, CLI, log).
    const infeasible = objective.infeasibility(afterVal, {
      alpha: cfg.selmix.coverage.alpha,
      keptStep: result.bestStep,
      classNames: data.classNames,
      warm: result.warmStart,
    });
    if (infeasible) {
      summary.infeasible = infeasible;
      ctx.emit({ type: 'run/log', payload: { level: 'warn', message: infeasible } });
    }
    const snapshot = applyEvent(ctx.snapshot(), { type: 'run/finished', payload: summary });
    writeReport(
      outputDir,
      {
        summary,
        credit: creditRows(summary),
        snapshot,
        config: cfg,
        backend: ctx.backend.name,
        probes: ctx.backend.probes,
        notes,
        ...outsideField(p, outputDir),
        gainCorrelation: result.gainCorrelation,
        gainCheck: result.gainCheck,
        ...(onnxCheck ? { onnx: onnxCheck } : {}),
        ...(trained ? { trained } : {}),
        ...(startAtChance ? { startAtChance } : {}),
        tensorsLeaked: tf.memory().numTensors - ctx.tensorsAtStart - liveModelTensors(model),
      },
      headFiles,
    );
    wrote = true;
    return summary;
  } finally {
    release();
    // A run that failed before writing anything leaves no empty output folder behind.
    if (!wrote && created) removeIfUnused(outputDir);
  }
}

/** The objective's constraint at the kept iterate, on validation and test (nothing for an unconstrained one). */
function feasibilityField(
  objective: CompiledObjective,
  alpha: number,
  val: MetricsReport,
  test: MetricsReport | undefined,
): Pick<RunFinishedPayload, 'feasibility'> {
  const v = objective.feasibility(val, alpha);
  if (!v) return {};
  const t = test ? objective.feasibility(test, alpha) : null;
  return { feasibility: { val: v, ...(t ? { test: t } : {}) } };
}

/**
 * The config's baselines (training.baselines), from the same starting model as the run: post-hoc logit adjustment
 * (tau = 1, no training) and uniform mixup (a second fine-tune with policy "uniformMixup", its events kept out of the
 * run's stream, its best validation iterate evaluated, then the starting weights put back).
 */
async function baselineRows(
  ctx: StageContext,
  cfg: SelmixConfig,
  model: SelmixModel,
  data: FinetuneData,
  freeze: boolean,
  objective: CompiledObjective,
  net?: PreparedNetwork,
): Promise<BaselineRow[]> {
  const rows: BaselineRow[] = [];
  const headFrac = cfg.selmix.headFrac;
  const test = data.test?.y ? (data.test as ExampleSet & { y: Int32Array }) : null;
  for (const b of cfg.training.baselines) {
    const t0 = performance.now();
    if (b === 'logitAdjusted') {
      const lp = logPrior(data.train.y, model.K);
      const on = (set: ExampleSet & { y: Int32Array }) =>
        metricsOf(forwardAll(model, set).logits, set.y, model.K, headFrac, lp);
      const val = on(data.val);
      rows.push({
        label: 'post-hoc logit adjustment (tau = 1)',
        objectiveValue: objective.valueFromMetrics(val),
        val,
        ...(test ? { test: on(test) } : {}),
        seconds: (performance.now() - t0) / 1000,
      });
      continue;
    }
    const vars = trainableVariables(model, freeze);
    const saved = vars.map((v) => tf.clone(v));
    try {
      ctx.emit({
        type: 'run/log',
        payload: {
          level: 'info',
          message: 'baseline: uniform mixup fine-tuning from the same starting model (same budget and warm start)',
        },
      });
      const r = await finetune(model, data, {
        config: { ...cfg, selmix: { ...cfg.selmix, policy: 'uniformMixup' } },
        emit: () => undefined,
        shouldStop: ctx.shouldStop,
        objective,
        matmul: await prepareGainMatMul(model.K),
        keepGainWork: !hugePageMalloc(),
        ...(net
          ? {
              networkTrainer: net.trainer,
              ...(net.augment ? { augment: net.augment } : {}),
              ...(net.image ? { image: net.image } : {}),
            }
          : {}),
      });
      vars.forEach((v, i) => v.assign(r.bestWeights[i]!));
      r.bestWeights.forEach((t) => t.dispose());
      const val = evaluateSet(model, data.val, headFrac);
      rows.push({
        label: `uniform mixup fine-tuning (best of ${r.steps} steps, step ${r.bestStep})`,
        objectiveValue: objective.valueFromMetrics(val),
        val,
        ...(test ? { test: evaluateSet(model, test, headFrac) } : {}),
        seconds: (performance.now() - t0) / 1000,
      });
    } finally {
      vars.forEach((v, i) => v.assign(saved[i]!));
      saved.forEach((t) => t.dispose());
    }
  }
  return rows;
}

/**
 * The starting model's file and a digest of it for the checkpoint: an ONNX model's (file and external data), else its
 * weights' values.
 */
function modelFingerprint(inputs: RunInputs, model: SelmixModel): { file: string; digest: string } {
  const src = inputs.model;
  const file = src?.kind === 'loaded' ? src.file : src?.kind === 'pretrain' ? src.cachePath : '';
  if (src?.kind === 'loaded' && src.onnx) return { file, digest: src.onnx.digest };
  const h = createHash('sha256');
  for (const t of [
    model.W,
    model.b,
    ...(model.backbone ? [...model.backbone.variables, ...model.backbone.constants] : []),
  ]) {
    const v = t.dataSync();
    h.update(`${t.shape.join('x')}:`).update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  return { file, digest: h.digest('hex') };
}

/** Tensors the starting model itself holds (W, b, and the backbone's variables and constants). */
function liveModelTensors(m: SelmixModel): number {
  return 2 + (m.backbone ? m.backbone.variables.length + m.backbone.constants.length : 0);
}

/**
 * A tfjs model's files are saved now; a linear head's W.npy and b.npy are returned, to be written together with the
 * report.
 */
async function saveModel(cfg: SelmixConfig, model: SelmixModel, outputDir: string): Promise<OutputFile[]> {
  if (cfg.model?.kind === 'linear' || cfg.model?.kind === 'onnx') {
    const { d, K } = model;
    const W = await model.W.data();
    const Wt = new Float32Array(K * d);
    for (let r = 0; r < d; r++) for (let k = 0; k < K; k++) Wt[k * d + r] = W[r * K + k]!;
    return [
      { path: join(outputDir, 'W.npy'), data: encodeNpy(Wt, [K, d]) },
      { path: join(outputDir, 'b.npy'), data: encodeNpy(Float32Array.from(await model.b.data()), [K]) },
    ];
  }
  const lm = writeBack(model);
  if (lm) await saveLayersModelToDir(lm, join(outputDir, 'model'));
  return [];
}
