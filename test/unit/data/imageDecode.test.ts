import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { convertImage, decodeImage, imageDecoderInfo, rgbToL } from '../../../src/data/imageDecode';

// test/fixtures/images/make_pil_fixtures.py wrote the images and PIL's pixels of each (convert('RGB') and
// convert('L')).
const DIR = join(__dirname, '..', '..', 'fixtures', 'images');
interface Expected {
  mode: string;
  width: number;
  height: number;
  rgb: string;
  l: string;
}
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as {
  pil: string;
  images: Record<string, Expected>;
};

/** Largest absolute difference and count of differing values. */
function diff(a: Uint8Array, b: Uint8Array): { max: number; n: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d) n++;
    if (d > max) max = d;
  }
  return { max, n };
}

const KINDS = [
  'baseline_420.jpg',
  'baseline_422.jpg',
  'baseline_444.jpg',
  'progressive_420.jpg',
  'progressive_444.jpg',
  'gray.jpg',
  'rgb8.png',
  'gray8.png',
  'rgb16.png',
  'palette.png',
  'rgba.png',
  'gray_alpha.png',
];

test('the fixtures cover every kind: baseline and progressive JPEG (4:2:0, 4:2:2, 4:4:4), grayscale JPEG, PNG 8/16-bit, palette, alpha', () => {
  assert.deepEqual(Object.keys(expected.images).sort(), KINDS.slice().sort());
  assert.deepEqual([...new Set(Object.values(expected.images).map((e) => e.mode))].sort(), [
    'L',
    'LA',
    'P',
    'RGB',
    'RGBA',
  ]);
});

test("sharp is the decoder here, and every fixture decodes to exactly PIL's pixels (convert RGB and L)", async () => {
  assert.equal(imageDecoderInfo().name, 'sharp', imageDecoderInfo().note);
  for (const name of KINDS) {
    const e = expected.images[name]!;
    const d = await decodeImage(join(DIR, name), readFileSync(join(DIR, name)));
    assert.equal(d.width, e.width, name);
    assert.equal(d.height, e.height, name);
    // PIL's own mode decides the channels: L and LA one, the rest three.
    assert.equal(d.channels, e.mode === 'L' || e.mode === 'LA' ? 1 : 3, name);
    // Measured bound: 0 grey levels for every kind (libjpeg-turbo in sharp and in Debian's PIL share the ISLOW IDCT and
    // fancy upsampling).
    assert.deepEqual(
      diff(convertImage(d, 'RGB').pixels, Buffer.from(e.rgb, 'base64')),
      { max: 0, n: 0 },
      `${name} RGB`,
    );
    assert.deepEqual(diff(convertImage(d, 'L').pixels, Buffer.from(e.l, 'base64')), { max: 0, n: 0 }, `${name} L`);
  }
});

test("rgbToL is PIL's fixed-point luma, rounding at the halves as PIL does", () => {
  assert.deepEqual(
    Array.from(rgbToL(Uint8Array.from([200, 100, 50, 255, 255, 255, 0, 0, 0, 1, 0, 0, 0, 0, 1]), 5)),
    [124, 255, 0, 0, 0],
  );
});

test('a truncated JPEG is a DataError naming the file', async () => {
  const f = join(DIR, 'baseline_420.jpg');
  await assert.rejects(
    decodeImage(f, readFileSync(f).subarray(0, 300)),
    (e: Error) => e.name === 'DataError' && e.message.includes(f) && /unreadable or truncated/.test(e.message),
  );
});

test('a 16-bit grayscale PNG is refused, naming the file (PIL clips it to 0..255, so no decode would match)', async () => {
  const f = '/tmp/g16.png';
  // A 1x1 16-bit grayscale PNG: signature, IHDR (bit depth 16, colour type 0), IDAT, IEND.
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type), data])) >>> 0);
    return Buffer.concat([len, Buffer.from(type), data, crc]);
  };
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 16, 0, 0, 0, 0]);
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from([0, 0x12, 0x34]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  await assert.rejects(
    decodeImage(f, png),
    (e: Error) =>
      e.name === 'DataError' &&
      e.message.includes(f) &&
      /16-bit grayscale PNG.*save the images as 8-bit PNG/.test(e.message),
  );
});

test('where sharp does not load (forced here), the pure-JS fallback decodes and the note says what differs', () => {
  const code = `const m = require(${JSON.stringify(join(__dirname, '..', '..', '..', 'src', 'data', 'imageDecode.ts'))});
    const f = ${JSON.stringify(join(DIR, 'rgb8.png'))};
    m.decodeImage(f, require('node:fs').readFileSync(f)).then((d) => console.log(JSON.stringify({ info: m.imageDecoderInfo(), w: d.width, c: d.channels })));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, SELMIX_IMAGE_DECODER: 'js' },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { info: { name: string; note: string }; w: number; c: number };
  assert.equal(out.info.name, 'jpeg-js/pngjs');
  assert.match(out.info.note, /pure-JS fallback .* can differ from PIL's/);
  assert.deepEqual([out.w, out.c], [23, 3]);
});
