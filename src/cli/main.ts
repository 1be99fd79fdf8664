// The `selmix` command line: flags -> one RunRequest -> src/run, the same engine and the same protocol events
// as the extension. Exit codes (src/core/errors.ts): 0 ok, 1 the run failed, 2 bad input.
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SelmixConfigInput } from '../core/config';
import { isObjectiveId, OBJECTIVE_IDS } from '../core/objectives/objectiveIds';
import { ConfigError, DataError, EXIT, UsageError, exitCodeOf, failureKindOf } from '../core/errors';
import { largestIndices } from '../core/numerics/topK';
import { BACKEND_CHOICES, initBackend, mallocSettings, type BackendChoice } from '../backend/backend';
import type { MetricsReport, RunEvent, RunFinishedPayload, RunOverrides, RunRequest } from '../protocol/messages';
import { creditRows, creditSentence, pointsText } from '../protocol/credit';
import { compactRefresh } from '../protocol/downsample';
import { jsonSafe } from '../protocol/messages';
import { refreshingText } from '../protocol/stageLine';
import { writeFileAtomic } from '../data/atomicWrite';
import { runRequest } from '../run/run';
import { evaluateRequest, gainRequest } from '../run/evaluate';
import { requestFromFile } from '../request/configFile';
import { parseNumberFlag } from '../request/request';
import { prepareRun } from '../request/prepare';
import { DEMO_OUTPUT, demoConfigText } from '../request/demo';
import { parseTemperatureList } from '../report/sweep';
import { runSweep } from '../run/sweepRun';
import { runShiftExperiment } from '../run/experiments';
import { writeReportHtml, writeRunLog } from '../report/reportPage';

export { EXIT };

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

Common options: --backend ${BACKEND_CHOICES.join('|')}   --json (one protocol event per line on stdout;
  a refresh's G and P above 100 x 100 are downsampled in tiles, the full last ones are gain.npy and distribution.npy)
Objectives: ${OBJECTIVE_IDS.join(', ')}
Weights are in PyTorch nn.Linear layout (K x d). Exit codes: 0 ok, 1 run failed, 2 bad input.`;

const OPTIONS = {
  config: { type: 'string' },
  json: { type: 'boolean' },
  resume: { type: 'boolean' },
  steps: { type: 'string' },
  seed: { type: 'string' },
  objective: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
  features: { type: 'string' },
  labels: { type: 'string' },
  'val-features': { type: 'string' },
  'val-labels': { type: 'string' },
  'unlabeled-features': { type: 'string' },
  weights: { type: 'string' },
  bias: { type: 'string' },
  temperature: { type: 'string' },
  split: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  threshold: { type: 'string' },
  oracle: { type: 'boolean' },
  small: { type: 'boolean' },
} as const;

type Flags = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function num(flags: Flags, name: 'steps' | 'seed' | 'temperature' | 'threshold'): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = parseNumberFlag(`--${name}`, v);
  if (typeof n !== 'number') throw new UsageError(n.error);
  return n;
}

function need(flags: Flags, ...names: (keyof Flags)[]): void {
  const missing = names.filter((n) => flags[n] === undefined || flags[n] === '');
  if (missing.length) throw new UsageError(`missing ${missing.map((n) => `--${n}`).join(', ')}`);
}

function backendOf(flags: Flags): BackendChoice | undefined {
  if (flags.backend === undefined) return undefined;
  if (!(BACKEND_CHOICES as readonly string[]).includes(flags.backend))
    throw new UsageError(`--backend: "${flags.backend}" is not one of ${BACKEND_CHOICES.join(', ')}`);
  return flags.backend as BackendChoice;
}

function objectiveOf(flags: Flags): string | undefined {
  const o = flags.objective;
  if (o !== undefined && !isObjectiveId(o))
    throw new UsageError(`--objective: "${o}" is not one of ${OBJECTIVE_IDS.join(', ')}`);
  return o;
}

/** The overrides the flags ask for (--steps, --seed, --temperature, --objective, --out), checked. */
function overridesOf(flags: Flags, withOut: boolean): RunOverrides {
  const steps = num(flags, 'steps');
  const seed = num(flags, 'seed');
  const temperature = num(flags, 'temperature');
  const objective = objectiveOf(flags);
  return {
    ...(steps !== undefined ? { steps } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(temperature !== undefined ? { temperature } : {}),
    ...(objective !== undefined ? { objective } : {}),
    ...(withOut && flags.out !== undefined ? { output: resolve(flags.out) } : {}),
  };
}

/** Prints events: JSON lines on stdout with --json, else a progress bar on a TTY and log lines on stderr. */
function printer(json: boolean): (e: RunEvent) => void {
  const tty = process.stderr.isTTY === true;
  let lastLen = 0;
  /** The progress line of the last step (a terminal's). */
  let stepLine = '';
  return (e) => {
    if (json) {
      // G and P above 100 a side go out downsampled (their `block` says so); the last refresh's full matrices are the
      // .npy files beside report.json. At K = 1000 a full refresh was two 20 MB lines.
      const out = e.type === 'run/refresh' ? { ...e, payload: compactRefresh(e.payload) } : e;
      process.stdout.write(JSON.stringify(out, jsonSafe) + '\n');
      return;
    }
    switch (e.type) {
      case 'run/started':
        process.stderr.write(
          `${e.payload.mode === 'pretrain' ? 'pre-training' : 'fine-tuning'} "${e.payload.name}": objective ${e.payload.objective}, K = ${e.payload.K}, ${e.payload.totalSteps} steps, backend ${e.payload.backend}\n`,
        );
        break;
      case 'run/step': {
        const p = e.payload;
        if (tty) {
          const w = 30;
          const done = Math.round((w * p.step) / p.totalSteps);
          const line = `[${'#'.repeat(done)}${'.'.repeat(w - done)}] ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} ${p.msPerStep.toFixed(1)} ms/step`;
          process.stderr.write('\r' + line.padEnd(lastLen));
          lastLen = line.length;
          stepLine = line;
        }
        break;
      }
      case 'run/refreshing':
        // On a terminal the progress line says what the refresh holding the steps does; otherwise nothing.
        if (tty) {
          const line = `${stepLine}${stepLine ? ' · ' : ''}${refreshingText(e.payload)}`;
          process.stderr.write('\r' + line.padEnd(lastLen));
          lastLen = line.length;
        }
        break;
      case 'run/refresh':
        if (tty) process.stderr.write('\r'.padEnd(lastLen + 1) + '\r');
        process.stderr.write(
          `  step ${e.payload.step}: ${e.payload.objective} = ${e.payload.objectiveValue.toFixed(4)} (val), mean recall ${e.payload.val.meanRecall.toFixed(4)}, min recall ${e.payload.val.minRecall.toFixed(4)}, max gain ${e.payload.maxGain.toExponential(2)}\n`,
        );
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
      case 'run/stage': {
        // On a terminal the stage line overwrites itself; otherwise only a stage's first line is printed.
        const p = e.payload;
        const line = `${p.label}${p.total > 0 ? ` ${p.done}/${p.total}` : ''}`;
        if (tty) {
          process.stderr.write('\r' + line.padEnd(lastLen));
          lastLen = line.length;
        } else if (p.done === 0) {
          process.stderr.write(`${p.label}\n`);
        }
        break;
      }
      case 'run/checkpoint':
        break;
    }
  };
}

const pct = (v: number) => (100 * v).toFixed(2).padStart(7);

/** One event as a run.log line (the lines the CLI prints; steps are left out); null for none. */
export function logLine(e: RunEvent): string | null {
  switch (e.type) {
    case 'run/started':
      return `${e.payload.mode === 'pretrain' ? 'pre-training' : 'fine-tuning'} "${e.payload.name}": objective ${e.payload.objective}, K = ${e.payload.K}, ${e.payload.totalSteps} steps, backend ${e.payload.backend}`;
    case 'run/refresh':
      return `step ${e.payload.step}: ${e.payload.objective} = ${e.payload.objectiveValue.toFixed(4)} (val), mean recall ${e.payload.val.meanRecall.toFixed(4)}, min recall ${e.payload.val.minRecall.toFixed(4)}`;
    case 'run/log':
      return `${e.payload.level === 'warn' ? 'warning: ' : ''}${e.payload.message}`;
    case 'run/checkpoint':
      return `checkpoint at step ${e.payload.step}: ${e.payload.path}`;
    case 'run/finished':
      return `finished: ${e.payload.objective} ${e.payload.before.objectiveValue.toFixed(4)} -> ${e.payload.after.objectiveValue.toFixed(4)} (best step ${e.payload.bestStep}), stopped by ${e.payload.stoppedBy} after ${e.payload.steps} steps`;
    case 'run/failed':
      return `failed (${e.payload.kind}): ${e.payload.message}`;
    default:
      return null;
  }
}

/** Above this many classes the terminal shows the worst classes only (the full table is in report.json). */
export const TERMINAL_CLASSES = 20;

/**
 * A before/after table of test (or validation) metrics: the starting model, the warm start, the baselines, the kept
 * iterate, SelMix's own change from the warm start and the whole change; for large K the TERMINAL_CLASSES classes of
 * lowest recall after.
 */
export function beforeAfterTable(s: RunFinishedPayload, classNames?: string[]): string {
  const useTest = s.before.test !== undefined && s.after.test !== undefined;
  const b: MetricsReport = useTest ? s.before.test! : s.before.val;
  const a: MetricsReport = useTest ? s.after.test! : s.after.val;
  // The warm start's metrics on the same split (older summaries, and runs without a warm start, have none: the start).
  const w: MetricsReport = (useTest ? s.warmStart?.test : s.warmStart?.val) ?? b;
  const K = b.recall.length;
  let classes = Array.from({ length: K }, (_, k) => k);
  if (K > TERMINAL_CLASSES)
    classes = classes.sort((x, y) => a.recall[x]! - a.recall[y]! || x - y).slice(0, TERMINAL_CLASSES);
  // Baselines of the same run (training.baselines) get a column each, named B1, B2, ... in a legend below.
  const base = (s.baselines ?? []).map((r) => (useTest ? r.test : r.val) ?? r.val);
  const pick = (m: MetricsReport): number[] => [
    m.accuracy,
    m.meanRecall,
    m.minRecall,
    m.gMean,
    m.hMean,
    m.minHeadTailRecall,
    m.minCoverage,
    ...classes.map((k) => m.recall[k]!),
  ];
  const names = [
    'accuracy',
    'mean recall',
    'min recall',
    'G-mean',
    'H-mean',
    'min head/tail recall',
    'min coverage',
    ...classes.map((k) => `recall ${classNames?.[k] ?? k}`),
  ];
  const bv = pick(b),
    wv = pick(w),
    av = pick(a),
    basev = base.map(pick);
  const signed = (v: number) => ((v >= 0 ? '+' : '') + (100 * v).toFixed(2)).padStart(9);
  const head =
    `${useTest ? 'test' : 'validation'} set (%)`.padEnd(24) +
    'start'.padStart(8) +
    'warm'.padStart(8) +
    base.map((_, i) => `B${i + 1}`.padStart(8)).join('') +
    'after'.padStart(8) +
    'SelMix'.padStart(9) +
    'total'.padStart(9);
  const lines = names.map(
    (n, r) =>
      n.padEnd(24) +
      pct(bv[r]!).padStart(8) +
      pct(wv[r]!).padStart(8) +
      basev.map((v) => pct(v[r]!).padStart(8)).join('') +
      pct(av[r]!).padStart(8) +
      signed(av[r]! - wv[r]!) +
      signed(av[r]! - bv[r]!),
  );
  const ws = s.warmStart;
  const legend = [
    `warm: ${ws ? `the logit-adjusted warm start, tau = ${+ws.tau.toFixed(4)}` : 'no warm start (the starting model)'}; SelMix: after - warm (SelMix's own change); total: after - start`,
    ...(s.baselines ?? []).map((r, i) => `B${i + 1}: ${r.label}, same starting model, ${r.seconds.toFixed(1)} s`),
  ];
  const note =
    K > TERMINAL_CLASSES
      ? [`(the ${TERMINAL_CLASSES} of ${K} classes with the lowest recall after; every class is in report.json)`]
      : [];
  return [head, '-'.repeat(head.length), ...lines, ...legend, ...note].join('\n');
}

/** The objective split into the starting model, the warm start and SelMix's own change, on validation and test. */
export function creditTable(f: RunFinishedPayload): string {
  const rows = creditRows(f);
  const hasTest = rows.some((r) => r.test !== null);
  const v = (x: number | null) => (x === null ? 'n/a' : (100 * x).toFixed(2)).padStart(8);
  const c = (x: number | null) => pointsText(x).padStart(9);
  const width = Math.max(...rows.map((r) => r.label.length), 20) + 2;
  const head =
    `${f.objective} (%)`.padEnd(width) +
    'val'.padStart(8) +
    'change'.padStart(9) +
    (hasTest ? 'test'.padStart(8) + 'change'.padStart(9) : '');
  const lines = rows
    .map(
      (r) =>
        r.label.padEnd(width) +
        v(r.val) +
        (r.changeVal === null ? ''.padStart(9) : c(r.changeVal)) +
        (hasTest ? v(r.test) + (r.changeTest === null ? ''.padStart(9) : c(r.changeTest)) : ''),
    )
    .map((l) => l.trimEnd());
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}

/**
 * The lines under the summary: warm start, feasibility of a constrained objective, and a budget that ran out while
 * improving.
 */
export function summaryNotes(f: RunFinishedPayload): string[] {
  const out: string[] = [];
  out.push(creditSentence(f));
  if (f.feasibility) {
    const one = (where: string, x: { constraint: string; bound: number; value: number; met: boolean }) =>
      `${where} ${x.constraint} ${pct(x.value).trim()}% vs bound ${pct(x.bound).trim()}%: ${x.met ? 'met' : 'NOT met'}`;
    out.push(
      `constraint: ${one('validation', f.feasibility.val)}${f.feasibility.test ? `; ${one('test', f.feasibility.test)}` : ''}`,
    );
  }
  if (f.infeasible) out.push(f.infeasible);
  if (f.stoppedBy === 'steps' && f.bestStep === f.steps && f.steps > 0) {
    out.push(
      `the kept iterate is the last step (${f.steps}): the objective was still improving; try more steps (--steps ${2 * f.steps})`,
    );
  }
  return out;
}

/** Runs one request with Ctrl-C as Stop; prints the summary; returns the exit code. */
async function runAndReport(request: RunRequest, flags: Flags): Promise<number> {
  let stop = false;
  const onSig = () => {
    stop = true;
    process.stderr.write('\nstopping at the next step (a checkpoint is kept)...\n');
  };
  process.once('SIGINT', onSig);
  const backend = backendOf(flags);
  const print = printer(flags.json === true);
  let classNames: string[] | undefined;
  // The run's lines, as the extension keeps them, for run.log beside the report.
  const log: string[] = [];
  const emit = (e: RunEvent): void => {
    if (e.type === 'run/started' && e.payload.mode === 'finetune') classNames = e.payload.classNames;
    const line = logLine(e);
    if (line) log.push(`${new Date().toISOString()} ${line}`);
    print(e);
  };
  const r = await runRequest(request, { emit, shouldStop: () => stop, ...(backend ? { backend } : {}) });
  process.off('SIGINT', onSig);
  if (!r.ok) return exitCodeOf(r.kind);
  const f = r.summary;
  const written: string[] = [];
  if (f.reportPath !== null) {
    try {
      written.push(writeRunLog(f.outputDir, log), writeReportHtml(f.reportPath).path);
    } catch (e) {
      process.stderr.write(`warning: report.html or run.log not written: ${(e as Error).message}\n`);
    }
  }
  if (!flags.json) {
    if (f.reportPath === null) {
      process.stdout.write(
        `stopped during pre-training after ${f.steps} steps; nothing was written (the next run pre-trains again)\n`,
      );
      return EXIT.ok;
    }
    process.stdout.write(beforeAfterTable(f, classNames) + '\n\n' + creditTable(f) + '\n');
    process.stdout.write(
      `\n${f.objective}: ${f.before.objectiveValue.toFixed(4)} -> ${f.after.objectiveValue.toFixed(4)} on validation (the best iterate, step ${f.bestStep}); stopped by ${f.stoppedBy} after ${f.steps} steps; ${f.wallSeconds.toFixed(1)} s\n`,
    );
    process.stdout.write(
      summaryNotes(f)
        .map((l) => l + '\n')
        .join('') +
        `Outputs in ${f.outputDir}${written.length ? ` (report.json, ${written.map((w) => w.split(/[\\/]/).pop()).join(', ')})` : ''}\n`,
    );
  }
  return EXIT.ok;
}

async function cmdDemo(flags: Flags): Promise<number> {
  const outDir = resolve(flags.out ?? DEMO_OUTPUT);
  const overrides = overridesOf(flags, false);
  const cfgPath = join(outDir, 'demo.selmix.json');
  // Check the overrides before anything is written; then keep the config beside the outputs, so the run can be repeated
  // or opened in VS Code.
  const request: RunRequest = { configText: demoConfigText(), configPath: cfgPath, overrides };
  const bad = prepareRun(request, { exists: () => true }).issues.filter((i) => i.severity === 'error');
  if (bad.length) throw new UsageError(bad.map((i) => i.message).join('; '));
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(cfgPath, request.configText);
  return runAndReport(request, flags);
}

/** Every flag-given file must exist; the message names the flag. */
function checkFlagFiles(flags: Flags, names: (keyof Flags)[]): void {
  for (const n of names) {
    const v = flags[n];
    if (typeof v === 'string' && !existsSync(resolve(v)))
      throw new DataError(resolve(v), `file not found (given as --${n})`);
  }
}

/** The config of feature mode: .npy features and labels and a linear head, from flags (val: the validation split). */
function featureConfig(
  flags: Flags,
  val: { features: string; labels: string } | null,
  objective: string,
): SelmixConfigInput {
  const abs = (p: string) => resolve(p);
  return {
    objective: objective as SelmixConfigInput['objective'],
    data: {
      kind: 'npy',
      train: { features: abs(flags.features!), labels: abs(flags.labels!) },
      ...(val ? { val: { features: abs(val.features), labels: abs(val.labels) } } : {}),
      ...(flags['unlabeled-features'] ? { unlabeled: { features: abs(flags['unlabeled-features']) } } : {}),
    },
    model: { kind: 'linear', weights: abs(flags.weights!), ...(flags.bias ? { bias: abs(flags.bias) } : {}) },
    output: flags.out ? abs(flags.out) : '.',
  };
}

/** A request built from flags (no file: paths are absolute, and the overrides carry the numbers). */
function flagRequest(cfg: SelmixConfigInput, flags: Flags): RunRequest {
  return {
    configText: JSON.stringify(cfg, null, 2),
    configPath: join(process.cwd(), 'command-line flags'),
    overrides: overridesOf(flags, false),
    ...(flags.resume ? { resume: true } : {}),
  };
}

async function cmdFinetune(flags: Flags, task: 'finetune' | 'pretrain'): Promise<number> {
  if (flags.config !== undefined) {
    const request = requestFromFile(flags.config, {
      overrides: overridesOf(flags, true),
      ...(flags.resume ? { resume: true } : {}),
    });
    const cfg = prepareRun(request, { exists: () => true }).config;
    if (cfg && cfg.task !== task)
      throw new ConfigError(request.configPath, [
        { path: 'task', message: `this config is a "${cfg.task}" run; use \`selmix ${cfg.task}\`` },
      ]);
    return runAndReport(request, flags);
  }
  if (task === 'pretrain') throw new UsageError('pretrain needs --config FILE');
  need(flags, 'features', 'labels', 'val-features', 'val-labels', 'weights', 'objective', 'out');
  checkFlagFiles(flags, ['features', 'labels', 'val-features', 'val-labels', 'unlabeled-features', 'weights', 'bias']);
  return runAndReport(
    flagRequest(
      featureConfig(flags, { features: flags['val-features']!, labels: flags['val-labels']! }, objectiveOf(flags)!),
      flags,
    ),
    flags,
  );
}

function matrixRows(m: Float64Array, K: number): number[][] {
  return Array.from({ length: K }, (_, i) => Array.from(m.subarray(i * K, (i + 1) * K)));
}

async function cmdGain(flags: Flags): Promise<number> {
  need(flags, 'features', 'labels', 'weights', 'objective');
  const objective = objectiveOf(flags)!;
  checkFlagFiles(flags, ['features', 'labels', 'weights', 'bias']);
  const cfg = featureConfig(flags, { features: flags.features!, labels: flags.labels! }, objective);
  const backend = backendOf(flags);
  const g = await gainRequest(flagRequest(cfg, flags), { ...(backend ? { backend } : {}) });
  const { K, n, refresh: r } = g!;
  const s = num(flags, 'temperature') ?? 10;
  if (flags.json) {
    process.stdout.write(
      JSON.stringify({
        objective,
        K,
        confusion: matrixRows(r.C, K),
        metrics: r.metrics,
        multipliers: r.multipliers ? Array.from(r.multipliers) : null,
        gain: matrixRows(r.G, K),
        distribution: matrixRows(r.P, K),
      }) + '\n',
    );
    return EXIT.ok;
  }
  const order = largestIndices(r.G, 10);
  const m = r.metrics;
  process.stdout.write(
    `objective ${objective} = ${r.objectiveValue.toFixed(4)} on ${n} examples, K = ${K}, s = ${s}\n`,
  );
  process.stdout.write(
    `accuracy ${pct(m.accuracy)}%  mean recall ${pct(m.meanRecall)}%  min recall ${pct(m.minRecall)}%  G-mean ${pct(m.gMean)}%  H-mean ${pct(m.hMean)}%\n`,
  );
  if (r.multipliers)
    process.stdout.write(
      K <= TERMINAL_CLASSES
        ? `multipliers: ${Array.from(r.multipliers, (v) => v.toFixed(4)).join(' ')}\n`
        : `multipliers: ${K} values (--json prints them)\n`,
    );
  process.stdout.write('top pairs (anchor i mixed with partner j):\n   i    j          gain       P\n');
  for (const idx of order)
    process.stdout.write(
      `${String(Math.floor(idx / K)).padStart(4)} ${String(idx % K).padStart(4)} ${r.G[idx]!.toExponential(4).padStart(13)} ${r.P[idx]!.toFixed(4).padStart(7)}\n`,
    );
  return EXIT.ok;
}

async function cmdEval(flags: Flags): Promise<number> {
  const backend = backendOf(flags);
  let m: MetricsReport | null;
  let classNames: string[] | undefined;
  if (flags.config !== undefined) {
    const split = flags.split ?? 'val';
    if (split !== 'val' && split !== 'test') throw new UsageError(`--split must be val or test (got ${split})`);
    let stop = false;
    const onSig = () => {
      stop = true;
    };
    process.once('SIGINT', onSig);
    // Progress on stderr when the demo model must be pre-trained first.
    m = await evaluateRequest(requestFromFile(flags.config), split, {
      emit: printer(false),
      shouldStop: () => stop,
      onClassNames: (c) => {
        classNames = c;
      },
      ...(backend ? { backend } : {}),
    });
    process.off('SIGINT', onSig);
    if (!m) {
      process.stderr.write('stopped during pre-training; nothing was written\n');
      return EXIT.ok;
    }
  } else {
    need(flags, 'features', 'labels', 'weights');
    checkFlagFiles(flags, ['features', 'labels', 'weights', 'bias']);
    m = await evaluateRequest(
      flagRequest(featureConfig(flags, { features: flags.features!, labels: flags.labels! }, 'minRecall'), flags),
      'val',
      { ...(backend ? { backend } : {}) },
    );
  }
  process.stdout.write(
    flags.json ? JSON.stringify(classNames ? { ...m, classNames } : m) + '\n' : formatMetrics(m!, classNames) + '\n',
  );
  return EXIT.ok;
}

async function cmdSweep(flags: Flags): Promise<number> {
  need(flags, 'config', 'temperature');
  const list = parseTemperatureList(flags.temperature!);
  if ('error' in list) throw new UsageError(`--temperature: ${list.error}`);
  const base = requestFromFile(flags.config!, { overrides: overridesOf({ ...flags, temperature: undefined }, true) });
  const backend = backendOf(flags);
  const r = await runSweep(base, list.values, {
    emit: flags.json ? printer(true) : printer(false),
    onValue: (s) => process.stderr.write(`sweep: s = ${s}\n`),
    ...(backend ? { backend } : {}),
  });
  if (!r.ok) return exitCodeOf(r.kind);
  if (!flags.json) process.stdout.write(r.markdown + `\nwrote ${r.mdPath}, sweep.json and sweep.svg\n`);
  return EXIT.ok;
}

/** A readable metrics report; classes by name when given (the folder names of image data). */
export function formatMetrics(m: MetricsReport, classNames?: string[]): string {
  const named = (k: number): boolean => classNames?.[k] !== undefined && classNames[k] !== String(k);
  // Numbered classes keep their right-aligned column; named ones read "index name", left-aligned.
  const w = Math.max(5, ...m.recall.map((_, k) => (named(k) ? `${k} ${classNames![k]}`.length : 0)));
  const label = (k: number): string => (named(k) ? `${k} ${classNames![k]}`.padEnd(w) : String(k).padStart(w));
  return [
    `accuracy ${pct(m.accuracy)}%   mean recall ${pct(m.meanRecall)}%   min recall ${pct(m.minRecall)}%   max recall ${pct(m.maxRecall)}%`,
    `G-mean ${pct(m.gMean)}%   H-mean ${pct(m.hMean)}%   head ${pct(m.headRecall)}%   tail ${pct(m.tailRecall)}%   min coverage ${pct(m.minCoverage)}%`,
    `${'class'.padEnd(w)}  support  recall  coverage`,
    ...m.recall.map((r, k) => `${label(k)} ${String(m.support[k]).padStart(8)} ${pct(r)} ${pct(m.coverage[k]!)}`),
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
    if (flags.help) {
      process.stdout.write(USAGE + '\n');
      return EXIT.ok;
    }
    switch (cmd) {
      case 'demo':
        return await cmdDemo(flags);
      case 'pretrain':
        return await cmdFinetune(flags, 'pretrain');
      case 'finetune':
        return await cmdFinetune(flags, 'finetune');
      case 'gain':
        return await cmdGain(flags);
      case 'eval':
        return await cmdEval(flags);
      case 'sweep':
        return await cmdSweep(flags);
      case 'experiment': {
        if (positionals.length !== 1 || positionals[0] !== 'shift')
          throw new UsageError('experiment: the only experiment is "shift"');
        return await runShiftExperiment(
          {
            out: flags.out ?? 'selmix-experiments/shift',
            objective: (objectiveOf(flags) ?? 'minRecall') as Parameters<typeof runShiftExperiment>[0]['objective'],
            steps: num(flags, 'steps') ?? 300,
            rho: 100,
            threshold: num(flags, 'threshold') ?? 0,
            oracle: flags.oracle === true,
            seed: num(flags, 'seed') ?? 0,
            small: flags.small === true,
            json: flags.json === true,
            backend: backendOf(flags),
          },
          flags.json ? printer(true) : () => undefined,
        );
      }
      case 'backends': {
        const info = await initBackend({ choice: backendOf(flags) ?? 'auto' });
        const malloc = mallocSettings();
        process.stdout.write(
          info.probes.map((p) => `${p.ok ? 'ok  ' : 'no  '} ${p.name}: ${p.detail}`).join('\n') +
            `\nin use: ${info.name}\n` +
            (malloc ? `malloc: ${malloc}\n` : ''),
        );
        return EXIT.ok;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    const kind = failureKindOf(e);
    if (kind === 'usage') process.stderr.write(`selmix: ${(e as Error).message}\n\n${USAGE}\n`);
    else if (kind === 'internal') process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
    else process.stderr.write(`error: ${(e as Error).message}\n`);
    return exitCodeOf(kind);
  }
}

if (require.main === module || process.env.SELMIX_CLI_MAIN === '1') {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
