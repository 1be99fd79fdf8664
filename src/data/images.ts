// Image-folder datasets. PNG is decoded with pngjs and JPEG with jpeg-js: both pure JavaScript, so the .vsix
// stays platform-independent (a native decoder such as sharp would make it platform-specific).
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataError } from '../core/errors';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../core/config';
import { MAX_INPUT_BYTES, readInputFile } from './inputFile';

/** An image file larger than this is refused before decoding (a 16k x 16k RGBA PNG is 1 GiB decoded). */
const MAX_IMAGE_BYTES = 256 * 2 ** 20;

/** Options of loadImageFolder. */
export interface ImageFolderOptions {
  /** Class folder names in label order (labeled only); default: the sub-folder names, sorted. The folders must be exactly these. */
  classes?: string[];
  /** Where `classes` came from, for messages (e.g. "data.classes in run.selmix.json", "the training folder ..."). */
  classesFrom?: string;
  /** Convert every image to one luminance channel. */
  grayscale?: boolean;
  /** true: one sub-folder per class; false: every image below root, no labels. */
  labeled: boolean;
  /** Largest width x height accepted, read from each file's header before it is decoded (data.maxImagePixels). */
  maxPixels?: number;
}

/** Width, height and channels from a PNG's IHDR or a JPEG's frame header, without decoding; null when not found. */
export function imageHeaderSize(buf: Uint8Array, file: string): { width: number; height: number; channels: number } | null {
  const be32 = (i: number) => ((buf[i]! << 24) >>> 0) + (buf[i + 1]! << 16) + (buf[i + 2]! << 8) + buf[i + 3]!;
  if (/\.png$/i.test(file)) {
    // Signature (8 bytes), then the IHDR chunk: length, "IHDR", width, height, bit depth, colour type.
    if (buf.length < 26 || buf[12] !== 0x49 || buf[13] !== 0x48 || buf[14] !== 0x44 || buf[15] !== 0x52) return null;
    const channels = ({ 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 } as Record<number, number>)[buf[25]!] ?? 4;
    return { width: be32(16), height: be32(20), channels };
  }
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1]!;
    if (marker === 0xff) { i++; continue; }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { i += 2; continue; }
    const len = (buf[i + 2]! << 8) | buf[i + 3]!;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return i + 9 < buf.length ? { height: (buf[i + 5]! << 8) | buf[i + 6]!, width: (buf[i + 7]! << 8) | buf[i + 8]!, channels: buf[i + 9]! } : null;
    if (marker === 0xda) return null;
    i += 2 + len;
  }
  return null;
}

/** Refuses an image whose header says it is larger than maxPixels, before anything is decoded. */
function checkImageSize(buf: Uint8Array, file: string, maxPixels: number): void {
  const h = imageHeaderSize(buf, file);
  if (h && h.width * h.height > maxPixels) {
    throw new DataError(file, `is ${h.width} x ${h.height} pixels (${h.width * h.height}, ${h.channels} channel(s)), over the limit of ${maxPixels} pixels per image (data.maxImagePixels); `
      + 'resize the images, or raise data.maxImagePixels if the machine has the memory');
  }
}

/** An image-folder dataset: x is NHWC float32 in [0, 1]; files are in the order of x. */
export interface ImageFolderData {
  x: Float32Array;
  y: Int32Array | null;
  n: number;
  shape: [number, number, number];
  classNames: string[];
  files: string[];
}

const EXTS = /\.(png|jpe?g)$/i;

interface Decoded { width: number; height: number; channels: 1 | 3; pixels: Uint8Array }

/** A short list of class names for a message. */
function listOf(names: string[]): string {
  return names.slice(0, 8).map((n) => `"${n}"`).join(', ') + (names.length > 8 ? `, ... (${names.length} in all)` : '');
}

/** Plain code-point order, the same on every machine and locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A name's bytes with those outside printable ASCII as \xNN, for a message about a name that is not UTF-8. */
function escapedName(b: Buffer): string {
  return Array.from(b, (c) => (c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
}

/** Whether a link (or path) leads to a folder; a link loop is a DataError naming it. */
function isFolder(p: string): boolean {
  try {
    return statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(p, code === 'ELOOP' ? 'is a symbolic link that leads back to itself (a link loop); remove or fix the link' : `cannot be read: ${code ?? (e as Error).message}`);
  }
}

function listDir(dir: string): { name: string; dir: boolean }[] {
  let entries;
  try {
    // Names are read as bytes first: one that is not UTF-8 would come back as another name that does not exist.
    for (const raw of readdirSync(dir, { encoding: 'buffer' })) {
      if (raw[0] !== 0x2e && Buffer.compare(Buffer.from(raw.toString('utf8'), 'utf8'), raw) !== 0) {
        throw new DataError(dir, `holds "${escapedName(raw)}", a name that is not valid UTF-8 (bytes shown as \\xNN); rename it (e.g. convmv -f latin1 -t utf8) or move it out`);
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

/** Every .png/.jpg/.jpeg file below dir, recursively, sorted by relative path; a link back to a folder above is a DataError. */
function imagesBelow(dir: string): string[] {
  const out: string[] = [];
  const above = new Set<string>();
  const walk = (d: string): void => {
    const real = realpathSync(d);
    if (above.has(real)) throw new DataError(d, `leads back to ${real}, a folder it is inside, through a symbolic link (a link loop); remove the link`);
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

/** The component count of a JPEG's frame header (SOFn), so grayscale JPEGs are told apart from colour ones. */
function jpegComponents(buf: Uint8Array): number | null {
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1]!;
    if (marker === 0xff) { i++; continue; }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { i += 2; continue; }
    const len = (buf[i + 2]! << 8) | buf[i + 3]!;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return i + 9 < buf.length ? buf[i + 9]! : null;
    if (marker === 0xda) return null;
    i += 2 + len;
  }
  return null;
}

function decode(file: string, maxPixels: number): Decoded {
  const buf = readInputFile(file, MAX_IMAGE_BYTES);
  checkImageSize(buf, file, maxPixels);
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  let channels: 1 | 3;
  try {
    if (/\.png$/i.test(file)) {
      const png = PNG.sync.read(buf);
      width = png.width;
      height = png.height;
      rgba = png.data;
      channels = png.color ? 3 : 1;
    } else {
      // tolerantDecoding would silently return a partly grey image for a truncated file.
      const img = decodeJpeg(buf, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
      width = img.width;
      height = img.height;
      rgba = img.data;
      channels = jpegComponents(buf) === 1 ? 1 : 3;
    }
  } catch (e) {
    throw new DataError(file, `unreadable or truncated image: ${(e as Error).message}`);
  }
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4) {
    throw new DataError(file, `unreadable or truncated image: decoded ${rgba.length} bytes for ${width}x${height}`);
  }
  // Keep 1 or 3 channels; an alpha channel is dropped.
  const px = width * height;
  const pixels = new Uint8Array(px * channels);
  if (channels === 1) {
    for (let i = 0; i < px; i++) pixels[i] = rgba[4 * i]!;
  } else {
    for (let i = 0; i < px; i++) {
      pixels[3 * i] = rgba[4 * i]!;
      pixels[3 * i + 1] = rgba[4 * i + 1]!;
      pixels[3 * i + 2] = rgba[4 * i + 2]!;
    }
  }
  return { width, height, channels, pixels };
}

/** Loads an image folder (one sub-folder per class when labeled) into NHWC float32 in [0, 1]. */
export function loadImageFolder(root: string, opts: ImageFolderOptions): ImageFolderData {
  const st = statSync(root, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new DataError(root, 'image folder does not exist or is not a folder');
  const files: string[] = [];
  const labels: number[] = [];
  let classNames: string[] = [];
  if (opts.labeled) {
    const folders = listDir(root).filter((e) => e.dir).map((e) => e.name);
    if (opts.classes) {
      const from = opts.classesFrom ?? 'classes';
      const seen = new Set<string>();
      for (const c of opts.classes) {
        if (seen.has(c)) throw new DataError(root, `class "${c}" is listed twice in classes`);
        seen.add(c);
        if (!folders.includes(c)) throw new DataError(join(root, c), `class folder "${c}" is missing: the classes are ${listOf(opts.classes)} (from ${from}); every labeled split needs one folder per class, named alike`);
      }
      const extra = folders.find((f) => !seen.has(f));
      if (extra !== undefined) throw new DataError(join(root, extra), `class folder "${extra}" is not one of the classes ${listOf(opts.classes)} (from ${from}); rename or remove it, so no image is scored as another class`);
      classNames = opts.classes.slice();
    } else {
      classNames = folders;
    }
    if (classNames.length === 0) throw new DataError(root, 'no class sub-folders found (a labeled image folder needs one sub-folder per class)');
    classNames.forEach((c, k) => {
      const dir = join(root, c);
      const imgs = imagesBelow(dir);
      if (imgs.length === 0) throw new DataError(dir, `class folder "${c}" holds no .png/.jpg/.jpeg images`);
      for (const f of imgs) { files.push(f); labels.push(k); }
    });
  } else {
    files.push(...imagesBelow(root));
  }
  if (files.length === 0) throw new DataError(root, 'no .png/.jpg/.jpeg images found');

  const decoded: Decoded[] = [];
  const firstOfSize = new Map<string, string>();
  const firstOfChannels = new Map<number, string>();
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  for (const f of files) {
    const d = decode(f, maxPixels);
    if (decoded.length === 0) {
      // The whole set as float32, bounded before the rest is decoded.
      const bytes = files.length * d.width * d.height * (opts.grayscale ? 1 : d.channels) * 4;
      if (bytes > MAX_INPUT_BYTES) {
        throw new DataError(root, `${files.length} images of ${d.width} x ${d.height} take ${bytes} bytes as float32 (first: ${f}), over the limit of ${MAX_INPUT_BYTES} bytes (half the memory, at most 8 GiB); use smaller or fewer images`);
      }
    }
    const size = `${d.width}x${d.height}`;
    if (!firstOfSize.has(size)) firstOfSize.set(size, f);
    if (!firstOfChannels.has(d.channels)) firstOfChannels.set(d.channels, f);
    if (firstOfSize.size > 1) {
      throw new DataError(f, `images have different sizes: ${[...firstOfSize].map(([s, file]) => `${s} (first: ${file})`).join(', ')}; resize them to one size`);
    }
    if (!opts.grayscale && firstOfChannels.size > 1) {
      throw new DataError(f, `images mix channel counts: ${[...firstOfChannels].map(([c, file]) => `${c === 1 ? 'grayscale' : 'colour'} (first: ${file})`).join(', ')}; convert them or set grayscale`);
    }
    decoded.push(d);
  }
  const { width, height } = decoded[0]!;
  const channels = opts.grayscale ? 1 : decoded[0]!.channels;
  const per = width * height * channels;
  const x = new Float32Array(files.length * per);
  decoded.forEach((d, j) => {
    const base = j * per;
    if (channels === d.channels) {
      for (let i = 0; i < per; i++) x[base + i] = d.pixels[i]! / 255;
    } else {
      // Colour to luminance (ITU-R BT.601 weights).
      for (let i = 0; i < per; i++) {
        x[base + i] = (0.299 * d.pixels[3 * i]! + 0.587 * d.pixels[3 * i + 1]! + 0.114 * d.pixels[3 * i + 2]!) / 255;
      }
    }
  });
  return {
    x,
    y: opts.labeled ? Int32Array.from(labels) : null,
    n: files.length,
    shape: [height, width, channels],
    classNames,
    files,
  };
}
