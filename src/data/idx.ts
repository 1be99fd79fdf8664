// Reader for the IDX format (MNIST's format): big-endian, a 4-byte magic (0, 0, type, ndim), ndim uint32 sizes, data.
import { DataError } from '../core/errors';

/** An array read from an IDX file, converted to native byte order. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { name: string; size: number }> = {
  0x08: { name: 'uint8', size: 1 },
  0x09: { name: 'int8', size: 1 },
  0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 },
  0x0d: { name: 'float32', size: 4 },
  0x0e: { name: 'float64', size: 8 },
};

/** Parses the bytes of an IDX file; bad magic, unknown type codes and truncation are DataErrors naming the offset. */
export function parseIdx(buf: Uint8Array, file: string): IdxArray {
  if (buf.byteLength < 4)
    throw new DataError(file, `not an IDX file: ${buf.byteLength} bytes, shorter than the 4-byte magic number`);
  if (buf[0] !== 0 || buf[1] !== 0)
    throw new DataError(file, `not an IDX file: magic bytes 0-1 are ${buf[0]}, ${buf[1]} (expected 0, 0)`);
  const code = buf[2]!;
  const type = TYPES[code];
  if (!type)
    throw new DataError(file, `unknown IDX data type code 0x${code.toString(16).padStart(2, '0')} at byte offset 2`);
  const ndim = buf[3]!;
  if (ndim === 0) throw new DataError(file, 'IDX magic number at byte offset 3 says 0 dimensions');
  const dataStart = 4 + 4 * ndim;
  if (buf.byteLength < dataStart)
    throw new DataError(
      file,
      `truncated IDX header: ${ndim} dimensions need ${dataStart} header bytes, the file has ${buf.byteLength}`,
    );
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const s = view.getUint32(4 + 4 * i, false);
    shape.push(s);
    count *= s;
  }
  const expected = count * type.size;
  const actual = buf.byteLength - dataStart;
  if (!Number.isSafeInteger(expected) || actual < expected) {
    throw new DataError(
      file,
      `truncated IDX data: shape ${JSON.stringify(shape)} of ${type.name} needs ${expected} bytes after byte offset ${dataStart}, the file has ${actual}`,
    );
  }
  if (actual > expected) {
    throw new DataError(
      file,
      `IDX file has ${actual - expected} unexpected bytes after the data (shape ${JSON.stringify(shape)} of ${type.name} ends at byte offset ${dataStart + expected})`,
    );
  }
  switch (code) {
    // new Uint8Array(view) copies; Buffer.slice would share memory with the caller.
    case 0x08:
      return { shape, data: new Uint8Array(buf.subarray(dataStart, dataStart + expected)) };
    case 0x09: {
      const out = new Int8Array(count);
      out.set(new Int8Array(buf.buffer, buf.byteOffset + dataStart, count));
      return { shape, data: out };
    }
    case 0x0b: {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(dataStart + 2 * i, false);
      return { shape, data: out };
    }
    case 0x0c: {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(dataStart + 4 * i, false);
      return { shape, data: out };
    }
    case 0x0d: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(dataStart + 4 * i, false);
      return { shape, data: out };
    }
    default: {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(dataStart + 8 * i, false);
      return { shape, data: out };
    }
  }
}
