// "Open Report": a finished run's report.json as a readable page (reportHtml.ts), written beside it as
// report.html (self-contained, to keep or share) and shown in a webview panel without scripts.
import * as vscode from 'vscode';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../data/atomicWrite';
import { readReportSnapshot } from '../run/report';
import { renderReportHtml } from './reportHtml';

/** Writes report.html beside report.json; returns its path and its HTML. */
export function writeReportHtml(reportPath: string): { path: string; html: string } {
  const json = JSON.parse(readFileSync(reportPath, 'utf8')) as Record<string, unknown>;
  const snapshot = readReportSnapshot(reportPath);
  if (!snapshot) throw new Error(`${reportPath} is not a SelMix report`);
  const log = join(dirname(reportPath), 'run.log');
  const html = renderReportHtml({ reportPath, json, snapshot, ...(existsSync(log) ? { logPath: log } : {}) });
  const path = join(dirname(reportPath), 'report.html');
  writeFileAtomic(path, html);
  return { path, html };
}

let panel: vscode.WebviewPanel | undefined;

/** Shows a run's report page (writing report.html first); returns the page's path. */
export function showReport(reportPath: string): string {
  const { path, html } = writeReportHtml(reportPath);
  if (!panel) {
    panel = vscode.window.createWebviewPanel('selmix.report', 'SelMix Report', { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      { enableScripts: false, enableCommandUris: false, localResourceRoots: [] });
    panel.onDidDispose(() => { panel = undefined; });
  }
  panel.title = `SelMix Report: ${dirname(reportPath).split(/[\\/]/).pop() ?? ''}`;
  panel.webview.html = html;
  panel.reveal(undefined, false);
  return path;
}
