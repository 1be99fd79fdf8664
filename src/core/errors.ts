// Every named error, each with its failure kind and exit code beside it: the worker posts the kind in
// run/failed, the CLI exits with the code, the extension puts a config problem in the file as a diagnostic.

import type { FailureKind } from '../protocol/messages';

export type { FailureKind };

/** Exit codes of the CLI (README "Exit codes"): 0 ok, 1 the run failed, 2 bad input. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

/** The exit code of a failure kind. */
export function exitCodeOf(kind: FailureKind): number {
  return kind === 'training' || kind === 'internal' ? EXIT.failed : EXIT.badInput;
}

/** One problem in a config file: a JSON path, a message, and the 1-based line/column when known. */
export interface ConfigIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
}

/** The config file is not valid JSON or does not match the schema. Carries every problem found. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `${file}: invalid config\n` +
        issues
          .map(
            (i) =>
              `  ${i.line !== undefined ? `line ${i.line}${i.column !== undefined ? `:${i.column}` : ''}: ` : ''}${i.path || '(root)'}: ${i.message}`,
          )
          .join('\n'),
    );
  }
}

/** A data or model file cannot be read or does not fit (names the file and, when known, the field). */
export class DataError extends Error {
  override readonly name = 'DataError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** Training could not go on (divergence, a failed write, an internal inconsistency). */
export class TrainingError extends Error {
  override readonly name = 'TrainingError';
}

/** A command line that cannot be run (unknown command, missing or malformed flag). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Why a LayersModel cannot be used, naming the layer (the loader adds the file: a DataError). */
export class ModelShapeError extends Error {
  override readonly name = 'ModelShapeError';
}

/** The output folder cannot be used (where it is, what holds it); the run layer reports it at the config's "output". */
export class OutputFolderError extends Error {
  override readonly name = 'OutputFolderError';
}

/** Thrown when the user asked the run to stop; not a failure. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
}

/**
 * A custom objective or constraint expression cannot be parsed or compiled. `column` is 1-based in
 * `source`; `path` is the config field it came from (e.g. customObjective.expression) when known.
 */
export class ExprError extends Error {
  override readonly name = 'ExprError';
  constructor(
    message: string,
    readonly source: string,
    readonly column: number,
    public path?: string,
  ) {
    super(message);
  }
}

/**
 * Error codes of a failed file operation that are the machine's, not the program's: a full disk, a quota, an I/O error.
 */
const IO_FAILURES: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exceeded',
  EIO: 'an I/O error',
  EFBIG: 'the file is too large for the file system',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
};

/**
 * A file operation that failed for a reason of the machine (a full disk, ...) as a TrainingError naming the path and
 * the reason (exit 1: the run failed, the input was fine); null for anything else.
 */
export function ioFailureOf(e: unknown): TrainingError | null {
  if (!(e instanceof Error)) return null;
  const { code, path, syscall } = e as Error & { code?: unknown; path?: unknown; syscall?: unknown };
  if (typeof code !== 'string' || !(code in IO_FAILURES)) return null;
  return new TrainingError(
    `${typeof path === 'string' ? path : 'a file'}: ${typeof syscall === 'string' ? `${syscall} failed` : 'could not write'}: ${code} (${IO_FAILURES[code]})`,
    { cause: e },
  );
}

/** The failure kind of anything thrown: named errors by class, everything else is internal (a bug). */
export function failureKindOf(e: unknown): FailureKind {
  if (e instanceof UsageError) return 'usage';
  if (e instanceof ConfigError || e instanceof ExprError || e instanceof OutputFolderError) return 'config';
  if (e instanceof DataError || e instanceof ModelShapeError) return 'data';
  if (e instanceof TrainingError) return 'training';
  return 'internal';
}
