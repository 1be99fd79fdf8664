// Image-folder datasets, laid out as torchvision's ImageFolder reads them (one sub-folder per class, classes in
// sorted folder order). Pixels are decoded as PIL does (src/data/imageDecode.ts). Listing and decoding are separate,
// so a run can check its model against the first image before it decodes the rest, and decode in batches.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DataError } from '../core/errors';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../core/config';
import { convertImage, decodeImage, imageHeaderSize, type DecodedImage } from './imageDecode';
import { MAX_INPUT_BYTES, readInputFile } from './inputFile';

/** An image file larger than this is refused before decoding (a 16k x 16k RGBA PNG is 1 GiB decoded). */
const MAX_IMAGE_BYTES = 256 * 2 ** 20;

/** Options of loadImageFolder. */
export interface ImageFolderOptions {
  /**
   * Class folder names in label order (labeled only); default: the sub-folder names, sorted. The folders must be
   * exactly these.
   */
  classes?: string[];
  /** Where `classes` came from, for messages (e.g. "data.classes in run.selmix.json", "the training folder ..."). */
  classesFrom?: string;
  /** Convert every image to one luminance channel. */
  grayscale?: boolean;
  /** true: one sub-folder per class; false: every image below root, no labels. */
  labeled: boolean;
  /** Largest width x height accepted, read from each file's header before it is decoded (data.maxImagePixels). */
  maxPixels?: number;
  /** Called before decoding (0 of N) and after each image decoded. */
  onProgress?: (done: number, total: number) => void;
}

/** Refuses an image whose header says it is larger than maxPixels, before anything is decoded. */
function checkImageSize(buf: Uint8Array, file: string, maxPixels: number): void {
  const h = imageHeaderSize(buf, file);
  if (h && h.width * h.height > maxPixels) {
    throw new DataError(
      file,
      `is ${h.width} x ${h.height} pixels (${h.width * h.height}, ${h.channels} channel(s)), over the limit of ${maxPixels} pixels per image (data.maxImagePixels); ` +
        'resize the images, or raise data.maxImagePixels if the machine has the memory',
    );
  }
}

/** An image-folder dataset: x is NHWC float32 in [0, 1] (or the transform's output); files are in the order of x. */
export interface ImageFolderData {
  x: Float32Array;
  y: Int32Array | null;
  n: number;
  /** [H, W, C] as decoded, or the transform's output shape. */
  shape: number[];
  classNames: string[];
  files: string[];
}

const EXTS = /\.(png|jpe?g)$/i;

/** A short list of class names for a message. */
function listOf(names: string[]): string {
  return (
    names
      .slice(0, 8)
      .map((n) => `"${n}"`)
      .join(', ') + (names.length > 8 ? `, ... (${names.length} in all)` : '')
  );
}

/** Plain code-point order, the same on every machine and locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A name's bytes with those outside printable ASCII as \xNN, for a message about a name that is not UTF-8. */
function escapedName(b: Buffer): string {
  return Array.from(b, (c) =>
    c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`,
  ).join('');
}

/** Whether a link (or path) leads to a folder; a link loop is a DataError naming it. */
function isFolder(p: string): boolean {
  try {
    return statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(
      p,
      code === 'ELOOP'
        ? 'is a symbolic link that leads back to itself (a link loop); remove or fix the link'
        : `cannot be read: ${code ?? (e as Error).message}`,
    );
  }
}

function listDir(dir: string): { name: string; dir: boolean }[] {
  let entries;
  try {
    // Names are read as bytes first: one that is not UTF-8 would come back as another name that does not exist.
    for (const raw of readdirSync(dir, { encoding: 'buffer' })) {
      if (raw[0] !== 0x2e && Buffer.compare(Buffer.from(raw.toString('utf8'), 'utf8'), raw) !== 0) {
        throw new DataError(
          dir,
          `holds "${escapedName(raw)}", a name that is not valid UTF-8 (bytes shown as \\xNN); rename it (e.g. convmv -f latin1 -t utf8) or move it out`,
        );
      }
    }
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(dir, `cannot read folder: ${(e as Error).message}`);
  }
  return entries
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, dir: e.isDirectory() || (e.isSymbolicLink() && isFolder(join(dir, e.name))) }))
    .sort((a, b) => byCodePoint(a.name, b.name));
}

/**
 * Every .png/.jpg/.jpeg file below dir, recursively, sorted by relative path; a link back to a folder above is a
 * DataError.
 */
function imagesBelow(dir: string): string[] {
  const out: string[] = [];
  const above = new Set<string>();
  const walk = (d: string): void => {
    const real = realpathSync(d);
    if (above.has(real))
      throw new DataError(
        d,
        `leads back to ${real}, a folder it is inside, through a symbolic link (a link loop); remove the link`,
      );
    above.add(real);
    for (const e of listDir(d)) {
      const p = join(d, e.name);
      if (e.dir) walk(p);
      else if (EXTS.test(e.name)) out.push(p);
    }
    above.delete(real);
  };
  walk(dir);
  return out.sort((a, b) => byCodePoint(relative(dir, a), relative(dir, b)));
}

/** Reads and decodes one image, refused from its header when width x height passes maxPixels (data.maxImagePixels). */
async function decode(file: string, maxPixels = DEFAULT_MAX_IMAGE_PIXELS): Promise<DecodedImage> {
  const buf = readInputFile(file, MAX_IMAGE_BYTES);
  checkImageSize(buf, file, maxPixels);
  return decodeImage(file, buf);
}

/** Refuses a set whose float32 block would pass the input limit, before it is allocated. */
function checkSetBytes(root: string, n: number, shape: readonly number[], first: string): void {
  const bytes = n * shape.reduce((a, b) => a * b, 1) * 4;
  if (bytes > MAX_INPUT_BYTES) {
    throw new DataError(
      root,
      `${n} images of shape [${shape.join(', ')}] take ${bytes} bytes as float32 (first: ${first}), over the limit of ${MAX_INPUT_BYTES} bytes (half the memory, at most 8 GiB); use smaller or fewer images`,
    );
  }
}

/** The files of an image folder and their labels, in load order; nothing decoded yet. */
export interface ImageFolderList {
  root: string;
  files: string[];
  /** Labels (labeled folders), else null. */
  y: Int32Array | null;
  classNames: string[];
}

/** Lists an image folder (one sub-folder per class when labeled), in ImageFolder's order; decodes nothing. */
export function listImageFolder(
  root: string,
  opts: Pick<ImageFolderOptions, 'classes' | 'classesFrom' | 'labeled'>,
): ImageFolderList {
  const st = statSync(root, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new DataError(root, 'image folder does not exist or is not a folder');
  const files: string[] = [];
  const labels: number[] = [];
  let classNames: string[] = [];
  if (opts.labeled) {
    const folders = listDir(root)
      .filter((e) => e.dir)
      .map((e) => e.name);
    if (opts.classes) {
      const from = opts.classesFrom ?? 'classes';
      const seen = new Set<string>();
      for (const c of opts.classes) {
        if (seen.has(c)) throw new DataError(root, `class "${c}" is listed twice in classes`);
        seen.add(c);
        if (!folders.includes(c))
          throw new DataError(
            join(root, c),
            `class folder "${c}" is missing: the classes are ${listOf(opts.classes)} (from ${from}); every labeled split needs one folder per class, named alike`,
          );
      }
      const extra = folders.find((f) => !seen.has(f));
      if (extra !== undefined)
        throw new DataError(
          join(root, extra),
          `class folder "${extra}" is not one of the classes ${listOf(opts.classes)} (from ${from}); rename or remove it, so no image is scored as another class`,
        );
      classNames = opts.classes.slice();
    } else {
      classNames = folders;
    }
    if (classNames.length === 0)
      throw new DataError(root, 'no class sub-folders found (a labeled image folder needs one sub-folder per class)');
    classNames.forEach((c, k) => {
      const dir = join(root, c);
      const imgs = imagesBelow(dir);
      if (imgs.length === 0) throw new DataError(dir, `class folder "${c}" holds no .png/.jpg/.jpeg images`);
      for (const f of imgs) {
        files.push(f);
        labels.push(k);
      }
    });
  } else {
    files.push(...imagesBelow(root));
  }
  if (files.length === 0) throw new DataError(root, 'no .png/.jpg/.jpeg images found');
  return { root, files, y: opts.labeled ? Int32Array.from(labels) : null, classNames };
}

/** What every image of a set must be: its size and channels (fixed by the first image, or by the model). */
export interface ImageFormat {
  width: number;
  height: number;
  /**
   * 'L' or 'RGB': every image is converted to it, as PIL's .convert(mode); null: the first image's, and a mix is an
   * error.
   */
  mode: 'L' | 'RGB' | null;
  /** Largest width x height decoded (data.maxImagePixels; DEFAULT_MAX_IMAGE_PIXELS when absent). */
  maxPixels?: number;
}

/** Decodes one image file as PIL does (L or RGB). */
export async function decodeImageFile(file: string, maxPixels?: number): Promise<DecodedImage> {
  return decode(file, maxPixels);
}

/** The pixel format of the first image of a list (decoded alone), for checks before the rest is decoded. */
export async function firstImageFormat(
  list: ImageFolderList,
  maxPixels?: number,
): Promise<{ width: number; height: number; channels: 1 | 3 }> {
  const d = await decode(list.files[0]!, maxPixels);
  return { width: d.width, height: d.height, channels: d.channels };
}

/** How many images one decode call has in flight (sharp decodes on libuv's thread pool). */
const PARALLEL = 8;

/**
 * Decodes files[from, to) into one NHWC uint8 block, every image checked against the format (the first image's size and
 * channels when not given). A file of another size, or of other channels with no mode to convert to, is a DataError
 * naming
 * it and the first file of the format.
 */
export async function decodeImageRange(
  files: readonly string[],
  from: number,
  to: number,
  fmt: ImageFormat,
  firstFile: string,
  onProgress?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const per = fmt.width * fmt.height;
  let channels = fmt.mode === 'L' ? 1 : fmt.mode === 'RGB' ? 3 : 0;
  let out: Uint8Array | null = channels ? new Uint8Array((to - from) * per * channels) : null;
  for (let i = from; i < to; i += PARALLEL) {
    const batch = await Promise.all(files.slice(i, Math.min(to, i + PARALLEL)).map((f) => decode(f, fmt.maxPixels)));
    batch.forEach((raw, j) => {
      const f = files[i + j]!;
      if (raw.width !== fmt.width || raw.height !== fmt.height) {
        throw new DataError(
          f,
          `images have different sizes: ${fmt.width}x${fmt.height} (first: ${firstFile}), ${raw.width}x${raw.height} (first: ${f}); resize them to one size`,
        );
      }
      if (!channels) {
        channels = raw.channels;
        out = new Uint8Array((to - from) * per * channels);
      }
      if (fmt.mode === null && raw.channels !== channels) {
        const [g, c] = channels === 1 ? [firstFile, f] : [f, firstFile];
        throw new DataError(
          f,
          `images mix channel counts: grayscale (first: ${g}), colour (first: ${c}); convert them or set grayscale`,
        );
      }
      const d = fmt.mode ? convertImage(raw, fmt.mode) : raw;
      out!.set(d.pixels, (i + j - from) * per * channels);
    });
    onProgress?.(Math.min(to, i + PARALLEL) - from, to - from);
  }
  return out ?? new Uint8Array(0);
}

/** A per-image transform to a model's input (torchvision's transforms), applied as each image is decoded. */
export interface ImageTransform {
  /** PIL's mode every image is converted to first. */
  mode: 'L' | 'RGB';
  /** The output shape of an image of this size (without the batch axis). */
  outShape(height: number, width: number): number[];
  /** Checks the first image's output shape (e.g. against the model input), throwing a DataError naming the file. */
  check(shape: number[], file: string): void;
  /** Writes the transformed image into out at offset. */
  apply(img: DecodedImage, out: Float32Array, offset: number): void;
  /** Largest width x height decoded (data.maxImagePixels; DEFAULT_MAX_IMAGE_PIXELS when absent). */
  maxPixels?: number;
}

/**
 * Decodes and transforms every listed file into one float32 block; the output shapes must agree (a DataError names the
 * first that does not).
 */
export async function transformImages(
  list: ImageFolderList,
  t: ImageTransform,
  onProgress?: (done: number, total: number) => void,
): Promise<{ x: Float32Array; shape: number[] }> {
  let shape: number[] | null = null;
  let per = 0;
  let x = new Float32Array(0);
  const { files } = list;
  for (let i = 0; i < files.length; i += PARALLEL) {
    const batch = await Promise.all(files.slice(i, i + PARALLEL).map((f) => decode(f, t.maxPixels)));
    batch.forEach((raw, j) => {
      const f = files[i + j]!;
      const img = convertImage(raw, t.mode);
      const s = t.outShape(img.height, img.width);
      if (!shape) {
        t.check(s, f);
        shape = s;
        per = s.reduce((a, b) => a * b, 1);
        checkSetBytes(list.root, files.length, s, f);
        x = new Float32Array(files.length * per);
      } else if (s.join('x') !== shape.join('x')) {
        throw new DataError(
          f,
          `this image (${img.width}x${img.height}) becomes [${s.join(', ')}] after model.preprocess but ${files[0]} becomes [${shape.join(', ')}]; give a centerCrop (or resize [H, W]) so that every image has one size`,
        );
      }
      t.apply(img, x, (i + j) * per);
    });
    onProgress?.(Math.min(files.length, i + PARALLEL), files.length);
  }
  return { x, shape: shape! };
}

/** Loads an image folder (one sub-folder per class when labeled) into NHWC float32 in [0, 1]. */
/** The output shape of a list's first image under a transform (that image alone decoded), checked by the transform. */
export async function firstTransformedShape(files: readonly string[], t: ImageTransform): Promise<number[]> {
  const img = convertImage(await decode(files[0]!, t.maxPixels), t.mode);
  const shape = t.outShape(img.height, img.width);
  t.check(shape, files[0]!);
  return shape;
}

/**
 * Decodes and transforms files[from, to) into one float32 block of the given per-image shape (a DataError names a file
 * of another).
 */
export async function transformRange(
  files: readonly string[],
  from: number,
  to: number,
  t: ImageTransform,
  shape: readonly number[],
  firstFile: string,
): Promise<Float32Array> {
  const per = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array((to - from) * per);
  for (let i = from; i < to; i += PARALLEL) {
    const batch = await Promise.all(files.slice(i, Math.min(to, i + PARALLEL)).map((f) => decode(f, t.maxPixels)));
    batch.forEach((raw, j) => {
      const img = convertImage(raw, t.mode);
      const s = t.outShape(img.height, img.width);
      if (s.join('x') !== shape.join('x')) {
        throw new DataError(
          files[i + j]!,
          `this image (${img.width}x${img.height}) becomes [${s.join(', ')}] after model.preprocess but ${firstFile} becomes [${shape.join(', ')}]; give a centerCrop (or resize [H, W]) so that every image has one size`,
        );
      }
      t.apply(img, x, (i + j - from) * per);
    });
  }
  return x;
}

/** Loads an image folder (one sub-folder per class when labeled) into NHWC float32 in [0, 1]. */
export async function loadImageFolder(
  root: string,
  opts: ImageFolderOptions & { transform?: ImageTransform },
): Promise<ImageFolderData> {
  const list = listImageFolder(root, opts);
  if (opts.transform) {
    opts.onProgress?.(0, list.files.length);
    const t = await transformImages(
      list,
      opts.maxPixels === undefined ? opts.transform : { ...opts.transform, maxPixels: opts.maxPixels },
      opts.onProgress,
    );
    return { x: t.x, y: list.y, n: list.files.length, shape: t.shape, classNames: list.classNames, files: list.files };
  }
  const first = await firstImageFormat(list, opts.maxPixels);
  checkSetBytes(
    root,
    list.files.length,
    [first.height, first.width, opts.grayscale ? 1 : first.channels],
    list.files[0]!,
  );
  const mode = opts.grayscale ? 'L' : null;
  opts.onProgress?.(0, list.files.length);
  const px = await decodeImageRange(
    list.files,
    0,
    list.files.length,
    {
      width: first.width,
      height: first.height,
      mode,
      ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
    },
    list.files[0]!,
    opts.onProgress,
  );
  const channels = opts.grayscale ? 1 : first.channels;
  const x = new Float32Array(px.length);
  for (let i = 0; i < px.length; i++) x[i] = px[i]! / 255;
  return {
    x,
    y: list.y,
    n: list.files.length,
    shape: [first.height, first.width, channels],
    classNames: list.classNames,
    files: list.files,
  };
}
