// Named errors. Each says whose fault a failure is, so the CLI can map it to an exit code and the
// extension can put it in the right place (a diagnostic in the config file, or an error message).

/** One problem in a config file: a JSON path, a message, and the 1-based line/column when known. */
export interface ConfigIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** The config file is not valid JSON or does not match the schema. Carries every problem found. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly file: string, readonly issues: ConfigIssue[]) {
    super(`${file}: invalid config\n` + issues.map((i) => `  ${i.line !== undefined ? `line ${i.line}${i.column !== undefined ? `:${i.column}` : ''}: ` : ''}${i.path || '(root)'}: ${i.message}`).join('\n'));
  }
}

/** A data or model file cannot be read or does not fit (names the file and, when known, the field). */
export class DataError extends Error {
  override readonly name = 'DataError';
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
  }
}

/** Training could not go on (divergence, a failed write, an internal inconsistency). */
export class TrainingError extends Error {
  override readonly name = 'TrainingError';
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
  constructor(message: string, readonly source: string, readonly column: number, public path?: string) {
    super(message);
  }
}
