import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataError } from '../../../src/core/errors';
import { loadImageFolder } from '../../../src/data/images';

/** Writes a PNG whose pixel (r, c) has value f(r, c, channel); colorType 0 = gray, 2 = RGB, 6 = RGBA. */
function writePng(
  path: string,
  w: number,
  h: number,
  colorType: 0 | 2 | 6,
  f: (r: number, c: number, ch: number) => number,
): void {
  const png = new PNG({ width: w, height: h });
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++) {
      const i = 4 * (r * w + c);
      for (let ch = 0; ch < 3; ch++) png.data[i + ch] = colorType === 0 ? f(r, c, 0) : f(r, c, ch);
      png.data[i + 3] = colorType === 6 ? 128 : 255;
    }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, PNG.sync.write(png, { colorType }));
}

function writeJpeg(path: string, w: number, h: number, rgb: [number, number, number]): void {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...rgb, 255], 4 * i);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodeJpeg({ data, width: w, height: h }, 100).data);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-img-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function throwsData(fn: () => Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.message, pattern);
    return true;
  });
}

const pix = (r: number, c: number, ch: number): number => (r * 40 + c * 10 + ch * 3) % 256;

test('labeled RGB PNGs: classes sorted, NHWC values v/255, files in order; classes option sets the label order', () =>
  withDir(async (root) => {
    writePng(join(root, 'dog', 'b.png'), 4, 3, 2, (r, c, ch) => 255 - pix(r, c, ch));
    writePng(join(root, 'cat', 'z.png'), 4, 3, 2, pix);
    writePng(join(root, 'cat', 'a.png'), 4, 3, 6, pix);
    writeFileSync(join(root, 'cat', 'notes.txt'), 'ignored');
    const d = await loadImageFolder(root, { labeled: true });
    assert.deepEqual(d.classNames, ['cat', 'dog']);
    assert.deepEqual(d.shape, [3, 4, 3]);
    assert.equal(d.n, 3);
    assert.deepEqual(d.files, [join(root, 'cat', 'a.png'), join(root, 'cat', 'z.png'), join(root, 'dog', 'b.png')]);
    assert.deepEqual(Array.from(d.y!), [0, 0, 1]);
    const per = 3 * 4 * 3;
    assert.equal(d.x.length, 3 * per);
    // Example 1 (cat/z.png), pixel (2, 3), channel 1; alpha of a.png is dropped, so it equals z.png.
    assert.equal(d.x[per + (2 * 4 + 3) * 3 + 1], Math.fround(pix(2, 3, 1) / 255));
    assert.deepEqual(d.x.subarray(0, per), d.x.subarray(per, 2 * per));
    assert.equal(d.x[2 * per], Math.fround((255 - pix(0, 0, 0)) / 255));

    const rev = await loadImageFolder(root, { labeled: true, classes: ['dog', 'cat'] });
    assert.deepEqual(rev.classNames, ['dog', 'cat']);
    assert.deepEqual(Array.from(rev.y!), [0, 1, 1]);
    assert.equal(rev.files[0], join(root, 'dog', 'b.png'));
  }));

test("grayscale PNGs give one channel; mixed channel counts fail unless grayscale forces one (PIL's L)", () =>
  withDir(async (root) => {
    writePng(join(root, 'a', '1.png'), 2, 2, 0, (r, c) => 100 + r + c);
    const g = await loadImageFolder(root, { labeled: true });
    assert.deepEqual(g.shape, [2, 2, 1]);
    assert.deepEqual(
      Array.from(g.x),
      [100, 101, 101, 102].map((v) => Math.fround(v / 255)),
    );
    writePng(join(root, 'b', '2.png'), 2, 2, 2, (_r, _c, ch) => [200, 100, 50][ch]!);
    await throwsData(
      () => loadImageFolder(root, { labeled: true }),
      join(root, 'b', '2.png'),
      new RegExp(
        `mix channel counts: grayscale \\(first: ${join(root, 'a', '1.png')}\\), colour \\(first: ${join(root, 'b', '2.png')}\\)`,
      ),
    );
    const forced = await loadImageFolder(root, { labeled: true, grayscale: true });
    assert.deepEqual(forced.shape, [2, 2, 1]);
    // PIL's convert('L'): (19595 R + 38470 G + 7471 B + 0x8000) >> 16 = 124 for (200, 100, 50).
    assert.equal(forced.x[4], Math.fround(124 / 255));
  }));

test('JPEGs decode next to PNGs of the same size; values within JPEG error', () =>
  withDir(async (root) => {
    writeJpeg(join(root, 'x', 'a.jpg'), 8, 8, [200, 40, 90]);
    writeJpeg(join(root, 'x', 'b.JPEG'), 8, 8, [10, 250, 128]);
    writePng(join(root, 'y', 'c.png'), 8, 8, 2, () => 7);
    const d = await loadImageFolder(root, { labeled: true });
    assert.deepEqual(d.shape, [8, 8, 3]);
    assert.equal(d.n, 3);
    const near = (got: number, want: number): void =>
      assert.ok(Math.abs(got * 255 - want) <= 3, `${got * 255} vs ${want}`);
    near(d.x[0]!, 200);
    near(d.x[1]!, 40);
    near(d.x[2]!, 90);
    near(d.x[192 + 1]!, 250);
  }));

test('unlabeled: every image below root, recursively, sorted by relative path; y is null', () =>
  withDir(async (root) => {
    for (const p of ['b.png', join('a', 'x.png'), join('a', 'b', 'c.png')]) writePng(join(root, p), 2, 2, 0, () => 9);
    writeFileSync(join(root, 'readme.md'), '#');
    const d = await loadImageFolder(root, { labeled: false });
    assert.equal(d.y, null);
    assert.deepEqual(d.classNames, []);
    assert.deepEqual(d.files, [join(root, 'a', 'b', 'c.png'), join(root, 'a', 'x.png'), join(root, 'b.png')]);
    assert.deepEqual(d.shape, [2, 2, 1]);
  }));

test('errors name the file: truncated PNG/JPEG, mixed sizes, empty class, missing class folder, no images', () =>
  withDir(async (root) => {
    writePng(join(root, 'ok', 'a.png'), 4, 4, 2, pix);
    const bad = join(root, 'ok', 'b.png');
    writeFileSync(bad, readFileSync(join(root, 'ok', 'a.png')).subarray(0, 40));
    await throwsData(() => loadImageFolder(root, { labeled: true }), bad, /unreadable or truncated image/);
    rmSync(bad);
    const jpg = join(root, 'ok', 'c.jpg');
    writeJpeg(jpg, 16, 16, [1, 2, 3]);
    writeFileSync(jpg, readFileSync(jpg).subarray(0, 200));
    await throwsData(() => loadImageFolder(root, { labeled: true }), jpg, /unreadable or truncated image/);
    rmSync(jpg);

    writePng(join(root, 'ok', 'd.png'), 5, 4, 2, pix);
    writePng(join(root, 'ok', 'e.png'), 5, 4, 2, pix);
    await throwsData(
      () => loadImageFolder(root, { labeled: true }),
      join(root, 'ok', 'd.png'),
      new RegExp(
        `different sizes: 4x4 \\(first: ${join(root, 'ok', 'a.png')}\\), 5x4 \\(first: ${join(root, 'ok', 'd.png')}\\)`,
      ),
    );
    rmSync(join(root, 'ok', 'd.png'));
    rmSync(join(root, 'ok', 'e.png'));

    mkdirSync(join(root, 'empty'));
    writeFileSync(join(root, 'empty', 'x.txt'), '');
    await throwsData(
      () => loadImageFolder(root, { labeled: true }),
      join(root, 'empty'),
      /class folder "empty" holds no \.png\/\.jpg\/\.jpeg images/,
    );
    await throwsData(
      () => loadImageFolder(root, { labeled: true, classes: ['ok', 'ghost'] }),
      join(root, 'ghost'),
      /class folder "ghost" is missing: the classes are "ok", "ghost"/,
    );
    // A folder that is not one of the given classes is refused too (its images would be scored as another class).
    await throwsData(
      () => loadImageFolder(root, { labeled: true, classes: ['ok'], classesFrom: 'the training folder' }),
      join(root, 'empty'),
      /class folder "empty" is not one of the classes "ok" \(from the training folder\)/,
    );

    const none = join(root, 'empty');
    await throwsData(() => loadImageFolder(none, { labeled: false }), none, /no \.png\/\.jpg\/\.jpeg images found/);
    await throwsData(
      () => loadImageFolder(join(root, 'ok', 'a.png'), { labeled: false }),
      join(root, 'ok', 'a.png'),
      /does not exist or is not a folder/,
    );
    await throwsData(() => loadImageFolder(none, { labeled: true }), none, /no class sub-folders/);
  }));
