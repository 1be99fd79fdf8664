// Reader and writer for NumPy .npy files (format versions 1.0, 2.0 and 3.0). The header is a Python dict
// literal; it is parsed by a small tokenizer, never evaluated.
import { DataError } from '../core/errors';
import { writeFileAtomic } from './atomicWrite';
import { closeSync, openSync, readSync } from 'node:fs';
import { checkInputFile } from './inputFile';

/** An n-dimensional array read from a .npy file: C order, little-endian data copied into an aligned typed array. */
export interface NdArray {
  dtype: 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'int16' | 'uint16' | 'uint32' | 'bool';
  shape: number[];
  data:
    | Float32Array
    | Float64Array
    | Int32Array
    | Uint8Array
    | Int8Array
    | Int16Array
    | Uint16Array
    | Uint32Array
    | BigInt64Array;
}

type DType = NdArray['dtype'];

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** descr kind+size (without the byte-order character) to our dtype. */
const DESCR: Record<string, { dtype: DType; size: number }> = {
  f4: { dtype: 'float32', size: 4 },
  f8: { dtype: 'float64', size: 8 },
  i4: { dtype: 'int32', size: 4 },
  i8: { dtype: 'int64', size: 8 },
  u1: { dtype: 'uint8', size: 1 },
  i1: { dtype: 'int8', size: 1 },
  i2: { dtype: 'int16', size: 2 },
  u2: { dtype: 'uint16', size: 2 },
  u4: { dtype: 'uint32', size: 4 },
  b1: { dtype: 'bool', size: 1 },
};

type PyValue = string | boolean | number | PyValue[] | null;

/** A tokenizer + recursive-descent parser for the Python literals that appear in .npy headers. */
class HeaderParser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly s: string,
    private readonly file: string,
  ) {}

  private fail(msg: string): never {
    throw new DataError(
      this.file,
      `malformed .npy header at header character ${this.i}: ${msg} (header: ${JSON.stringify(this.s.slice(0, 200))})`,
    );
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  private eat(ch: string): boolean {
    this.ws();
    if (this.s[this.i] === ch) {
      this.i++;
      return true;
    }
    return false;
  }

  private expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`expected '${ch}'`);
  }

  parseDict(): Map<string, PyValue> {
    const out = new Map<string, PyValue>();
    this.expect('{');
    while (!this.eat('}')) {
      const key = this.value();
      if (typeof key !== 'string') this.fail('dict key must be a string');
      this.expect(':');
      out.set(key, this.value());
      if (!this.eat(',')) {
        this.expect('}');
        break;
      }
    }
    this.ws();
    if (this.i !== this.s.length) this.fail('unexpected text after the dict');
    return out;
  }

  private value(): PyValue {
    this.ws();
    const c = this.s[this.i];
    if (c === undefined) this.fail('unexpected end of header');
    if (c === "'" || c === '"') {
      const end = this.s.indexOf(c, this.i + 1);
      if (end < 0) this.fail('unterminated string');
      const str = this.s.slice(this.i + 1, end);
      this.i = end + 1;
      return str;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      if (++this.depth > MAX_HEADER_DEPTH)
        this.fail(`nested more than ${MAX_HEADER_DEPTH} levels deep (a .npy header holds a flat shape tuple)`);
      this.i++;
      const items: PyValue[] = [];
      while (!this.eat(close)) {
        items.push(this.value());
        if (!this.eat(',')) {
          this.expect(close);
          break;
        }
      }
      this.depth--;
      return items;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(this.s.slice(this.i));
    if (!m) this.fail(`unexpected character '${c}'`);
    this.i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace('L', ''));
  }
}

/** A .npy header is a short dict (numpy writes under 4 KiB); anything longer or deeper is not one. */
const MAX_HEADER_BYTES = 1 << 20;
const MAX_HEADER_DEPTH = 8;

function product(shape: number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** What a .npy header says: the dtype, the shape, and where the data starts and how many bytes it needs. */
interface NpyLayout {
  kind: { dtype: DType; size: number };
  shape: number[];
  count: number;
  dataStart: number;
  expected: number;
}

/**
 * Parses the preamble and header of a .npy file from its first bytes `head` (the whole file or a prefix of it) and
 * checks them against the file's total size; every problem is a DataError naming the file and field.
 */
function parseLayout(head: Uint8Array, totalBytes: number, file: string): NpyLayout {
  if (totalBytes < 10)
    throw new DataError(file, `not a .npy file: ${totalBytes} bytes, shorter than the 10-byte preamble`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (head[i] !== MAGIC[i])
      throw new DataError(file, `not a .npy file: bad magic string at byte offset ${i} (expected "\\x93NUMPY")`);
  }
  const major = head[6]!;
  const minor = head[7]!;
  if (minor !== 0 || major < 1 || major > 3)
    throw new DataError(
      file,
      `unsupported .npy format version ${major}.${minor} at byte offset 6 (supported: 1.0, 2.0, 3.0)`,
    );
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else {
    if (totalBytes < 12)
      throw new DataError(file, `truncated .npy preamble: ${totalBytes} bytes, version ${major}.0 needs 12`);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  }
  if (headerLen > MAX_HEADER_BYTES)
    throw new DataError(
      file,
      `malformed .npy header: header_len at byte offset 8 says ${headerLen} bytes; a header is at most ${MAX_HEADER_BYTES}`,
    );
  if (headerStart + headerLen > totalBytes) {
    throw new DataError(
      file,
      `truncated .npy header: header_len at byte offset 8 says ${headerLen} bytes, but only ${totalBytes - headerStart} follow`,
    );
  }
  if (headerStart + headerLen > head.byteLength)
    throw new RangeError(`parseLayout: ${head.byteLength} bytes given, the header needs ${headerStart + headerLen}`);
  const headerBytes = head.subarray(headerStart, headerStart + headerLen);
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(headerBytes);
  } catch {
    throw new DataError(
      file,
      `.npy header at byte offset ${headerStart} is not valid ${major === 3 ? 'UTF-8' : 'latin-1'}`,
    );
  }
  const dict = new HeaderParser(header.trim(), file).parseDict();

  const descr = dict.get('descr');
  if (typeof descr !== 'string')
    throw new DataError(
      file,
      `.npy header field 'descr' is missing or not a simple dtype string (structured dtypes are not supported): ${JSON.stringify(descr ?? null)}`,
    );
  const order = descr[0];
  const kind = DESCR[descr.slice(1)];
  if (order === '>')
    throw new DataError(
      file,
      `.npy header field 'descr' is '${descr}': big-endian data is not supported (save with dtype '<${descr.slice(1)}')`,
    );
  if (!kind || (order !== '<' && order !== '|' && order !== '=')) {
    throw new DataError(
      file,
      `.npy header field 'descr' is '${descr}': unsupported dtype (supported: float32, float64, int8/16/32/64, uint8/16/32, bool; little-endian)`,
    );
  }
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean')
    throw new DataError(file, `.npy header field 'fortran_order' is missing or not True/False`);
  if (fortran)
    throw new DataError(
      file,
      `.npy header field 'fortran_order' is True: Fortran-order arrays are not supported (save with np.ascontiguousarray)`,
    );
  const shapeV = dict.get('shape');
  if (!Array.isArray(shapeV) || !shapeV.every((s) => typeof s === 'number' && Number.isSafeInteger(s) && s >= 0)) {
    throw new DataError(
      file,
      `.npy header field 'shape' is not a tuple of non-negative integers: ${JSON.stringify(shapeV ?? null)}`,
    );
  }
  const shape = shapeV as number[];
  const count = product(shape);
  const dataStart = headerStart + headerLen;
  const expected = count * kind.size;
  if (!Number.isSafeInteger(expected))
    throw new DataError(file, `.npy header field 'shape' ${JSON.stringify(shape)} is too large`);
  const actual = totalBytes - dataStart;
  if (actual < expected) {
    throw new DataError(
      file,
      `truncated .npy data: shape ${JSON.stringify(shape)} of ${kind.dtype} needs ${expected} bytes after the header (byte offset ${dataStart}), but the file has ${actual}`,
    );
  }
  if (actual > expected) {
    throw new DataError(
      file,
      `.npy file has ${actual - expected} unexpected bytes after the data: shape ${JSON.stringify(shape)} of ${kind.dtype} needs ${expected} bytes after byte offset ${dataStart}, but ${actual} follow`,
    );
  }
  return { kind, shape, count, dataStart, expected };
}

/**
 * The typed array of a layout over an aligned buffer of its bytes (the host's byte order: little-endian everywhere Node
 * runs).
 */
function typedView(l: NpyLayout, bytes: Uint8Array): NdArray {
  const ab = bytes.buffer;
  const { count } = l;
  let data: NdArray['data'];
  switch (l.kind.dtype) {
    case 'float32':
      data = new Float32Array(ab, 0, count);
      break;
    case 'float64':
      data = new Float64Array(ab, 0, count);
      break;
    case 'int32':
      data = new Int32Array(ab, 0, count);
      break;
    case 'int64':
      data = new BigInt64Array(ab, 0, count);
      break;
    case 'uint8':
    case 'bool':
      data = bytes;
      break;
    case 'int8':
      data = new Int8Array(ab, 0, count);
      break;
    case 'int16':
      data = new Int16Array(ab, 0, count);
      break;
    case 'uint16':
      data = new Uint16Array(ab, 0, count);
      break;
    case 'uint32':
      data = new Uint32Array(ab, 0, count);
      break;
  }
  return { dtype: l.kind.dtype, shape: l.shape, data };
}

/** Parses the bytes of a .npy file (little-endian, C order); every problem is a DataError naming the file and field. */
export function parseNpy(buf: Uint8Array, file: string): NdArray {
  const l = parseLayout(buf, buf.byteLength, file);
  // Copy: the data offset need not be aligned for a typed-array view, and the caller owns the result.
  const bytes = new Uint8Array(l.expected);
  bytes.set(buf.subarray(l.dataStart, l.dataStart + l.expected));
  return typedView(l, bytes);
}

/**
 * Bytes read per fs.readSync call: bounded, so a large file needs no second buffer (and fs's 2 GiB limit never
 * applies).
 */
const READ_CHUNK = 16 * 2 ** 20;

/** First read of a file: the preamble and a header of the size numpy writes (a longer header is read on demand). */
const HEAD_PROBE = 4096;

/**
 * Reads a .npy file from disk straight into its final typed array, in bounded chunks through one file descriptor:
 * no whole-file buffer and no second copy, so peak memory stays near the array itself, and files over 2 GiB (up to
 * the input limit, src/data/inputFile.ts) read as any other. `chunkBytes` is for tests.
 */
export function readNpy(path: string, chunkBytes = READ_CHUNK): NdArray {
  const size = checkInputFile(path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new DataError(path, `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const readAt = (into: Uint8Array, position: number): void => {
      let done = 0;
      while (done < into.byteLength) {
        const n = readSync(fd, into, done, Math.min(chunkBytes, into.byteLength - done), position + done);
        if (n === 0)
          throw new DataError(path, `the file shrank while it was read: ${position + done} of ${size} bytes`);
        done += n;
      }
    };
    let head = new Uint8Array(Math.min(size, HEAD_PROBE));
    readAt(head, 0);
    if (size >= 12) {
      const view = new DataView(head.buffer);
      const need = head[6] === 1 ? 10 + view.getUint16(8, true) : 12 + view.getUint32(8, true);
      // Past the file or the header limit: parseLayout names the problem.
      if (need > head.byteLength && need <= size && need <= MAX_HEADER_BYTES + 12) {
        head = new Uint8Array(need);
        readAt(head, 0);
      }
    }
    const l = parseLayout(head, size, path);
    const bytes = new Uint8Array(l.expected);
    readAt(bytes, l.dataStart);
    return typedView(l, bytes);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(path, `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** Encodes a C-order float32/float64/int32 array as a .npy (version 1.0, or 2.0 for very long headers). */
export function encodeNpy(data: Float32Array | Float64Array | Int32Array, shape: number[]): Uint8Array {
  if (!shape.every((s) => Number.isSafeInteger(s) && s >= 0))
    throw new Error(`encodeNpy: shape ${JSON.stringify(shape)} must hold non-negative integers`);
  if (product(shape) !== data.length)
    throw new Error(
      `encodeNpy: shape ${JSON.stringify(shape)} holds ${product(shape)} elements but data has ${data.length}`,
    );
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Float64Array ? '<f8' : '<i4';
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // The preamble + header (ending in '\n') is padded with spaces to a multiple of 64 bytes.
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - pre;
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = pre === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (pre === 10) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Writes a float32/float64/int32 array as a .npy file, atomically. */
export function writeNpy(path: string, data: Float32Array | Float64Array | Int32Array, shape: number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}

/**
 * Converts any NdArray of 2 or more dimensions to float32 [n, d]; shape is the full array shape [n, ...]. `what`
 * names the rows in messages ("features row 3", "weights row 3").
 */
export function toFloat32Features(
  a: NdArray,
  file: string,
  what = 'features',
): { data: Float32Array; n: number; d: number; shape: number[] } {
  if (a.shape.length < 2)
    throw new DataError(
      file,
      `${what} must have 2 or more dimensions (rows first), got shape ${JSON.stringify(a.shape)}`,
    );
  const n = a.shape[0]!;
  const d = product(a.shape.slice(1));
  if (n === 0)
    throw new DataError(
      file,
      `${what} have no ${what === 'features' ? 'examples' : 'rows'} (shape ${JSON.stringify(a.shape)})`,
    );
  if (d === 0) throw new DataError(file, `${what} have no values per row (shape ${JSON.stringify(a.shape)})`);
  let data: Float32Array;
  if (a.data instanceof Float32Array) {
    data = a.data;
  } else if (a.data instanceof BigInt64Array) {
    data = new Float32Array(a.data.length);
    for (let i = 0; i < data.length; i++) data[i] = Number(a.data[i]!);
  } else {
    data = Float32Array.from(a.data);
  }
  const i = firstNonFinite(data);
  if (i >= 0) {
    const src = a.data[i]!;
    const bad = Number.isNaN(Number(src))
      ? 'NaN'
      : Number.isFinite(Number(src))
        ? `${String(src)} (outside the float32 range)`
        : String(src);
    throw new DataError(
      file,
      `${what === 'bias' ? `bias entry ${i}` : `${what} row ${Math.floor(i / d)} (flat index ${i})`} holds ${bad}; every value must be finite`,
    );
  }
  return { data, n, d, shape: a.shape.slice() };
}

/**
 * The index of the first NaN or infinity in x, or -1. On the bits: a float32 is not finite exactly when its exponent
 * bits are all ones, an integer test over a Uint32Array view (several times faster than Number.isFinite on each float
 * of a feature file of hundreds of MB).
 */
export function firstNonFinite(x: Float32Array): number {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const n = u.length;
  let i = 0;
  // Blocks of 8: one test per block of the OR of the exponents that are all ones (rare), then the exact index.
  for (; i + 8 <= n; i += 8) {
    const e = 0x7f800000;
    const hit =
      ((u[i]! & e) === e ? 1 : 0) |
      ((u[i + 1]! & e) === e ? 1 : 0) |
      ((u[i + 2]! & e) === e ? 1 : 0) |
      ((u[i + 3]! & e) === e ? 1 : 0) |
      ((u[i + 4]! & e) === e ? 1 : 0) |
      ((u[i + 5]! & e) === e ? 1 : 0) |
      ((u[i + 6]! & e) === e ? 1 : 0) |
      ((u[i + 7]! & e) === e ? 1 : 0);
    if (hit) break;
  }
  for (; i < n; i++) if ((u[i]! & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

/** Converts a 1-D (or [n, 1]) float or integer array to a float32 vector; `what` names it in messages. */
export function toFloat32Vector(a: NdArray, file: string, what = 'bias'): Float32Array {
  if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1)))
    throw new DataError(file, `${what} must be 1-D, got shape ${JSON.stringify(a.shape)}`);
  return toFloat32Features({ ...a, shape: [a.shape[0]!, 1] }, file, what).data;
}

/** Converts a 1-D (or [n, 1]) array of non-negative integer class ids to Int32Array. */
export function toLabels(a: NdArray, file: string): Int32Array {
  if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1))) {
    throw new DataError(file, `labels must be 1-D or a single column, got shape ${JSON.stringify(a.shape)}`);
  }
  const n = a.shape[0]!;
  const out = new Int32Array(n);
  const src = a.data;
  if (src instanceof BigInt64Array) {
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      if (v < 0n) throw new DataError(file, `label at index ${i} is ${v}; labels must be non-negative class ids`);
      if (v > 2147483647n) throw new DataError(file, `label at index ${i} is ${v}, outside the int32 range`);
      out[i] = Number(v);
    }
    return out;
  }
  const isFloat = a.dtype === 'float32' || a.dtype === 'float64';
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    if (isFloat && !Number.isInteger(v))
      throw new DataError(file, `label at index ${i} is ${v}, not an integer class id`);
    if (v < 0) throw new DataError(file, `label at index ${i} is ${v}; labels must be non-negative class ids`);
    if (v > 2147483647) throw new DataError(file, `label at index ${i} is ${v}, outside the int32 range`);
    out[i] = v;
  }
  return out;
}
