// The `selmix` command line: the same engine and the same protocol events as the extension.
// Exit codes: 0 ok, 1 the run failed, 2 bad input (usage, config, data or model files).
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runJob, loadConfig, evaluateConfig, type JobOptions } from '../worker/job';
import { configSchema, OBJECTIVE_IDS, type SelmixConfig, type SelmixConfigInput } from '../core/config';
import { ConfigError, DataError } from '../core/errors';
import { BACKEND_CHOICES, initBackend, prepareGainMatMul, type BackendChoice } from '../backend/backend';
import type { MetricsReport, RunEvent, RunFinishedPayload } from '../protocol/messages';
import { readNpy, toFloat32Features, toLabels } from '../data/npy';
import { writeFileAtomic } from '../data/atomicWrite';
import { computeRefresh } from '../core/refresh';
import { FAST_GAIN_MIN_K } from '../core/gain';
import { defaultObjectiveOptions, type ObjectiveId } from '../core/objectives';
import { metricsOf } from '../core/evaluate';
import { runSweep } from './sweep';
import { runShiftExperiment } from './experiments';

/** Exit codes, documented in README. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

const USAGE = `selmix: SelMix fine-tuning for non-decomposable objectives

Usage:
  selmix demo [--objective ID] [--steps N] [--seed S] [--out DIR] [--json]
  selmix pretrain --config FILE [--json]
  selmix finetune --config FILE [--resume] [--steps N] [--seed S] [--json]
  selmix finetune --features X.npy --labels Y.npy --val-features V.npy --val-labels VL.npy
                  [--unlabeled-features U.npy] --weights W.npy [--bias b.npy] --objective ID
                  [--steps N] [--seed S] [--temperature s] --out DIR [--json]
  selmix gain --features V.npy --labels L.npy --weights W.npy [--bias b.npy] --objective ID
              [--temperature s] [--json]
  selmix eval --config FILE [--split val|test] [--json]
  selmix eval --features X.npy --labels Y.npy --weights W.npy [--bias b.npy] [--json]
  selmix sweep --config FILE --temperature 0.1,1,10,100 [--json]
  selmix experiment shift [--objective ID] [--steps N] [--seed S] [--threshold t] [--oracle] [--small] [--out DIR]
  selmix backends

Common options: --backend ${BACKEND_CHOICES.join('|')}   --json (one protocol event per line on stdout)
Objectives: ${OBJECTIVE_IDS.join(', ')}
Weights are in PyTorch nn.Linear layout (K x d). Exit codes: 0 ok, 1 run failed, 2 bad input.`;

/** A usage error (exit 2). */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTIONS = {
  config: { type: 'string' }, json: { type: 'boolean' }, resume: { type: 'boolean' }, steps: { type: 'string' }, seed: { type: 'string' },
  objective: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' }, features: { type: 'string' }, labels: { type: 'string' },
  'val-features': { type: 'string' }, 'val-labels': { type: 'string' }, 'unlabeled-features': { type: 'string' }, weights: { type: 'string' },
  bias: { type: 'string' }, temperature: { type: 'string' }, split: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  threshold: { type: 'string' }, oracle: { type: 'boolean' }, small: { type: 'boolean' },
} as const;

type Flags = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function num(flags: Flags, name: 'steps' | 'seed' | 'temperature' | 'threshold'): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name}: "${v}" is not a number`);
  return n;
}

function need(flags: Flags, ...names: (keyof Flags)[]): void {
  const missing = names.filter((n) => flags[n] === undefined);
  if (missing.length) throw new UsageError(`missing ${missing.map((n) => `--${n}`).join(', ')}`);
}

function backendOf(flags: Flags): BackendChoice | undefined {
  if (flags.backend === undefined) return undefined;
  if (!(BACKEND_CHOICES as readonly string[]).includes(flags.backend)) throw new UsageError(`--backend: "${flags.backend}" is not one of ${BACKEND_CHOICES.join(', ')}`);
  return flags.backend as BackendChoice;
}

/** Validates a config built from flags; problems name the flag's config path. */
function validated(input: SelmixConfigInput, where: string): SelmixConfig {
  const r = configSchema.safeParse(input);
  if (r.success) return r.data;
  throw new ConfigError(where, r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
}

/** Applies --steps/--seed/--temperature/--objective on top of a config. */
function overrides(flags: Flags): (c: SelmixConfig) => SelmixConfig {
  return (c) => {
    const input = structuredClone(c) as SelmixConfigInput & { training: Record<string, unknown>; selmix: Record<string, unknown> };
    const steps = num(flags, 'steps');
    const seed = num(flags, 'seed');
    const temp = num(flags, 'temperature');
    if (steps !== undefined) input.training.steps = steps;
    if (seed !== undefined) input.training.seed = seed;
    if (temp !== undefined) input.selmix.temperature = temp;
    if (flags.objective !== undefined) input.objective = flags.objective as ObjectiveId;
    return validated(input, 'command-line flags');
  };
}

/** Prints events: JSON lines on stdout with --json, else a progress bar on a TTY and log lines on stderr. */
function printer(json: boolean): (e: RunEvent) => void {
  const tty = process.stderr.isTTY === true;
  let lastLen = 0;
  return (e) => {
    if (json) {
      process.stdout.write(JSON.stringify(e) + '\n');
      return;
    }
    switch (e.type) {
      case 'run/started':
        process.stderr.write(`${e.payload.mode === 'pretrain' ? 'pre-training' : 'fine-tuning'} "${e.payload.name}": objective ${e.payload.objective}, K = ${e.payload.K}, ${e.payload.totalSteps} steps, backend ${e.payload.backend}\n`);
        break;
      case 'run/step': {
        const p = e.payload;
        if (tty) {
          const w = 30;
          const done = Math.round((w * p.step) / p.totalSteps);
          const line = `[${'#'.repeat(done)}${'.'.repeat(w - done)}] ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} ${p.msPerStep.toFixed(1)} ms/step`;
          process.stderr.write('\r' + line.padEnd(lastLen));
          lastLen = line.length;
        }
        break;
      }
      case 'run/refresh':
        if (tty) process.stderr.write('\r'.padEnd(lastLen + 1) + '\r');
        process.stderr.write(`  step ${e.payload.step}: ${e.payload.objective} = ${e.payload.objectiveValue.toFixed(4)} (val), mean recall ${e.payload.val.meanRecall.toFixed(4)}, min recall ${e.payload.val.minRecall.toFixed(4)}, max gain ${e.payload.maxGain.toExponential(2)}\n`);
        break;
      case 'run/log':
        if (tty) process.stderr.write('\r'.padEnd(lastLen + 1) + '\r');
        process.stderr.write(`  ${e.payload.level === 'warn' ? 'warning: ' : ''}${e.payload.message}\n`);
        break;
      case 'run/failed':
        if (tty) process.stderr.write('\n');
        process.stderr.write(`error (${e.payload.kind}): ${e.payload.message}\n`);
        break;
      case 'run/finished':
        if (tty) process.stderr.write('\n');
        break;
      case 'run/checkpoint':
        break;
    }
  };
}

const pct = (v: number) => (100 * v).toFixed(2).padStart(7);

/** A before/after table of test (or validation) metrics. */
export function beforeAfterTable(s: RunFinishedPayload, classNames?: string[]): string {
  const useTest = s.before.test !== undefined && s.after.test !== undefined;
  const b: MetricsReport = useTest ? s.before.test! : s.before.val;
  const a: MetricsReport = useTest ? s.after.test! : s.after.val;
  const rows: [string, number, number][] = [
    ['accuracy', b.accuracy, a.accuracy], ['mean recall', b.meanRecall, a.meanRecall], ['min recall', b.minRecall, a.minRecall],
    ['G-mean', b.gMean, a.gMean], ['H-mean', b.hMean, a.hMean], ['min head/tail recall', b.minHeadTailRecall, a.minHeadTailRecall],
    ['min coverage', b.minCoverage, a.minCoverage],
    ...b.recall.map((r, k) => [`recall ${classNames?.[k] ?? k}`, r, a.recall[k]!] as [string, number, number]),
  ];
  const head = `${useTest ? 'test' : 'validation'} set (%)`.padEnd(24) + 'before'.padStart(8) + 'after'.padStart(8) + 'change'.padStart(9);
  const lines = rows.map(([n, x, y]) => n.padEnd(24) + pct(x).padStart(8) + pct(y).padStart(8) + ((y - x >= 0 ? '+' : '') + (100 * (y - x)).toFixed(2)).padStart(9));
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}

async function runConfigJob(cfg: SelmixConfig | string, configPath: string, flags: Flags, extra: Partial<JobOptions> = {}): Promise<number> {
  let stop = false;
  const onSig = () => { stop = true; process.stderr.write('\nstopping at the next step (a checkpoint is kept)...\n'); };
  process.once('SIGINT', onSig);
  const backend = backendOf(flags);
  const r = await runJob(cfg, configPath, { emit: printer(flags.json === true), shouldStop: () => stop, ...(backend ? { backend } : {}), ...extra });
  process.off('SIGINT', onSig);
  if (!r.ok) return r.kind === 'config' || r.kind === 'data' ? EXIT.badInput : EXIT.failed;
  if (!flags.json) {
    process.stdout.write(beforeAfterTable(r.summary) + '\n');
    process.stdout.write(`\n${r.summary.objective}: ${r.summary.before.objectiveValue.toFixed(4)} -> ${r.summary.after.objectiveValue.toFixed(4)} on validation; best step ${r.summary.bestStep}; stopped by ${r.summary.stoppedBy}; ${r.summary.wallSeconds.toFixed(1)} s\nOutputs in ${r.summary.outputDir}\n`);
  }
  return EXIT.ok;
}

/** The demo config: MNIST-LT rho = 100, the cached pre-trained CNN, SelMix for minRecall. */
export function demoConfig(flags: Flags): SelmixConfigInput {
  return {
    name: 'MNIST-LT demo',
    objective: (flags.objective as ObjectiveId | undefined) ?? 'minRecall',
    data: { kind: 'builtin', name: 'mnist-lt', rho: 100 },
    model: { kind: 'pretrained-demo', path: '.selmix-cache/mnist-lt-cnn/model.json' },
    training: { steps: num(flags, 'steps') ?? 300, seed: num(flags, 'seed') ?? 0 },
    output: flags.out ?? 'selmix-demo',
  };
}

async function cmdDemo(flags: Flags): Promise<number> {
  const cfgInput = demoConfig(flags);
  const cfg = validated(cfgInput, 'demo');
  const outDir = resolve(cfg.output);
  mkdirSync(outDir, { recursive: true });
  const cfgPath = join(outDir, 'demo.selmix.json');
  // Keep the config beside the outputs, so the run can be repeated or opened in VS Code.
  writeFileAtomic(cfgPath, JSON.stringify({ ...cfgInput, output: '.', model: { kind: 'pretrained-demo', path: '../.selmix-cache/mnist-lt-cnn/model.json' } }, null, 2) + '\n');
  return runConfigJob(readFileSync(cfgPath, 'utf8'), cfgPath, flags);
}

function featureModeConfig(flags: Flags): SelmixConfigInput {
  need(flags, 'features', 'labels', 'val-features', 'val-labels', 'weights', 'objective', 'out');
  const abs = (p: string) => resolve(p);
  return {
    objective: flags.objective as ObjectiveId,
    data: {
      kind: 'npy',
      train: { features: abs(flags.features!), labels: abs(flags.labels!) },
      val: { features: abs(flags['val-features']!), labels: abs(flags['val-labels']!) },
      ...(flags['unlabeled-features'] ? { unlabeled: { features: abs(flags['unlabeled-features']) } } : {}),
    },
    model: { kind: 'linear', weights: abs(flags.weights!), ...(flags.bias ? { bias: abs(flags.bias) } : {}) },
    training: { ...(num(flags, 'steps') !== undefined ? { steps: num(flags, 'steps') } : {}), ...(num(flags, 'seed') !== undefined ? { seed: num(flags, 'seed') } : {}) },
    ...(num(flags, 'temperature') !== undefined ? { selmix: { temperature: num(flags, 'temperature') } } : {}),
    output: abs(flags.out!),
  } as SelmixConfigInput;
}

async function cmdFinetune(flags: Flags, task: 'finetune' | 'pretrain'): Promise<number> {
  if (flags.config !== undefined) {
    const path = resolve(flags.config);
    const cfg = loadConfig(path);
    if (cfg.task !== task) throw new ConfigError(path, [{ path: 'task', message: `this config is a "${cfg.task}" run; use \`selmix ${cfg.task}\`` }]);
    return runConfigJob(cfg, path, flags, { override: overrides(flags), ...(flags.resume ? { resume: true } : {}) });
  }
  if (task === 'pretrain') throw new UsageError('pretrain needs --config FILE');
  const cfg = validated(featureModeConfig(flags), 'command-line flags');
  return runConfigJob(cfg, join(process.cwd(), 'cli.selmix.json'), flags, flags.resume ? { resume: true } : {});
}

/** Loads a head in PyTorch layout (K x d) and returns W as d x K plus b. */
function loadHead(flags: Flags): { W: Float64Array; b: Float64Array; K: number; d: number } {
  const wPath = resolve(flags.weights!);
  const w = toFloat32Features(readNpy(wPath), wPath);
  const [K, d] = [w.n, w.d];
  const W = new Float64Array(d * K);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[r * K + k] = w.data[k * d + r]!;
  const b = new Float64Array(K);
  if (flags.bias) {
    const bPath = resolve(flags.bias);
    const ba = readNpy(bPath);
    const flat = Float64Array.from(ba.data as ArrayLike<number>);
    if (flat.length !== K) throw new DataError(bPath, `bias has ${flat.length} entries but the weights have K = ${K} rows`);
    b.set(flat);
  }
  return { W, b, K, d };
}

/** Features and labels of a labeled feature set, checked against the head. */
function loadFeatureSet(flags: Flags, K: number, d: number): { x: Float32Array; y: Int32Array; n: number } {
  const fPath = resolve(flags.features!);
  const lPath = resolve(flags.labels!);
  const f = toFloat32Features(readNpy(fPath), fPath);
  if (f.d !== d) throw new DataError(fPath, `features have ${f.d} columns but the weights (${resolve(flags.weights!)}) expect d = ${d}`);
  const y = toLabels(readNpy(lPath), lPath);
  if (y.length !== f.n) throw new DataError(lPath, `has ${y.length} labels but ${fPath} has ${f.n} rows`);
  y.forEach((v, i) => { if (v >= K) throw new DataError(lPath, `label ${v} at index ${i} is out of range: the head has K = ${K} classes`); });
  return { x: f.data, y, n: f.n };
}

function logitsOf(x: Float32Array, n: number, W: Float64Array, b: Float64Array, K: number, d: number): Float64Array {
  const out = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) out[i * K + k] = b[k]!;
    for (let r = 0; r < d; r++) {
      const v = x[i * d + r]!;
      if (v === 0) continue;
      const row = r * K;
      for (let k = 0; k < K; k++) out[i * K + k] += v * W[row + k]!;
    }
  }
  return out;
}

function matrixRows(m: Float64Array, K: number): number[][] {
  return Array.from({ length: K }, (_, i) => Array.from(m.subarray(i * K, (i + 1) * K)));
}

async function cmdGain(flags: Flags): Promise<number> {
  need(flags, 'features', 'labels', 'weights', 'objective');
  const objective = flags.objective!;
  if (!(OBJECTIVE_IDS as readonly string[]).includes(objective)) throw new UsageError(`--objective: "${objective}" is not one of ${OBJECTIVE_IDS.join(', ')}`);
  const s = num(flags, 'temperature') ?? 10;
  if (!(s > 0)) throw new UsageError(`--temperature must be > 0 (got ${s})`);
  const { W, b, K, d } = loadHead(flags);
  const set = loadFeatureSet(flags, K, d);
  // Large K: the gain's K^3 products on wasm (float32) instead of float64 JS; falls back to cpu = exact.
  if (K >= FAST_GAIN_MIN_K) await initBackend({ choice: 'wasm' });
  const r = computeRefresh({ K, d, features: set.x, labels: set.y, logits: logitsOf(set.x, set.n, W, b, K, d), W, b, objective: objective as ObjectiveId,
    prevMultipliers: null, options: defaultObjectiveOptions(), s, matmul: await prepareGainMatMul(K) });
  if (flags.json) {
    process.stdout.write(JSON.stringify({ objective, K, confusion: matrixRows(r.C, K), metrics: r.metrics, multipliers: r.multipliers ? Array.from(r.multipliers) : null,
      gain: matrixRows(r.G, K), distribution: matrixRows(r.P, K) }) + '\n');
    return EXIT.ok;
  }
  const pairs = Array.from(r.G, (g, idx) => ({ i: Math.floor(idx / K), j: idx % K, g, p: r.P[idx]! })).sort((x, y) => y.g - x.g).slice(0, 10);
  const m = r.metrics;
  process.stdout.write(`objective ${objective} = ${r.objectiveValue.toFixed(4)} on ${set.n} examples, K = ${K}, s = ${s}\n`);
  process.stdout.write(`accuracy ${pct(m.accuracy)}%  mean recall ${pct(m.meanRecall)}%  min recall ${pct(m.minRecall)}%  G-mean ${pct(m.gMean)}%  H-mean ${pct(m.hMean)}%\n`);
  if (r.multipliers) process.stdout.write(`multipliers: ${Array.from(r.multipliers, (v) => v.toFixed(4)).join(' ')}\n`);
  process.stdout.write('top pairs (anchor i mixed with partner j):\n   i    j          gain       P\n');
  for (const p of pairs) process.stdout.write(`${String(p.i).padStart(4)} ${String(p.j).padStart(4)} ${p.g.toExponential(4).padStart(13)} ${p.p.toFixed(4).padStart(7)}\n`);
  return EXIT.ok;
}

async function cmdEval(flags: Flags): Promise<number> {
  if (flags.config !== undefined) {
    const path = resolve(flags.config);
    const cfg = loadConfig(path);
    const split = flags.split ?? 'val';
    if (split !== 'val' && split !== 'test') throw new UsageError(`--split must be val or test (got ${split})`);
    const m = await evaluateConfig(cfg, path, split, backendOf(flags));
    process.stdout.write(flags.json ? JSON.stringify(m) + '\n' : formatMetrics(m) + '\n');
    return EXIT.ok;
  }
  need(flags, 'features', 'labels', 'weights');
  const { W, b, K, d } = loadHead(flags);
  const set = loadFeatureSet(flags, K, d);
  const m = metricsOf(logitsOf(set.x, set.n, W, b, K, d), set.y, K);
  process.stdout.write(flags.json ? JSON.stringify(m) + '\n' : formatMetrics(m) + '\n');
  return EXIT.ok;
}

/** A readable metrics report. */
export function formatMetrics(m: MetricsReport): string {
  return [
    `accuracy ${pct(m.accuracy)}%   mean recall ${pct(m.meanRecall)}%   min recall ${pct(m.minRecall)}%   max recall ${pct(m.maxRecall)}%`,
    `G-mean ${pct(m.gMean)}%   H-mean ${pct(m.hMean)}%   head ${pct(m.headRecall)}%   tail ${pct(m.tailRecall)}%   min coverage ${pct(m.minCoverage)}%`,
    'class  support  recall  coverage',
    ...m.recall.map((r, k) => `${String(k).padStart(5)} ${String(m.support[k]).padStart(8)} ${pct(r)} ${pct(m.coverage[k]!)}`),
  ].join('\n');
}

/** Runs the CLI with argv (without node and script); returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(USAGE + '\n');
      return cmd === undefined ? EXIT.badInput : EXIT.ok;
    }
    let flags: Flags;
    let positionals: string[] = [];
    try {
      const parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: cmd === 'experiment', strict: true });
      flags = parsed.values as Flags;
      positionals = parsed.positionals;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (flags.help) { process.stdout.write(USAGE + '\n'); return EXIT.ok; }
    switch (cmd) {
      case 'demo': return await cmdDemo(flags);
      case 'pretrain': return await cmdFinetune(flags, 'pretrain');
      case 'finetune': return await cmdFinetune(flags, 'finetune');
      case 'gain': await initBackend({ choice: 'cpu' }); return await cmdGain(flags);
      case 'eval': return await cmdEval(flags);
      case 'sweep': need(flags, 'config', 'temperature'); return await runSweep(resolve(flags.config!), flags.temperature!, { json: flags.json === true, backend: backendOf(flags) });
      case 'experiment': {
        if (positionals.length !== 1 || positionals[0] !== 'shift') throw new UsageError('experiment: the only experiment is "shift"');
        const objective = flags.objective ?? 'minRecall';
        if (!(OBJECTIVE_IDS as readonly string[]).includes(objective)) throw new UsageError(`--objective: "${objective}" is not one of ${OBJECTIVE_IDS.join(', ')}`);
        return await runShiftExperiment({ out: flags.out ?? 'selmix-experiments/shift', objective: objective as ObjectiveId, steps: num(flags, 'steps') ?? 300,
          rho: 100, threshold: num(flags, 'threshold') ?? 0, oracle: flags.oracle === true, seed: num(flags, 'seed') ?? 0, small: flags.small === true,
          json: flags.json === true, backend: backendOf(flags) }, flags.json ? printer(true) : () => undefined);
      }
      case 'backends': {
        const info = await initBackend({ choice: backendOf(flags) ?? 'auto' });
        process.stdout.write(info.probes.map((p) => `${p.ok ? 'ok  ' : 'no  '} ${p.name}: ${p.detail}`).join('\n') + `\nin use: ${info.name}\n`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`selmix: ${e.message}\n\n${USAGE}\n`);
      return EXIT.badInput;
    }
    if (e instanceof ConfigError || e instanceof DataError) {
      process.stderr.write(`error: ${e.message}\n`);
      return EXIT.badInput;
    }
    process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
    return EXIT.failed;
  }
}

if (require.main === module || process.env.SELMIX_CLI_MAIN === '1') {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
