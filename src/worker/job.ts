// One run of a config end to end: validate, load data and model, pre-train or fine-tune, write outputs
// atomically, and emit protocol events. The worker (for the extension) and the CLI both call runJob.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { initBackend, prepareGainMatMul, tf, type BackendChoice } from '../backend/backend';
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import { lineColumn, parseConfig, type SelmixConfig } from '../core/config';
import { ConfigError, DataError, ExprError, TrainingError, type ConfigIssue } from '../core/errors';
import { evaluateSet, finetune, trainableVariables, type FinetuneData, type TrainState } from '../core/train';
import { pretrain } from '../core/pretrain';
import { demoCnn, disposeModel, fromLayersModel, linearModel, ModelShapeError, writeBack, type SelmixModel } from '../core/model';
import { forwardAll, type ExampleSet } from '../core/evaluate';
import { objectiveMetricValue } from '../core/metrics';
import { compileCustomObjective } from '../core/customObjective';
import { applyEvent, emptySnapshot, type MetricsReport, type RunEvent, type RunFinishedPayload, type RunSnapshot } from '../protocol/messages';
import { loadMnistLT } from '../data/mnist';
import { encodeNpy, readNpy, toFloat32Features, toLabels } from '../data/npy';
import { loadImageFolder } from '../data/images';
import { loadLayersModelFromFile, saveLayersModelToDir } from '../data/modelIo';
import { assertNotInput, writeFileAtomic, writeFilesAtomic } from '../data/atomicWrite';

/** How runJob is driven. */
export interface JobOptions {
  emit: (e: RunEvent) => void;
  shouldStop: () => boolean;
  backend?: BackendChoice;
  wasmDir?: string;
  /** Continue from the checkpoint in the output folder. */
  resume?: boolean;
  /** Override config fields after validation (CLI flags such as --steps, --seed, --temperature). */
  override?: (c: SelmixConfig) => SelmixConfig;
}

/** The outcome: ok, or failed with the kind of failure (for exit codes). */
export type JobResult = { ok: true; summary: RunFinishedPayload } | { ok: false; kind: 'config' | 'data' | 'training' | 'internal'; message: string };

/** The files (or image folders) each split came from, so an error names the one at fault. */
type SplitFiles = Partial<Record<'train' | 'val' | 'unlabeled' | 'test', { x: string; y: string }>>;

/** Loaded data, in the loop's terms. */
interface Loaded {
  data: FinetuneData;
  notes: string[];
  inputs: string[];
  files: SplitFiles;
}

/** Reads and validates a config file; ConfigError names the file, the path and the line of every problem. */
export function loadConfig(configPath: string): SelmixConfig {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (e) {
    throw new ConfigError(configPath, [{ path: '', message: `cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  // Editors on Windows may save a UTF-8 byte-order mark; it is not JSON, but not the user's mistake either.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return parseConfig(text, configPath);
}

/** Every input path the config names that does not exist, as config issues. */
export function missingInputs(cfg: SelmixConfig, baseDir: string): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const check = (p: string | undefined, path: string) => {
    if (p !== undefined && !existsSync(resolve(baseDir, p))) out.push({ path, message: `file or folder not found: ${resolve(baseDir, p)}` });
  };
  const d = cfg.data;
  if (d.kind === 'npy') {
    for (const split of ['train', 'val', 'unlabeled', 'test'] as const) {
      const s = d[split];
      if (s) { check(s.features, `data.${split}.features`); check(s.labels, `data.${split}.labels`); }
    }
  } else if (d.kind === 'images') {
    for (const split of ['train', 'val', 'unlabeled', 'test'] as const) check(d[split], `data.${split}`);
  }
  const m = cfg.model;
  if (m?.kind === 'linear') { check(m.weights, 'model.weights'); check(m.bias, 'model.bias'); }
  if (m?.kind === 'tfjs') check(m.path, 'model.path');
  return out;
}

/**
 * Adds the line and column of each missing-path issue, from the config text (or the file at configPath),
 * when the value found there is the path the issue is about (flag-built configs have no file to point at).
 */
function withLines(issues: ConfigIssue[], configPath: string, text?: string): ConfigIssue[] {
  let src = text;
  if (src === undefined) {
    try { src = readFileSync(configPath, 'utf8'); } catch { return issues; }
  }
  const tree = parseTree(src);
  if (!tree) return issues;
  const base = dirname(resolve(configPath));
  return issues.map((i) => {
    const node = findNodeAtLocation(tree, i.path.split('.'));
    if (!node || typeof node.value !== 'string' || !i.message.endsWith(resolve(base, node.value))) return i;
    return { ...i, ...lineColumn(src, node.offset) };
  });
}

/**
 * The objective's name and its value on a metrics report: the config's customObjective (compiled for K; a bad
 * expression becomes a ConfigError at its field and line) or the built-in objective.
 */
function reportedObjective(cfg: SelmixConfig, K: number, configPath: string, text?: string): { name: string; value: (m: MetricsReport) => number } {
  if (!cfg.customObjective) return { name: cfg.objective, value: (m) => objectiveMetricValue(cfg.objective, m) };
  try {
    const c = compileCustomObjective(cfg.customObjective, K);
    return { name: c.name, value: (m) => c.valueFromMetrics(m) };
  } catch (e) {
    if (!(e instanceof ExprError)) throw e;
    const issue: ConfigIssue = { path: e.path ?? 'customObjective.expression', message: e.message };
    let src = text;
    if (src === undefined) { try { src = readFileSync(configPath, 'utf8'); } catch { /* a flag-built config */ } }
    const tree = src !== undefined ? parseTree(src) : undefined;
    const keys = issue.path.split(/[.[\]]/).filter(Boolean).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    const node = tree ? findNodeAtLocation(tree, keys) : undefined;
    throw new ConfigError(configPath, [node && src !== undefined ? { ...issue, ...lineColumn(src, node.offset) } : issue]);
  }
}

function labeled(set: ExampleSet, file: string): ExampleSet & { y: Int32Array } {
  if (!set.y) throw new DataError(file, 'labels are required for this split');
  return set as ExampleSet & { y: Int32Array };
}

/** A class-balanced validation set carved deterministically from the labeled data (the last examples of each class). */
export function carveValidation(train: ExampleSet & { y: Int32Array }, K: number, perClass: number, notes: string[]): { train: ExampleSet & { y: Int32Array }; val: ExampleSet & { y: Int32Array } } {
  const byClass: number[][] = Array.from({ length: K }, () => []);
  train.y.forEach((y, i) => byClass[y]!.push(i));
  const counts = byClass.map((ix) => ix.length);
  const v = Math.max(1, Math.min(perClass, Math.floor(Math.min(...counts.filter((c) => c > 0)) / 2)));
  const valIdx: number[] = [];
  const trainIdx: number[] = [];
  byClass.forEach((ix, k) => {
    const take = ix.length >= 2 ? Math.min(v, ix.length - 1) : 0;
    if (take === 0) notes.push(`class ${k} has ${ix.length} labeled example(s): none could be set aside, so it has no validation examples`);
    valIdx.push(...ix.slice(ix.length - take));
    trainIdx.push(...ix.slice(0, ix.length - take));
  });
  notes.push(`no validation set given: carved ${valIdx.length} examples (up to ${v} per class, class-balanced, the last of each class) from the labeled set`);
  const pick = (idx: number[]): ExampleSet & { y: Int32Array } => {
    const per = train.x.length / train.n;
    const x = new Float32Array(idx.length * per);
    idx.forEach((i, j) => x.set(train.x.subarray(i * per, (i + 1) * per), j * per));
    return { x, y: Int32Array.from(idx.map((i) => train.y[i]!)), n: idx.length, shape: train.shape };
  };
  return { train: pick(trainIdx.sort((a, b) => a - b)), val: pick(valIdx.sort((a, b) => a - b)) };
}

function loadNpySplit(base: string, s: { features: string; labels?: string | undefined }, needLabels: boolean): ExampleSet {
  const fPath = resolve(base, s.features);
  const f = toFloat32Features(readNpy(fPath), fPath);
  let y: Int32Array | null = null;
  if (s.labels !== undefined) {
    const lPath = resolve(base, s.labels);
    y = toLabels(readNpy(lPath), lPath);
    if (y.length !== f.n) throw new DataError(lPath, `has ${y.length} labels but ${fPath} has ${f.n} rows`);
  } else if (needLabels) {
    throw new DataError(fPath, 'labels are required for this split (add "labels")');
  }
  return { x: f.data, y, n: f.n, shape: f.shape.slice(1) };
}

/** Loads the data a config names. */
function loadData(cfg: SelmixConfig, base: string): Loaded {
  const d = cfg.data;
  const notes: string[] = [];
  const inputs: string[] = [];
  const files: SplitFiles = {};
  if (d.kind === 'builtin') {
    const m = loadMnistLT({ rho: d.rho, nMax: d.nMax, valPerClass: d.valPerClass, ...(d.unlabeled ? { unlabeled: d.unlabeled } : {}), ...(d.testPerClass ? { testPerClass: d.testPerClass } : {}), seed: 0 });
    notes.push(`MNIST-LT: rho = ${d.rho}, labeled per class ${m.counts.train.join(', ')}; validation ${d.valPerClass} per class; test ${m.test.n}` + (m.unlabeled ? `; unlabeled per class ${m.counts.unlabeled!.join(', ')}` : ''));
    return { data: { train: m.train, val: m.val, unlabeled: m.unlabeled, test: m.test, classNames: m.classNames }, notes, inputs, files };
  }
  if (d.kind === 'npy') {
    const train = labeled(loadNpySplit(base, d.train, true), resolve(base, d.train.features));
    for (const [name, s] of [['train', d.train], ['val', d.val], ['unlabeled', d.unlabeled], ['test', d.test]] as const) {
      if (!s) continue;
      inputs.push(resolve(base, s.features));
      if (s.labels) inputs.push(resolve(base, s.labels));
      files[name] = { x: resolve(base, s.features), y: resolve(base, s.labels ?? s.features) };
    }
    const unlabeled = d.unlabeled ? loadNpySplit(base, d.unlabeled, false) : null;
    const test = d.test ? labeled(loadNpySplit(base, d.test, true), resolve(base, d.test.features)) : null;
    const Kdata = Math.max(...train.y) + 1;
    const classNames = d.classes ?? Array.from({ length: Kdata }, (_, k) => String(k));
    let val: (ExampleSet & { y: Int32Array }) | null = d.val ? labeled(loadNpySplit(base, d.val, true), resolve(base, d.val.features)) : null;
    let tr = train;
    if (!val) ({ train: tr, val } = carveValidation(train, classNames.length, 100, notes));
    files.val ??= files.train!;
    return { data: { train: tr, val, unlabeled, test, classNames }, notes, inputs, files };
  }
  const load = (p: string, isLabeled: boolean) => {
    const r = loadImageFolder(resolve(base, p), { labeled: isLabeled, grayscale: d.grayscale, ...(d.classes ? { classes: d.classes } : {}) });
    inputs.push(resolve(base, p));
    return r;
  };
  for (const [name, p] of [['train', d.train], ['val', d.val ?? d.train], ['unlabeled', d.unlabeled], ['test', d.test]] as const) {
    if (p !== undefined) files[name] = { x: resolve(base, p), y: resolve(base, p) };
  }
  const tr = load(d.train, true);
  const classNames = tr.classNames;
  const asSet = (r: ReturnType<typeof load>): ExampleSet => ({ x: r.x, y: r.y, n: r.n, shape: r.shape });
  const train = labeled(asSet(tr), resolve(base, d.train));
  const check = (r: ReturnType<typeof load>, p: string) => {
    if (r.shape.join('x') !== tr.shape.join('x')) throw new DataError(resolve(base, p), `images are ${r.shape.join('x')} but the training images are ${tr.shape.join('x')}`);
    return r;
  };
  const opt = (p: string | undefined, isLabeled: boolean) => (p ? asSet(check(load(p, isLabeled), p)) : null);
  const unlabeled = opt(d.unlabeled, false);
  const test = d.test ? labeled(opt(d.test, true)!, resolve(base, d.test)) : null;
  let val = d.val ? labeled(opt(d.val, true)!, resolve(base, d.val)) : null;
  let t = train;
  if (!val) ({ train: t, val } = carveValidation(train, classNames.length, 100, notes));
  return { data: { train: t, val, unlabeled, test, classNames }, notes, inputs, files };
}

/**
 * Checks that labels fit the head's K and reports classes without examples. For fine-tuning every class of
 * the head needs a labeled training example (a head wider than the labels means the wrong head or labels).
 */
function checkLabels(data: FinetuneData, K: number, files: SplitFiles, fallback: string, notes: string[], everyClassLabeled: boolean): void {
  const sets: ['train' | 'val' | 'unlabeled' | 'test', ExampleSet | null][] = [['train', data.train], ['val', data.val], ['unlabeled', data.unlabeled], ['test', data.test]];
  for (const [name, s] of sets) {
    if (!s?.y) continue;
    for (let i = 0; i < s.y.length; i++) {
      if (s.y[i]! >= K) throw new DataError(files[name]?.y ?? fallback, `${name} label ${s.y[i]} at index ${i} is out of range: the model has K = ${K} classes (labels 0..${K - 1})`);
    }
  }
  const where = files.train?.y ?? fallback;
  if (K < 2) throw new DataError(where, `the model has ${K} class; SelMix needs at least 2`);
  const trainCounts = new Array<number>(K).fill(0);
  data.train.y.forEach((y) => trainCounts[y]!++);
  const valCounts = new Array<number>(K).fill(0);
  data.val.y.forEach((y) => valCounts[y]!++);
  const noTrain = trainCounts.flatMap((c, k) => (c === 0 ? [k] : []));
  const noVal = valCounts.flatMap((c, k) => (c === 0 ? [k] : []));
  if (noTrain.length === K) throw new DataError(where, 'the labeled set is empty');
  if (new Set(data.train.y).size < 2) throw new DataError(where, 'the labeled set has a single class; SelMix needs at least 2');
  if (everyClassLabeled && noTrain.length) {
    throw new DataError(where, `no labeled training examples for classes ${noTrain.map((k) => data.classNames[k] ?? k).join(', ')}: the model has K = ${K} classes but the labels use ${K - noTrain.length}; use a head with one output per class of the labels, or labels for every class`);
  }
  if (noTrain.length) notes.push(`classes with no labeled examples (never an anchor): ${noTrain.map((k) => data.classNames[k] ?? k).join(', ')}`);
  if (noVal.length) notes.push(`classes with no validation examples (reported with support 0, left out of the validation metrics): ${noVal.map((k) => data.classNames[k] ?? k).join(', ')}`);
  while (data.classNames.length < K) data.classNames.push(String(data.classNames.length));
}


/** Loads the starting model the config names. */
async function loadModel(cfg: SelmixConfig, base: string, data: FinetuneData, opts: JobOptions, notes: string[], inputs: string[], files: SplitFiles): Promise<SelmixModel> {
  const m = cfg.model!;
  if (m.kind === 'linear') {
    const wPath = resolve(base, m.weights);
    const wa = readNpy(wPath);
    if (wa.shape.length !== 2) throw new DataError(wPath, `weights must be 2-D (K x d, PyTorch nn.Linear layout), got shape [${wa.shape.join(', ')}]`);
    const Wt = toFloat32Features(wa, wPath);
    const [K, d] = [Wt.n, Wt.d];
    inputs.push(wPath);
    const W = new Float32Array(d * K);
    for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k] = Wt.data[k * d + r]!;
    let b: Float32Array = new Float32Array(K);
    if (m.bias) {
      const bPath = resolve(base, m.bias);
      const ba = readNpy(bPath);
      const bf = ba.shape.length === 1 ? toFloat32Features({ ...ba, shape: [ba.shape[0]!, 1] }, bPath).data : toFloat32Features(ba, bPath).data;
      if (bf.length !== K) throw new DataError(bPath, `bias has ${bf.length} entries but the weights have K = ${K} rows`);
      b = bf;
      inputs.push(bPath);
    }
    const featDim = data.train.x.length / data.train.n;
    if (featDim !== d) throw new DataError(wPath, `weights expect d = ${d} features but the training features (${files.train?.x ?? 'train'}) have ${featDim} columns`);
    return linearModel(W, b, d, K);
  }
  const path = resolve(base, m.path);
  if (m.kind === 'pretrained-demo' && !existsSync(path)) {
    notes.push(`no pre-trained model at ${path}: pre-training the demo CNN first (cached for later runs)`);
    opts.emit({ type: 'run/log', payload: { level: 'info', message: `pre-training the demo CNN (cached at ${path})` } });
    const lm = demoCnn(data.classNames.length, cfg.pretrain.seed, data.train.shape);
    const sm = fromLayersModel(lm);
    await pretrain(sm, data.train, cfg.pretrain, opts.emit, opts.shouldStop);
    writeBack(sm);
    disposeModel(sm);
    await saveLayersModelToDir(lm, dirname(path));
    lm.dispose();
  }
  inputs.push(path);
  const lm = await loadLayersModelFromFile(path);
  try {
    return fromLayersModel(lm);
  } catch (e) {
    if (e instanceof ModelShapeError) throw new DataError(path, e.message);
    throw e;
  }
}

/** Replaces every set by its backbone features, for a frozen backbone (one pass instead of one per step). */
function featurize(model: SelmixModel, data: FinetuneData): { model: SelmixModel; data: FinetuneData } {
  const f = (s: ExampleSet): ExampleSet => ({ x: forwardAll(model, s).features, y: s.y, n: s.n, shape: [model.d] });
  const feats: SelmixModel = { ...model, inputShape: [model.d], backbone: null };
  return {
    model: feats,
    data: {
      train: f(data.train) as ExampleSet & { y: Int32Array }, val: f(data.val) as ExampleSet & { y: Int32Array },
      unlabeled: data.unlabeled ? f(data.unlabeled) : null, test: data.test ? f(data.test) : null, classNames: data.classNames,
    },
  };
}

/** The file that holds the starting model (the weights of a linear head). */
function modelFileOf(cfg: SelmixConfig, base: string): string | undefined {
  const m = cfg.model;
  return m ? resolve(base, m.kind === 'linear' ? m.weights : m.path) : undefined;
}

function checkInputShape(model: SelmixModel, data: FinetuneData, files: SplitFiles, modelFile: string): void {
  const want = model.inputShape;
  for (const [name, s] of [['train', data.train], ['val', data.val], ['unlabeled', data.unlabeled], ['test', data.test]] as const) {
    if (!s) continue;
    const ok = want.length === s.shape.length && want.every((w, i) => w === -1 || w === s.shape[i]);
    if (!ok) throw new DataError(files[name]?.x ?? modelFile, `the model expects inputs of shape [${want.join(', ')}] (${modelFile}) but the ${name} examples have shape [${s.shape.join(', ')}]`);
  }
}

/** Runs a config end to end. Never throws: failures become a run/failed event and a failed result. */
export async function runJob(config: SelmixConfig | string, configPath: string, opts: JobOptions): Promise<JobResult> {
  const runId = randomUUID();
  let snapshot: RunSnapshot = emptySnapshot();
  const emit = (e: RunEvent) => {
    snapshot = applyEvent(snapshot, e);
    opts.emit(e);
  };
  const t0 = performance.now();
  let tensorsAtStart = 0;
  let model: SelmixModel | null = null;
  try {
    let cfg = typeof config === 'string' ? parseConfig(config, configPath) : config;
    if (opts.override) cfg = opts.override(cfg);
    const base = dirname(resolve(configPath));
    const missing = missingInputs(cfg, base);
    if (missing.length) throw new ConfigError(configPath, withLines(missing, configPath, typeof config === 'string' ? config : undefined));
    const backend = await initBackend({ ...(opts.backend ? { choice: opts.backend } : {}), ...(opts.wasmDir ? { wasmDir: opts.wasmDir } : {}) });
    tensorsAtStart = tf.memory().numTensors;
    const outputDir = resolve(base, cfg.output);
    const { data, notes, inputs, files } = loadData(cfg, base);
    const headFrac = cfg.selmix.headFrac;

    if (cfg.task === 'pretrain') return await runPretrain(cfg, data, outputDir, runId, backend.name, notes, emit, opts, t0);

    model = await loadModel(cfg, base, data, { ...opts, emit }, notes, inputs, files);
    checkInputShape(model, data, files, modelFileOf(cfg, base) ?? configPath);
    checkLabels(data, model.K, files, configPath, notes, true);
    for (const out of [join(outputDir, 'model', 'model.json'), join(outputDir, 'model', 'weights.bin'), join(outputDir, 'W.npy'), join(outputDir, 'b.npy')]) assertNotInput(out, inputs);
    try {
      mkdirSync(outputDir, { recursive: true });
    } catch (e) {
      // The message ends with the path, so the issue gets the line of "output" in the config file.
      throw new ConfigError(configPath, withLines([{ path: 'output', message: `cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ${outputDir}` }], configPath, typeof config === 'string' ? config : undefined));
    }
    const freeze = cfg.model && 'freezeBackbone' in cfg.model ? cfg.model.freezeBackbone : false;
    if (cfg.training.mixup === 'cutmix' && (!model.backbone || data.train.shape.length !== 3)) {
      throw new ConfigError(configPath, [{ path: 'training.mixup', message: 'cutmix mixes images: it needs image inputs (HxWxC) and a model with a backbone; use "feature" for feature vectors' }]);
    }
    let trainModel = model;
    let trainData = data;
    // A frozen backbone is applied once to every set, instead of at every step (not with CutMix, which mixes inputs).
    if (freeze && model.backbone && cfg.training.mixup !== 'cutmix') ({ model: trainModel, data: trainData } = featurize(model, data));

    const objective = reportedObjective(cfg, model.K, configPath, typeof config === 'string' ? config : undefined);
    const startVal = evaluateSet(trainModel, trainData.val, headFrac);
    const startTest = trainData.test?.y ? evaluateSet(trainModel, trainData.test as ExampleSet & { y: Int32Array }, headFrac) : undefined;
    const ckptPath = join(outputDir, 'checkpoint', 'state.json');
    let resume: TrainState | undefined;
    if (opts.resume) {
      if (!existsSync(ckptPath)) throw new DataError(ckptPath, 'no checkpoint to resume from');
      try {
        resume = JSON.parse(readFileSync(ckptPath, 'utf8')) as TrainState;
      } catch (e) {
        throw new DataError(ckptPath, `unreadable checkpoint: ${(e as Error).message}`);
      }
      notes.push(`resumed from the checkpoint at step ${resume.step}`);
    }
    emit({ type: 'run/started', payload: {
      runId, name: cfg.name ?? 'SelMix run', objective: objective.name, K: model.K, classNames: data.classNames, totalSteps: cfg.training.steps,
      backend: backend.name, outputDir, mode: 'finetune', notes, startVal, ...(startTest ? { startTest } : {}),
    } });
    for (const n of notes) emit({ type: 'run/log', payload: { level: 'info', message: n } });

    const result = await finetune(trainModel, trainData, {
      config: cfg, emit, shouldStop: opts.shouldStop, ...(resume ? { resume } : {}), matmul: await prepareGainMatMul(model.K),
      onCheckpoint: (state, best) => {
        mkdirSync(dirname(ckptPath), { recursive: true });
        writeFileAtomic(ckptPath, JSON.stringify(state));
        emit({ type: 'run/checkpoint', payload: { step: state.step, path: ckptPath, best } });
      },
    });
    // The best validation iterate is the result (SELMIX.md section 5.6 names the issue with the reference's choice).
    const vars = trainableVariables(trainModel, freeze);
    vars.forEach((v, i) => v.assign(result.bestWeights[i]!));
    result.bestWeights.forEach((t) => t.dispose());
    const afterVal = evaluateSet(trainModel, trainData.val, headFrac);
    const afterTest = trainData.test?.y ? evaluateSet(trainModel, trainData.test as ExampleSet & { y: Int32Array }, headFrac) : undefined;
    const headFiles = await saveModel(cfg, model, outputDir);
    const summary: RunFinishedPayload = {
      runId, outputDir, reportPath: join(outputDir, 'report.json'), stoppedBy: result.stoppedBy, steps: result.steps, objective: objective.name,
      before: { objectiveValue: objective.value(startVal), val: startVal, ...(startTest ? { test: startTest } : {}) },
      after: { objectiveValue: objective.value(afterVal), val: afterVal, ...(afterTest ? { test: afterTest } : {}) },
      bestStep: result.bestStep, wallSeconds: (performance.now() - t0) / 1000,
    };
    const finalSnapshot = applyEvent(snapshot, { type: 'run/finished', payload: summary });
    writeReport(outputDir, { summary, snapshot: finalSnapshot, config: cfg, backend: backend.name, probes: backend.probes, notes,
      gainCorrelation: result.gainCorrelation, final: result.lastRefresh, tensorsLeaked: tf.memory().numTensors - tensorsAtStart - liveModelTensors(model) }, headFiles);
    emit({ type: 'run/finished', payload: summary });
    return { ok: true, summary };
  } catch (e) {
    const kind = e instanceof ConfigError ? 'config' : e instanceof DataError ? 'data' : e instanceof TrainingError ? 'training' : 'internal';
    const err = e as Error;
    emit({ type: 'run/failed', payload: { message: err.message, kind, ...(err.stack ? { stack: err.stack } : {}), ...(e instanceof ConfigError ? { details: e.issues.map((i) => `${i.line ? `line ${i.line}: ` : ''}${i.path}: ${i.message}`) } : {}) } });
    return { ok: false, kind, message: err.message };
  } finally {
    if (model) disposeModel(model);
  }
}

function liveModelTensors(m: SelmixModel): number {
  return 2 + (m.backbone ? m.backbone.variables.length + m.backbone.constants.length : 0);
}

/** Saves a tfjs model's files; a linear head's W.npy and b.npy are returned, to be written together with the report. */
async function saveModel(cfg: SelmixConfig, model: SelmixModel, outputDir: string): Promise<{ path: string; data: Uint8Array }[]> {
  if (cfg.model?.kind === 'linear') {
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

/** Writes report.json (and files that belong with it) atomically: all of them or none. */
function writeReport(outputDir: string, report: Record<string, unknown>, withFiles: { path: string; data: Uint8Array }[] = []): void {
  writeFilesAtomic([...withFiles, { path: join(outputDir, 'report.json'), data: JSON.stringify(report, null, 1) }]);
}

async function runPretrain(cfg: SelmixConfig, data: FinetuneData, outputDir: string, runId: string, backendName: string, notes: string[],
  emit: (e: RunEvent) => void, opts: JobOptions, t0: number): Promise<JobResult> {
  const K = data.classNames.length;
  const lm = demoCnn(K, cfg.pretrain.seed, data.train.shape);
  const model = fromLayersModel(lm);
  try {
    const metric = (m: MetricsReport) => objectiveMetricValue(cfg.objective, m);
    const startVal = evaluateSet(model, data.val, cfg.selmix.headFrac);
    const perEpoch = Math.ceil(data.train.n / cfg.pretrain.batchSize);
    emit({ type: 'run/started', payload: { runId, name: cfg.name ?? 'pre-training', objective: cfg.objective, K, classNames: data.classNames,
      totalSteps: perEpoch * cfg.pretrain.epochs, backend: backendName, outputDir, mode: 'pretrain', notes, startVal } });
    const r = await pretrain(model, data.train, cfg.pretrain, emit, opts.shouldStop);
    writeBack(model);
    mkdirSync(outputDir, { recursive: true });
    await saveLayersModelToDir(lm, join(outputDir, 'model'));
    const afterVal = evaluateSet(model, data.val, cfg.selmix.headFrac);
    const afterTest = data.test ? evaluateSet(model, data.test as ExampleSet & { y: Int32Array }, cfg.selmix.headFrac) : undefined;
    const summary: RunFinishedPayload = {
      runId, outputDir, reportPath: join(outputDir, 'report.json'), stoppedBy: r.cancelled ? 'cancel' : 'steps', steps: r.steps, objective: cfg.objective,
      before: { objectiveValue: metric(startVal), val: startVal }, after: { objectiveValue: metric(afterVal), val: afterVal, ...(afterTest ? { test: afterTest } : {}) },
      bestStep: r.steps, wallSeconds: (performance.now() - t0) / 1000,
    };
    writeReport(outputDir, { summary, config: cfg, backend: backendName, notes });
    emit({ type: 'run/finished', payload: summary });
    return { ok: true, summary };
  } finally {
    disposeModel(model);
    lm.dispose();
  }
}

/** The metrics of a config's starting model on its validation or test split. */
export async function evaluateConfig(cfg: SelmixConfig, configPath: string, split: 'val' | 'test', backend?: BackendChoice): Promise<MetricsReport> {
  const base = dirname(resolve(configPath));
  const missing = missingInputs(cfg, base);
  if (missing.length) throw new ConfigError(configPath, withLines(missing, configPath));
  if (!cfg.model) throw new ConfigError(configPath, [{ path: 'model', message: 'eval needs a "model"' }]);
  await initBackend(backend ? { choice: backend } : {});
  const { data, notes, inputs, files } = loadData(cfg, base);
  const set = split === 'val' ? data.val : data.test;
  if (!set?.y) throw new ConfigError(configPath, [{ path: `data.${split}`, message: `the config has no labeled ${split} set` }]);
  const model = await loadModel(cfg, base, data, { emit: () => undefined, shouldStop: () => false }, notes, inputs, files);
  try {
    checkInputShape(model, data, files, modelFileOf(cfg, base) ?? configPath);
    checkLabels(data, model.K, files, configPath, notes, false);
    return evaluateSet(model, set as ExampleSet & { y: Int32Array }, cfg.selmix.headFrac);
  } finally {
    disposeModel(model);
  }
}
