// Atomic file writes: a crash or a full disk never leaves a half-written target behind.
import { closeSync, existsSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DataError } from '../core/errors';

let counter = 0;

/** Writes data to path via a temp file in the same folder, fsync and rename; throws an Error naming path on failure. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  // Same folder as the target, so the rename stays on one file system and is atomic.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try { closeSync(fd); } catch { /* already failing; the original error is the one to report */ }
    }
    try { rmSync(tmp, { force: true }); } catch { /* best effort */ }
    throw new Error(`${path}: could not write file: ${(e as Error).message}`, { cause: e });
  }
}

function canonical(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs)) {
    try { return realpathSync(abs); } catch { return abs; }
  }
  // The output may not exist yet, but its folder may be a symlink to an input's folder.
  const dir = dirname(abs);
  if (existsSync(dir)) {
    try { return join(realpathSync(dir), basename(abs)); } catch { return abs; }
  }
  return abs;
}

/** Throws DataError when outPath resolves (through symlinks when it exists) to one of the input files. */
export function assertNotInput(outPath: string, inputs: string[]): void {
  const out = canonical(outPath);
  for (const input of inputs) {
    if (canonical(input) === out) {
      throw new DataError(outPath, `output would overwrite the input file ${input}; choose another output path`);
    }
  }
}
