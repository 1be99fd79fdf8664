// Image sets that are not held in memory: an ONNX model's image splits keep their file list and transform, and are
// decoded in batches when needed (feature extraction, the written model's check, evaluation), so memory grows with the
// features, not with the images. The set's sourceKey (the files' names, sizes and times, the preprocessing and the
// decoder) keys the feature cache, so a cached run decodes nothing.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import type { ExampleSet } from '../core/training/evaluate';
import { DataError } from '../core/errors';
import { imageDecoderInfo } from '../data/imageDecode';
import { transformRange, type ImageTransform } from '../data/images';

/** Where a lazy set's inputs come from. */
interface ImageSource {
  files: string[];
  transform: ImageTransform;
}

const sources = new WeakMap<ExampleSet, ImageSource>();

/** The digest of files (names, sizes, modification times) and a preprocessing description. */
export function filesKey(files: readonly string[], preprocessing: string): string {
  const h = createHash('sha256');
  h.update(`${imageDecoderInfo().name};${preprocessing};${files.length};`);
  for (const f of files) {
    const st = statSync(f, { throwIfNoEntry: false });
    if (!st) throw new DataError(f, 'the image file is gone');
    h.update(`${f}\u0000${st.size}\u0000${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

/** A set whose inputs (shape per image) are decoded and transformed from files when needed; x stays empty. */
export function lazyImageSet(
  files: string[],
  y: Int32Array | null,
  shape: number[],
  transform: ImageTransform,
  preprocessing: string,
): ExampleSet {
  const set: ExampleSet = {
    x: new Float32Array(0),
    y,
    n: files.length,
    shape,
    sourceKey: filesKey(files, `${preprocessing};${shape.join('x')}`),
  };
  sources.set(set, { files, transform });
  return set;
}

/** Whether a set's inputs are decoded on demand. */
export function isLazy(set: ExampleSet): boolean {
  return sources.has(set);
}

/** The lazy set of the examples at idx (in that order) of a lazy set. */
export function lazySubset(set: ExampleSet, idx: readonly number[], preprocessing: string): ExampleSet {
  const src = sources.get(set);
  if (!src) throw new Error('lazySubset: not a lazy image set');
  return lazyImageSet(
    idx.map((i) => src.files[i]!),
    set.y ? Int32Array.from(idx, (i) => set.y![i]!) : null,
    set.shape,
    src.transform,
    preprocessing,
  );
}

/** The inputs of examples [from, to): a view of x, or decoded and transformed now. */
export async function inputBatch(set: ExampleSet, from: number, to: number): Promise<Float32Array> {
  const src = sources.get(set);
  const per = set.shape.reduce((a, b) => a * b, 1);
  if (!src || set.x.length === set.n * per) return set.x.subarray(from * per, to * per);
  return transformRange(src.files, from, to, src.transform, set.shape, src.files[0]!);
}

/** Fills a lazy set's x with all its inputs (for code that needs them held, e.g. training through the backbone). */
export async function materializeSet(
  set: ExampleSet,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  if (!sources.has(set) || set.x.length > 0 || set.n === 0) return;
  const per = set.shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(set.n * per);
  // In chunks, so the stage line moves while a large split decodes.
  for (let i = 0; i < set.n; i += MATERIALIZE_CHUNK) {
    const to = Math.min(set.n, i + MATERIALIZE_CHUNK);
    x.set(await inputBatch(set, i, to), i * per);
    onProgress?.(to, set.n);
  }
  set.x = x;
}

/** Images decoded per call when a set is materialized. */
const MATERIALIZE_CHUNK = 256;
