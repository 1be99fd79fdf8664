// Typed access to the selmix.* preferences (contributes.configuration in package.json).
import * as vscode from 'vscode';
import { BACKEND_CHOICES, type BackendChoice } from '../protocol/messages';

/** The extension's preferences, read fresh on every access. */
export const settings = {
  /** selmix.backend: the tensor backend the worker asks for. */
  get backend(): BackendChoice {
    const v = vscode.workspace.getConfiguration('selmix').get<string>('backend', 'auto');
    return (BACKEND_CHOICES as readonly string[]).includes(v) ? (v as BackendChoice) : 'auto';
  },
  /** selmix.dashboard.updatesPerSecond: the views' update rate limit. */
  get updatesPerSecond(): number {
    const v = vscode.workspace.getConfiguration('selmix').get<number>('dashboard.updatesPerSecond', 10);
    return Number.isFinite(v) && v > 0 ? Math.min(v, 60) : 10;
  },
  /** selmix.outputFolder: output root (workspace-relative) for configs without "output". */
  get outputFolder(): string {
    return vscode.workspace.getConfiguration('selmix').get<string>('outputFolder', 'selmix-out').trim() || 'selmix-out';
  },
};

/** True when a configuration change touches a selmix.* preference. */
export function affectsSettings(e: vscode.ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration('selmix');
}
