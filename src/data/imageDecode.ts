// Image decoding as PyTorch users' data loaders see it: torchvision's ImageFolder opens a file with PIL and calls
// .convert('RGB'), so the pixels a model was trained on are libjpeg(-turbo)'s (ISLOW IDCT, fancy upsampling of 4:2:0
// chroma) and libpng's, alpha dropped, 16-bit samples cut to their high byte. sharp (libvips with libjpeg-turbo and
// libspng) decodes the same way: test/unit/data/imageDecode.test.ts checks every fixture kind against PIL's pixels.
// sharp is a native module shipped per platform; where it cannot load (the universal .vsix), the pure-JS decoders
// (jpeg-js, pngjs) are used with a note: their 4:2:0 JPEG chroma upsampling differs from libjpeg's.
import { createRequire } from 'node:module';
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataError } from '../core/errors';

/** One decoded image as PIL's mode L (channels 1) or RGB (channels 3): row-major, interleaved, 8 bits. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

/** The decoder in use: sharp (libjpeg-turbo, PIL's pixels) or the pure-JS fallback, with why. */
export interface ImageDecoderInfo {
  name: 'sharp' | 'jpeg-js/pngjs';
  /** Set when the fallback is in use: why sharp did not load, and what differs. */
  note?: string;
}

/** The part of sharp's API used here. */
interface SharpInstance {
  removeAlpha(): SharpInstance;
  raw(): SharpInstance;
  toBuffer(o: {
    resolveWithObject: true;
  }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}
type SharpFn = ((
  input: Uint8Array,
  o: { failOn: string; limitInputPixels: number; sequentialRead: boolean },
) => SharpInstance) & { cache(o: boolean): void };

/** The largest image accepted, in pixels (a 16k x 16k image). */
const MAX_PIXELS = 16384 * 16384;

let sharpState: { fn: SharpFn | null; info: ImageDecoderInfo } | null = null;

/**
 * Loads sharp once; the pure-JS fallback when it cannot load here (SELMIX_IMAGE_DECODER=js forces the fallback, for
 * tests).
 */
function loadSharp(): { fn: SharpFn | null; info: ImageDecoderInfo } {
  if (sharpState) return sharpState;
  const fallback = (why: string): { fn: null; info: ImageDecoderInfo } => ({
    fn: null,
    info: {
      name: 'jpeg-js/pngjs',
      note: `images are decoded by the pure-JS fallback (jpeg-js, pngjs) because ${why}; JPEG pixels can differ from PIL's (libjpeg) by several grey levels where chroma is subsampled (4:2:0), which changes a PyTorch model's predictions. Install the .vsix for your platform, or run the CLI where the "sharp" package installs.`,
    },
  });
  if (process.env.SELMIX_IMAGE_DECODER === 'js') {
    sharpState = fallback('SELMIX_IMAGE_DECODER is "js"');
    return sharpState;
  }
  try {
    // A plain require at run time: sharp stays outside the bundles (esbuild.mjs) and may be absent.
    const req = createRequire(__filename);
    const fn = req('sharp') as SharpFn;
    fn.cache(false);
    sharpState = { fn, info: { name: 'sharp' } };
  } catch (e) {
    sharpState = fallback(`the native image decoder "sharp" did not load (${(e as Error).message.split('\n')[0]})`);
  }
  return sharpState;
}

/** Which decoder images go through here (sharp, or the fallback with a note). */
export function imageDecoderInfo(): ImageDecoderInfo {
  return loadSharp().info;
}

/** PIL's RGB to L: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (ITU-R 601-2 luma, in 16-bit fixed point). */
export function rgbToL(rgb: Uint8Array, px: number): Uint8Array {
  const out = new Uint8Array(px);
  for (let i = 0; i < px; i++)
    out[i] = (rgb[3 * i]! * 19595 + rgb[3 * i + 1]! * 38470 + rgb[3 * i + 2]! * 7471 + 0x8000) >>> 16;
  return out;
}

/** PIL's L to RGB: the value in each of the three channels. */
export function lToRgb(l: Uint8Array, px: number): Uint8Array {
  const out = new Uint8Array(3 * px);
  for (let i = 0; i < px; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = l[i]!;
  return out;
}

/** The image as PIL's .convert(mode) gives it: 'L' (one channel) or 'RGB'. */
export function convertImage(d: DecodedImage, mode: 'L' | 'RGB'): DecodedImage {
  const px = d.width * d.height;
  if (mode === 'L' && d.channels === 3) return { ...d, channels: 1, pixels: rgbToL(d.pixels, px) };
  if (mode === 'RGB' && d.channels === 1) return { ...d, channels: 3, pixels: lToRgb(d.pixels, px) };
  return d;
}

/** The component count of a JPEG's frame header (SOFn), so grayscale JPEGs are told apart from colour ones. */
function jpegComponents(buf: Uint8Array): number | null {
  return imageHeaderSize(buf, 'image.jpg')?.channels ?? null;
}

/** Width, height and channels from a PNG's IHDR or a JPEG's frame header, without decoding; null when not found. */
export function imageHeaderSize(
  buf: Uint8Array,
  file: string,
): { width: number; height: number; channels: number } | null {
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
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    const len = (buf[i + 2]! << 8) | buf[i + 3]!;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof)
      return i + 9 < buf.length
        ? { height: (buf[i + 5]! << 8) | buf[i + 6]!, width: (buf[i + 7]! << 8) | buf[i + 8]!, channels: buf[i + 9]! }
        : null;
    if (marker === 0xda) return null;
    i += 2 + len;
  }
  return null;
}

/** A PNG signature with room for its IHDR (bit depth at byte 24, colour type at 25). */
function isPng(buf: Uint8Array): boolean {
  return buf.length > 25 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47;
}

/** PNG's IHDR colour type 0 (grey) or 4 (grey + alpha), or a JPEG with one component: PIL opens these as L (or LA). */
function isGrayscale(buf: Uint8Array): boolean {
  if (isPng(buf)) return buf[25] === 0 || buf[25] === 4;
  return jpegComponents(buf) === 1;
}

/** The pure-JS decode (jpeg-js, pngjs): RGBA out, kept as L or RGB. */
function decodeJs(file: string, buf: Uint8Array): DecodedImage {
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  let channels: 1 | 3;
  if (/\.png$/i.test(file)) {
    const png = PNG.sync.read(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
    width = png.width;
    height = png.height;
    rgba = png.data;
    channels = png.color ? 3 : 1;
  } else {
    // tolerantDecoding would silently return a partly grey image for a truncated file.
    const img = decodeJpeg(buf, {
      useTArray: true,
      formatAsRGBA: true,
      tolerantDecoding: false,
      maxMemoryUsageInMB: 1024,
    });
    width = img.width;
    height = img.height;
    rgba = img.data;
    channels = jpegComponents(buf) === 1 ? 1 : 3;
  }
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4)
    throw new Error(`decoded ${rgba.length} bytes for ${width}x${height}`);
  const px = width * height;
  const pixels = new Uint8Array(px * channels);
  for (let i = 0; i < px; i++) for (let k = 0; k < channels; k++) pixels[channels * i + k] = rgba[4 * i + k]!;
  return { width, height, channels, pixels };
}

/** Decodes one PNG or JPEG file's bytes as PIL opens it (mode L for grayscale, RGB otherwise; alpha dropped). */
export async function decodeImage(file: string, buf: Uint8Array): Promise<DecodedImage> {
  if (isPng(buf) && buf[24] === 16 && (buf[25] === 0 || buf[25] === 4)) {
    // PIL opens these as 32-bit integers and its convert('L') / convert('RGB') clips them to 0..255 (mostly white), so
    // no decoding here would match what a torchvision pipeline saw; refused rather than silently different.
    throw new DataError(
      file,
      "is a 16-bit grayscale PNG: PIL (torchvision's ImageFolder) clips its values to 0..255 instead of scaling them, so the tool cannot give the pixels a PyTorch model saw; save the images as 8-bit PNG",
    );
  }
  const { fn } = loadSharp();
  try {
    if (!fn) return decodeJs(file, buf);
    const gray = isGrayscale(buf);
    const { data, info } = await fn(buf, { failOn: 'error', limitInputPixels: MAX_PIXELS, sequentialRead: true })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height, channels: c } = info;
    if (!(width > 0 && height > 0) || data.length !== width * height * c || (c !== 1 && c !== 3))
      throw new Error(`decoded ${data.length} bytes in ${c} channel(s) for ${width}x${height}`);
    const px = width * height;
    if (gray) {
      if (c === 1)
        return { width, height, channels: 1, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
      const l = new Uint8Array(px);
      for (let i = 0; i < px; i++) l[i] = data[3 * i]!;
      return { width, height, channels: 1, pixels: l };
    }
    if (c === 1) return { width, height, channels: 3, pixels: lToRgb(data, px) };
    return { width, height, channels: 3, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new DataError(file, `unreadable or truncated image: ${(e as Error).message}`);
  }
}
