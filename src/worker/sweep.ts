// The temperature sweep's shared parts, used by `selmix sweep` and the extension's "SelMix: Temperature
// Sweep": parsing the list of inverse temperatures s, one table row per finished run, and the outputs
// (sweep.md, sweep.json, sweep.svg) written beside the per-value output folders. No tfjs: the host imports it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../data/atomicWrite';
import type { SelmixConfig } from '../core/config';
import { objectiveMetricValue } from '../core/metrics';
import type { RunFinishedPayload, RunOverrides } from '../protocol/messages';
// A pure SVG string builder; it lives with the CLI's other experiment charts.
import { lineChartSvg } from '../cli/chart';

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
  for (const t of list.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
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
    s, objectiveBefore: m.before.objectiveValue, objectiveAfter: m.after.objectiveValue, meanRecallAfter: m.after.val.meanRecall,
    minRecallAfter: m.after.val.minRecall, testObjectiveAfter: m.after.test && !cfg.customObjective ? objectiveMetricValue(cfg.objective, m.after.test) : null,
    testMeanRecallAfter: m.after.test?.meanRecall ?? null, outputDir,
  };
}

/** The markdown table of a sweep. */
export function sweepMarkdown(name: string, rows: SweepRow[]): string {
  return [`| s | ${name} before (val) | ${name} after (val) | mean recall after (val) | min recall after (val) | ${name} after (test) |`, '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.s} | ${r.objectiveBefore.toFixed(4)} | ${r.objectiveAfter.toFixed(4)} | ${r.meanRecallAfter.toFixed(4)} | ${r.minRecallAfter.toFixed(4)} | ${r.testObjectiveAfter?.toFixed(4) ?? '-'} |`)].join('\n') + '\n';
}

/** Writes sweep.json, sweep.md and sweep.svg into base (atomically); returns the markdown and the path of sweep.md. */
export function writeSweepOutputs(base: string, name: string, rows: SweepRow[]): { markdown: string; mdPath: string } {
  mkdirSync(base, { recursive: true });
  const md = sweepMarkdown(name, rows);
  const mdPath = join(base, 'sweep.md');
  writeFileAtomic(join(base, 'sweep.json'), JSON.stringify({ objective: name, rows }, null, 1));
  writeFileAtomic(mdPath, md);
  writeFileAtomic(join(base, 'sweep.svg'), lineChartSvg(rows.map((r) => String(r.s)), [
    { name: `${name} (val)`, ys: rows.map((r) => r.objectiveAfter) },
    { name: 'mean recall (val)', ys: rows.map((r) => r.meanRecallAfter) },
  ], 'inverse temperature s'));
  return { markdown: md, mdPath };
}

/** Checks a start request's overrides; returns the problems in words (none: valid). */
export function overrideProblems(o: unknown): string[] {
  if (o === undefined) return [];
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return ['overrides must be an object'];
  const out: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (k === 'temperature') { if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) out.push(`overrides.temperature must be a positive number, got ${JSON.stringify(v)}`); }
    else if (k === 'output') { if (typeof v !== 'string' || v.trim() === '') out.push(`overrides.output must be a non-empty path, got ${JSON.stringify(v)}`); }
    else out.push(`overrides.${k} is not a field that can be overridden`);
  }
  return out;
}

/** The config with the overrides applied (after validation, so the schema's defaults are filled in). */
export function applyOverrides(o: RunOverrides): (c: SelmixConfig) => SelmixConfig {
  return (c) => ({
    ...c,
    ...(o.output !== undefined ? { output: o.output } : {}),
    ...(o.temperature !== undefined ? { selmix: { ...c.selmix, temperature: o.temperature } } : {}),
  });
}
