// The bad-input corpus: every case is a small folder of files (a config, .npy arrays, images, a
// tfjs model) with one thing wrong, and what each command must say about it. The folders are built, not
// committed, so the binary files stay out of git: `node --import tsx test/corpus/corpus.ts DIR` writes the
// whole corpus to DIR for a look; test/cli/corpus.test.ts and test/integration/reliability.test.ts run it.
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import { encodeNpy } from '../../src/data/npy';
import { round3Cases } from './round3';

/** Classes and feature width of the corpus's linear head. */
export const K = 5;
export const D = 8;
const N_TRAIN = 60;
const N_VAL = 30;

/** What one CLI invocation of a case must do. `{dir}` in argv is replaced by the case folder. */
export interface CliRun {
  argv: string[];
  exit: 0 | 2;
  /**
   * Fragments stderr must contain (strings are matched literally after `{dir}` is replaced; functions get the case
   * folder).
   */
  stderr: Fragment[];
  /** Extra checks on a successful run. */
  check?: (dir: string, stdout: string) => void;
}

/** A piece of expected text: a literal (with `{dir}`), a pattern, or a function of the case folder. */
export type Fragment = string | RegExp | ((dir: string) => string);

/** What runJob must do with the case's config (omitted for flag-only cases). */
export type EngineExpect =
  { ok: false; kind: 'config' | 'data'; message: Fragment[] } | { ok: true; check: (dir: string) => void };

/** One corpus case. */
export interface CorpusCase {
  id: string;
  group: 'config' | 'npy' | 'labels' | 'images' | 'model' | 'output';
  what: string;
  build: (dir: string) => void;
  cli: CliRun[];
  engine?: EngineExpect;
}

// ---- builders -------------------------------------------------------------------------------------

/** A deterministic generator (LCG), so every build of the corpus is byte-identical. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Separable features: class c has a bump on coordinate c. */
function features(n: number, d: number, labels: ArrayLike<number>, seed: number): Float32Array {
  const r = lcg(seed);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (j === labels[i]! % d ? 2 : 0) + r() - 0.5;
  return x;
}

const cycle = (n: number, k: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i % k);

/** Writes a file, making its folder first. */
export function write(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** A .npy file with any header, for dtypes and flags the writer does not produce. */
export function rawNpy(header: string, body: Uint8Array): Uint8Array {
  const pre = 10;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  const out = new Uint8Array(total + body.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, total - pre, true);
  const h = header.padEnd(total - pre - 1, ' ') + '\n';
  for (let i = 0; i < h.length; i++) out[pre + i] = h.charCodeAt(i);
  out.set(body, total);
  return out;
}

const npy = (dir: string, name: string, data: Float32Array | Int32Array | Float64Array, shape: number[]) =>
  write(join(dir, name), encodeNpy(data, shape));

/** Good data and a good linear head (K x d, PyTorch layout) in dir. */
export function baseNpy(dir: string): void {
  const ytr = cycle(N_TRAIN, K);
  const yv = cycle(N_VAL, K);
  npy(dir, 'train_x.npy', features(N_TRAIN, D, ytr, 1), [N_TRAIN, D]);
  npy(dir, 'train_y.npy', ytr, [N_TRAIN]);
  npy(dir, 'val_x.npy', features(N_VAL, D, yv, 2), [N_VAL, D]);
  npy(dir, 'val_y.npy', yv, [N_VAL]);
  const r = lcg(3);
  npy(
    dir,
    'W.npy',
    Float32Array.from({ length: K * D }, () => (r() - 0.5) * 0.2),
    [K, D],
  );
  npy(dir, 'b.npy', new Float32Array(K), [K]);
}

/** The corpus's good config (npy data, linear head), with optional changes. */
export function goodConfig(): Record<string, unknown> {
  return {
    name: 'corpus',
    objective: 'minRecall',
    data: {
      kind: 'npy',
      train: { features: 'train_x.npy', labels: 'train_y.npy' },
      val: { features: 'val_x.npy', labels: 'val_y.npy' },
    },
    model: { kind: 'linear', weights: 'W.npy', bias: 'b.npy' },
    training: { steps: 20, batchSize: 8, refreshEvery: 10 },
    output: 'out',
  };
}

export const CONFIG = 'run.selmix.json';

/** Writes the case's config file (an object as JSON, or text as it is). */
export function writeConfig(dir: string, cfg: Record<string, unknown> | string): void {
  write(join(dir, CONFIG), typeof cfg === 'string' ? cfg : JSON.stringify(cfg, null, 2) + '\n');
}

/** Replaces one value at a dotted path of a fresh good config. */
function withField(path: string, value: unknown): Record<string, unknown> {
  const cfg = goodConfig();
  const keys = path.split('.');
  let o = cfg as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]!] = value;
  return cfg;
}

/** 1-based line of the first occurrence of needle in the case's config. */
export function lineOf(dir: string, needle: string): number {
  const text = readFileSync(join(dir, CONFIG), 'utf8');
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`"${needle}" is not in ${join(dir, CONFIG)}`);
  return text.slice(0, at).split('\n').length;
}

/** A PNG of w x h pixels, grayscale (1) or colour (3). */
export function png(w: number, h: number, channels: 1 | 3, seed: number): Uint8Array {
  const img = new PNG({
    width: w,
    height: h,
    colorType: channels === 1 ? 0 : 2,
    inputColorType: 6,
    bitDepth: 8,
  } as ConstructorParameters<typeof PNG>[0]);
  const r = lcg(seed);
  for (let i = 0; i < w * h; i++) {
    const v = Math.floor(r() * 256);
    img.data[4 * i] = v;
    img.data[4 * i + 1] = channels === 1 ? v : Math.floor(r() * 256);
    img.data[4 * i + 2] = channels === 1 ? v : Math.floor(r() * 256);
    img.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(img, { colorType: channels === 1 ? 0 : 2, inputColorType: 6 } as Parameters<
    typeof PNG.sync.write
  >[1]);
}

/** A tfjs LayersModel file pair (Sequential: optional Flatten, Dense layers), written by hand so no tfjs is needed. */
export function layersModel(
  dir: string,
  opts: { inputShape: number[]; flatten: boolean; units: number[]; tail?: 'softmax-activation' },
): void {
  const layers: Record<string, unknown>[] = [];
  const specs: { name: string; shape: number[]; dtype: 'float32' }[] = [];
  const values: number[] = [];
  const r = lcg(7);
  let width = opts.inputShape.reduce((a, b) => a * b, 1);
  if (opts.flatten)
    layers.push({
      class_name: 'Flatten',
      config: { name: 'flatten', trainable: true, dtype: 'float32', batch_input_shape: [null, ...opts.inputShape] },
    });
  opts.units.forEach((u, i) => {
    const name = `dense_${i}`;
    layers.push({
      class_name: 'Dense',
      config: {
        name,
        trainable: true,
        dtype: 'float32',
        units: u,
        activation: i === opts.units.length - 1 ? 'linear' : 'relu',
        use_bias: true,
        kernel_initializer: { class_name: 'Zeros', config: {} },
        bias_initializer: { class_name: 'Zeros', config: {} },
        kernel_regularizer: null,
        bias_regularizer: null,
        activity_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
        ...(i === 0 && !opts.flatten ? { batch_input_shape: [null, ...opts.inputShape] } : {}),
      },
    });
    specs.push(
      { name: `${name}/kernel`, shape: [width, u], dtype: 'float32' },
      { name: `${name}/bias`, shape: [u], dtype: 'float32' },
    );
    for (let j = 0; j < width * u; j++) values.push((r() - 0.5) * 0.2);
    for (let j = 0; j < u; j++) values.push(0);
    width = u;
  });
  if (opts.tail === 'softmax-activation')
    layers.push({
      class_name: 'Activation',
      config: { name: 'probs', trainable: true, dtype: 'float32', activation: 'softmax' },
    });
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'selmix corpus',
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: 'corpus_model', layers },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  write(join(dir, 'model.json'), JSON.stringify(modelJson, null, 1));
  write(join(dir, 'weights.bin'), new Uint8Array(Float32Array.from(values).buffer));
}

/** An image folder: root/<class>/<i>.png, 4x4 grayscale unless told otherwise. */
export function imageFolder(root: string, classes: string[], perClass: number, seed: number): void {
  classes.forEach((c, k) => {
    for (let i = 0; i < perClass; i++) write(join(root, c, `${i}.png`), png(4, 4, 1, seed + 100 * k + i));
  });
}

/** Image data (train + val, 3 classes) and a model for 4x4x1 inputs (Flatten, Dense 3). */
export function baseImages(dir: string): void {
  imageFolder(join(dir, 'images', 'train'), ['a', 'b', 'c'], 4, 11);
  imageFolder(join(dir, 'images', 'val'), ['a', 'b', 'c'], 2, 51);
  layersModel(join(dir, 'model'), { inputShape: [4, 4, 1], flatten: true, units: [3] });
}

/** The image cases' config: a tfjs model on 4x4 grayscale images. */
export function imageConfig(): Record<string, unknown> {
  return {
    name: 'corpus images',
    objective: 'meanRecall',
    data: { kind: 'images', train: 'images/train', val: 'images/val' },
    model: { kind: 'tfjs', path: 'model/model.json' },
    training: { steps: 10, batchSize: 4, refreshEvery: 5 },
    output: 'out',
  };
}

// ---- commands --------------------------------------------------------------------------------------

export const finetune = ['finetune', '--config', `{dir}/${CONFIG}`, '--backend', 'cpu'];
const evalCfg = ['eval', '--config', `{dir}/${CONFIG}`, '--backend', 'cpu'];
const head = ['--weights', '{dir}/W.npy', '--bias', '{dir}/b.npy'];
/**
 * Feature-mode commands over the case's (possibly bad) train/val files: finetune, gain and eval give the same error.
 */
function featureRuns(
  stderr: Fragment[],
  which: ('finetune' | 'gain' | 'eval')[] = ['finetune', 'gain', 'eval'],
): CliRun[] {
  const all: Record<string, string[]> = {
    finetune: [
      'finetune',
      '--features',
      '{dir}/train_x.npy',
      '--labels',
      '{dir}/train_y.npy',
      '--val-features',
      '{dir}/val_x.npy',
      '--val-labels',
      '{dir}/val_y.npy',
      ...head,
      '--objective',
      'minRecall',
      '--steps',
      '20',
      '--out',
      '{dir}/out',
      '--backend',
      'cpu',
    ],
    gain: [
      'gain',
      '--features',
      '{dir}/train_x.npy',
      '--labels',
      '{dir}/train_y.npy',
      ...head,
      '--objective',
      'minRecall',
    ],
    eval: ['eval', '--features', '{dir}/train_x.npy', '--labels', '{dir}/train_y.npy', ...head],
  };
  return which.map((w) => ({ argv: all[w]!, exit: 2, stderr }));
}

/**
 * A config-mode case: finetune --config (and, withEval, eval --config) must fail with stderr naming these fragments.
 */
export function configRuns(stderr: Fragment[], withEval = false): CliRun[] {
  return [{ argv: finetune, exit: 2, stderr }, ...(withEval ? [{ argv: evalCfg, exit: 2 as const, stderr }] : [])];
}

const cfgFile = `{dir}/${CONFIG}`;
const f = (name: string) => `{dir}/${name}`;

/** Config cases: stderr names the config file, the JSON path and its line. */
function configCase(
  id: string,
  what: string,
  mutate: () => Record<string, unknown>,
  path: string,
  needle: string,
  message: RegExp,
  withEval = false,
): CorpusCase {
  const line = (dir: string) => `line ${lineOf(dir, needle)}:`;
  return {
    id,
    group: 'config',
    what,
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, mutate());
    },
    cli: configRuns([cfgFile, line, `${path}: `, message], withEval),
    engine: { ok: false, kind: 'config', message: [cfgFile, line, `${path}: `, message] },
  };
}

// ---- the cases -------------------------------------------------------------------------------------

/** Every case of the corpus. */
export const CASES: CorpusCase[] = [
  // config
  {
    id: 'config-invalid-json',
    group: 'config',
    what: 'a missing comma between two properties',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, '{\n  "objective": "minRecall",\n  "output": "out"\n  "training": { "steps": 20 }\n}\n');
    },
    cli: configRuns([cfgFile, 'line 4:3: (root): invalid JSON: a comma is expected'], true),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'line 4:3', 'a comma is expected'] },
  },
  {
    id: 'config-trailing-comma',
    group: 'config',
    what: 'a trailing comma after a comment (comments are allowed, JSONC; a trailing comma is not)',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, '{\n  "objective": "minRecall", // the target\n  "output": "out",\n}\n');
    },
    cli: configRuns([cfgFile, 'line 4:1: (root): invalid JSON: a property name in double quotes is expected'], true),
    engine: {
      ok: false,
      kind: 'config',
      message: [cfgFile, 'line 4:1', 'a property name in double quotes is expected'],
    },
  },
  {
    id: 'config-empty',
    group: 'config',
    what: 'an empty config file',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, '');
    },
    cli: configRuns([cfgFile, 'line 1:1', 'invalid JSON']),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'invalid JSON'] },
  },
  {
    id: 'config-not-object',
    group: 'config',
    what: 'a JSON array instead of an object',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, '[1, 2, 3]\n');
    },
    cli: configRuns([cfgFile, 'line 1:1: (root): ']),
    engine: { ok: false, kind: 'config', message: [cfgFile, '(root)'] },
  },
  configCase(
    'config-unknown-field',
    'an unknown top-level field',
    () => ({ ...goodConfig(), epochs: 3 }),
    'epochs',
    '"epochs"',
    /unrecognized key/i,
  ),
  configCase(
    'config-unknown-nested-field',
    'a misspelt training field',
    () => withField('training.stpes', 100),
    'training.stpes',
    '"stpes"',
    /unrecognized key/i,
  ),
  configCase(
    'config-wrong-type-steps',
    'steps as a string',
    () => withField('training.steps', '100'),
    'training.steps',
    '"steps"',
    /expected number, received string/i,
  ),
  configCase(
    'config-wrong-type-data',
    'data as a string',
    () => withField('data', 'train_x.npy'),
    'data',
    '"data"',
    /expected object|invalid input/i,
  ),
  configCase(
    'config-wrong-type-classes',
    'a class name that is a number',
    () => withField('data.classes', ['a', 'b', 3, 'd', 'e']),
    'data.classes[2]',
    ' 3,',
    /expected string/i,
  ),
  configCase(
    'config-negative-steps',
    'training.steps = -5',
    () => withField('training.steps', -5),
    'training.steps',
    '"steps"',
    /too small|>0|positive/i,
  ),
  configCase(
    'config-fractional-steps',
    'training.steps = 2.5',
    () => withField('training.steps', 2.5),
    'training.steps',
    '"steps"',
    /int/i,
  ),
  configCase(
    'config-temperature-zero',
    'selmix.temperature = 0',
    () => withField('selmix.temperature', 0),
    'selmix.temperature',
    '"temperature"',
    /too small|>0/i,
  ),
  configCase(
    'config-temperature-negative',
    'selmix.temperature = -1',
    () => withField('selmix.temperature', -1),
    'selmix.temperature',
    '"temperature"',
    /too small|>0/i,
  ),
  configCase(
    'config-lambda-zero',
    'training.lambdaMin = 0',
    () => withField('training.lambdaMin', 0),
    'training.lambdaMin',
    '"lambdaMin"',
    /too small|>0/i,
  ),
  configCase(
    'config-lambda-above-one',
    'training.lambdaMin = 1.5',
    () => withField('training.lambdaMin', 1.5),
    'training.lambdaMin',
    '"lambdaMin"',
    /too big|<=1/i,
  ),
  configCase(
    'config-lambda-negative',
    'training.lambdaMin = -0.2',
    () => withField('training.lambdaMin', -0.2),
    'training.lambdaMin',
    '"lambdaMin"',
    /too small|>0/i,
  ),
  configCase(
    'config-unknown-objective',
    'objective "maxRecall"',
    () => withField('objective', 'maxRecall'),
    'objective',
    '"objective"',
    /minRecall/,
  ),
  configCase(
    'config-unknown-data-kind',
    'data.kind "csv"',
    () => withField('data.kind', 'csv'),
    'data.kind',
    '"kind": "csv"',
    /npy/,
  ),
  configCase(
    'config-missing-train',
    'an npy data section without train',
    () => {
      const c = goodConfig();
      delete (c.data as Record<string, unknown>).train;
      return c;
    },
    'data.train',
    '"data"',
    /expected object|required/i,
  ),
  configCase(
    'config-missing-features-path',
    'data.train.features names a file that does not exist',
    () => withField('data.train.features', 'nope/train_x.npy'),
    'data.train.features',
    '"nope/train_x.npy"',
    /not found: .*nope\/train_x\.npy/,
    true,
  ),
  configCase(
    'config-missing-weights-path',
    'model.weights names a file that does not exist',
    () => withField('model.weights', 'missing_W.npy'),
    'model.weights',
    '"missing_W.npy"',
    /not found: .*missing_W\.npy/,
    true,
  ),
  configCase(
    'config-missing-image-folder',
    'data.train names a folder that does not exist',
    () => ({ ...imageConfig(), data: { kind: 'images', train: 'no-such-folder' } }),
    'data.train',
    '"no-such-folder"',
    /not found: .*no-such-folder/,
    true,
  ),
  configCase(
    'config-empty-path',
    'model.bias is an empty string',
    () => withField('model.bias', ''),
    'model.bias',
    '"bias"',
    /too small|>=1/i,
  ),

  // .npy
  {
    id: 'npy-truncated',
    group: 'npy',
    what: 'train features cut off mid-data',
    build: (dir) => {
      baseNpy(dir);
      const p = join(dir, 'train_x.npy');
      const b = readFileSync(p);
      writeFileSync(p, b.subarray(0, b.length - 13));
    },
    cli: [
      ...configRuns([f('train_x.npy'), 'truncated .npy data']),
      ...featureRuns([f('train_x.npy'), 'truncated .npy data']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'truncated .npy data'] },
  },
  {
    id: 'npy-truncated-header',
    group: 'npy',
    what: 'a .npy file that ends inside its header',
    build: (dir) => {
      baseNpy(dir);
      const p = join(dir, 'val_x.npy');
      writeFileSync(p, readFileSync(p).subarray(0, 40));
    },
    cli: configRuns([f('val_x.npy'), 'truncated .npy header', 'header_len'], true),
    engine: { ok: false, kind: 'data', message: [f('val_x.npy'), 'truncated .npy header'] },
  },
  {
    id: 'npy-bad-magic',
    group: 'npy',
    what: 'a text file named .npy',
    build: (dir) => {
      baseNpy(dir);
      writeFileSync(join(dir, 'train_y.npy'), '0,1,2,3,4\n'.repeat(12));
    },
    cli: [
      ...configRuns([f('train_y.npy'), 'not a .npy file: bad magic string']),
      ...featureRuns([f('train_y.npy'), 'bad magic string']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), 'bad magic'] },
  },
  {
    id: 'npy-bad-header',
    group: 'npy',
    what: 'a header that is not a Python dict literal',
    build: (dir) => {
      baseNpy(dir);
      write(
        join(dir, 'train_x.npy'),
        rawNpy(
          "{'descr': '<f4', 'fortran_order': False, 'shape': (60, 8), 'x': os.system('ls')}",
          new Uint8Array(N_TRAIN * D * 4),
        ),
      );
    },
    cli: [
      ...configRuns([f('train_x.npy'), 'malformed .npy header']),
      ...featureRuns([f('train_x.npy'), 'malformed .npy header']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'malformed .npy header'] },
  },
  {
    id: 'npy-bad-shape-field',
    group: 'npy',
    what: "a header whose 'shape' is not a tuple of integers",
    build: (dir) => {
      baseNpy(dir);
      write(
        join(dir, 'val_y.npy'),
        rawNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (-30,), }", new Uint8Array(0)),
      );
    },
    cli: configRuns([f('val_y.npy'), "header field 'shape'"]),
    engine: { ok: false, kind: 'data', message: [f('val_y.npy'), "'shape'"] },
  },
  {
    id: 'npy-unsupported-dtype',
    group: 'npy',
    what: 'complex64 features',
    build: (dir) => {
      baseNpy(dir);
      write(
        join(dir, 'train_x.npy'),
        rawNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (60, 8), }", new Uint8Array(N_TRAIN * D * 8)),
      );
    },
    cli: [
      ...configRuns([f('train_x.npy'), "header field 'descr' is '<c8': unsupported dtype"]),
      ...featureRuns([f('train_x.npy'), 'unsupported dtype']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), "'descr'", 'unsupported dtype'] },
  },
  {
    id: 'npy-float16',
    group: 'npy',
    what: 'float16 weights',
    build: (dir) => {
      baseNpy(dir);
      write(
        join(dir, 'W.npy'),
        rawNpy("{'descr': '<f2', 'fortran_order': False, 'shape': (5, 8), }", new Uint8Array(K * D * 2)),
      );
    },
    cli: [
      ...configRuns([f('W.npy'), "'descr' is '<f2': unsupported dtype"]),
      ...featureRuns([f('W.npy'), 'unsupported dtype']),
    ],
    engine: { ok: false, kind: 'data', message: [f('W.npy'), 'unsupported dtype'] },
  },
  {
    id: 'npy-big-endian',
    group: 'npy',
    what: 'big-endian labels',
    build: (dir) => {
      baseNpy(dir);
      write(
        join(dir, 'train_y.npy'),
        rawNpy("{'descr': '>i4', 'fortran_order': False, 'shape': (60,), }", new Uint8Array(N_TRAIN * 4)),
      );
    },
    cli: configRuns([f('train_y.npy'), 'big-endian']),
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), 'big-endian'] },
  },
  {
    id: 'npy-fortran-order',
    group: 'npy',
    what: 'Fortran-order features',
    build: (dir) => {
      baseNpy(dir);
      write(
        join(dir, 'train_x.npy'),
        rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (60, 8), }", new Uint8Array(N_TRAIN * D * 4)),
      );
    },
    cli: [
      ...configRuns([f('train_x.npy'), "header field 'fortran_order' is True"]),
      ...featureRuns([f('train_x.npy'), "'fortran_order' is True"]),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'fortran_order'] },
  },
  {
    id: 'npy-wrong-width-train',
    group: 'npy',
    what: 'train features with 7 columns for a head of d = 8',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'train_x.npy', features(N_TRAIN, 7, cycle(N_TRAIN, K), 1), [N_TRAIN, 7]);
    },
    cli: [
      ...configRuns([f('W.npy'), f('train_x.npy'), 'd = 8', '7 columns']),
      ...featureRuns([f('train_x.npy'), f('W.npy'), '7 columns', 'd = 8']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), f('W.npy'), '7 columns'] },
  },
  {
    id: 'npy-wrong-width-val',
    group: 'npy',
    what: 'validation features with 9 columns (train is right)',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'val_x.npy', features(N_VAL, 9, cycle(N_VAL, K), 2), [N_VAL, 9]);
    },
    cli: configRuns([f('val_x.npy'), 'shape [9]', 'shape [8]']),
    engine: { ok: false, kind: 'data', message: [f('val_x.npy'), 'val examples have shape [9]'] },
  },
  {
    id: 'npy-features-1d',
    group: 'npy',
    what: 'features saved as a flat vector',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'train_x.npy', features(N_TRAIN, D, cycle(N_TRAIN, K), 1), [N_TRAIN * D]);
    },
    cli: configRuns([f('train_x.npy'), 'features must have 2 or more dimensions']),
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), '2 or more dimensions'] },
  },
  {
    id: 'npy-nan-features',
    group: 'npy',
    what: 'a NaN in the train features',
    build: (dir) => {
      baseNpy(dir);
      const x = features(N_TRAIN, D, cycle(N_TRAIN, K), 1);
      x[3 * D + 5] = NaN;
      npy(dir, 'train_x.npy', x, [N_TRAIN, D]);
    },
    cli: [
      ...configRuns([f('train_x.npy'), 'row 3 (flat index 29) holds NaN']),
      ...featureRuns([f('train_x.npy'), 'row 3 (flat index 29) holds NaN']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'row 3', 'NaN'] },
  },
  {
    id: 'npy-inf-features',
    group: 'npy',
    what: 'an infinity in the validation features',
    build: (dir) => {
      baseNpy(dir);
      const x = features(N_VAL, D, cycle(N_VAL, K), 2);
      x[7 * D] = -Infinity;
      npy(dir, 'val_x.npy', x, [N_VAL, D]);
    },
    cli: configRuns([f('val_x.npy'), 'row 7 (flat index 56) holds -Infinity']),
    engine: { ok: false, kind: 'data', message: [f('val_x.npy'), '-Infinity'] },
  },
  {
    id: 'npy-float64-overflow',
    group: 'npy',
    what: 'a float64 feature too large for float32',
    build: (dir) => {
      baseNpy(dir);
      const x = Float64Array.from(features(N_TRAIN, D, cycle(N_TRAIN, K), 1));
      x[0] = 1e300;
      npy(dir, 'train_x.npy', x, [N_TRAIN, D]);
    },
    cli: configRuns([f('train_x.npy'), 'outside the float32 range']),
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'float32 range'] },
  },
  {
    id: 'npy-nan-weights',
    group: 'npy',
    what: 'a NaN in the head weights',
    build: (dir) => {
      baseNpy(dir);
      const w = new Float32Array(K * D);
      w[9] = NaN;
      npy(dir, 'W.npy', w, [K, D]);
    },
    cli: [...configRuns([f('W.npy'), 'NaN']), ...featureRuns([f('W.npy'), 'weights row 1 (flat index 9) holds NaN'])],
    engine: { ok: false, kind: 'data', message: [f('W.npy'), 'NaN'] },
  },
  {
    id: 'npy-nan-bias',
    group: 'npy',
    what: 'a NaN in the head bias',
    build: (dir) => {
      baseNpy(dir);
      const b = new Float32Array(K);
      b[2] = NaN;
      npy(dir, 'b.npy', b, [K]);
    },
    cli: [
      ...configRuns([f('b.npy'), 'bias entry 2 holds NaN']),
      ...featureRuns([f('b.npy'), 'bias entry 2 holds NaN']),
    ],
    engine: { ok: false, kind: 'data', message: [f('b.npy'), 'bias entry 2 holds NaN'] },
  },
  {
    id: 'npy-int64-bias',
    group: 'npy',
    what: 'an int64 bias with a wrong length',
    build: (dir) => {
      baseNpy(dir);
      const body = new Uint8Array(8 * (K + 1));
      write(join(dir, 'b.npy'), rawNpy(`{'descr': '<i8', 'fortran_order': False, 'shape': (${K + 1},), }`, body));
    },
    cli: [
      ...configRuns([f('b.npy'), `bias has ${K + 1} entries`]),
      ...featureRuns([f('b.npy'), `bias has ${K + 1} entries`]),
    ],
    engine: { ok: false, kind: 'data', message: [f('b.npy'), `bias has ${K + 1} entries`] },
  },

  // labels
  {
    id: 'labels-out-of-range-val',
    group: 'labels',
    what: 'a validation label 7 for a head with K = 5',
    build: (dir) => {
      baseNpy(dir);
      const y = cycle(N_VAL, K);
      y[12] = 7;
      npy(dir, 'val_y.npy', y, [N_VAL]);
    },
    cli: configRuns([f('val_y.npy'), 'label 7 at index 12 is out of range', 'K = 5'], true),
    engine: { ok: false, kind: 'data', message: [f('val_y.npy'), 'label 7 at index 12'] },
  },
  {
    id: 'labels-out-of-range-train',
    group: 'labels',
    what: 'a train label 5 for a head with K = 5',
    build: (dir) => {
      baseNpy(dir);
      const y = cycle(N_TRAIN, K);
      y[4] = 5;
      npy(dir, 'train_y.npy', y, [N_TRAIN]);
    },
    cli: [
      ...configRuns([f('train_y.npy'), 'label 5 at index 4 is out of range']),
      ...featureRuns([f('train_y.npy'), 'label 5 at index 4 is out of range']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), 'label 5 at index 4'] },
  },
  {
    id: 'labels-negative',
    group: 'labels',
    what: 'a label -1',
    build: (dir) => {
      baseNpy(dir);
      const y = cycle(N_TRAIN, K);
      y[10] = -1;
      npy(dir, 'train_y.npy', y, [N_TRAIN]);
    },
    cli: [
      ...configRuns([f('train_y.npy'), 'label at index 10 is -1']),
      ...featureRuns([f('train_y.npy'), 'label at index 10 is -1']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), 'index 10 is -1'] },
  },
  {
    id: 'labels-non-integer',
    group: 'labels',
    what: 'float labels with a 2.5',
    build: (dir) => {
      baseNpy(dir);
      const y = Float32Array.from(cycle(N_TRAIN, K));
      y[6] = 2.5;
      npy(dir, 'train_y.npy', y, [N_TRAIN]);
    },
    cli: [
      ...configRuns([f('train_y.npy'), 'label at index 6 is 2.5, not an integer class id']),
      ...featureRuns([f('train_y.npy'), 'not an integer class id']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), 'not an integer'] },
  },
  {
    id: 'labels-2d',
    group: 'labels',
    what: 'one-hot labels (N x K)',
    build: (dir) => {
      baseNpy(dir);
      const y = new Int32Array(N_TRAIN * K);
      for (let i = 0; i < N_TRAIN; i++) y[i * K + (i % K)] = 1;
      npy(dir, 'train_y.npy', y, [N_TRAIN, K]);
    },
    cli: configRuns([f('train_y.npy'), 'labels must be 1-D or a single column']),
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), '1-D'] },
  },
  {
    id: 'labels-count-mismatch',
    group: 'labels',
    what: '59 labels for 60 feature rows',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'train_y.npy', cycle(N_TRAIN - 1, K), [N_TRAIN - 1]);
    },
    cli: [
      ...configRuns([f('train_y.npy'), 'has 59 labels but', '60 rows']),
      ...featureRuns([f('train_y.npy'), 'has 59 labels']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), '59 labels'] },
  },
  {
    id: 'labels-fewer-classes-than-head',
    group: 'labels',
    what: 'labels use classes 0..2 only; the head has K = 5',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'train_y.npy', cycle(N_TRAIN, 3), [N_TRAIN]);
      npy(dir, 'val_y.npy', cycle(N_VAL, 3), [N_VAL]);
    },
    cli: [
      { argv: finetune, exit: 2, stderr: [f('train_y.npy'), 'no labeled training examples for classes 3, 4', 'K = 5'] },
    ],
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), 'classes 3, 4'] },
  },
  {
    id: 'labels-single-class',
    group: 'labels',
    what: 'every training label is 0',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'train_y.npy', new Int32Array(N_TRAIN), [N_TRAIN]);
    },
    cli: [{ argv: finetune, exit: 2, stderr: [f('train_y.npy'), 'single class'] }],
    engine: { ok: false, kind: 'data', message: [f('train_y.npy'), 'single class'] },
  },
  {
    id: 'labels-val-class-missing',
    group: 'labels',
    what: 'class 4 has no validation examples: NOT an error, reported with support 0',
    build: (dir) => {
      baseNpy(dir);
      const y = cycle(N_VAL, K - 1);
      npy(dir, 'val_y.npy', y, [N_VAL]);
      writeConfig(dir, goodConfig());
    },
    cli: [
      {
        argv: finetune,
        exit: 0,
        stderr: ['classes with no validation examples', 'support 0'],
        check: (dir) => {
          const rep = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
            summary: { after: { val: { support: number[] } } };
          };
          if (rep.summary.after.val.support[4] !== 0 || rep.summary.after.val.support.length !== K)
            throw new Error(`support ${JSON.stringify(rep.summary.after.val.support)}`);
        },
      },
      {
        argv: evalCfg,
        exit: 0,
        stderr: [],
        check: (_dir, stdout) => {
          if (!/\n\s*4\s+0\s/.test(stdout)) throw new Error(`eval does not list class 4 with support 0:\n${stdout}`);
        },
      },
    ],
    engine: {
      ok: true,
      check: (dir) => {
        const rep = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
          summary: { before: { val: { support: number[] } } };
        };
        if (rep.summary.before.val.support[4] !== 0)
          throw new Error(`support ${JSON.stringify(rep.summary.before.val.support)}`);
      },
    },
  },

  // images
  {
    id: 'images-truncated',
    group: 'images',
    what: 'a PNG cut in half',
    build: (dir) => {
      baseImages(dir);
      const p = join(dir, 'images', 'train', 'b', '2.png');
      const b = readFileSync(p);
      writeFileSync(p, b.subarray(0, b.length >> 1));
      writeConfig(dir, imageConfig());
    },
    cli: configRuns([f('images/train/b/2.png'), 'unreadable or truncated image'], true),
    engine: { ok: false, kind: 'data', message: [f('images/train/b/2.png'), 'truncated'] },
  },
  {
    id: 'images-not-an-image',
    group: 'images',
    what: 'a text file named .jpg',
    build: (dir) => {
      baseImages(dir);
      write(join(dir, 'images', 'val', 'c', 'notes.jpg'), 'not a jpeg\n');
      writeConfig(dir, imageConfig());
    },
    cli: configRuns([f('images/val/c/notes.jpg'), 'unreadable or truncated image']),
    engine: { ok: false, kind: 'data', message: [f('images/val/c/notes.jpg'), 'unreadable'] },
  },
  {
    id: 'images-mixed-sizes',
    group: 'images',
    what: 'one 5x5 image among 4x4 ones',
    build: (dir) => {
      baseImages(dir);
      write(join(dir, 'images', 'train', 'c', '1.png'), png(5, 5, 1, 9));
      writeConfig(dir, imageConfig());
    },
    cli: configRuns([f('images/train/c/1.png'), 'images have different sizes', '4x4', '5x5']),
    engine: { ok: false, kind: 'data', message: [f('images/train/c/1.png'), 'different sizes'] },
  },
  {
    id: 'images-mixed-channels',
    group: 'images',
    what: 'one colour image among grayscale ones',
    build: (dir) => {
      baseImages(dir);
      write(join(dir, 'images', 'train', 'a', '3.png'), png(4, 4, 3, 9));
      writeConfig(dir, imageConfig());
    },
    cli: configRuns([f('images/train/a/3.png'), 'images mix channel counts', 'grayscale']),
    engine: { ok: false, kind: 'data', message: [f('images/train/a/3.png'), 'channel counts'] },
  },
  {
    id: 'images-val-size-differs',
    group: 'images',
    what: 'validation images of another size than the training ones',
    build: (dir) => {
      baseImages(dir);
      rmSync(join(dir, 'images', 'val'), { recursive: true });
      for (const c of ['a', 'b', 'c']) write(join(dir, 'images', 'val', c, '0.png'), png(6, 6, 1, 3));
      writeConfig(dir, imageConfig());
    },
    cli: configRuns([f('images/val'), 'images are 6x6x1 but the training images are 4x4x1']),
    engine: { ok: false, kind: 'data', message: [f('images/val'), '6x6x1'] },
  },
  {
    id: 'images-empty-class-folder',
    group: 'images',
    what: 'a class folder with no images',
    build: (dir) => {
      baseImages(dir);
      mkdirSync(join(dir, 'images', 'train', 'd'));
      write(join(dir, 'images', 'train', 'd', 'README.txt'), 'nothing here\n');
      writeConfig(dir, imageConfig());
    },
    cli: configRuns([f('images/train/d'), 'class folder "d" holds no .png/.jpg/.jpeg images']),
    engine: { ok: false, kind: 'data', message: [f('images/train/d'), 'holds no'] },
  },
  {
    id: 'images-no-class-folders',
    group: 'images',
    what: 'images directly in the train folder, no class sub-folders',
    build: (dir) => {
      baseImages(dir);
      rmSync(join(dir, 'images', 'train'), { recursive: true });
      write(join(dir, 'images', 'train', '0.png'), png(4, 4, 1, 1));
      writeConfig(dir, imageConfig());
    },
    cli: configRuns([f('images/train'), 'no class sub-folders']),
    engine: { ok: false, kind: 'data', message: [f('images/train'), 'no class sub-folders'] },
  },

  // models
  {
    id: 'model-last-not-dense',
    group: 'model',
    what: 'a model ending in a softmax Activation layer',
    build: (dir) => {
      baseNpy(dir);
      layersModel(join(dir, 'model'), { inputShape: [D], flatten: false, units: [K], tail: 'softmax-activation' });
      writeConfig(dir, { ...goodConfig(), model: { kind: 'tfjs', path: 'model/model.json' } });
    },
    cli: configRuns([f('model/model.json'), 'the last layer must be Dense', 'Activation "probs"'], true),
    engine: { ok: false, kind: 'data', message: [f('model/model.json'), 'last layer must be Dense'] },
  },
  {
    id: 'model-weights-short',
    group: 'model',
    what: 'weights.bin shorter than its manifest',
    build: (dir) => {
      baseNpy(dir);
      layersModel(join(dir, 'model'), { inputShape: [D], flatten: false, units: [6, K] });
      const p = join(dir, 'model', 'weights.bin');
      writeFileSync(p, readFileSync(p).subarray(0, 100));
      writeConfig(dir, { ...goodConfig(), model: { kind: 'tfjs', path: 'model/model.json' } });
    },
    cli: configRuns([f('model/model.json'), 'weightsManifest[0]', 'bytes'], true),
    engine: { ok: false, kind: 'data', message: [f('model/model.json'), 'bytes'] },
  },
  {
    id: 'model-weights-topology-mismatch',
    group: 'model',
    what: 'a manifest kernel of 8 x 4 for a Dense layer of 5 units',
    build: (dir) => {
      baseNpy(dir);
      layersModel(join(dir, 'model'), { inputShape: [D], flatten: false, units: [K] });
      const p = join(dir, 'model', 'model.json');
      const j = JSON.parse(readFileSync(p, 'utf8')) as { weightsManifest: { weights: { shape: number[] }[] }[] };
      // Same byte count (8 x 5 + 5 = 8 x 4 + 13 floats would not match, so reshape both): kernel 10 x 4, bias 5.
      j.weightsManifest[0]!.weights[0]!.shape = [10, 4];
      write(p, JSON.stringify(j));
      writeConfig(dir, { ...goodConfig(), model: { kind: 'tfjs', path: 'model/model.json' } });
    },
    cli: configRuns([f('model/model.json'), 'cannot build the model', /shape/i]),
    engine: { ok: false, kind: 'data', message: [f('model/model.json'), 'cannot build the model'] },
  },
  {
    id: 'model-input-width',
    group: 'model',
    what: 'a tfjs model for 6 inputs on 8-column features',
    build: (dir) => {
      baseNpy(dir);
      layersModel(join(dir, 'model'), { inputShape: [6], flatten: false, units: [K] });
      writeConfig(dir, { ...goodConfig(), model: { kind: 'tfjs', path: 'model/model.json' } });
    },
    cli: configRuns([f('train_x.npy'), 'expects inputs of shape [6]', 'shape [8]']),
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'shape [6]'] },
  },
  {
    id: 'model-json-invalid',
    group: 'model',
    what: 'model.json that is not JSON',
    build: (dir) => {
      baseNpy(dir);
      write(join(dir, 'model', 'model.json'), '{"modelTopology": ');
      writeConfig(dir, { ...goodConfig(), model: { kind: 'tfjs', path: 'model/model.json' } });
    },
    cli: configRuns([f('model/model.json'), 'model file is not valid JSON']),
    engine: { ok: false, kind: 'data', message: [f('model/model.json'), 'not valid JSON'] },
  },
  {
    id: 'model-linear-bias-length',
    group: 'model',
    what: 'a bias of 4 entries for 5 weight rows',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'b.npy', new Float32Array(4), [4]);
    },
    cli: [
      ...configRuns([f('b.npy'), 'bias has 4 entries', 'K = 5']),
      ...featureRuns([f('b.npy'), 'bias has 4 entries']),
    ],
    engine: { ok: false, kind: 'data', message: [f('b.npy'), 'bias has 4 entries'] },
  },
  {
    id: 'model-linear-weights-1d',
    group: 'model',
    what: 'weights saved as a vector',
    build: (dir) => {
      baseNpy(dir);
      npy(dir, 'W.npy', new Float32Array(K * D), [K * D]);
    },
    cli: [...configRuns([f('W.npy'), 'weights must be 2-D']), ...featureRuns([f('W.npy'), 'weights must be 2-D'])],
    engine: { ok: false, kind: 'data', message: [f('W.npy'), '2-D'] },
  },

  // output
  {
    id: 'output-parent-is-file',
    group: 'output',
    what: 'output "blocker/out" where blocker is a file',
    build: (dir) => {
      baseNpy(dir);
      write(join(dir, 'blocker'), 'a file, not a folder\n');
      writeConfig(dir, withField('output', 'blocker/out'));
    },
    cli: [
      {
        argv: finetune,
        exit: 2,
        stderr: [
          cfgFile,
          (dir) => `line ${lineOf(dir, '"output"')}:`,
          'output: cannot create the output folder',
          f('blocker/out'),
          'is a file, not a folder',
        ],
      },
    ],
    engine: {
      ok: false,
      kind: 'config',
      message: [cfgFile, 'output: cannot create the output folder', f('blocker/out')],
    },
  },
  {
    id: 'output-is-input-folder',
    group: 'output',
    what: 'output "." where the input head W.npy/b.npy lives',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, withField('output', '.'));
    },
    cli: [{ argv: finetune, exit: 2, stderr: [f('W.npy'), 'output would overwrite the input file'] }],
    engine: { ok: false, kind: 'data', message: [f('W.npy'), 'would overwrite the input'] },
  },
  // ---- files that are not regular files, recursion limits, outputs onto inputs, locks (the Reliability issue) ----
  {
    id: 'npy-fifo',
    group: 'npy',
    what: 'train features that are a named pipe (FIFO): refused at once, no hang',
    build: (dir) => {
      baseNpy(dir);
      rmSync(join(dir, 'train_x.npy'));
      execFileSync('mkfifo', [join(dir, 'train_x.npy')]);
    },
    cli: [
      ...configRuns([f('train_x.npy'), 'a named pipe (FIFO), not a regular file']),
      ...featureRuns([f('train_x.npy'), 'a named pipe (FIFO)']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'named pipe'] },
  },
  {
    id: 'npy-dev-zero',
    group: 'npy',
    what: 'train features that are a symlink to /dev/zero: refused, memory stays small',
    build: (dir) => {
      baseNpy(dir);
      rmSync(join(dir, 'train_x.npy'));
      symlinkSync('/dev/zero', join(dir, 'train_x.npy'));
    },
    cli: [
      ...configRuns([f('train_x.npy'), 'is a device, not a regular file']),
      ...featureRuns([f('train_x.npy'), 'is a device']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'a device'] },
  },
  {
    id: 'npy-header-nested',
    group: 'npy',
    what: 'a .npy header with thousands of nested brackets',
    build: (dir) => {
      baseNpy(dir);
      write(
        join(dir, 'train_x.npy'),
        rawNpy(
          `{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(3000)}${')'.repeat(3000)}, }`,
          new Uint8Array(0),
        ),
      );
    },
    cli: [
      ...configRuns([f('train_x.npy'), 'nested more than 8 levels deep']),
      ...featureRuns([f('train_x.npy'), 'nested more than 8 levels deep']),
    ],
    engine: { ok: false, kind: 'data', message: [f('train_x.npy'), 'nested'] },
  },
  {
    id: 'config-fifo',
    group: 'config',
    what: 'the config file is a named pipe: refused at once, no hang',
    build: (dir) => {
      baseNpy(dir);
      execFileSync('mkfifo', [join(dir, CONFIG)]);
    },
    cli: [
      { argv: finetune, exit: 2, stderr: [cfgFile, 'not a regular file (a named pipe)'] },
      { argv: evalCfg, exit: 2, stderr: [cfgFile, 'a named pipe'] },
    ],
  },
  {
    id: 'config-deeply-nested',
    group: 'config',
    what: 'a config with 100000 nested arrays',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, '{"name": "deep", "x": ' + '['.repeat(100000) + ']'.repeat(100000) + '}');
    },
    cli: configRuns([cfgFile, 'line 1:', 'nested more than 32 levels deep'], true),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'nested more than 32 levels deep'] },
  },
  {
    id: 'config-expression-nested',
    group: 'config',
    what: 'a custom objective nested 5000 levels deep',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, {
        ...goodConfig(),
        customObjective: { expression: '('.repeat(1500) + 'min(recall)' + ')'.repeat(1500) },
      });
    },
    cli: configRuns([cfgFile, 'customObjective.expression', 'at most 2000 are accepted']),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'customObjective.expression'] },
  },
  {
    id: 'config-expression-deep-signs',
    group: 'config',
    what: 'a custom objective with 1000 unary minus signs',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, { ...goodConfig(), customObjective: { expression: '-'.repeat(1000) + 'min(recall)' } });
    },
    cli: configRuns([cfgFile, 'customObjective.expression', 'nested more than 50 levels deep']),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'nested more than 50 levels deep'] },
  },
  {
    id: 'config-duplicate-key',
    group: 'config',
    what: 'a key given twice: reported at the occurrence that is used (the last)',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(
        dir,
        JSON.stringify(goodConfig(), null, 2)
          .replace('"training": {', '"training": { "steps": 5 },\n  "training": {')
          .replace('"steps": 20', '"steps": -3'),
      );
    },
    cli: configRuns([cfgFile, (dir) => `line ${lineOf(dir, '"steps": -3')}:`, 'training.steps']),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'training.steps'] },
  },
  {
    id: 'config-steps-hex',
    group: 'config',
    what: '--steps 0x10, --steps abc, --steps= : usage errors naming the flag',
    build: (dir) => {
      baseNpy(dir);
    },
    cli: ['0x10', 'abc', ''].map((v) => ({
      argv: [...finetune, `--steps=${v}`],
      exit: 2 as const,
      stderr: [`--steps: "${v}" is not a number`],
    })),
  },
  {
    id: 'config-pretrain-linear',
    group: 'config',
    what: 'selmix pretrain on a config whose model is a linear head',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, { ...goodConfig(), task: 'pretrain' });
    },
    cli: [
      {
        argv: ['pretrain', '--config', `{dir}/${CONFIG}`, '--backend', 'cpu'],
        exit: 2,
        stderr: [cfgFile, 'model: a "pretrain" run trains the demo CNN'],
      },
    ],
    engine: { ok: false, kind: 'config', message: [cfgFile, 'a "pretrain" run trains the demo CNN'] },
  },
  {
    id: 'config-classes-duplicate',
    group: 'config',
    what: 'data.classes naming a class twice',
    build: (dir) => {
      baseNpy(dir);
      const c = goodConfig();
      writeConfig(dir, { ...c, data: { ...(c.data as object), classes: ['a', 'b', 'c', 'a', 'e'] } });
    },
    cli: configRuns([
      cfgFile,
      (dir) => `line ${lineOf(dir, '"classes"')}:`,
      'data.classes: data.classes names "a" twice',
    ]),
    engine: {
      ok: false,
      kind: 'config',
      message: [cfgFile, (dir) => `line ${lineOf(dir, '"classes"')}:`, '"a" twice'],
    },
  },
  {
    id: 'config-classes-short',
    group: 'config',
    what: 'data.classes with 3 names for a 5-class head',
    build: (dir) => {
      baseNpy(dir);
      const c = goodConfig();
      writeConfig(dir, { ...c, data: { ...(c.data as object), classes: ['a', 'b', 'c'] } });
    },
    cli: configRuns([
      cfgFile,
      (dir) => `line ${lineOf(dir, '"classes"')}:`,
      'data.classes: data.classes lists 3 names',
      'K = 5 outputs',
    ]),
    engine: {
      ok: false,
      kind: 'config',
      message: [cfgFile, (dir) => `line ${lineOf(dir, '"classes"')}:`, 'K = 5 outputs'],
    },
  },
  {
    id: 'output-over-labels-report',
    group: 'output',
    what: 'the labels file is <output>/report.json',
    build: (dir) => {
      baseNpy(dir);
      mkdirSync(join(dir, 'out'));
      renameSync(join(dir, 'train_y.npy'), join(dir, 'out', 'report.json'));
      const c = goodConfig();
      writeConfig(dir, {
        ...c,
        data: { ...(c.data as object), train: { features: 'train_x.npy', labels: 'out/report.json' } },
      });
    },
    cli: configRuns([f('out/report.json'), 'output would overwrite the input file']),
    engine: { ok: false, kind: 'data', message: [f('out/report.json'), 'would overwrite the input'] },
  },
  {
    id: 'output-over-labels-checkpoint',
    group: 'output',
    what: 'the labels file is <output>/checkpoint/state.json',
    build: (dir) => {
      baseNpy(dir);
      mkdirSync(join(dir, 'out', 'checkpoint'), { recursive: true });
      renameSync(join(dir, 'train_y.npy'), join(dir, 'out', 'checkpoint', 'state.json'));
      const c = goodConfig();
      writeConfig(dir, {
        ...c,
        data: { ...(c.data as object), train: { features: 'train_x.npy', labels: 'out/checkpoint/state.json' } },
      });
    },
    cli: configRuns([f('out/checkpoint/state.json'), 'a folder the run writes']),
    engine: { ok: false, kind: 'data', message: [f('out/checkpoint/state.json'), 'a folder the run writes'] },
  },
  {
    id: 'output-in-image-folder',
    group: 'output',
    what: 'the output folder is the training image folder',
    build: (dir) => {
      baseImages(dir);
      writeConfig(dir, { ...imageConfig(), output: 'images/train' });
    },
    cli: configRuns([cfgFile, 'output:', 'is the input folder']),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'is the input folder'] },
  },
  {
    id: 'output-under-proc',
    group: 'output',
    what: 'an output folder under /proc: refused at once, no hang',
    build: (dir) => {
      baseNpy(dir);
      writeConfig(dir, withField('output', '/proc/selmix-out'));
    },
    cli: configRuns([cfgFile, 'output:', 'proc file system']),
    engine: { ok: false, kind: 'config', message: [cfgFile, 'proc file system'] },
  },
  {
    id: 'output-over-onnx-model',
    group: 'output',
    what: 'an ONNX model at <output>/model.onnx (fine-tuning its own output again)',
    build: (dir) => {
      mkdirSync(join(dir, 'out'), { recursive: true });
      copyFileSync(join(__dirname, '..', 'fixtures', 'onnx', 'mlp_matmul.onnx'), join(dir, 'out', 'model.onnx'));
      const x = join(__dirname, '..', 'fixtures', 'onnx', 'mlp_matmul_sample_x.npy');
      copyFileSync(x, join(dir, 'x.npy'));
      npy(dir, 'y.npy', cycle(16, 10), [16]);
      writeConfig(dir, {
        objective: 'minRecall',
        data: {
          kind: 'npy',
          train: { features: 'x.npy', labels: 'y.npy' },
          val: { features: 'x.npy', labels: 'y.npy' },
        },
        model: { kind: 'onnx', path: 'out/model.onnx' },
        training: { steps: 5 },
        output: 'out',
      });
    },
    cli: configRuns([f('out/model.onnx'), 'output would overwrite the input file']),
    engine: { ok: false, kind: 'data', message: [f('out/model.onnx'), 'would overwrite the input'] },
  },
  {
    id: 'output-stale-lock',
    group: 'output',
    what: 'a lock left by a run that is gone (killed): taken over, and released at the end',
    build: (dir) => {
      baseNpy(dir);
      mkdirSync(join(dir, 'out'));
      write(
        join(dir, 'out', '.selmix.lock'),
        JSON.stringify({
          pid: 2 ** 22 + 12345,
          thread: 0,
          host: hostname(),
          startedAt: '2026-01-01T00:00:00Z',
          what: 'gone',
        }),
      );
    },
    cli: [
      {
        argv: finetune,
        exit: 0,
        stderr: [],
        check: (dir) => {
          if (!existsSync(join(dir, 'out', 'report.json'))) throw new Error('no report.json');
          if (existsSync(join(dir, 'out', '.selmix.lock'))) throw new Error('the lock was not released');
        },
      },
    ],
  },
  {
    id: 'output-locked',
    group: 'output',
    what: "another live run holds the output folder's lock",
    build: (dir) => {
      baseNpy(dir);
      mkdirSync(join(dir, 'out'));
      write(
        join(dir, 'out', '.selmix.lock'),
        JSON.stringify({
          pid: process.pid,
          thread: 999,
          host: hostname(),
          startedAt: '2026-01-01T00:00:00Z',
          what: 'fine-tuning "other"',
        }),
      );
    },
    cli: configRuns(['another run is writing to the output folder', 'fine-tuning "other"', `process ${process.pid}`]),
    engine: { ok: false, kind: 'config', message: ['another run is writing to the output folder'] },
  },
];

// Round 3 (issue 23): ONNX models, external data, the user's files in the output folder, split classes, image bounds.
CASES.push(...round3Cases());

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

// Every case without its own config gets the good one (the bad file is what the case is about).
for (const c of CASES) {
  const build = c.build;
  c.build = (dir) => {
    build(dir);
    if (!existsSync(join(dir, CONFIG)) && !isLink(join(dir, CONFIG))) writeConfig(dir, goodConfig());
  };
}

/** Replaces `{dir}` in a string. */
export function fill(s: string, dir: string): string {
  return s.split('{dir}').join(dir);
}

/** The config file of a case folder. */
export function configPathOf(dir: string): string {
  return join(dir, CONFIG);
}

/** Builds every case under root/<id>/ and returns the folders. */
export function materialize(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of CASES) {
    const dir = join(root, c.id);
    mkdirSync(dir, { recursive: true });
    c.build(dir);
    out.set(c.id, dir);
  }
  return out;
}

if (process.argv[1] && /corpus\.ts$/.test(process.argv[1]) && process.argv[2]) {
  const dirs = materialize(process.argv[2]);
  process.stdout.write(`${dirs.size} cases written to ${process.argv[2]}\n`);
}
