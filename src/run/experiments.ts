// `selmix experiment shift`: SelMix with an unlabeled set whose imbalance differs from the labeled set's
// (rho_u = rho_l, 1, 1/rho_l on the built-in MNIST-LT), partners chosen by pseudo-label (optionally with a
// confidence threshold) and, for comparison, by the hidden true labels ("oracle"). Writes a table and a chart.
import { join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../data/atomicWrite';
import { configSchema, type SelmixConfigInput } from '../core/config';
import { ConfigError, exitCodeOf } from '../core/errors';
import { objectiveMetricValue } from '../core/numerics/metrics';
import type { BackendChoice } from '../backend/backend';
import type { ObjectiveId } from '../core/objectives/objectiveIds';
import type { MetricsReport, RunEvent } from '../protocol/messages';
import { lineChartSvg } from '../report/chart';
import { runRequest } from './run';

/** Options of the shift experiment. */
export interface ShiftOptions {
  out: string;
  objective: ObjectiveId;
  steps: number;
  rho: number;
  threshold: number;
  oracle: boolean;
  seed: number;
  /** Smaller data for a quick look (and the tests): nMax, valPerClass, testPerClass, unlabeled nMax. */
  small: boolean;
  json: boolean;
  backend: BackendChoice | undefined;
}

/** One row of the experiment's table. */
export interface ShiftRow {
  rhoU: number;
  partnerLabels: 'pseudo' | 'oracle';
  before: MetricsReport;
  after: MetricsReport;
  objectiveBefore: number;
  objectiveAfter: number;
}

/** The config of one arm of the experiment. */
export function shiftConfig(
  o: ShiftOptions,
  rhoU: number,
  labels: 'pseudo' | 'oracle',
  pretrainedPath: string,
): SelmixConfigInput {
  // The largest unlabeled class always has U examples: class 0 when rho_u >= 1, class K-1 when inverted.
  const U = o.small ? 300 : 1000;
  const input: SelmixConfigInput = {
    name: `shift rho_u=${rhoU} ${labels}`,
    objective: o.objective,
    data: {
      kind: 'builtin',
      rho: o.rho,
      nMax: o.small ? 1000 : 4000,
      valPerClass: o.small ? 30 : 100,
      unlabeled: { rho: rhoU, nMax: rhoU < 1 ? Math.max(1, Math.floor(U * rhoU)) : U },
      ...(o.small ? { testPerClass: 200 } : {}),
    },
    model: { kind: 'pretrained-demo', path: pretrainedPath },
    training: { steps: o.steps, seed: o.seed, refreshEvery: Math.min(50, Math.max(1, Math.floor(o.steps / 4))) },
    selmix: { partnerLabels: labels, pseudoLabelThreshold: o.threshold },
    pretrain: o.small ? { epochs: 1 } : {},
    output: join(o.out, `rhou-${rhoU}-${labels}`),
  };
  const r = configSchema.safeParse(input);
  if (!r.success)
    throw new ConfigError(
      'experiment options',
      r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  return input;
}

/** Runs the experiment; returns the exit code. */
export async function runShiftExperiment(o: ShiftOptions, emit: (e: RunEvent) => void): Promise<number> {
  const out = resolve(o.out);
  mkdirSync(out, { recursive: true });
  // One pre-trained starting model for every arm (trained on the labeled set on first use).
  const pretrained = join(out, o.small ? 'start-model-small' : 'start-model', 'model.json');
  const rows: ShiftRow[] = [];
  const arms: ['pseudo' | 'oracle', number][] = [];
  for (const rhoU of [o.rho, 1, 1 / o.rho]) {
    arms.push(['pseudo', rhoU]);
    if (o.oracle) arms.push(['oracle', rhoU]);
  }
  for (const [labels, rhoU] of arms) {
    const cfg = shiftConfig(o, rhoU, labels, pretrained);
    process.stderr.write(`experiment: rho_u = ${fmt(rhoU)}, partner labels ${labels}\n`);
    const r = await runRequest(
      { configText: JSON.stringify(cfg, null, 2), configPath: join(out, 'experiment.selmix.json') },
      { emit, shouldStop: () => false, ...(o.backend ? { backend: o.backend } : {}) },
    );
    if (!r.ok) return exitCodeOf(r.kind);
    const s = r.summary;
    const before = s.before.test ?? s.before.val;
    const after = s.after.test ?? s.after.val;
    rows.push({
      rhoU,
      partnerLabels: labels,
      before,
      after,
      objectiveBefore: objectiveMetricValue(o.objective, before),
      objectiveAfter: objectiveMetricValue(o.objective, after),
    });
  }
  const md =
    [
      `SelMix for ${o.objective} on MNIST-LT (rho_l = ${o.rho}), ${o.steps} steps, seed ${o.seed}, pseudo-label threshold ${o.threshold}; test-set metrics (%).`,
      '',
      `| rho_u | partner labels | ${o.objective} start | ${o.objective} SelMix | mean recall start | mean recall SelMix | min recall start | min recall SelMix |`,
      '|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${fmt(r.rhoU)} | ${r.partnerLabels} | ${p(r.objectiveBefore)} | ${p(r.objectiveAfter)} | ${p(r.before.meanRecall)} | ${p(r.after.meanRecall)} | ${p(r.before.minRecall)} | ${p(r.after.minRecall)} |`,
      ),
    ].join('\n') + '\n';
  writeFileAtomic(join(out, 'shift.json'), JSON.stringify({ options: { ...o, json: undefined }, rows }, null, 1));
  writeFileAtomic(join(out, 'shift.md'), md);
  const pseudo = rows.filter((r) => r.partnerLabels === 'pseudo');
  const oracle = rows.filter((r) => r.partnerLabels === 'oracle');
  writeFileAtomic(
    join(out, 'shift.svg'),
    lineChartSvg(
      pseudo.map((r) => `rho_u = ${fmt(r.rhoU)}`),
      [
        { name: `${o.objective}, starting model`, ys: pseudo.map((r) => r.objectiveBefore) },
        { name: `${o.objective}, SelMix (pseudo-labels)`, ys: pseudo.map((r) => r.objectiveAfter) },
        ...(oracle.length
          ? [{ name: `${o.objective}, SelMix (oracle labels)`, ys: oracle.map((r) => r.objectiveAfter) }]
          : []),
      ],
      'imbalance of the unlabeled set',
    ),
  );
  if (!o.json) process.stdout.write(md + `\nwrote ${join(out, 'shift.md')}, shift.json and shift.svg\n`);
  return 0;
}

function fmt(v: number): string {
  return v >= 1 ? String(v) : `1/${Math.round(1 / v)}`;
}

function p(v: number): string {
  return (100 * v).toFixed(2);
}
