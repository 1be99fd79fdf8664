// Where a run's wall time goes between two refreshes, as the views hear it: a config run in this process
// (runRequest, the worker's and the CLI's own path) with its events timed as they are emitted. Prints the refreshes'
// duration (the step event the loop sends right before a refresh -> the refresh event at its end), the steps' time
// between two refreshes, and the gaps between step events. Issue 22's step gap on the dashboard cannot be shorter
// than a refresh: no step runs while one does.
//   node --import tsx bench/runCycle.ts --config FILE [--steps N] [--backend onnxruntime]
import { rmSync } from 'node:fs';
import type { BackendChoice } from '../src/backend/backend';
import { requestFromFile } from '../src/request/configFile';
import { prepareRun } from '../src/request/prepare';
import { runRequest } from '../src/run/run';
import { log, median } from './lib';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
};

async function main(): Promise<void> {
  const config = arg('--config');
  if (!config) throw new Error('usage: node --import tsx bench/runCycle.ts --config FILE [--steps N] [--backend B]');
  const steps = arg('--steps') ? Number(arg('--steps')) : 400;
  const request = requestFromFile(config, { overrides: { steps } });
  // A run of this bench replaces its own output folder (the config's), as a re-run would.
  const out = prepareRun(request).outputDir;
  if (out) rmSync(out, { recursive: true, force: true });
  const events: { type: 'step' | 'refresh'; step: number; at: number }[] = [];
  const r = await runRequest(request, {
    emit: (e) => {
      if (e.type === 'run/step' || e.type === 'run/refresh')
        events.push({ type: e.type === 'run/step' ? 'step' : 'refresh', step: e.payload.step, at: performance.now() });
    },
    shouldStop: () => false,
    ...(arg('--backend') ? { backend: arg('--backend') as BackendChoice } : {}),
  });
  if (!r.ok) throw new Error(`the run failed: ${r.message}`);
  // The first refreshes include compilation and first touches of the arrays: skip a fifth of the run.
  const from = events.findIndex((e) => e.type === 'refresh' && e.step >= steps / 5);
  const refreshMs: number[] = [];
  const stepsMs: number[] = [];
  let lastRefreshAt: number | null = null;
  for (let i = from; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'refresh') continue;
    const before = events[i - 1];
    if (before?.type === 'step' && before.step === e.step) refreshMs.push(e.at - before.at);
    if (lastRefreshAt !== null && before?.type === 'step') stepsMs.push(before.at - lastRefreshAt);
    lastRefreshAt = e.at;
  }
  const stepAt = events.slice(from).filter((e) => e.type === 'step');
  const gaps = stepAt.slice(1).map((e, i) => e.at - stepAt[i]!.at);
  log(`${config}: ${steps} steps; measured over the refreshes from step ${events[from]?.step}`);
  log(
    `  a refresh held the loop: median ${median(refreshMs).toFixed(0)} ms (p95 ${pct(refreshMs, 0.95).toFixed(0)}, ${refreshMs.length} refreshes)`,
  );
  log(`  the steps between two refreshes: median ${median(stepsMs).toFixed(0)} ms`);
  log(
    `  step events every p50 ${pct(gaps, 0.5).toFixed(0)} ms, p95 ${pct(gaps, 0.95).toFixed(0)} ms (${gaps.length} gaps)`,
  );
}

void main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
