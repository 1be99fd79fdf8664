// `selmix sweep`: the same fine-tuning once per inverse temperature s, then a table (markdown + JSON) and
// an SVG chart of the objective and mean recall against s.
import { join, dirname, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { loadConfig, runJob } from '../worker/job';
import { writeFileAtomic } from '../data/atomicWrite';
import { ConfigError } from '../core/errors';
import type { BackendChoice } from '../backend/backend';
import type { SelmixConfig } from '../core/config';
import { objectiveMetricValue } from '../core/metrics';
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

/** Parses "0.1,1,10" into positive numbers; names the bad entry. */
export function parseTemperatures(list: string, where: string): number[] {
  const out = list.split(',').map((t) => t.trim()).filter((t) => t !== '').map((t) => {
    const v = Number(t);
    if (!Number.isFinite(v) || v <= 0) throw new ConfigError(where, [{ path: 'temperature', message: `"${t}" is not a positive number` }]);
    return v;
  });
  if (out.length === 0) throw new ConfigError(where, [{ path: 'temperature', message: 'no values given' }]);
  return out;
}

/** Runs the sweep; returns the exit code (0 ok, 1 a run failed, 2 bad input). */
export async function runSweep(configPath: string, temperatures: string, opts: { json: boolean; backend: BackendChoice | undefined }): Promise<number> {
  const cfg = loadConfig(configPath);
  const values = parseTemperatures(temperatures, '--temperature');
  const base = resolve(dirname(configPath), cfg.output);
  const rows: SweepRow[] = [];
  for (const s of values) {
    const outputDir = join(base, `sweep-s${s}`);
    const c: SelmixConfig = { ...cfg, output: outputDir, selmix: { ...cfg.selmix, temperature: s } };
    process.stderr.write(`sweep: s = ${s}\n`);
    const r = await runJob(c, configPath, {
      emit: (e) => { if (opts.json) process.stdout.write(JSON.stringify(e) + '\n'); },
      shouldStop: () => false, ...(opts.backend ? { backend: opts.backend } : {}),
    });
    if (!r.ok) return r.kind === 'config' || r.kind === 'data' ? 2 : 1;
    const m = r.summary;
    rows.push({ s, objectiveBefore: m.before.objectiveValue, objectiveAfter: m.after.objectiveValue, meanRecallAfter: m.after.val.meanRecall,
      minRecallAfter: m.after.val.minRecall, testObjectiveAfter: m.after.test && !cfg.customObjective ? objectiveMetricValue(cfg.objective, m.after.test) : null,
      testMeanRecallAfter: m.after.test?.meanRecall ?? null, outputDir });
  }
  mkdirSync(base, { recursive: true });
  const name = cfg.customObjective?.expression ?? cfg.objective;
  const md = [`| s | ${name} before (val) | ${name} after (val) | mean recall after (val) | min recall after (val) | ${name} after (test) |`, '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.s} | ${r.objectiveBefore.toFixed(4)} | ${r.objectiveAfter.toFixed(4)} | ${r.meanRecallAfter.toFixed(4)} | ${r.minRecallAfter.toFixed(4)} | ${r.testObjectiveAfter?.toFixed(4) ?? '-'} |`)].join('\n') + '\n';
  writeFileAtomic(join(base, 'sweep.json'), JSON.stringify({ objective: name, rows }, null, 1));
  writeFileAtomic(join(base, 'sweep.md'), md);
  writeFileAtomic(join(base, 'sweep.svg'), lineChartSvg(rows.map((r) => String(r.s)), [
    { name: `${name} (val)`, ys: rows.map((r) => r.objectiveAfter) },
    { name: 'mean recall (val)', ys: rows.map((r) => r.meanRecallAfter) },
  ], 'inverse temperature s'));
  if (!opts.json) process.stdout.write(md + `\nwrote ${join(base, 'sweep.md')}, sweep.json and sweep.svg\n`);
  return 0;
}

