// Config problems as editor diagnostics: every *.selmix.json is checked with prepareRun (the same check the
// worker and the CLI run) when it is opened, saved or run, and each problem becomes one diagnostic on its field.
import * as vscode from 'vscode';
import { basename, dirname, join, relative } from 'node:path';
import type { RunRequest } from '../protocol/messages';
import { prepareRun } from '../run/prepare';
import type { PreparedRun, RunIssue } from '../run/prepare';
import { configRequestOf } from './configRequest';
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
  const range = new vscode.Range(i.line - 1, Math.max(0, i.column - 1), Math.max(i.line, i.endLine) - 1, Math.max(i.column, i.endColumn - 1));
  const d = new vscode.Diagnostic(range, i.path ? `${i.path}: ${i.message}` : i.message,
    i.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
  d.source = 'SelMix';
  d.code = i.source;
  return d;
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

  /** Prepares a request, publishes one diagnostic per issue on its config file, and returns the prepared run. */
  check(request: RunRequest): PreparedRun {
    const prepared = prepareRun(request, { workspaceRoots: workspaceRoots() });
    this.collection.set(vscode.Uri.file(request.configPath), prepared.issues.map(toDiagnostic));
    return prepared;
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
