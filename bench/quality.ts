// Quality benchmark (`npm run bench:quality`): MNIST-LT rho = 100 with the pre-trained demo CNN, the same step
// budget for every method, several seeds, metrics on the test set. Writes bench/results/quality.json + .md.
//
// Methods: the starting model; post-hoc logit adjustment of it (logits - log train prior); plain CE fine-tuning
// (policy 'plain'); uniform mixup (policy 'uniformMixup'); SelMix for four objectives. Every fine-tuning run
// goes through src/core/train.ts's finetune() with the demo's config (src/cli/main.ts demoConfig) and keeps the
// best validation iterate exactly as src/worker/job.ts does. By default the backbone is frozen (the job's
// freezeBackbone path: features computed once, head-only steps); --full fine-tunes the whole CNN (slow on 2 cores).
//
// Flags: --steps N (2000)  --seeds N (3)  --full  --out DIR (bench/results)
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, tf } from '../src/backend/backend';
import { configSchema, type SelmixConfig, type SelmixConfigInput } from '../src/core/config';
import { forwardAll, metricsOf, type ExampleSet } from '../src/core/evaluate';
import { disposeModel, fromLayersModel, type SelmixModel } from '../src/core/model';
import { evaluateSet, finetune, trainableVariables, type FinetuneData } from '../src/core/train';
import { loadMnistLT } from '../src/data/mnist';
import { loadLayersModelFromFile } from '../src/data/modelIo';
import { runRequest } from '../src/run/run';
import type { MetricsReport } from '../src/protocol/messages';
import { fmtMs, log, machineInfo, mdTable } from './lib';

const METRICS = ['accuracy', 'meanRecall', 'minRecall', 'gMean', 'hMean', 'minCoverage'] as const;
type Metric = (typeof METRICS)[number];
const METRIC_LABEL: Record<Metric, string> = { accuracy: 'accuracy', meanRecall: 'mean recall', minRecall: 'min recall', gMean: 'G-mean', hMean: 'H-mean', minCoverage: 'min coverage' };
const SELMIX_OBJECTIVES = ['minRecall', 'gMean', 'hMean', 'meanRecallMinCoverage'] as const;
/** The test-set column each SelMix objective targets. */
const TARGET: Record<(typeof SELMIX_OBJECTIVES)[number], Metric> = { minRecall: 'minRecall', gMean: 'gMean', hMean: 'hMean', meanRecallMinCoverage: 'meanRecall' };

/** One method's per-seed test metrics. */
interface MethodResult {
  id: string;
  label: string;
  policy: 'none' | 'posthoc' | 'plain' | 'uniformMixup' | 'selmix';
  /** The objective that picks the best validation iterate (and, for SelMix, drives the gain). */
  objective: string | null;
  perSeed: (Record<Metric, number> & { seed: number; seconds: number; bestStep: number | null; constraintMet?: boolean })[];
  mean: Record<Metric, number>;
  std: Record<Metric, number>;
  min: Record<Metric, number>;
  max: Record<Metric, number>;
}

const MODEL_PATH = '.selmix-cache/mnist-lt-cnn/model.json';

function pick(m: MetricsReport): Record<Metric, number> {
  return { accuracy: m.accuracy, meanRecall: m.meanRecall, minRecall: m.minRecall, gMean: m.gMean, hMean: m.hMean, minCoverage: m.minCoverage };
}

function summarise(id: string, label: string, policy: MethodResult['policy'], objective: string | null, perSeed: MethodResult['perSeed']): MethodResult {
  const agg = (f: (xs: number[]) => number) => Object.fromEntries(METRICS.map((k) => [k, f(perSeed.map((s) => s[k]))])) as Record<Metric, number>;
  const mean = agg((xs) => xs.reduce((a, b) => a + b, 0) / xs.length);
  const std = agg((xs) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  });
  return { id, label, policy, objective, perSeed, mean, std, min: agg((xs) => Math.min(...xs)), max: agg((xs) => Math.max(...xs)) };
}

/** The demo's config (src/cli/main.ts demoConfig) with the method's policy, objective, steps and seed. */
function runConfig(policy: 'plain' | 'uniformMixup' | 'selmix', objective: string, steps: number, seed: number, full: boolean): SelmixConfig {
  const input: SelmixConfigInput = {
    name: `quality ${policy} ${objective} seed ${seed}`,
    objective: objective as SelmixConfig['objective'],
    data: { kind: 'builtin', name: 'mnist-lt', rho: 100 },
    model: { kind: 'pretrained-demo', path: MODEL_PATH, freezeBackbone: !full },
    training: { steps, seed },
    selmix: { policy },
  };
  return configSchema.parse(input);
}

/** Trains and caches the demo CNN through the demo's own code path (runRequest, model kind 'pretrained-demo') when missing. */
async function ensurePretrained(): Promise<void> {
  if (existsSync(resolve(MODEL_PATH))) return;
  log(`no ${MODEL_PATH}: pre-training the demo CNN through runRequest (cached for later runs; several minutes)`);
  const out = join('bench', 'results', 'pretrain-run');
  const cfg = configSchema.parse({ name: 'quality pre-training', objective: 'minRecall', data: { kind: 'builtin', name: 'mnist-lt', rho: 100 },
    model: { kind: 'pretrained-demo', path: MODEL_PATH }, training: { steps: 1 }, output: out });
  const r = await runRequest({ configText: JSON.stringify(cfg), configPath: resolve('quality.selmix.json') }, { emit: () => undefined, shouldStop: () => false, backend: 'wasm' });
  if (!r.ok) throw new Error(`pre-training failed: ${r.message}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { steps: { type: 'string' }, seeds: { type: 'string' }, full: { type: 'boolean' }, out: { type: 'string' } } });
  const steps = Number(values.steps ?? 2000);
  const nSeeds = Number(values.seeds ?? 3);
  const full = values.full === true;
  const outDir = resolve(values.out ?? join('bench', 'results'));
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  const backend = await initBackend({ choice: 'wasm' });
  await ensurePretrained();

  // Data exactly as the job loads the demo's builtin set.
  const d0 = configSchema.parse({ data: { kind: 'builtin', rho: 100 }, model: { kind: 'pretrained-demo' } }).data as Extract<SelmixConfig['data'], { kind: 'builtin' }>;
  const m = loadMnistLT({ rho: d0.rho, nMax: d0.nMax, valPerClass: d0.valPerClass, seed: 0 });
  const data: FinetuneData = { train: m.train, val: m.val, unlabeled: null, test: m.test, classNames: m.classNames };
  const test = m.test;
  const K = m.classNames.length;
  log(`MNIST-LT rho=100: train ${m.train.n} (${m.counts.train.join(', ')}), val ${m.val.n}, test ${m.test.n}; backend ${backend.name}; ${full ? 'full CNN' : 'frozen backbone (head-only)'} fine-tuning, ${steps} steps, ${nSeeds} seeds`);

  const loadModel = async (): Promise<SelmixModel> => fromLayersModel(await loadLayersModelFromFile(resolve(MODEL_PATH)));

  // Starting model and post-hoc logit adjustment (deterministic: one model, so no spread across seeds).
  const start = await loadModel();
  const startFw = forwardAll(start, test);
  const headFrac = 0.9;
  const startM = metricsOf(startFw.logits, test.y, K, headFrac);
  const logPrior = m.counts.train.map((c) => Math.log(c / m.train.n));
  const laM = metricsOf(startFw.logits, test.y, K, headFrac, logPrior);
  const seeds = Array.from({ length: nSeeds }, (_, i) => i);
  const fixed = (mm: MetricsReport) => seeds.map((seed) => ({ ...pick(mm), seed, seconds: 0, bestStep: null }));
  const methods: MethodResult[] = [
    summarise('start', 'starting model (pre-trained CNN)', 'none', null, fixed(startM)),
    summarise('logitAdjusted', 'post-hoc logit adjustment (tau = 1)', 'posthoc', null, fixed(laM)),
  ];

  // Features once, for the frozen-backbone runs (the job's featurize()).
  let feats: { model: SelmixModel; data: FinetuneData } | null = null;
  if (!full) {
    const f = (s: ExampleSet): ExampleSet => ({ x: forwardAll(start, s).features, y: s.y, n: s.n, shape: [start.d] });
    const fdata: FinetuneData = { train: f(data.train) as FinetuneData['train'], val: f(data.val) as FinetuneData['val'], unlabeled: null, test: f(test) as FinetuneData['train'], classNames: data.classNames };
    feats = { model: { ...start, inputShape: [start.d], backbone: null }, data: fdata };
  }
  const W0 = start.W.clone();
  const b0 = start.b.clone();

  const runs: { id: string; label: string; policy: 'plain' | 'uniformMixup' | 'selmix'; objective: string }[] = [
    { id: 'plain', label: 'plain CE fine-tuning', policy: 'plain', objective: 'meanRecall' },
    { id: 'uniformMixup', label: 'uniform mixup fine-tuning', policy: 'uniformMixup', objective: 'meanRecall' },
    ...SELMIX_OBJECTIVES.map((o) => ({ id: `selmix-${o}`, label: `SelMix (${o})`, policy: 'selmix' as const, objective: o })),
    // The baselines again with the best iterate picked on each SelMix target, so a SelMix win is not a checkpoint-selection win.
    // Skipped with --full (too slow on 2 cores).
    ...(full ? [] : SELMIX_OBJECTIVES).flatMap((o) => (['plain', 'uniformMixup'] as const).map((p) => ({ id: `${p}-sel-${o}`, label: `${p === 'plain' ? 'plain CE' : 'uniform mixup'}, best iterate by ${o}`, policy: p, objective: o }))),
  ];
  const extraIds = new Set(runs.slice(2 + SELMIX_OBJECTIVES.length).map((r) => r.id));
  for (const r of runs) {
    const perSeed: MethodResult['perSeed'] = [];
    for (const seed of seeds) {
      const cfg = runConfig(r.policy, r.objective, steps, seed, full);
      const ts = performance.now();
      let model: SelmixModel;
      let d: FinetuneData;
      if (feats) {
        feats.model.W.assign(W0);
        feats.model.b.assign(b0);
        model = feats.model;
        d = feats.data;
      } else {
        model = await loadModel();
        d = data;
      }
      const freeze = !full;
      const res = await finetune(model, d, { config: cfg, emit: () => undefined, shouldStop: () => false });
      // The best validation iterate is the result (src/worker/job.ts).
      const vars = trainableVariables(model, freeze);
      vars.forEach((v, i) => v.assign(res.bestWeights[i]!));
      res.bestWeights.forEach((t) => t.dispose());
      const mt = evaluateSet(model, d.test as FinetuneData['train'], headFrac);
      const seconds = (performance.now() - ts) / 1000;
      perSeed.push({ ...pick(mt), seed, seconds, bestStep: res.bestStep });
      if (!feats) disposeModel(model);
      log(`${r.label} seed ${seed}: ${seconds.toFixed(1)} s, best step ${res.bestStep}, test min recall ${mt.minRecall.toFixed(4)}, mean recall ${mt.meanRecall.toFixed(4)}`);
    }
    methods.push(summarise(r.id, r.label, r.policy, r.objective, perSeed));
  }
  W0.dispose();
  b0.dispose();
  disposeModel(start);

  // Does each SelMix variant win on its own target metric against every other row?
  const verdicts = SELMIX_OBJECTIVES.map((o) => {
    const metric = TARGET[o];
    const me = methods.find((x) => x.id === `selmix-${o}`)!;
    const others = methods.filter((x) => x.id !== me.id);
    const best = others.reduce((a, b) => (b.mean[metric] > a.mean[metric] ? b : a));
    const margin = me.mean[metric] - best.mean[metric];
    // meanRecallMinCoverage maximises mean recall subject to min coverage >= alpha/K (alpha = 0.95 by default).
    const constraint = o === 'meanRecallMinCoverage' ? { minCoverage: me.mean.minCoverage, bound: 0.95 / K, met: me.mean.minCoverage >= 0.95 / K } : null;
    return { objective: o, metric, value: me.mean[metric], bestOther: best.label, bestOtherValue: best.mean[metric], margin, wins: margin > 0, constraint,
      // Within the seed spread: the difference is smaller than the larger of the two standard deviations.
      withinNoise: Math.abs(margin) <= Math.max(me.std[metric], best.std[metric]) };
  });

  const totalSeconds = (performance.now() - t0) / 1000;
  const machine = machineInfo(backend.name, tf.version.tfjs);
  const report = { machine, settings: { dataset: 'MNIST-LT rho=100 (builtin, nMax 4000, val 100/class, official 10k test)', steps, seeds, mode: full ? 'full CNN fine-tuning' : 'frozen backbone (head-only on cached features)', config: 'selmix demo defaults (batch 64+64, lr 0.01 cosine, refresh every 50, s = 10)' }, methods, verdicts, totalSeconds, extraIds: [...extraIds] };
  writeFileSync(join(outDir, 'quality.json'), JSON.stringify(report, null, 1));
  const md = qualityMarkdown(report.methods, verdicts, { steps, seeds: nSeeds, full, totalSeconds, machine: `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, ${backend.name}` }, extraIds);
  writeFileSync(join(outDir, 'quality.md'), md);
  process.stdout.write(md + '\n');
  log(`quality benchmark done in ${fmtMs(totalSeconds * 1000)}; wrote ${join(outDir, 'quality.json')} and quality.md`);
}

/** The markdown table: mean ± std over seeds (min-max in the JSON), main rows first, then the target-selected baselines. */
function qualityMarkdown(methods: MethodResult[], verdicts: { objective: string; metric: Metric; value: number; bestOther: string; bestOtherValue: number; margin: number; wins: boolean; withinNoise: boolean; constraint: { minCoverage: number; bound: number; met: boolean } | null }[],
  s: { steps: number; seeds: number; full: boolean; totalSeconds: number; machine: string }, extraIds: Set<string>): string {
  const pct = (v: number) => (100 * v).toFixed(1);
  const cell = (m: MethodResult, k: Metric) => (m.std[k] > 1e-9 ? `${pct(m.mean[k])} ± ${pct(m.std[k])}` : pct(m.mean[k]));
  const row = (m: MethodResult) => [m.label, ...METRICS.map((k) => cell(m, k))];
  const header = ['method', ...METRICS.map((k) => METRIC_LABEL[k])];
  const mode = s.full ? 'full CNN fine-tuning' : 'frozen backbone: head-only fine-tuning on cached CNN features';
  const lines = [
    `### Quality: MNIST-LT (rho = 100), test set, ${mode}`,
    '',
    `${s.steps} steps per method, ${s.seeds} seeds (0..${s.seeds - 1}); values in %, mean ± std over seeds (the starting model and logit adjustment are deterministic). ` +
      'Fine-tuned rows keep the best validation iterate (as `selmix` does); the baselines pick it by validation mean recall, each SelMix variant by its own objective. ' +
      `Demo config (batch 64 anchors + 64 partners, lr 0.01 cosine, refresh every 50 steps, s = 10). ${s.machine}; ${fmtMs(s.totalSeconds * 1000)} in all.`,
    '',
    mdTable(header, methods.filter((m) => !extraIds.has(m.id)).map(row)),
    '',
    ...(extraIds.size > 0 ? [
      'Baselines with the best iterate picked on each SelMix target (same runs otherwise):',
      '',
      mdTable(header, methods.filter((m) => extraIds.has(m.id)).map(row)),
      '',
    ] : []),
    'Does each SelMix variant win on its own target (test mean, against every other row above)?',
    '',
    mdTable(['SelMix objective', 'target column', 'SelMix', 'best other row', 'its value', 'margin (points)', 'verdict'],
      verdicts.map((v) => [v.objective, METRIC_LABEL[v.metric], pct(v.value), v.bestOther, pct(v.bestOtherValue), (100 * v.margin).toFixed(2),
        (v.wins ? (v.withinNoise ? 'wins, within seed spread' : 'wins') : (v.withinNoise ? 'loses, within seed spread' : 'loses')) +
          (v.constraint ? `; min coverage ${pct(v.constraint.minCoverage)} vs bound ${pct(v.constraint.bound)}: ${v.constraint.met ? 'met' : 'not met'}` : '')])),
  ];
  return lines.join('\n') + '\n';
}

main().catch((e) => {
  process.stderr.write(`bench:quality failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
