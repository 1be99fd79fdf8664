// The history of an output folder: when a run writes its report where an earlier run left one, the earlier run's
// report and the files that go with it (report.html, its .npy matrices) are first copied to
// <output>/.selmix-history/<time>-<objective>/, so re-running a config (say with another objective) never loses a
// run, and a run that fails before its report leaves the earlier one where it was. The run history of the extension
// lists these folders beside the latest reports.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The folder of an output folder's earlier runs. */
export const HISTORY_DIR = '.selmix-history';

/** The files of a run's report kept with it (the model files are not: the next run replaces them). */
export const ARCHIVED_FILES = [
  'report.json',
  'report.html',
  'gain.npy',
  'distribution.npy',
  'multipliers.npy',
] as const;

/** The archive folder's name of a report written at `at` for `objective`: "2026-12-06T19-23-45Z-minRecall". */
export function archiveName(at: Date, objective: string): string {
  const t = at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:/g, '-');
  const o = objective.replace(/[^\w.-]+/g, '-').slice(0, 60);
  return o ? `${t}-${o}` : t;
}

/** The objective a report.json names (its summary's, else its snapshot's run/started), or ''. */
function objectiveOf(reportPath: string): string {
  try {
    const j = JSON.parse(readFileSync(reportPath, 'utf8')) as {
      summary?: { objective?: unknown };
      snapshot?: { started?: { objective?: unknown } };
    };
    const o = j.summary?.objective ?? j.snapshot?.started?.objective;
    return typeof o === 'string' ? o : '';
  } catch {
    return '';
  }
}

/**
 * Copies an earlier run's report files from outputDir into its history folder; returns that folder, or null when
 * there was no report.json to keep. Call with the output folder locked, just before the new report is written.
 */
export function archivePreviousRun(outputDir: string): string | null {
  const report = join(outputDir, 'report.json');
  const st = statSync(report, { throwIfNoEntry: false });
  if (!st?.isFile()) return null;
  const base = join(outputDir, HISTORY_DIR, archiveName(st.mtime, objectiveOf(report)));
  let dir = base;
  for (let n = 2; existsSync(dir); n++) dir = `${base}-${n}`;
  mkdirSync(dir, { recursive: true });
  try {
    // report.json last: a history folder with a report.json holds everything that goes with it.
    for (const f of [...ARCHIVED_FILES.filter((x) => x !== 'report.json'), 'report.json']) {
      const from = join(outputDir, f);
      if (existsSync(from)) copyFileSync(from, join(dir, f));
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/** Removes a history folder made by archivePreviousRun for a report that was then not replaced (its write failed). */
export function dropArchive(dir: string | null): void {
  if (!dir) return;
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync(dirname(dir)); // the history folder too, when this was its only run
  } catch {
    /* not empty: it keeps earlier runs */
  }
}
