// Everything the extension checks in a `*.selmix.json` before a run may start, as a pure function of the
// text (plus a file-exists probe): schema problems from parseConfig, referenced input files that do not
// exist, and an output folder outside the workspace. Each issue carries a 1-based line/column range so the
// host can show it as a diagnostic on the right field.
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import type { Node as JsonNode } from 'jsonc-parser';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { lineColumn, parseConfig } from '../core/config';
import type { SelmixConfig } from '../core/config';
import { ConfigError } from '../core/errors';

/** One problem found in a config file. Lines and columns are 1-based. */
export interface CheckIssue {
  path: string;
  message: string;
  severity: 'error' | 'warning';
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** What kind of check found it. */
  source: 'schema' | 'input' | 'output';
}

/** The outcome of checking a config file. */
export interface ConfigCheck {
  /** The validated config (defaults filled in), or null when the schema rejected it. */
  config: SelmixConfig | null;
  /** The parsed JSON object as written (what the worker receives), or null when it is not valid JSON. */
  raw: Record<string, unknown> | null;
  issues: CheckIssue[];
  /** Absolute output folder, once the config is valid. */
  outputDir: string | null;
  /** True when outputDir is not inside any workspace folder (the user must confirm). */
  outputOutsideWorkspace: boolean;
}

/** Options of checkConfigText. */
export interface CheckOptions {
  /** Absolute paths of the workspace folders; the output must stay inside one of them. */
  workspaceRoots: string[];
  /** Output folder (absolute) to use when the config has no "output" (from selmix.outputFolder). */
  defaultOutputDir?: string;
  /** File-exists probe (injectable for tests). */
  exists?: (absPath: string) => boolean;
}

/** True when child is root or inside it. */
export function isInside(root: string, child: string): boolean {
  const rel = relative(resolve(root), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** JSON paths of the input files a config refers to (the demo model is trained when missing, so it is not listed). */
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

/** The range of the value at keys (or of the deepest existing ancestor). */
function rangeOf(text: string, tree: JsonNode | undefined, keys: (string | number)[]): Pick<CheckIssue, 'line' | 'column' | 'endLine' | 'endColumn'> {
  for (let n = keys.length; n >= 0 && tree; n--) {
    const node = findNodeAtLocation(tree, keys.slice(0, n));
    if (node) {
      const start = lineColumn(text, node.offset);
      const end = lineColumn(text, node.offset + node.length);
      return { line: start.line, column: start.column, endLine: end.line, endColumn: end.column };
    }
  }
  return { line: 1, column: 1, endLine: 1, endColumn: 1 };
}

/** Checks config text: schema, referenced inputs, output folder. Never throws for a bad config. */
export function checkConfigText(text: string, file: string, opts: CheckOptions): ConfigCheck {
  const exists = opts.exists ?? existsSync;
  const tree = parseTree(text, [], { allowTrailingComma: false, disallowComments: true });
  let config: SelmixConfig;
  try {
    config = parseConfig(text, file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const issues = e.issues.map((i): CheckIssue => {
      const line = i.line ?? 1;
      const column = i.column ?? 1;
      // Widen the squiggle to the key or value the issue points at.
      const endColumn = column + tokenLength(text, line, column);
      return { path: i.path, message: i.message, severity: 'error', line, column, endLine: line, endColumn, source: 'schema' };
    });
    let raw: Record<string, unknown> | null = null;
    try {
      const v: unknown = JSON.parse(text);
      raw = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    } catch {
      raw = null;
    }
    return { config: null, raw, issues, outputDir: null, outputOutsideWorkspace: false };
  }
  const raw = JSON.parse(text) as Record<string, unknown>;
  const base = dirname(file);
  const issues: CheckIssue[] = [];
  for (const { keys, value } of inputPaths(config)) {
    const abs = resolve(base, value);
    if (!exists(abs)) {
      issues.push({ path: keys.join('.'), message: `file not found: ${value} (looked for ${abs})`, severity: 'error', source: 'input', ...rangeOf(text, tree, keys) });
    }
  }
  const hasOutput = typeof raw.output === 'string';
  const outputDir = hasOutput || opts.defaultOutputDir === undefined ? resolve(base, config.output) : resolve(opts.defaultOutputDir);
  const outside = opts.workspaceRoots.length > 0 && !opts.workspaceRoots.some((r) => isInside(r, outputDir));
  if (outside) {
    issues.push({
      path: 'output', severity: 'warning', source: 'output', ...rangeOf(text, tree, hasOutput ? ['output'] : []),
      message: `the output folder ${outputDir} is outside the workspace; a run asks before writing there`,
    });
  }
  return { config, raw, issues, outputDir, outputOutsideWorkspace: outside };
}

/** Length of the JSON token (a string with its quotes, or a bare word) starting at a 1-based line/column. */
function tokenLength(text: string, line: number, column: number): number {
  const lineText = text.split('\n')[line - 1] ?? '';
  const rest = lineText.slice(column - 1);
  const m = /^"(?:[^"\\]|\\.)*"|^[^\s,:{}[\]]+/.exec(rest);
  return m ? m[0].length : 1;
}
