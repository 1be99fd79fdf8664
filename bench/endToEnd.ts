// Benchmark (e): `selmix demo` end to end in a child process: wall time, CPU time and peak RSS (GNU time -v
// when /usr/bin/time exists, else the child's resource usage), warm (the pre-trained CNN cache linked in) and,
// when asked or when no cache exists, cold (pre-training included). With --cold the cold demo runs twice, side by
// side: `--backend wasm` (before: tfjs-wasm only) and the default `auto` (after: ONNX Runtime where it loads).
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { log, runTimed } from './lib';

/** One demo run's figures. */
export interface DemoRun {
  kind: 'warm' | 'cold';
  /** The --backend the process got ('auto' when none was passed). Absent in bench.json files written before it. */
  backendFlag?: 'auto' | 'wasm';
  ok: boolean;
  exitCode: number | null;
  wallS: number;
  userS: number;
  sysS: number;
  peakRssBytes: number;
  measuredWith: string;
  /** From the run/finished event. */
  steps: number | null;
  engineWallS: number | null;
  minRecallTest: { before: number; after: number } | null;
  backend: string | null;
  refreshes: number;
  stderrTail: string;
}

const CACHE = '.selmix-cache';

/**
 * Runs `node bin/selmix.js demo --json --out <tmp>/out [--backend wasm]` in a fresh temp cwd (cold: an empty cache
 * folder).
 */
export async function runDemo(
  kind: 'warm' | 'cold',
  repoRoot: string,
  backendFlag: 'auto' | 'wasm' = 'auto',
): Promise<DemoRun> {
  const cwd = mkdtempSync(join(tmpdir(), `selmix-bench-${kind}-`));
  const repoCache = resolve(repoRoot, CACHE);
  if (kind === 'warm') symlinkSync(repoCache, join(cwd, CACHE), 'dir');
  const cli = resolve(repoRoot, 'bin', 'selmix.js');
  const t = await runTimed(
    [cli, 'demo', '--json', '--out', join(cwd, 'out'), ...(backendFlag === 'wasm' ? ['--backend', 'wasm'] : [])],
    cwd,
  );
  const { stdout, stderr, code, wallS, userS, sysS, peakRssBytes: peak, measuredWith } = t;
  type Finished = {
    steps: number;
    wallSeconds: number;
    before: { test?: { minRecall: number } };
    after: { test?: { minRecall: number } };
  };
  let finished = null as Finished | null;
  let backend: string | null = null;
  let refreshes = 0;
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as { type: string; payload: Record<string, unknown> };
      if (e.type === 'run/finished') finished = e.payload as unknown as Finished;
      if (e.type === 'run/started' && (e.payload as { mode?: string }).mode === 'finetune')
        backend = String(e.payload.backend);
      if (e.type === 'run/refresh') refreshes++;
    } catch {
      // not an event line
    }
  }
  if (kind === 'cold' && code === 0 && !existsSync(join(repoCache, 'mnist-lt-cnn', 'model.json'))) {
    cpSync(join(cwd, CACHE), repoCache, { recursive: true });
    log(`  copied the freshly pre-trained CNN to ${repoCache}`);
  }
  rmSync(cwd, { recursive: true, force: true });
  const bt = finished?.before.test?.minRecall;
  const at = finished?.after.test?.minRecall;
  return {
    kind,
    backendFlag,
    ok: code === 0,
    exitCode: code,
    wallS,
    userS,
    sysS,
    peakRssBytes: peak,
    measuredWith,
    steps: finished?.steps ?? null,
    engineWallS: finished?.wallSeconds ?? null,
    minRecallTest: bt !== undefined && at !== undefined ? { before: bt, after: at } : null,
    backend,
    refreshes,
    stderrTail: stderr.split('\n').filter(Boolean).slice(-3).join(' | '),
  };
}
