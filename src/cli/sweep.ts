// `selmix sweep`: the same fine-tuning once per inverse temperature s, then a table (markdown + JSON) and
// an SVG chart of the objective and mean recall against s (written by src/worker/sweep.ts, which the
// extension's "SelMix: Temperature Sweep" shares).
import { dirname, join, resolve } from 'node:path';
import { loadConfig, runJob } from '../worker/job';
import { ConfigError } from '../core/errors';
import type { BackendChoice } from '../backend/backend';
import type { SelmixConfig } from '../core/config';
import { parseTemperatureList, sweepObjectiveName, sweepOutputDir, sweepRow, writeSweepOutputs } from '../worker/sweep';
import type { SweepRow } from '../worker/sweep';

export type { SweepRow } from '../worker/sweep';

/** Parses "0.1,1,10" into positive numbers; names the bad entry. */
export function parseTemperatures(list: string, where: string): number[] {
  const r = parseTemperatureList(list);
  if ('error' in r) throw new ConfigError(where, [{ path: 'temperature', message: r.error }]);
  return r.values;
}

/** Runs the sweep; returns the exit code (0 ok, 1 a run failed, 2 bad input). */
export async function runSweep(configPath: string, temperatures: string, opts: { json: boolean; backend: BackendChoice | undefined }): Promise<number> {
  const cfg = loadConfig(configPath);
  const values = parseTemperatures(temperatures, '--temperature');
  const base = resolve(dirname(configPath), cfg.output);
  const rows: SweepRow[] = [];
  for (const s of values) {
    const outputDir = sweepOutputDir(base, s);
    const c: SelmixConfig = { ...cfg, output: outputDir, selmix: { ...cfg.selmix, temperature: s } };
    process.stderr.write(`sweep: s = ${s}\n`);
    const r = await runJob(c, configPath, {
      emit: (e) => { if (opts.json) process.stdout.write(JSON.stringify(e) + '\n'); },
      shouldStop: () => false, ...(opts.backend ? { backend: opts.backend } : {}),
    });
    if (!r.ok) return r.kind === 'config' || r.kind === 'data' ? 2 : 1;
    rows.push(sweepRow(cfg, s, r.summary, outputDir));
  }
  const { markdown } = writeSweepOutputs(base, sweepObjectiveName(cfg), rows);
  if (!opts.json) process.stdout.write(markdown + `\nwrote ${join(base, 'sweep.md')}, sweep.json and sweep.svg\n`);
  return 0;
}
