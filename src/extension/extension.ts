// Activation: the log, the config diagnostics, the run launcher, the commands, the dashboard panel (with its
// serializer) and the sidebar view. Every registration goes into context.subscriptions.
import './zodJitless';
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { ConfigDiagnostics, DidYouMeanActions } from './diagnostics';
import { Launcher } from './launcher';
import { Log } from './log';
import { DashboardPanel, SidebarProvider } from './views';

/** Entry point called by VS Code. */
export function activate(context: vscode.ExtensionContext): void {
  const log = new Log();
  const diagnostics = new ConfigDiagnostics();
  const launcher = new Launcher(context, log);
  const sidebar = new SidebarProvider(context.extensionUri, launcher.hub, launcher);
  context.subscriptions.push(
    log,
    diagnostics,
    launcher,
    sidebar,
    vscode.window.registerWebviewPanelSerializer(
      DashboardPanel.viewType,
      DashboardPanel.serializer(context.extensionUri, launcher.hub, launcher),
    ),
    vscode.window.registerWebviewViewProvider(SidebarProvider.viewType, sidebar),
    vscode.languages.registerCodeActionsProvider({ pattern: '**/*.selmix.json' }, new DidYouMeanActions(), {
      providedCodeActionKinds: DidYouMeanActions.kinds,
    }),
  );
  registerCommands(context, launcher, diagnostics, log);
  launcher.loadLastReportIfIdle();
  log.info(`SelMix ${String((context.extension.packageJSON as { version?: string }).version)} activated`);
}

/** Nothing to do: disposables in context.subscriptions stop the worker and close the views. */
export function deactivate(): void {}
