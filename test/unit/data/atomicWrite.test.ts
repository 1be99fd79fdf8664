import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '../../../src/core/errors';
import { assertNotInput, writeFileAtomic } from '../../../src/data/atomicWrite';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-atomic-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('writeFileAtomic writes and replaces text and bytes, leaving no temp files', () =>
  withDir((dir) => {
    const p = join(dir, 'out.json');
    writeFileAtomic(p, '{"a":1}');
    assert.equal(readFileSync(p, 'utf8'), '{"a":1}');
    writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
    assert.deepEqual(readdirSync(dir), ['out.json']);
  }));

test('a failed write throws an Error naming the path, keeps the old target and removes the temp file', () =>
  withDir((dir) => {
    const missing = join(dir, 'no', 'such', 'folder', 'x.bin');
    assert.throws(
      () => writeFileAtomic(missing, 'x'),
      (e: unknown) => e instanceof Error && e.message.startsWith(missing + ': could not write file'),
    );
    // Renaming a file onto a non-empty folder fails after the temp was written: the temp must go, the folder stay.
    const target = join(dir, 'target');
    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'keep');
    assert.throws(
      () => writeFileAtomic(target, 'new data'),
      (e: unknown) => e instanceof Error && e.message.includes(target),
    );
    assert.deepEqual(readdirSync(dir), ['target']);
    assert.equal(readFileSync(join(target, 'keep.txt'), 'utf8'), 'keep');
  }));

test('assertNotInput rejects the same file by path, by relative path and through a symlink', () =>
  withDir((dir) => {
    const input = join(dir, 'data.npy');
    writeFileSync(input, 'x');
    const link = join(dir, 'link.npy');
    symlinkSync(input, link);
    const linkDir = join(dir, 'linkdir');
    symlinkSync(dir, linkDir);
    assert.throws(
      () => assertNotInput(input, [join(dir, 'other.npy'), input]),
      (e: unknown) => e instanceof DataError && e.file === input && /overwrite the input file/.test(e.message),
    );
    assert.throws(() => assertNotInput(join(dir, '.', 'sub', '..', 'data.npy'), [input]), DataError);
    assert.throws(() => assertNotInput(link, [input]), DataError);
    assert.throws(() => assertNotInput(input, [link]), DataError);
    assert.throws(() => assertNotInput(join(linkDir, 'data.npy'), [input]), DataError);
    // A distinct or not-yet-existing output is fine.
    assertNotInput(join(dir, 'out.npy'), [input, link]);
    assertNotInput(join(linkDir, 'new.npy'), [input]);
    assertNotInput(input, []);
  }));

test('writeFileAtomic from chunks writes them one after the other, views of larger buffers included', () => {
  withDir((dir) => {
    const big = Uint8Array.from({ length: 40 }, (_, i) => i);
    const p = join(dir, 'chunks.bin');
    writeFileAtomic(p, [
      big.subarray(3, 9),
      new Uint8Array(0),
      new Uint8Array(new Float64Array([1.5]).buffer),
      big.subarray(30),
    ]);
    const want = Buffer.concat([big.subarray(3, 9), new Uint8Array(new Float64Array([1.5]).buffer), big.subarray(30)]);
    assert.deepEqual(readFileSync(p), want);
    assert.deepEqual(readdirSync(dir), ['chunks.bin']);
  });
});
