// prepareRun: a run request's config text -> the typed config with its overrides, and every problem with its
// line in the user's own file (schema, overrides, input paths, the output folder), all in one pass. The CLI,
// the worker and the extension's diagnostics all call it, so a problem reads the same on every surface.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parseTree } from 'jsonc-parser';
import { formatPath, locatePath, parseConfig, pathKeys, type SelmixConfig, type TextRange } from '../core/config';
import { ConfigError, type ConfigIssue } from '../core/errors';
import { applyOverrides, overrideProblems, type RunRequest } from './request';

/** One problem found in a request. Lines and columns are 1-based, in the config file's own text. */
export interface RunIssue extends TextRange {
  path: string;
  message: string;
  severity: 'error' | 'warning';
  /** What kind of check found it. */
  source: 'schema' | 'overrides' | 'input' | 'output';
}

/** A prepared request: the config (null when the schema rejected it) and every issue found. */
export interface PreparedRun {
  request: RunRequest;
  config: SelmixConfig | null;
  issues: RunIssue[];
  /** The folder relative paths in the config are relative to. */
  baseDir: string;
  /** Absolute output folder, once the config is valid. */
  outputDir: string | null;
  /** True when outputDir is not inside any of the workspace roots given (the extension asks first). */
  outputOutsideWorkspace: boolean;
  /**
   * True when outputDir is not inside the folder of the config file (e.g. output "../../x"): allowed, and said in the
   * run's first lines and its report. Flag-only runs have no config file.
   */
  outputOutsideConfigFolder?: boolean;
}

/** Options of prepareRun. */
export interface PrepareOptions {
  /** Absolute paths of the workspace folders; an output outside all of them is a warning. */
  workspaceRoots?: string[];
  /** File-exists probe (injectable for tests). */
  exists?: (absPath: string) => boolean;
}

/** True when child is root or inside it. */
export function isInside(root: string, child: string): boolean {
  const rel = relative(resolve(root), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Every input path a config names, with its JSON path (the demo model is trained when missing, so it is not one). */
export function inputPaths(c: SelmixConfig): { keys: (string | number)[]; value: string }[] {
  const out: { keys: (string | number)[]; value: string }[] = [];
  const add = (keys: (string | number)[], value: string | undefined): void => {
    if (value !== undefined) out.push({ keys, value });
  };
  const d = c.data;
  if (d.kind === 'npy') {
    for (const split of ['train', 'val', 'unlabeled', 'test'] as const) {
      const s = d[split];
      if (!s) continue;
      add(['data', split, 'features'], s.features);
      add(['data', split, 'labels'], s.labels);
    }
  } else if (d.kind === 'images') {
    for (const split of ['train', 'val', 'unlabeled', 'test'] as const) add(['data', split], d[split]);
  }
  const m = c.model;
  if (m?.kind === 'linear') {
    add(['model', 'weights'], m.weights);
    add(['model', 'bias'], m.bias);
  } else if (m?.kind === 'tfjs') {
    add(['model', 'path'], m.path);
  }
  return out;
}

/** The text without a UTF-8 byte-order mark (editors on Windows may save one; it is not the user's mistake). */
function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Prepares a request: parses, validates, applies overrides and checks input paths and the output folder. Never throws
 * for bad input.
 */
export function prepareRun(request: RunRequest, opts: PrepareOptions = {}): PreparedRun {
  const exists = opts.exists ?? existsSync;
  const text = stripBom(request.configText);
  const file = request.configPath;
  const baseDir = dirname(resolve(file));
  const none = { request, config: null, baseDir, outputDir: null, outputOutsideWorkspace: false };
  let parsed: SelmixConfig;
  try {
    parsed = parseConfig(text, file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // Schema problems and override problems together, so the user sees everything at once.
    return { ...none, issues: [...e.issues.map((i) => issueOf(i, 'schema')), ...overrideIssues(request)] };
  }
  const bad = overrideIssues(request);
  if (bad.length) return { ...none, issues: bad };
  // Parsed only now: parseConfig has refused text too deep or too large for the recursive JSON parser.
  const tree = parseTree(text, [], { disallowComments: true });
  const config = applyOverrides(parsed, request.overrides as Parameters<typeof applyOverrides>[1]);
  const issues: RunIssue[] = [];
  for (const { keys, value } of inputPaths(config)) {
    const abs = resolve(baseDir, value);
    if (!exists(abs))
      issues.push({
        path: formatPath(keys),
        message: `file or folder not found: ${abs}`,
        severity: 'error',
        source: 'input',
        ...locatePath(text, keys, tree),
      });
  }
  // The Mean Teacher labels the unlabeled set: without one, or with its true labels, the setting does nothing.
  const sm = config.selmix;
  if (sm.teacher === 'ema' && (config.data.unlabeled === undefined || sm.partnerLabels === 'oracle')) {
    issues.push({
      path: 'selmix.teacher',
      severity: 'warning',
      source: 'schema',
      ...locatePath(text, ['selmix', 'teacher'], tree),
      message:
        config.data.unlabeled === undefined
          ? '"ema" has no effect: the Mean Teacher labels an unlabeled set, and this config has none (data.unlabeled)'
          : '"ema" has no effect with selmix.partnerLabels "oracle": the unlabeled set keeps its true labels',
    });
  }
  const outputDir = resolve(baseDir, config.output);
  const roots = opts.workspaceRoots ?? [];
  const outside = roots.length > 0 && !roots.some((r) => isInside(r, outputDir));
  if (outside) {
    issues.push({
      path: 'output',
      severity: 'warning',
      source: 'output',
      ...locatePath(text, request.overrides?.output !== undefined ? [] : ['output'], tree),
      message: `the output folder ${outputDir} is outside the workspace; a run asks before writing there`,
    });
  }
  return {
    request,
    config,
    issues,
    baseDir,
    outputDir,
    outputOutsideWorkspace: outside,
    outputOutsideConfigFolder: exists(resolve(file)) && !isInside(baseDir, outputDir),
  };
}

/** The config of a prepared request, or the ConfigError listing its errors (warnings do not stop a run). */
export function preparedConfig(p: PreparedRun): SelmixConfig {
  const errors = p.issues.filter((i) => i.severity === 'error');
  if (errors.length || !p.config)
    throw new ConfigError(
      p.request.configPath,
      errors.map(({ path, message, line, column, endLine, endColumn }) => ({
        path,
        message,
        line,
        column,
        endLine,
        endColumn,
      })),
    );
  return p.config;
}

/** A ConfigError for a problem found after preparation (e.g. a custom objective that does not fit K), at its line. */
export function configErrorAt(p: PreparedRun, path: string, message: string): ConfigError {
  const text = stripBom(p.request.configText);
  return new ConfigError(p.request.configPath, [{ path, message, ...locatePath(text, pathKeys(path)) }]);
}

function overrideIssues(request: RunRequest): RunIssue[] {
  return overrideProblems(request.overrides).map((message) => ({
    path: 'overrides',
    message,
    severity: 'error',
    source: 'overrides',
    line: 1,
    column: 1,
    endLine: 1,
    endColumn: 1,
  }));
}

function issueOf(i: ConfigIssue, source: RunIssue['source']): RunIssue {
  const line = i.line ?? 1;
  const column = i.column ?? 1;
  return {
    path: i.path,
    message: i.message,
    severity: 'error',
    source,
    line,
    column,
    endLine: i.endLine ?? line,
    endColumn: i.endColumn ?? column + 1,
  };
}
