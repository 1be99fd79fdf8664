// "Open Report": a finished run's report.json as a readable page (src/report/reportHtml.ts), written beside it as
// report.html (self-contained, to keep or share) and shown in a webview panel without scripts.
import * as vscode from 'vscode';
import { dirname } from 'node:path';
import { writeReportHtml } from '../report/reportPage';

let panel: vscode.WebviewPanel | undefined;

/** Shows a run's report page (writing report.html first); returns the page's path. */
export function showReport(reportPath: string): string {
  const { path, html } = writeReportHtml(reportPath);
  if (!panel) {
    panel = vscode.window.createWebviewPanel(
      'selmix.report',
      'SelMix Report',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      { enableScripts: false, enableCommandUris: false, localResourceRoots: [] },
    );
    panel.onDidDispose(() => {
      panel = undefined;
    });
  }
  panel.title = `SelMix Report: ${dirname(reportPath).split(/[\\/]/).pop() ?? ''}`;
  panel.webview.html = html;
  panel.reveal(undefined, false);
  return path;
}
