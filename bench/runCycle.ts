// Where a run's wall time goes between two refreshes, as the views hear it: a config run in this process
// (runRequest, the worker's and the CLI's own path) with its events timed as they are emitted. Prints the refreshes'
// duration (the step event the loop sends right before a refresh -> the refresh event at its end), the steps' time
// between two refreshes, the gaps between step events, and (on Linux) the CPU time of this process's main thread
// over the measured span. Issue 22's step gap on the dashboard cannot be shorter than a refresh: no step runs while
// one does.
//   node --import tsx bench/runCycle.ts --config FILE [--steps N] [--backend onnxruntime]
// With --compare DIR (another checkout: `git worktree add /tmp/old REV`), the same run from both checkouts in one
// process, alternating for --rounds rounds (default 4), side by side with the ratios.
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BackendChoice } from '../src/backend/backend';
import type * as ConfigFile from '../src/request/configFile';
import type * as Prepare from '../src/request/prepare';
import type * as Run from '../src/run/run';
import { DurationStats } from '../src/core/gapStats';
import { log } from './lib';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** CPU time of this process's main thread so far (ms), from /proc; null elsewhere. */
function mainThreadCpuMs(): number | null {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

/** What one run of a checkout measured, from the refreshes at or after a fifth of its steps. */
interface CycleStats {
  refresh: DurationStats;
  steps: DurationStats;
  /** Gaps between step events within a run. */
  stepGaps: DurationStats;
  cpuMs: number[];
  wallMs: number[];
  from: number | undefined;
}

const newStats = (): CycleStats => ({
  refresh: new DurationStats(),
  steps: new DurationStats(),
  stepGaps: new DurationStats(),
  cpuMs: [],
  wallMs: [],
  from: undefined,
});

/** Runs the config once from the checkout at root, adding what it measured to into. */
async function runOnce(root: string, config: string, steps: number, into: CycleStats): Promise<void> {
  const { requestFromFile } = (await import(resolve(root, 'src/request/configFile.ts'))) as typeof ConfigFile;
  const { prepareRun } = (await import(resolve(root, 'src/request/prepare.ts'))) as typeof Prepare;
  const { runRequest } = (await import(resolve(root, 'src/run/run.ts'))) as typeof Run;
  const request = requestFromFile(config, { overrides: { steps } });
  // A run of this bench replaces its own output folder (the config's), as a re-run would.
  const out = prepareRun(request).outputDir;
  if (out) rmSync(out, { recursive: true, force: true });
  const events: { type: 'step' | 'refresh'; step: number; at: number }[] = [];
  // The first refreshes include compilation and first touches of the arrays: measure from a fifth of the run.
  const startStep = Math.ceil(steps / 5);
  let cpu0: number | null = null,
    wall0 = 0;
  const r = await runRequest(request, {
    emit: (e) => {
      if (e.type !== 'run/step' && e.type !== 'run/refresh') return;
      const at = performance.now();
      events.push({ type: e.type === 'run/step' ? 'step' : 'refresh', step: e.payload.step, at });
      if (e.type === 'run/refresh' && cpu0 === null && e.payload.step >= startStep) {
        cpu0 = mainThreadCpuMs();
        wall0 = at;
      }
    },
    shouldStop: () => false,
    ...(arg('--backend') ? { backend: arg('--backend') as BackendChoice } : {}),
  });
  if (!r.ok) throw new Error(`the run failed: ${r.message}`);
  const cpu1 = mainThreadCpuMs();
  const from = events.findIndex((e) => e.type === 'refresh' && e.step >= startStep);
  into.from ??= events[from]?.step;
  let lastRefreshAt: number | null = null;
  let lastStepAt: number | null = null;
  let lastAt = wall0;
  for (let i = from; i >= 0 && i < events.length; i++) {
    const e = events[i]!;
    lastAt = e.at;
    if (e.type === 'step') {
      if (lastStepAt !== null) into.stepGaps.add(e.at - lastStepAt);
      lastStepAt = e.at;
      continue;
    }
    const before = events[i - 1];
    if (before?.type === 'step' && before.step === e.step) into.refresh.add(e.at - before.at);
    if (lastRefreshAt !== null && before?.type === 'step') into.steps.add(before.at - lastRefreshAt);
    lastRefreshAt = e.at;
  }
  if (cpu0 !== null && cpu1 !== null) into.cpuMs.push(cpu1 - cpu0);
  into.wallMs.push(lastAt - wall0);
}

async function main(): Promise<void> {
  const config = arg('--config');
  if (!config)
    throw new Error(
      'usage: node --import tsx bench/runCycle.ts --config FILE [--steps N] [--backend B] [--compare DIR [--rounds N]]',
    );
  const steps = arg('--steps') ? Number(arg('--steps')) : 400;
  const here = resolve(__dirname, '..');
  const other = arg('--compare');
  const roots = other ? [resolve(other), here] : [here];
  const rounds = other ? Number(arg('--rounds') ?? 4) : 1;
  const stats = roots.map(newStats);
  // Alternating, and which checkout goes first alternates too.
  for (let round = 0; round < rounds; round++)
    for (let k = 0; k < roots.length; k++) {
      const i = (round + k) % roots.length;
      await runOnce(roots[i]!, config, steps, stats[i]!);
    }
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  roots.forEach((root, i) => {
    const s = stats[i]!;
    log(`${root}: ${config}, ${steps} steps x ${rounds}; measured over the refreshes from step ${s.from}`);
    log(`  a refresh held the loop: ${s.refresh.describe()}`);
    log(`  the steps between two refreshes: ${s.steps.describe()}`);
    log(`  step events every ${s.stepGaps.describe()}`);
    if (s.cpuMs.length > 0)
      log(
        `  the main thread's CPU time over the measured spans: ${s.cpuMs.map((c) => c.toFixed(0)).join(', ')} ms (wall ${s.wallMs.map((w) => w.toFixed(0)).join(', ')} ms)`,
      );
  });
  if (other) {
    const [a, b] = stats as [CycleStats, CycleStats];
    const ratio = (x: number | undefined, y: number | undefined): string => (x && y ? (y / x).toFixed(2) : 'n/a');
    log(
      `this checkout / ${roots[0]}: refresh hold p50 ${ratio(a.refresh.summary()?.p50, b.refresh.summary()?.p50)}, steps between refreshes p50 ${ratio(a.steps.summary()?.p50, b.steps.summary()?.p50)}, main-thread CPU ${ratio(sum(a.cpuMs), sum(b.cpuMs))}`,
    );
  }
}

void main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
