// Image-folder datasets. PNG is decoded with pngjs and JPEG with jpeg-js: both pure JavaScript, so the .vsix
// stays platform-independent (a native decoder such as sharp would make it platform-specific).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataError } from '../core/errors';
import { readInputFile } from './inputFile';

/** An image file larger than this is refused before decoding (a 16k x 16k RGBA PNG is 1 GiB decoded). */
const MAX_IMAGE_BYTES = 256 * 2 ** 20;

/** Options of loadImageFolder. */
export interface ImageFolderOptions {
  /** Class folder names in label order (labeled only); default: the sub-folder names, sorted. */
  classes?: string[];
  /** Convert every image to one luminance channel. */
  grayscale?: boolean;
  /** true: one sub-folder per class; false: every image below root, no labels. */
  labeled: boolean;
  /** Called before decoding (0 of N) and after each image decoded. */
  onProgress?: (done: number, total: number) => void;
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

/** Plain code-point order, the same on every machine and locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function listDir(dir: string): { name: string; dir: boolean }[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataError(dir, `cannot read folder: ${(e as Error).message}`);
  }
  return entries
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, dir: e.isDirectory() || (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isDirectory() === true) }))
    .sort((a, b) => byCodePoint(a.name, b.name));
}

/** Every .png/.jpg/.jpeg file below dir, recursively, sorted by relative path. */
function imagesBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of listDir(d)) {
      const p = join(d, e.name);
      if (e.dir) walk(p);
      else if (EXTS.test(e.name)) out.push(p);
    }
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

function decode(file: string): Decoded {
  const buf = readInputFile(file, MAX_IMAGE_BYTES);
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
      const seen = new Set<string>();
      for (const c of opts.classes) {
        if (seen.has(c)) throw new DataError(root, `class "${c}" is listed twice in classes`);
        seen.add(c);
        if (!folders.includes(c)) throw new DataError(join(root, c), `class "${c}" is listed in classes but has no folder`);
      }
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
  opts.onProgress?.(0, files.length);
  for (const f of files) {
    const d = decode(f);
    opts.onProgress?.(decoded.length + 1, files.length);
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
