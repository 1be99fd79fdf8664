// loadInputs: the data and the starting model a prepared config names, read and checked, with no side effect
// (nothing is written, nothing is trained). Every command (finetune, eval, gain, sweep, experiments) loads
// through it, so the same bad file gives the same error everywhere. A demo model that does not exist yet is
// returned as "to pre-train"; the pre-training stage (src/run/stages.ts) makes it.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { locatePath, type SelmixConfig } from '../core/config';
import { ConfigError, DataError, ModelShapeError } from '../core/errors';
import type { FinetuneData } from '../core/training/train';
import { disposeModel, fromLayersModel, linearModel, type SelmixModel } from '../core/training/model';
import { forwardAll, type ExampleSet } from '../core/training/evaluate';
import { loadMnistLT } from '../data/mnist';
import { readNpy, toFloat32Features, toFloat32Vector, toLabels, type NdArray } from '../data/npy';
import { firstTransformedShape, listImageFolder, loadImageFolder } from '../data/images';
import { isLazy, lazyImageSet, lazySubset } from './imageSource';
import { imageDecoderInfo } from '../data/imageDecode';
import { loadLayersModelFromFile } from '../data/modelIo';
import type { OnnxModelFile } from '../data/onnxModel';
import type { NetworkModel } from '../formats/onnx/networkStep';
import { assertTrainable, imageTransform, loadOnnxModel, resolveImagePlan } from './onnxStage';
import type { ImageTransform } from '../data/images';
import type { StageEnter } from './progress';

type Split = 'train' | 'val' | 'unlabeled' | 'test';

/** The files (or image folders) each split came from, so an error names the one at fault. */
export type SplitFiles = Partial<Record<Split, { x: string; y: string }>>;

/** The starting model: loaded, or the demo CNN still to be pre-trained (and cached at cachePath). */
export type ModelSource =
  | { kind: 'loaded'; model: SelmixModel; file: string; onnx?: OnnxModelFile; network?: NetworkModel }
  | { kind: 'pretrain'; cachePath: string };

/** What loadInputs returns. */
export interface RunInputs {
  data: FinetuneData;
  /** Null for a pre-training config (task "pretrain"), which has no starting model. */
  model: ModelSource | null;
  /** Facts about the data worth telling the user (carved validation set, empty classes, ...). */
  notes: string[];
  /** Absolute paths of every input file or folder read: no output may resolve to one of them. */
  inputs: string[];
  files: SplitFiles;
  /** The class names came from the config, the image folders or the built-in set (not numbered from the labels). */
  classesGiven: boolean;
  /** The class names are the config's data.classes (a mismatch is reported at that field's line). */
  classesFromConfig?: boolean;
}

/** A ConfigError at a config field and its line in the config file (the file the run's config was read from). */
function fieldError(configPath: string, keys: string[], message: string): ConfigError {
  let at = {};
  try {
    at = locatePath(readFileSync(configPath, 'utf8').replace(/^\uFEFF/, ''), keys);
  } catch {
    /* reported without a line */
  }
  return new ConfigError(configPath, [{ path: keys.join('.'), message, ...at }]);
}

/** A ConfigError at data.classes. */
function classesError(configPath: string, message: string): ConfigError {
  return fieldError(configPath, ['data', 'classes'], message);
}

/** Reads each .npy once per load, even when two splits name the same file. */
type NpyReader = (path: string) => NdArray;

function labeled(set: ExampleSet, file: string): ExampleSet & { y: Int32Array } {
  if (!set.y) throw new DataError(file, 'labels are required for this split');
  return set as ExampleSet & { y: Int32Array };
}

/** A class-balanced validation set carved deterministically from the labeled data (the last examples of each class). */
export function carveValidation(
  train: ExampleSet & { y: Int32Array },
  K: number,
  perClass: number,
  notes: string[],
): { train: ExampleSet & { y: Int32Array }; val: ExampleSet & { y: Int32Array } } {
  const byClass: number[][] = Array.from({ length: K }, () => []);
  train.y.forEach((y, i) => byClass[y]?.push(i));
  const counts = byClass.map((ix) => ix.length);
  const v = Math.max(1, Math.min(perClass, Math.floor(Math.min(...counts.filter((c) => c > 0)) / 2)));
  const valIdx: number[] = [];
  const trainIdx: number[] = [];
  byClass.forEach((ix, k) => {
    const take = ix.length >= 2 ? Math.min(v, ix.length - 1) : 0;
    if (take === 0)
      notes.push(
        `class ${k} has ${ix.length} labeled example(s): none could be set aside, so it has no validation examples`,
      );
    valIdx.push(...ix.slice(ix.length - take));
    trainIdx.push(...ix.slice(0, ix.length - take));
  });
  notes.push(
    `no validation set given: carved ${valIdx.length} examples (up to ${v} per class, class-balanced, the last of each class) from the labeled set`,
  );
  const pick = (idx: number[]): ExampleSet & { y: Int32Array } => {
    const per = train.x.length / train.n;
    const x = new Float32Array(idx.length * per);
    idx.forEach((i, j) => x.set(train.x.subarray(i * per, (i + 1) * per), j * per));
    return { x, y: Int32Array.from(idx.map((i) => train.y[i]!)), n: idx.length, shape: train.shape };
  };
  return { train: pick(trainIdx.sort((a, b) => a - b)), val: pick(valIdx.sort((a, b) => a - b)) };
}

function loadNpySplit(
  read: NpyReader,
  base: string,
  s: { features: string; labels?: string | undefined },
  needLabels: boolean,
): ExampleSet {
  const fPath = resolve(base, s.features);
  const f = toFloat32Features(read(fPath), fPath);
  let y: Int32Array | null = null;
  if (s.labels !== undefined) {
    const lPath = resolve(base, s.labels);
    y = toLabels(read(lPath), lPath);
    if (y.length !== f.n) throw new DataError(lPath, `has ${y.length} labels but ${fPath} has ${f.n} rows`);
  } else if (needLabels) {
    throw new DataError(fPath, 'labels are required for this split (add "labels")');
  }
  return { x: f.data, y, n: f.n, shape: f.shape.slice(1) };
}

/** The class names a config gives, checked: no duplicates. */
function classNamesOf(given: string[] | undefined, where: string): string[] | undefined {
  if (!given) return undefined;
  const seen = new Set<string>();
  for (const c of given) {
    if (seen.has(c)) throw classesError(where, `data.classes names "${c}" twice; class names must be distinct`);
    seen.add(c);
  }
  return given;
}

async function loadData(
  cfg: SelmixConfig,
  base: string,
  read: NpyReader,
  configPath: string,
  transform?: { t: ImageTransform; describe: string },
  enter?: StageEnter,
): Promise<Omit<RunInputs, 'model'>> {
  const d = cfg.data;
  const notes: string[] = [];
  const inputs: string[] = [];
  const files: SplitFiles = {};
  if (d.kind === 'builtin') {
    const m = loadMnistLT({
      rho: d.rho,
      nMax: d.nMax,
      valPerClass: d.valPerClass,
      ...(d.unlabeled ? { unlabeled: d.unlabeled } : {}),
      ...(d.testPerClass ? { testPerClass: d.testPerClass } : {}),
      seed: 0,
    });
    notes.push(
      `MNIST-LT: rho = ${d.rho}, labeled per class ${m.counts.train.join(', ')}; validation ${d.valPerClass} per class; test ${m.test.n}` +
        (m.unlabeled ? `; unlabeled per class ${m.counts.unlabeled!.join(', ')}` : ''),
    );
    return {
      data: { train: m.train, val: m.val, unlabeled: m.unlabeled, test: m.test, classNames: m.classNames },
      notes,
      inputs,
      files,
      classesGiven: true,
    };
  }
  const given = classNamesOf(d.classes, configPath);
  if (d.kind === 'npy') {
    for (const [name, s] of [
      ['train', d.train],
      ['val', d.val],
      ['unlabeled', d.unlabeled],
      ['test', d.test],
    ] as const) {
      if (!s) continue;
      inputs.push(resolve(base, s.features));
      if (s.labels) inputs.push(resolve(base, s.labels));
      files[name] = { x: resolve(base, s.features), y: resolve(base, s.labels ?? s.features) };
    }
    const train = labeled(loadNpySplit(read, base, d.train, true), resolve(base, d.train.features));
    const unlabeled = d.unlabeled ? loadNpySplit(read, base, d.unlabeled, false) : null;
    const test = d.test ? labeled(loadNpySplit(read, base, d.test, true), resolve(base, d.test.features)) : null;
    let maxLabel = 0;
    for (const y of train.y) if (y > maxLabel) maxLabel = y;
    const classNames = given?.slice() ?? Array.from({ length: maxLabel + 1 }, (_, k) => String(k));
    let val: (ExampleSet & { y: Int32Array }) | null = d.val
      ? labeled(loadNpySplit(read, base, d.val, true), resolve(base, d.val.features))
      : null;
    let tr = train;
    if (!val) ({ train: tr, val } = carveValidation(train, classNames.length, 100, notes));
    files.val ??= files.train!;
    return {
      data: { train: tr, val, unlabeled, test, classNames },
      notes,
      inputs,
      files,
      classesGiven: given !== undefined,
      classesFromConfig: given !== undefined,
    };
  }
  // Every labeled split's class folders are matched by name to the training classes (or data.classes), never numbered
  // on their own.
  let expected = given ? { classes: given, classesFrom: `data.classes in ${configPath}` } : null;
  // A model's image splits (an ONNX model with its transform) are listed now and decoded in batches when needed
  // (src/run/imageSource.ts); other image splits are decoded here.
  const load = async (p: string, isLabeled: boolean): Promise<{ set: ExampleSet; classNames: string[] }> => {
    const root = resolve(base, p);
    inputs.push(root);
    if (transform) {
      const list = listImageFolder(root, { labeled: isLabeled, ...(isLabeled && expected ? expected : {}) });
      const shape = await firstTransformedShape(list.files, transform.t);
      return {
        set: lazyImageSet(list.files, list.y, shape, transform.t, transform.describe),
        classNames: list.classNames,
      };
    }
    const onProgress = enter?.('decoding', `decoding images (${p})`);
    const r = await loadImageFolder(root, {
      labeled: isLabeled,
      grayscale: d.grayscale,
      maxPixels: d.maxImagePixels,
      ...(isLabeled && expected ? expected : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    return { set: { x: r.x, y: r.y, n: r.n, shape: r.shape }, classNames: r.classNames };
  };
  for (const [name, p] of [
    ['train', d.train],
    ['val', d.val ?? d.train],
    ['unlabeled', d.unlabeled],
    ['test', d.test],
  ] as const) {
    if (p !== undefined) files[name] = { x: resolve(base, p), y: resolve(base, p) };
  }
  const decoder = imageDecoderInfo();
  if (decoder.note) notes.push(decoder.note);
  const tr = await load(d.train, true);
  const classNames = tr.classNames;
  expected ??= { classes: classNames, classesFrom: `the training folder ${resolve(base, d.train)}` };
  const train = labeled(tr.set, resolve(base, d.train));
  const check = (r: ExampleSet, p: string) => {
    if (r.shape.join('x') !== train.shape.join('x'))
      throw new DataError(
        resolve(base, p),
        `images are ${r.shape.join('x')} but the training images are ${train.shape.join('x')}`,
      );
    return r;
  };
  const opt = async (p: string | undefined, isLabeled: boolean) =>
    p ? check((await load(p, isLabeled)).set, p) : null;
  const unlabeled = await opt(d.unlabeled, false);
  const test = d.test ? labeled((await opt(d.test, true))!, resolve(base, d.test)) : null;
  let val = d.val ? labeled((await opt(d.val, true))!, resolve(base, d.val)) : null;
  let t = train;
  if (!val && transform && isLazy(train)) {
    // Carved by index: the same split as carveValidation makes of held images, on the file list.
    const idx = carveValidation(
      { x: Float32Array.from({ length: train.n }, (_, i) => i), y: train.y, n: train.n, shape: [1] },
      classNames.length,
      100,
      notes,
    );
    t = lazySubset(train, Array.from(idx.train.x), transform.describe) as ExampleSet & { y: Int32Array };
    val = lazySubset(train, Array.from(idx.val.x), transform.describe) as ExampleSet & { y: Int32Array };
  } else if (!val) {
    ({ train: t, val } = carveValidation(train, classNames.length, 100, notes));
  }
  if (transform)
    notes.push(
      `images are decoded in batches as the model needs them (${t.n + val.n + (test?.n ?? 0) + (unlabeled?.n ?? 0)} files), never all at once`,
    );
  return {
    data: { train: t, val, unlabeled, test, classNames },
    notes,
    inputs,
    files,
    classesGiven: true,
    classesFromConfig: given !== undefined,
  };
}

/** A linear head in PyTorch nn.Linear layout (weights K x d, bias K), as the loop's d x K model. */
function loadLinear(
  m: Extract<NonNullable<SelmixConfig['model']>, { kind: 'linear' }>,
  base: string,
  read: NpyReader,
  inputs: string[],
): SelmixModel {
  const wPath = resolve(base, m.weights);
  const wa = read(wPath);
  if (wa.shape.length !== 2)
    throw new DataError(
      wPath,
      `weights must be 2-D (K x d, PyTorch nn.Linear layout), got shape [${wa.shape.join(', ')}]`,
    );
  const Wt = toFloat32Features(wa, wPath, 'weights');
  const [K, d] = [Wt.n, Wt.d];
  inputs.push(wPath);
  const W = new Float32Array(d * K);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k] = Wt.data[k * d + r]!;
  let b: Float32Array = new Float32Array(K);
  if (m.bias) {
    const bPath = resolve(base, m.bias);
    b = toFloat32Vector(read(bPath), bPath, 'bias');
    if (b.length !== K)
      throw new DataError(bPath, `bias has ${b.length} entries but the weights (${wPath}) have K = ${K} rows`);
    inputs.push(bPath);
  }
  return linearModel(W, b, d, K);
}

/** Loads the starting model the config names (a missing demo model is returned as "to pre-train"). */
async function loadModel(
  cfg: SelmixConfig,
  base: string,
  read: NpyReader,
  inputs: string[],
): Promise<ModelSource | null> {
  const m = cfg.model;
  if (!m || cfg.task === 'pretrain') return null;
  if (m.kind === 'linear')
    return { kind: 'loaded', model: loadLinear(m, base, read, inputs), file: resolve(base, m.weights) };
  if (m.kind === 'onnx') {
    // The head becomes the loop's linear model; the frozen backbone runs on ONNX Runtime (src/run/onnxStage.ts).
    const file = resolve(base, m.path);
    inputs.push(file);
    const loaded = loadOnnxModel(m, file);
    inputs.push(...loaded.onnx.externalFiles);
    return { kind: 'loaded', ...loaded, file };
  }
  const path = resolve(base, m.path);
  if (m.kind === 'pretrained-demo' && !existsSync(path)) return { kind: 'pretrain', cachePath: path };
  inputs.push(path);
  const lm = await loadLayersModelFromFile(path);
  try {
    return { kind: 'loaded', model: fromLayersModel(lm), file: path };
  } catch (e) {
    if (e instanceof ModelShapeError) throw new DataError(path, e.message);
    throw e;
  }
}

/**
 * Loads the data and the starting model of a validated config (train false: an evaluation, which needs no gradients;
 * enter: reports the decoding stage). Writes nothing; trains nothing.
 */
export async function loadInputs(
  cfg: SelmixConfig,
  baseDir: string,
  configPath: string,
  opts: { train?: boolean; enter?: StageEnter } = {},
): Promise<RunInputs> {
  const cache = new Map<string, NdArray>();
  const read: NpyReader = (p) => {
    let a = cache.get(p);
    if (!a) {
      a = readNpy(p);
      cache.set(p, a);
    }
    return a;
  };
  const pp = cfg.model?.kind === 'onnx' && cfg.data.kind === 'images' ? cfg.model.preprocess : undefined;
  const size = pp ? (pp.size ?? (Array.isArray(pp.resize) ? pp.resize : undefined)) : undefined;
  if (size && cfg.data.kind === 'images' && size[0] * size[1] > cfg.data.maxImagePixels) {
    throw fieldError(
      configPath,
      ['model', 'preprocess', pp?.size ? 'size' : 'resize'],
      `resizes every image to ${size[0]} x ${size[1]} = ${size[0] * size[1]} pixels, over data.maxImagePixels (${cfg.data.maxImagePixels}); use the size the model was trained on, or raise data.maxImagePixels`,
    );
  }
  // The model first: a wrong head, input shape, layout or channel count is reported before any image is read.
  const modelInputs: string[] = [];
  const model = await loadModel(cfg, baseDir, read, modelInputs);
  // A whole-network ONNX model is checked (every op on a parameter's path has a gradient) before any data is read.
  if (opts.train !== false && cfg.task === 'finetune' && model?.kind === 'loaded' && model.onnx && model.network) {
    try {
      assertTrainable(model.onnx, model.network);
    } catch (e) {
      disposeModel(model.model);
      throw e;
    }
  }
  let transform: { t: ImageTransform; describe: string } | undefined;
  const notes: string[] = [];
  if (model?.kind === 'loaded' && model.onnx && cfg.model?.kind === 'onnx') {
    if (model.onnx.head.softmax)
      notes.push(
        `the model ends with ${model.onnx.head.softmax} after its head: the tool works on the logits before it, and the written model.onnx keeps it`,
      );
    if (cfg.data.kind === 'images') {
      const plan = resolveImagePlan(cfg.model, model.onnx, cfg.data.grayscale);
      transform = {
        t: { ...imageTransform(plan, model.onnx), maxPixels: cfg.data.maxImagePixels },
        describe: plan.describe,
      };
      notes.push(`images become the model input as torchvision's transforms on PIL images: ${plan.describe}`);
    } else if (cfg.model.preprocess) {
      notes.push('model.preprocess applies to images only: .npy inputs are used as they are');
    }
  }
  let loaded: Awaited<ReturnType<typeof loadData>>;
  try {
    loaded = await loadData(cfg, baseDir, read, configPath, transform, opts.enter);
  } catch (e) {
    if (model?.kind === 'loaded') disposeModel(model.model);
    throw e;
  }
  return { ...loaded, notes: [...loaded.notes, ...notes], inputs: [...loaded.inputs, ...modelInputs], model };
}

/** Checks that every split fits the model's input shape. */
export function checkInputShape(model: SelmixModel, data: FinetuneData, files: SplitFiles, modelFile: string): void {
  const want = model.inputShape;
  for (const [name, s] of [
    ['train', data.train],
    ['val', data.val],
    ['unlabeled', data.unlabeled],
    ['test', data.test],
  ] as const) {
    if (!s) continue;
    const ok = want.length === s.shape.length && want.every((w, i) => w === -1 || w === s.shape[i]);
    const flat = want.length === 1 && s.shape.length === 1;
    if (!ok)
      throw new DataError(
        files[name]?.x ?? modelFile,
        `the model (${modelFile}) expects inputs of shape [${want.join(', ')}]${flat ? ` (d = ${want[0]})` : ''} but the ${name} examples have shape [${s.shape.join(', ')}]${flat ? ` (${s.shape[0]} columns)` : ''}`,
      );
  }
}

/**
 * Checks that labels fit the model's K and reports classes without examples. For fine-tuning every class of the
 * head needs a labeled training example (a head wider than the labels means the wrong head or labels).
 */
export function checkLabels(inputs: RunInputs, K: number, configPath: string, everyClassLabeled: boolean): void {
  const { data, files, notes } = inputs;
  const sets: [Split, ExampleSet | null][] = [
    ['train', data.train],
    ['val', data.val],
    ['unlabeled', data.unlabeled],
    ['test', data.test],
  ];
  for (const [name, s] of sets) {
    if (!s?.y) continue;
    for (let i = 0; i < s.y.length; i++) {
      if (s.y[i]! >= K)
        throw new DataError(
          files[name]?.y ?? configPath,
          `${name} label ${s.y[i]} at index ${i} is out of range: the model has K = ${K} classes (labels 0..${K - 1})`,
        );
    }
  }
  const where = files.train?.y ?? configPath;
  if (K < 2) throw new DataError(where, `the model has ${K} class; SelMix needs at least 2`);
  if (inputs.classesGiven ? data.classNames.length !== K : data.classNames.length > K) {
    const message = `the data have ${data.classNames.length} classes (${data.classNames.slice(0, 5).join(', ')}${data.classNames.length > 5 ? ', ...' : ''}) but the model has K = ${K} outputs`;
    if (inputs.classesFromConfig)
      throw classesError(
        configPath,
        `data.classes lists ${data.classNames.length} names but the model has K = ${K} outputs (${message})`,
      );
    throw new DataError(
      configPath,
      `the data have ${data.classNames.length} classes (${data.classNames.slice(0, 5).join(', ')}${data.classNames.length > 5 ? ', ...' : ''}) but the model has K = ${K} outputs`,
    );
  }
  const trainCounts = new Array<number>(K).fill(0);
  data.train.y.forEach((y) => trainCounts[y]!++);
  const valCounts = new Array<number>(K).fill(0);
  data.val.y.forEach((y) => valCounts[y]!++);
  const noTrain = trainCounts.flatMap((c, k) => (c === 0 ? [k] : []));
  const noVal = valCounts.flatMap((c, k) => (c === 0 ? [k] : []));
  if (noTrain.length === K) throw new DataError(where, 'the labeled set is empty');
  if (new Set(data.train.y).size < 2)
    throw new DataError(where, 'the labeled set has a single class; SelMix needs at least 2');
  if (everyClassLabeled && noTrain.length) {
    throw new DataError(
      where,
      `no labeled training examples for classes ${noTrain.map((k) => data.classNames[k] ?? k).join(', ')}: the model has K = ${K} classes but the labels use ${K - noTrain.length}; use a head with one output per class of the labels, or labels for every class`,
    );
  }
  if (noTrain.length)
    notes.push(
      `classes with no labeled examples (never an anchor): ${noTrain.map((k) => data.classNames[k] ?? k).join(', ')}`,
    );
  if (noVal.length)
    notes.push(
      `classes with no validation examples (reported with support 0, left out of the validation metrics): ${noVal.map((k) => data.classNames[k] ?? k).join(', ')}`,
    );
  while (data.classNames.length < K) data.classNames.push(String(data.classNames.length));
}

/** Replaces every set by its backbone features, for a frozen backbone (one pass instead of one per step). */
export function featurize(model: SelmixModel, data: FinetuneData): { model: SelmixModel; data: FinetuneData } {
  const f = (s: ExampleSet): ExampleSet => ({ x: forwardAll(model, s).features, y: s.y, n: s.n, shape: [model.d] });
  const feats: SelmixModel = { ...model, inputShape: [model.d], backbone: null };
  return {
    model: feats,
    data: {
      train: f(data.train) as ExampleSet & { y: Int32Array },
      val: f(data.val) as ExampleSet & { y: Int32Array },
      unlabeled: data.unlabeled ? f(data.unlabeled) : null,
      test: data.test ? f(data.test) : null,
      classNames: data.classNames,
    },
  };
}
