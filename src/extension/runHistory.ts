// The workspace's past runs, from their report.json files (the run history of the dashboard), the curves of
// the runs a user compares, and saving a chart (PNG) or its data (CSV) where the user says.
import * as vscode from 'vscode';
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { RunCurve, RunListing } from '../protocol/messages';
import { reportCurve, reportListing } from '../report/report';
import { workspaceRoots } from './diagnostics';

/** At most this many reports are listed (the newest). */
const MAX_RUNS = 100;

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

/** Every SelMix report.json in the workspace, newest first. */
export async function listRuns(): Promise<RunListing[]> {
  const found = await vscode.workspace.findFiles('**/report.json', '**/node_modules/**', 2000);
  const runs: RunListing[] = [];
  for (const uri of found) {
    if (uri.scheme !== 'file') continue;
    let mtime: Date;
    try {
      mtime = statSync(uri.fsPath).mtime;
    } catch {
      continue;
    }
    const r = reportListing(uri.fsPath, readJson(uri.fsPath), mtime.toISOString());
    if (r) runs.push(r);
  }
  // Ties (reports written in the same millisecond) in a fixed order, so the list does not reorder between two looks.
  return runs
    .sort(
      (a, b) =>
        b.writtenAt.localeCompare(a.writtenAt) ||
        Number(a.archived ?? false) - Number(b.archived ?? false) ||
        a.reportPath.localeCompare(b.reportPath),
    )
    .slice(0, MAX_RUNS);
}

/**
 * The objective curves of the asked reports, only those among the listed runs (a webview cannot make the host read
 * other files).
 */
export function runCurves(asked: string[], listed: RunListing[]): RunCurve[] {
  const known = new Set(listed.map((r) => r.reportPath));
  return asked
    .filter((p) => known.has(p))
    .map((p) => reportCurve(p, readJson(p)))
    .filter((c): c is RunCurve => c !== null);
}

/** Asks where to save an exported chart or its data, and writes it. */
export async function saveExport(format: 'png' | 'csv', name: string, data: string): Promise<string | null> {
  const root = workspaceRoots()[0];
  const file = `${name.replace(/[^\w.-]+/g, '-')}.${format}`;
  const target = await vscode.window.showSaveDialog({
    title: format === 'png' ? 'Save the chart as PNG' : 'Save the chart data as CSV',
    defaultUri: root ? vscode.Uri.joinPath(vscode.Uri.file(root), file) : undefined,
    filters: format === 'png' ? { 'PNG image': ['png'] } : { CSV: ['csv'] },
  });
  if (!target) return null;
  const bytes = format === 'png' ? Buffer.from(data.slice(data.indexOf(',') + 1), 'base64') : data;
  await writeFile(target.fsPath, bytes);
  return target.fsPath;
}
