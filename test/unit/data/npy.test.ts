import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DataError } from '../../../src/core/errors';
import { encodeNpy, parseNpy, readNpy, toFloat32Features, toLabels, writeNpy } from '../../../src/data/npy';
import type { NdArray } from '../../../src/data/npy';

// Fixtures written by real NumPy: test/fixtures/data/npy/make_fixtures.py (the expected values are its literals).
const FIX = join(__dirname, '../../fixtures/data/npy');
const fx = (name: string): string => join(FIX, name);

function throwsData(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('reads NumPy-written files of every supported dtype', () => {
  const f32 = readNpy(fx('f32_2x3.npy'));
  assert.equal(f32.dtype, 'float32');
  assert.deepEqual(f32.shape, [2, 3]);
  assert.ok(f32.data instanceof Float32Array);
  assert.deepEqual(Array.from(f32.data), [1.5, -2, 3.25, 0, Math.fround(1e-3), -7]);

  const f64 = readNpy(fx('f64_2x2x2.npy'));
  assert.equal(f64.dtype, 'float64');
  assert.deepEqual(f64.shape, [2, 2, 2]);
  assert.deepEqual(Array.from(f64.data as Float64Array), [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]);

  const i64 = readNpy(fx('i64_labels.npy'));
  assert.equal(i64.dtype, 'int64');
  assert.ok(i64.data instanceof BigInt64Array);
  assert.deepEqual(Array.from(i64.data as BigInt64Array), [0n, 3n, 1n, 2n, 9n]);

  const u8 = readNpy(fx('u8_3d.npy'));
  assert.equal(u8.dtype, 'uint8');
  assert.deepEqual(u8.shape, [2, 3, 4]);
  assert.deepEqual(
    Array.from(u8.data as Uint8Array),
    Array.from({ length: 24 }, (_, i) => i),
  );

  const b = readNpy(fx('bool_1d.npy'));
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(Array.from(b.data as Uint8Array), [1, 0, 1]);

  assert.deepEqual(Array.from(readNpy(fx('i16.npy')).data as Int16Array), [-300, 0, 300]);
  assert.deepEqual(Array.from(readNpy(fx('u16.npy')).data as Uint16Array), [0, 65535]);
  assert.deepEqual(Array.from(readNpy(fx('u32.npy')).data as Uint32Array), [0, 4000000000]);
  assert.deepEqual(Array.from(readNpy(fx('i8.npy')).data as Int8Array), [-128, 127]);

  const scalar = readNpy(fx('scalar.npy'));
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual(Array.from(scalar.data as Float64Array), [3.5]);
  const empty = readNpy(fx('empty_0x4.npy'));
  assert.deepEqual(empty.shape, [0, 4]);
  assert.equal(empty.data.length, 0);
});

test('reads format versions 2.0 and 3.0', () => {
  const v2 = readNpy(fx('v2_f32.npy'));
  assert.deepEqual(v2.shape, [2, 2]);
  assert.deepEqual(Array.from(v2.data as Float32Array), [1, 2, 3, 4]);
  const v3 = readNpy(fx('v3_i32.npy'));
  assert.equal(v3.dtype, 'int32');
  assert.deepEqual(Array.from(v3.data as Int32Array), [7, 8, 9]);
});

test('rejects Fortran order, big-endian, complex, unicode and object dtypes, naming the field and dtype', () => {
  throwsData(
    () => readNpy(fx('fortran.npy')),
    /fortran\.npy: .*'fortran_order' is True: Fortran-order arrays are not supported/,
  );
  throwsData(() => readNpy(fx('big_endian.npy')), /big_endian\.npy: .*'descr' is '>f4': big-endian/);
  throwsData(() => readNpy(fx('complex.npy')), /'descr' is '<c8': unsupported dtype/);
  throwsData(() => readNpy(fx('unicode.npy')), /'descr' is '<U2': unsupported dtype/);
  throwsData(() => readNpy(fx('object.npy')), /'descr' is '\|O': unsupported dtype/);
});

test('truncated data names expected and actual byte counts; bad magic and missing files are DataErrors', () => {
  const buf = readFileSync(fx('f32_2x3.npy'));
  throwsData(
    () => parseNpy(buf.subarray(0, buf.length - 5), 'cut.npy'),
    /^cut\.npy: truncated \.npy data: shape \[2,3\] of float32 needs 24 bytes .* but the file has 19$/,
  );
  throwsData(
    () => parseNpy(buf.subarray(0, 50), 'cut.npy'),
    /truncated \.npy header: header_len at byte offset 8 says 118 bytes, but only 40 follow/,
  );
  const bad = Uint8Array.from(buf);
  bad[1] = 0x4f;
  throwsData(() => parseNpy(bad, 'x.npy'), /bad magic string at byte offset 1/);
  throwsData(() => readNpy(join(FIX, 'nope.npy')), /nope\.npy: cannot read file/);
  const extra = new Uint8Array(buf.length + 3);
  extra.set(buf);
  throwsData(() => parseNpy(extra, 'x.npy'), /3 unexpected bytes after the data/);
});

test('the header is parsed, never evaluated: code in it is a DataError', () => {
  const enc = encodeNpy(new Float32Array([1]), [1]);
  const text = "{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (1,), }";
  const bad = Uint8Array.from(enc);
  for (let i = 0; i < text.length; i++) bad[10 + i] = text.charCodeAt(i);
  throwsData(() => parseNpy(bad, 'evil.npy'), /malformed \.npy header at header character \d+/);
});

test('encodeNpy writes what NumPy writes (same parse), 64-byte aligned; writeNpy round-trips through disk', () => {
  const numpy = readNpy(fx('f32_2x3.npy'));
  const ours = encodeNpy(numpy.data as Float32Array, numpy.shape);
  assert.equal((10 + (ours[8]! | (ours[9]! << 8))) % 64, 0);
  assert.deepEqual(parseNpy(ours, 'mem'), numpy);
  const dir = mkdtempSync(join(tmpdir(), 'selmix-npy-'));
  try {
    const p = join(dir, 'a.npy');
    writeNpy(p, new Int32Array([5, -6, 7]), [3]);
    const back = readNpy(p);
    assert.equal(back.dtype, 'int32');
    assert.deepEqual(back.shape, [3]);
    assert.deepEqual(Array.from(back.data as Int32Array), [5, -6, 7]);
    writeNpy(p, new Float64Array([0.1]), []);
    assert.deepEqual(readNpy(p), { dtype: 'float64', shape: [], data: new Float64Array([0.1]) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => encodeNpy(new Float32Array(5), [2, 3]), /holds 6 elements but data has 5/);
});

test('toFloat32Features: flattens to [n, d], converts dtypes, rejects NaN/Infinity with the row', () => {
  const a = toFloat32Features(readNpy(fx('u8_3d.npy')), 'u8');
  assert.equal(a.n, 2);
  assert.equal(a.d, 12);
  assert.deepEqual(a.shape, [2, 3, 4]);
  assert.ok(a.data instanceof Float32Array);
  assert.equal(a.data[23], 23);
  const f64 = toFloat32Features(readNpy(fx('f64_2x2x2.npy')), 'f64');
  assert.equal(f64.d, 4);
  assert.equal(f64.data[7], 1.75);
  throwsData(
    () => toFloat32Features(readNpy(fx('f32_nan_row2.npy')), 'feat.npy'),
    /^feat\.npy: features row 2 \(flat index 5\) holds NaN/,
  );
  throwsData(
    () => toFloat32Features({ dtype: 'float64', shape: [2, 1], data: new Float64Array([1, 1e300]) }, 'big'),
    /row 1 .*\(outside the float32 range\)/,
  );
  throwsData(
    () => toFloat32Features({ dtype: 'float32', shape: [1, 2], data: new Float32Array([1, -Infinity]) }, 'inf'),
    /row 0 .* -Infinity/,
  );
  throwsData(() => toFloat32Features(readNpy(fx('i16.npy')), 'one-d'), /2 or more dimensions/);
  throwsData(() => toFloat32Features(readNpy(fx('empty_0x4.npy')), 'e'), /no examples/);
});

test('toLabels: int64, int32 column, integral floats; rejects negative, fractional, out-of-range with the index', () => {
  assert.deepEqual(Array.from(toLabels(readNpy(fx('i64_labels.npy')), 'l')), [0, 3, 1, 2, 9]);
  assert.deepEqual(Array.from(toLabels(readNpy(fx('i32_col.npy')), 'l')), [2, 0, 1]);
  assert.deepEqual(Array.from(toLabels(readNpy(fx('float_labels.npy')), 'l')), [0, 2, 1]);
  assert.deepEqual(Array.from(toLabels(readNpy(fx('bool_1d.npy')), 'l')), [1, 0, 1]);
  throwsData(
    () => toLabels(readNpy(fx('float_labels_bad.npy')), 'y.npy'),
    /^y\.npy: label at index 1 is 2\.5, not an integer/,
  );
  throwsData(
    () => toLabels(readNpy(fx('neg_labels.npy')), 'y.npy'),
    /label at index 2 is -1; labels must be non-negative/,
  );
  throwsData(
    () => toLabels(readNpy(fx('i64_too_big.npy')), 'y.npy'),
    /label at index 1 is 1099511627776, outside the int32 range/,
  );
  throwsData(
    () => toLabels(readNpy(fx('u32.npy')), 'y.npy'),
    /label at index 1 is 4000000000, outside the int32 range/,
  );
  throwsData(() => toLabels(readNpy(fx('f32_2x3.npy')), 'y.npy'), /1-D or a single column, got shape \[2,3\]/);
});

// ---- property-based tests ----

const DTYPES: { descr: string; dtype: NdArray['dtype']; size: number }[] = [
  { descr: '<f4', dtype: 'float32', size: 4 },
  { descr: '<f8', dtype: 'float64', size: 8 },
  { descr: '<i4', dtype: 'int32', size: 4 },
  { descr: '<i8', dtype: 'int64', size: 8 },
  { descr: '|u1', dtype: 'uint8', size: 1 },
  { descr: '|i1', dtype: 'int8', size: 1 },
  { descr: '<i2', dtype: 'int16', size: 2 },
  { descr: '<u2', dtype: 'uint16', size: 2 },
  { descr: '<u4', dtype: 'uint32', size: 4 },
  { descr: '|b1', dtype: 'bool', size: 1 },
];

/** An independent .npy writer (any dtype, any version) for the property tests. */
function rawNpy(descr: string, shape: number[], bytes: Uint8Array, version: 1 | 2 | 3): Uint8Array {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(',')})`;
  const dict = `{"shape": ${shapeStr}, "fortran_order": False, "descr": "${descr}"}`;
  const pre = version === 1 ? 10 : 12;
  const hlen = Math.ceil((pre + dict.length + 1) / 16) * 16 - pre;
  const out = new Uint8Array(pre + hlen + bytes.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const v = new DataView(out.buffer);
  if (version === 1) v.setUint16(8, hlen, true);
  else v.setUint32(8, hlen, true);
  const h = dict.padEnd(hlen - 1, ' ') + '\n';
  for (let i = 0; i < h.length; i++) out[pre + i] = h.charCodeAt(i);
  out.set(bytes, pre + hlen);
  return out;
}

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 });

test('property: encodeNpy/parseNpy round-trip float32/float64/int32 byte-exactly for random shapes', () => {
  fc.assert(
    fc.property(shapeArb, fc.constantFrom('f32', 'f64', 'i32'), fc.integer(), (shape, kind, seed) => {
      const count = shape.reduce((a, b) => a * b, 1);
      const bytes = new Uint8Array(count * (kind === 'f64' ? 8 : 4));
      let s = seed >>> 0;
      for (let i = 0; i < bytes.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        bytes[i] = s >>> 24;
      }
      const data =
        kind === 'f32'
          ? new Float32Array(bytes.buffer)
          : kind === 'f64'
            ? new Float64Array(bytes.buffer)
            : new Int32Array(bytes.buffer);
      const back = parseNpy(encodeNpy(data, shape), 'mem');
      assert.deepEqual(back.shape, shape);
      assert.equal(back.dtype, kind === 'f32' ? 'float32' : kind === 'f64' ? 'float64' : 'int32');
      assert.equal(back.data.constructor, data.constructor);
      // Compare bytes, so NaN payloads count too.
      assert.deepEqual(new Uint8Array(back.data.buffer, back.data.byteOffset, back.data.byteLength), bytes);
    }),
    { numRuns: 300 },
  );
});

test('property: every supported dtype and version parses to the bytes written', () => {
  fc.assert(
    fc.property(
      shapeArb,
      fc.constantFrom(...DTYPES),
      fc.constantFrom<1 | 2 | 3>(1, 2, 3),
      fc.uint8Array({ maxLength: 512 }),
      (shape, t, version, pool) => {
        const count = shape.reduce((a, b) => a * b, 1);
        const bytes = new Uint8Array(count * t.size);
        for (let i = 0; i < bytes.length; i++) bytes[i] = pool.length ? pool[i % pool.length]! : i;
        const a = parseNpy(rawNpy(t.descr, shape, bytes, version), 'mem');
        assert.equal(a.dtype, t.dtype);
        assert.deepEqual(a.shape, shape);
        assert.equal(a.data.length, count);
        assert.deepEqual(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), bytes);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: corrupted or truncated .npy bytes never throw anything but DataError', () => {
  const base = [
    encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]),
    rawNpy('<i8', [3], new Uint8Array(24), 2),
    rawNpy('|b1', [2, 2], new Uint8Array(4), 3),
  ];
  const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(mutation, { maxLength: 6 }),
      fc.option(fc.nat()),
      (orig, muts, cut) => {
        const buf = Uint8Array.from(orig);
        for (const m of muts) buf[m.at % buf.length] = m.value;
        const input = cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
        try {
          const a = parseNpy(input, 'fuzz.npy');
          assert.equal(
            a.data.length,
            a.shape.reduce((x, y) => x * y, 1),
          );
          // A successful parse accounts for every byte: preamble + header + data, nothing missing or extra.
          const v = new DataView(input.buffer, input.byteOffset, input.byteLength);
          const dataStart = input[6] === 1 ? 10 + v.getUint16(8, true) : 12 + v.getUint32(8, true);
          assert.equal(input.length - dataStart, a.data.byteLength);
        } catch (e) {
          if (!(e instanceof DataError)) throw new Error(`non-DataError: ${String(e)}`);
          assert.match(e.message, /^fuzz\.npy: /);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('readNpy reads from the file descriptor in bounded chunks: every fixture equals parseNpy of its bytes, at any chunk size', () => {
  const names = readdirSync(FIX).filter((f) => f.endsWith('.npy'));
  let read = 0;
  for (const name of names) {
    let whole: NdArray | Error;
    try {
      whole = parseNpy(readFileSync(fx(name)), fx(name));
    } catch (e) {
      whole = e as Error;
    }
    for (const chunk of [1, 7, 64, 1 << 24]) {
      if (whole instanceof Error) {
        // A bad file fails the same way either way.
        assert.throws(
          () => readNpy(fx(name), chunk),
          (e: unknown) => e instanceof DataError && e.message === whole.message,
          `${name} chunk ${chunk}`,
        );
      } else {
        assert.deepEqual(readNpy(fx(name), chunk), whole, `${name} chunk ${chunk}`);
        read++;
      }
    }
  }
  assert.ok(read >= 40, `${read} good reads`);
});

test('readNpy: headers longer than the first read (versions 1.0 and 2.0), truncated and over-long files on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-npy-'));
  try {
    const data = Float32Array.from({ length: 30 }, (_, i) => i / 3);
    for (const [major, pad] of [
      [1, 6000],
      [2, 70000],
    ] as const) {
      // A header padded with spaces past the 4 KiB first read.
      const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 3), }";
      const pre = major === 1 ? 10 : 12;
      const headerLen = Math.ceil((pre + pad) / 64) * 64 - pre;
      const bytes = new Uint8Array(pre + headerLen + data.byteLength);
      bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
      const view = new DataView(bytes.buffer);
      if (major === 1) view.setUint16(8, headerLen, true);
      else view.setUint32(8, headerLen, true);
      const header = dict.padEnd(headerLen - 1, ' ') + '\n';
      for (let i = 0; i < header.length; i++) bytes[pre + i] = header.charCodeAt(i);
      bytes.set(new Uint8Array(data.buffer), pre + headerLen);
      const p = join(dir, `long${major}.npy`);
      writeFileSync(p, bytes);
      assert.deepEqual(readNpy(p, 1000), { dtype: 'float32', shape: [10, 3], data });
      writeFileSync(p, bytes.subarray(0, bytes.length - 4));
      throwsData(
        () => readNpy(p),
        /long\d\.npy: truncated \.npy data: shape \[10,3\] of float32 needs 120 bytes .* but the file has 116$/,
      );
      writeFileSync(p, bytes.subarray(0, pre + 100));
      throwsData(
        () => readNpy(p),
        /truncated \.npy header: header_len at byte offset 8 says \d+ bytes, but only 100 follow/,
      );
      const extra = new Uint8Array(bytes.length + 2);
      extra.set(bytes);
      writeFileSync(p, extra);
      throwsData(() => readNpy(p), /2 unexpected bytes after the data/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
