// The workspace's *.selmix.json files, searched once when the extension activates and kept current by a file
// watcher, so "SelMix: Fine-tune" with no config in the active editor does not wait for a workspace search (a
// second on a busy machine) before the views switch to the run.
import * as vscode from 'vscode';

const GLOB = '**/*.selmix.json';
const EXCLUDE = '**/node_modules/**';

/** Every config file of the workspace (fs paths), as of the last search plus the watcher's creations and deletions. */
export class ConfigIndex implements vscode.Disposable {
  private files: Promise<Set<string>>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.files = ConfigIndex.search();
    const watcher = vscode.workspace.createFileSystemWatcher(GLOB);
    const outside = (u: vscode.Uri): boolean => u.scheme !== 'file' || /[\\/]node_modules[\\/]/.test(u.fsPath);
    this.disposables.push(
      watcher,
      watcher.onDidCreate((u) => void (outside(u) || this.files.then((s) => s.add(u.fsPath)))),
      watcher.onDidDelete((u) => void this.files.then((s) => s.delete(u.fsPath))),
      vscode.workspace.onDidChangeWorkspaceFolders(() => (this.files = ConfigIndex.search())),
    );
  }

  private static async search(): Promise<Set<string>> {
    try {
      const found = await vscode.workspace.findFiles(GLOB, EXCLUDE, 200);
      return new Set(found.filter((u) => u.scheme === 'file').map((u) => u.fsPath));
    } catch {
      return new Set();
    }
  }

  /** The config files, sorted by path. */
  async list(): Promise<vscode.Uri[]> {
    return [...(await this.files)].sort((a, b) => a.localeCompare(b)).map((p) => vscode.Uri.file(p));
  }

  /** Searches the workspace again (the index may have missed a change) and returns the config files. */
  async refresh(): Promise<vscode.Uri[]> {
    this.files = ConfigIndex.search();
    return this.list();
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
