// Reading a config file from disk for a request: a regular file (after links) of a sane size, so a FIFO,
// a device or a huge file is refused with its name instead of blocking or filling memory.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../core/errors';
import type { RunRequest } from '../protocol/messages';

/** The largest config file read (a config is a few kilobytes; anything larger is not one). */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Reads a config file's text; ConfigError names the file when it is missing, not a regular file, or too large. */
export function readConfigText(path: string): string {
  const fail = (message: string) => new ConfigError(path, [{ path: '', message }]);
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw fail(`cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile())
    throw fail(
      `not a regular file (${st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a named pipe' : 'a device or socket'}); give the path of a *.selmix.json file`,
    );
  if (st.size > MAX_CONFIG_BYTES)
    throw fail(`the file is ${st.size} bytes; a config is at most ${MAX_CONFIG_BYTES} bytes`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw fail(`cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The request of a config file on disk. */
export function requestFromFile(path: string, rest: Omit<RunRequest, 'configText' | 'configPath'> = {}): RunRequest {
  const abs = resolve(path);
  return { configText: readConfigText(abs), configPath: abs, ...rest };
}
