// The temperature sweep, for `selmix sweep` and the extension's "SelMix: Temperature Sweep": parsing the list
// of inverse temperatures s, one request per value (the config's own text with temperature and output
// overrides), one table row per finished run, and the outputs (sweep.md, sweep.json, sweep.svg) written beside
// the per-value output folders. The host imports the table and output parts, so nothing here loads tfjs.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../data/atomicWrite';
import type { SelmixConfig } from '../core/config';
import { compileObjective } from '../core/objectives/compileObjective';
import type { RunFinishedPayload, RunRequest } from '../protocol/messages';
import { lineChartSvg } from './chart';

/** One row of the sweep. */
export interface SweepRow {
  s: number;
  objectiveBefore: number;
  objectiveAfter: number;
  meanRecallAfter: number;
  minRecallAfter: number;
  testObjectiveAfter: number | null;
  testMeanRecallAfter: number | null;
  outputDir: string;
}

/** Parses "0.1,1,10" into positive numbers; returns the first problem in words instead when there is one. */
export function parseTemperatureList(list: string): { values: number[] } | { error: string } {
  const values: number[] = [];
  for (const t of list
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')) {
    const v = Number(t);
    if (!Number.isFinite(v) || v <= 0) return { error: `"${t}" is not a positive number` };
    values.push(v);
  }
  return values.length === 0 ? { error: 'no values given' } : { values };
}

/** The output folder of the run for s, under the config's output folder. */
export function sweepOutputDir(base: string, s: number): string {
  return join(base, `sweep-s${s}`);
}

/** The objective's name as the sweep's table shows it. */
export function sweepObjectiveName(cfg: SelmixConfig): string {
  return cfg.customObjective?.expression ?? cfg.objective;
}

/** The table row of a finished run with inverse temperature s. */
export function sweepRow(cfg: SelmixConfig, s: number, m: RunFinishedPayload, outputDir: string): SweepRow {
  return {
    s,
    objectiveBefore: m.before.objectiveValue,
    objectiveAfter: m.after.objectiveValue,
    meanRecallAfter: m.after.val.meanRecall,
    minRecallAfter: m.after.val.minRecall,
    // The run's own value on test (its compiled objective, custom or built-in); recomputed for a summary without it.
    testObjectiveAfter: m.after.test
      ? (m.after.testObjectiveValue ?? compileObjective(cfg, m.after.test.recall.length).valueFromMetrics(m.after.test))
      : null,
    testMeanRecallAfter: m.after.test?.meanRecall ?? null,
    outputDir,
  };
}

/** The markdown table of a sweep. */
export function sweepMarkdown(name: string, rows: SweepRow[]): string {
  return (
    [
      `| s | ${name} before (val) | ${name} after (val) | mean recall after (val) | min recall after (val) | ${name} after (test) |`,
      '|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.s} | ${r.objectiveBefore.toFixed(4)} | ${r.objectiveAfter.toFixed(4)} | ${r.meanRecallAfter.toFixed(4)} | ${r.minRecallAfter.toFixed(4)} | ${r.testObjectiveAfter?.toFixed(4) ?? '-'} |`,
      ),
    ].join('\n') + '\n'
  );
}

/** Writes sweep.json, sweep.md and sweep.svg into base (atomically); returns the markdown and the path of sweep.md. */
export function writeSweepOutputs(base: string, name: string, rows: SweepRow[]): { markdown: string; mdPath: string } {
  mkdirSync(base, { recursive: true });
  const md = sweepMarkdown(name, rows);
  const mdPath = join(base, 'sweep.md');
  writeFileAtomic(join(base, 'sweep.json'), JSON.stringify({ objective: name, rows }, null, 1));
  writeFileAtomic(mdPath, md);
  writeFileAtomic(
    join(base, 'sweep.svg'),
    lineChartSvg(
      rows.map((r) => String(r.s)),
      [
        { name: `${name} (val)`, ys: rows.map((r) => r.objectiveAfter) },
        { name: 'mean recall (val)', ys: rows.map((r) => r.meanRecallAfter) },
      ],
      'inverse temperature s',
    ),
  );
  return { markdown: md, mdPath };
}

/** The request of the sweep's run for s: the same config text, with its temperature and output folder overridden. */
export function sweepRequest(base: RunRequest, outputRoot: string, s: number): RunRequest {
  return { ...base, overrides: { ...base.overrides, temperature: s, output: sweepOutputDir(outputRoot, s) } };
}
