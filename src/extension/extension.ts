// Activation: registers the commands, the config diagnostics, the dashboard panel (with its serializer)
// and the sidebar view. Every registration goes into context.subscriptions.
import * as vscode from 'vscode';
import { ConfigDiagnostics } from './diagnostics';
import { describeError, Log } from './log';
import { RunController } from './runController';
import { DashboardPanel, SidebarProvider } from './views';

/** Runs a command body, turning any exception into an error message with "Show Log". */
function guarded(log: Log, name: string, fn: (...args: unknown[]) => unknown): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      const d = describeError(e);
      await log.error(`SelMix: ${name} failed: ${d.message}`, d.stack);
    }
  };
}

/** Entry point called by VS Code. */
export function activate(context: vscode.ExtensionContext): void {
  const log = new Log();
  const diagnostics = new ConfigDiagnostics();
  const controller = new RunController(context, diagnostics, log);
  const sidebar = new SidebarProvider(context.extensionUri, controller.hub, controller);
  context.subscriptions.push(
    log, diagnostics, controller, sidebar,
    vscode.commands.registerCommand('selmix.fineTune', guarded(log, 'Fine-tune', (uri) => controller.fineTune(uri as vscode.Uri | undefined))),
    vscode.commands.registerCommand('selmix.sweep', guarded(log, 'Temperature Sweep', (uri) => controller.temperatureSweep(uri as vscode.Uri | undefined))),
    vscode.commands.registerCommand('selmix.stop', guarded(log, 'Stop', () => controller.stop())),
    vscode.commands.registerCommand('selmix.openDashboard', guarded(log, 'Open Dashboard', () => controller.openDashboard())),
    vscode.commands.registerCommand('selmix.newConfig', guarded(log, 'New Config File', () => controller.newConfig())),
    vscode.commands.registerCommand('selmix.runDemo', guarded(log, 'Run Demo', () => controller.runDemo())),
    vscode.window.registerWebviewPanelSerializer(DashboardPanel.viewType, DashboardPanel.serializer(context.extensionUri, controller.hub, controller)),
    vscode.window.registerWebviewViewProvider(SidebarProvider.viewType, sidebar),
  );
  void controller.loadLastReportIfIdle();
  log.info(`SelMix ${String((context.extension.packageJSON as { version?: string }).version)} activated`);
}

/** Nothing to do: disposables in context.subscriptions stop the worker and close the views. */
export function deactivate(): void {}
