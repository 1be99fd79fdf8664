// Config problems as editor diagnostics: every *.selmix.json is checked when it is opened, saved or run,
// and each problem lands on its field in the Problems panel.
import * as vscode from 'vscode';
import { dirname, join, relative, basename } from 'node:path';
import { checkConfigText } from './configCheck';
import type { CheckIssue, ConfigCheck } from './configCheck';
import { settings } from './settings';

/** True for a *.selmix.json file. */
export function isConfigUri(uri: vscode.Uri): boolean {
  return uri.path.endsWith('.selmix.json');
}

/** The output folder a config without "output" gets: <workspace folder>/<selmix.outputFolder>/<config name>. */
export function defaultOutputDir(file: string): string | undefined {
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file)) ?? vscode.workspace.workspaceFolders?.[0];
  const root = folder?.uri.fsPath ?? dirname(file);
  return join(root, settings.outputFolder, basename(file).replace(/\.selmix\.json$/, ''));
}

/** The fsPaths of the workspace folders. */
export function workspaceRoots(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

function toDiagnostic(i: CheckIssue): vscode.Diagnostic {
  const range = new vscode.Range(i.line - 1, Math.max(0, i.column - 1), i.endLine - 1, Math.max(i.column, i.endColumn - 1));
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
    if (doc.uri.scheme === 'file' && isConfigUri(doc.uri)) this.check(doc.uri.fsPath, doc.getText());
  }

  /** Checks config text, publishes its diagnostics and returns the result. */
  check(file: string, text: string): ConfigCheck {
    const out = defaultOutputDir(file);
    const result = checkConfigText(text, file, { workspaceRoots: workspaceRoots(), ...(out === undefined ? {} : { defaultOutputDir: out }) });
    this.collection.set(vscode.Uri.file(file), result.issues.map(toDiagnostic));
    return result;
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
