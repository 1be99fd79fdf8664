// report.html and run.log beside a run's report.json, written the same way by the CLI and the extension.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../data/atomicWrite';
import { renderReportHtml } from './reportHtml';
import { readReportSnapshot } from './report';

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

/** Writes a run's log lines to run.log in its output folder; returns the path. */
export function writeRunLog(outputDir: string, lines: readonly string[]): string {
  const path = join(outputDir, 'run.log');
  writeFileAtomic(path, lines.map((l) => l + '\n').join(''));
  return path;
}
