// Config problems as editor diagnostics: every *.selmix.json is checked with prepareRun (the same check the
// worker and the CLI run) when it is opened, saved or run, and each problem becomes one diagnostic on its field.
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { formatPath, locatePath } from '../core/config';
import type { SelmixConfig } from '../core/config';
import type { RunRequest } from '../protocol/messages';
import { inputPaths, prepareRun } from '../request/prepare';
import type { PreparedRun, RunIssue } from '../request/prepare';
import { configRequestOf } from './configRequest';
import {
  didYouMean,
  issueText,
  reportedByJsonSchema,
  stringValueOf,
  unknownKeyOf,
  withSuggestion,
} from './suggestions';

import { settings } from './settings';

/** True for a *.selmix.json file. */
export function isConfigUri(uri: vscode.Uri): boolean {
  return uri.path.endsWith('.selmix.json');
}

/** The output folder a config without "output" gets: <workspace folder>/<selmix.outputFolder>/<config name>. */
export function defaultOutputDir(file: string): string {
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file)) ?? vscode.workspace.workspaceFolders?.[0];
  const root = folder?.uri.fsPath ?? dirname(file);
  return join(root, settings.outputFolder, basename(file).replace(/\.selmix\.json$/, ''));
}

/** The request of a config's text as the editor holds it, with selmix.outputFolder when the file names no "output". */
export function configRequest(file: string, text: string): RunRequest {
  return configRequestOf(file, text, defaultOutputDir(file));
}

/** The fsPaths of the workspace folders. */
export function workspaceRoots(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

/** One diagnostic of one issue, on its range (lines and columns of RunIssue are 1-based, VS Code's 0-based). */
function toDiagnostic(i: RunIssue): vscode.Diagnostic {
  const range = new vscode.Range(
    i.line - 1,
    Math.max(0, i.column - 1),
    Math.max(i.line, i.endLine) - 1,
    Math.max(i.column, i.endColumn - 1),
  );
  const d = new vscode.Diagnostic(
    range,
    i.path ? `${i.path}: ${i.message}` : i.message,
    i.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
  );
  d.source = 'SelMix';
  d.code = i.source;
  return d;
}

/**
 * Input paths that do not exist among the fields that parse, for a config the schema rejected (so every problem shows
 * in one round).
 */
export function missingInputsOfDraft(text: string, file: string): RunIssue[] {
  let raw: unknown;
  try {
    raw = parseJsonc(text, [], { allowTrailingComma: true });
  } catch {
    return [];
  }
  if (typeof raw !== 'object' || raw === null) return [];
  const r = raw as { data?: unknown; model?: unknown };
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const data = obj(r.data);
  const model = obj(r.model);
  // Only string paths of the shapes inputPaths knows; anything else is the schema's to report.
  const strings = (o: Record<string, unknown> | undefined): Record<string, unknown> | undefined =>
    o &&
    Object.fromEntries(
      Object.entries(o).filter(([, v]) => typeof v === 'string' || (typeof v === 'object' && v !== null)),
    );
  const draft = { data: strings(data) ?? {}, model: strings(model) } as unknown as SelmixConfig;
  const baseDir = dirname(resolve(file));
  const out: RunIssue[] = [];
  let paths: ReturnType<typeof inputPaths> = [];
  try {
    paths = inputPaths(draft).filter((p) => typeof p.value === 'string' && p.value.length > 0);
  } catch {
    return [];
  }
  for (const { keys, value } of paths) {
    const abs = resolve(baseDir, value);
    if (!existsSync(abs))
      out.push({
        path: formatPath(keys),
        message: `file or folder not found: ${abs}`,
        severity: 'error',
        source: 'input',
        ...locatePath(text, keys),
      });
  }
  return out;
}

/** True when VS Code's JSON language (which validates *.selmix.json with the contributed schema) is present. */
function jsonLanguageActive(): boolean {
  return vscode.extensions.getExtension('vscode.json-language-features') !== undefined;
}

/** Checks *.selmix.json documents and publishes their problems. */
export class ConfigDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('selmix');
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor() {
    this.subscriptions.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.checkIfConfig(d)),
      vscode.workspace.onDidSaveTextDocument((d) => this.checkIfConfig(d)),
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (isConfigUri(d.uri)) this.collection.delete(d.uri);
      }),
    );
    for (const d of vscode.workspace.textDocuments) this.checkIfConfig(d);
  }

  private checkIfConfig(doc: vscode.TextDocument): void {
    if (doc.uri.scheme === 'file' && isConfigUri(doc.uri)) this.check(configRequest(doc.uri.fsPath, doc.getText()));
  }

  /**
   * Prepares a request and publishes one diagnostic per problem on its config file (leaving to VS Code's JSON
   * language what it reports from the same schema), with the input paths of a config the schema rejected checked
   * too. Returns the prepared run, its issues completed the same way (a message lists them all).
   */
  check(request: RunRequest): PreparedRun {
    const prepared = prepareRun(request, { workspaceRoots: workspaceRoots() });
    const extra = prepared.config ? [] : missingInputsOfDraft(request.configText, request.configPath);
    const issues = [...prepared.issues, ...extra].map((i) => ({
      ...i,
      message: withSuggestion(i.message, issueText(request.configText, i)),
    }));
    const shown = jsonLanguageActive() ? issues.filter((i) => !reportedByJsonSchema(i)) : issues;
    this.collection.set(vscode.Uri.file(request.configPath), shown.map(toDiagnostic));
    return { ...prepared, issues };
  }

  /** A path relative to the workspace, for messages. */
  static display(file: string): string {
    const root = workspaceRoots().find((r) => !relative(r, file).startsWith('..'));
    return root ? relative(root, file) : file;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.collection.dispose();
  }
}

/** Quick fixes for unknown keys: "Change "traning" to "training"" (on our diagnostics and on VS Code's JSON ones). */
export class DidYouMeanActions implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  provideCodeActions(
    doc: vscode.TextDocument,
    _range: vscode.Range,
    ctx: vscode.CodeActionContext,
  ): vscode.CodeAction[] {
    const out: vscode.CodeAction[] = [];
    for (const d of ctx.diagnostics) {
      const key = unknownKeyOf(d.message);
      const s = key ? didYouMean(key) : null;
      if (!key) {
        // An enum value: replace the field's string value by the suggested option.
        const option = d.source === 'SelMix' ? /did you mean "([^"]+)"\?$/.exec(d.message)?.[1] : undefined;
        const text = doc.getText(d.range);
        const value = option ? stringValueOf(text) : null;
        if (!option || value === null) continue;
        // The value ends just before the range's last (closing) quote.
        const end = doc.offsetAt(d.range.start) + text.trimEnd().length - 1;
        const fix = new vscode.CodeAction(`Change "${value}" to "${option}"`, vscode.CodeActionKind.QuickFix);
        fix.edit = new vscode.WorkspaceEdit();
        fix.edit.replace(doc.uri, new vscode.Range(doc.positionAt(end - value.length), doc.positionAt(end)), option);
        fix.diagnostics = [d];
        fix.isPreferred = true;
        out.push(fix);
        continue;
      }
      if (!s) continue;
      const text = doc.getText(d.range);
      const at = text.indexOf(`"${key}"`);
      if (at < 0) continue;
      const start = doc.positionAt(doc.offsetAt(d.range.start) + at + 1);
      const fix = new vscode.CodeAction(`Change "${key}" to "${s}"`, vscode.CodeActionKind.QuickFix);
      fix.edit = new vscode.WorkspaceEdit();
      fix.edit.replace(doc.uri, new vscode.Range(start, start.translate(0, key.length)), s);
      fix.diagnostics = [d];
      fix.isPreferred = true;
      out.push(fix);
    }
    return out;
  }
}
