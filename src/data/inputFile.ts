// The one way an input file is read: after following links it must be a regular file of a sane size, so a
// named pipe, a device (a link to /dev/zero), a socket or a folder is refused with its name instead of
// blocking for ever or filling memory.
import { readFileSync, statSync, type Stats } from 'node:fs';
import { totalmem } from 'node:os';
import { DataError } from '../core/errors';

/** The largest input file read whole: half the machine's memory, at most 8 GiB. */
export const MAX_INPUT_BYTES = Math.min(8 * 2 ** 30, Math.floor(totalmem() / 2));

/** What a path is, in words, when it is not a regular file. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Checks that path is a regular file (after links) of at most maxBytes; returns its size. Throws DataError naming it.
 */
export function checkInputFile(path: string, maxBytes = MAX_INPUT_BYTES): number {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new DataError(path, `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new DataError(path, `is ${kindOf(st)}, not a regular file; give the path of a file`);
  if (st.size > maxBytes)
    throw new DataError(path, `is ${st.size} bytes, more than the ${maxBytes} bytes an input may have`);
  return st.size;
}

/** Reads a whole input file after checkInputFile. */
export function readInputFile(path: string, maxBytes?: number): Buffer {
  checkInputFile(path, maxBytes);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new DataError(path, `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
