// Atomic file writes: a crash or a full disk never leaves a half-written target behind.
import { closeSync, existsSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { DataError, TrainingError } from '../core/errors';

let counter = 0;

/**
 * What a file is written from: bytes, text (UTF-8), or chunks of bytes written one after the other (no concatenated
 * copy).
 */
export type FileData = Uint8Array | string | readonly Uint8Array[];

/** Writes bytes to a fresh temp file beside path and fsyncs it; returns the temp path. Removes it on failure. */
function stage(path: string, data: FileData): string {
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  // Same folder as the target, so the rename stays on one file system and is atomic.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    for (const bytes of chunks) {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    return tmp;
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        /* already failing; the original error is the one to report */
      }
    }
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* best effort */
    }
    throw writeError(path, e);
  }
}

/** A failed output write is a failed run (TrainingError), not a bug: it names the path and keeps the cause. */
function writeError(path: string, e: unknown): TrainingError {
  return new TrainingError(`${path}: could not write file: ${(e as Error).message}`, { cause: e });
}

/** Writes data to path via a temp file in the same folder, fsync and rename; throws an Error naming path on failure. */
export function writeFileAtomic(path: string, data: FileData): void {
  writeFilesAtomic([{ path, data }]);
}

/**
 * Writes several files that belong together (a head's W.npy, b.npy and its report): every one is staged to a
 * temp file first, and only when all are on disk are they renamed into place, so a full disk or any other
 * write failure leaves the previous set untouched. Throws an Error naming the path that failed.
 */
export function writeFilesAtomic(files: { path: string; data: FileData }[]): void {
  const staged: string[] = [];
  try {
    for (const f of files) staged.push(stage(f.path, f.data));
  } catch (e) {
    for (const tmp of staged) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        /* best effort */
      }
    }
    throw e;
  }
  staged.forEach((tmp, i) => {
    try {
      renameSync(tmp, files[i]!.path);
    } catch (e) {
      for (const t of staged.slice(i)) {
        try {
          rmSync(t, { force: true });
        } catch {
          /* best effort */
        }
      }
      throw writeError(files[i]!.path, e);
    }
  });
}

function canonical(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs)) {
    try {
      return realpathSync(abs);
    } catch {
      return abs;
    }
  }
  // The output may not exist yet, but its folder may be a symlink to an input's folder.
  const dir = dirname(abs);
  if (existsSync(dir)) {
    try {
      return join(realpathSync(dir), basename(abs));
    } catch {
      return abs;
    }
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

/**
 * Throws DataError when an input resolves (through symlinks) to a path inside outFolder, a folder the run writes whole.
 */
export function assertNoInputInside(outFolder: string, inputs: string[]): void {
  const out = canonical(outFolder);
  for (const input of inputs) {
    const rel = relative(out, canonical(input));
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      throw new DataError(
        input,
        `output would overwrite the input file: it is inside ${outFolder}, a folder the run writes (and clears) as an output; move the input or choose another output folder`,
      );
    }
  }
}
