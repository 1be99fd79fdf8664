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

/** An SVG line chart of two series against log10(s). */
export function sweepSvg(rows: SweepRow[], objective: string): string {
  const W = 560, H = 320, L = 60, R = 20, T = 30, B = 50;
  const xs = rows.map((r) => Math.log10(r.s));
  const series = [
    { name: `${objective} (val)`, color: '#1f77b4', ys: rows.map((r) => r.objectiveAfter) },
    { name: 'mean recall (val)', color: '#d62728', ys: rows.map((r) => r.meanRecallAfter) },
  ];
  const all = series.flatMap((s) => s.ys);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...all), Math.max(...all)];
  const px = (x: number) => L + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (H - T - B);
  const lines = series.map((s, k) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.ys.map((y, i) => `${px(xs[i]!).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>` +
    s.ys.map((y, i) => `<circle cx="${px(xs[i]!).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`).join('') +
    `<text x="${L + 10}" y="${T - 10 + 14 * k}" font-size="12" fill="${s.color}">${s.name}</text>`).join('\n');
  const ticks = rows.map((r, i) => `<text x="${px(xs[i]!).toFixed(1)}" y="${H - B + 18}" font-size="11" text-anchor="middle">${r.s}</text>`).join('');
  const yt = [y0, (y0 + y1) / 2, y1].map((y) => `<text x="${L - 6}" y="${py(y).toFixed(1)}" font-size="11" text-anchor="end">${y.toFixed(3)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>
${ticks}${yt}<text x="${(L + W - R) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">inverse temperature s (log scale)</text>
${lines}</svg>\n`;
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
      minRecallAfter: m.after.val.minRecall, testObjectiveAfter: m.after.test ? objectiveMetricValue(cfg.objective, m.after.test) : null,
      testMeanRecallAfter: m.after.test?.meanRecall ?? null, outputDir });
  }
  mkdirSync(base, { recursive: true });
  const md = [`| s | ${cfg.objective} before (val) | ${cfg.objective} after (val) | mean recall after (val) | min recall after (val) | ${cfg.objective} after (test) |`, '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.s} | ${r.objectiveBefore.toFixed(4)} | ${r.objectiveAfter.toFixed(4)} | ${r.meanRecallAfter.toFixed(4)} | ${r.minRecallAfter.toFixed(4)} | ${r.testObjectiveAfter?.toFixed(4) ?? '-'} |`)].join('\n') + '\n';
  writeFileAtomic(join(base, 'sweep.json'), JSON.stringify({ objective: cfg.objective, rows }, null, 1));
  writeFileAtomic(join(base, 'sweep.md'), md);
  writeFileAtomic(join(base, 'sweep.svg'), sweepSvg(rows, cfg.objective));
  if (!opts.json) process.stdout.write(md + `\nwrote ${join(base, 'sweep.md')}, sweep.json and sweep.svg\n`);
  return 0;
}

