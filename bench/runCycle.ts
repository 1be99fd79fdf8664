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
import { DurationStats, GapStats } from '../src/core/gapStats';
import { log } from './lib';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

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
  // The same summaries (nearest-rank percentiles) as the run log's in the extension (src/core/gapStats.ts).
  const refreshMs = new DurationStats();
  const stepsMs = new DurationStats();
  const stepGaps = new GapStats();
  let lastRefreshAt: number | null = null;
  for (let i = from; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'step') {
      stepGaps.record(e.at);
      continue;
    }
    const before = events[i - 1];
    if (before?.type === 'step' && before.step === e.step) refreshMs.add(e.at - before.at);
    if (lastRefreshAt !== null && before?.type === 'step') stepsMs.add(before.at - lastRefreshAt);
    lastRefreshAt = e.at;
  }
  log(`${config}: ${steps} steps; measured over the refreshes from step ${events[from]?.step}`);
  log(`  a refresh held the loop: ${refreshMs.describe()}`);
  log(`  the steps between two refreshes: ${stepsMs.describe()}`);
  log(`  step events ${stepGaps.describe()}`);
}

void main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
