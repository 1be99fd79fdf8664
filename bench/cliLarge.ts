// Benchmark (g): the user's commands as whole processes at K = 10, 100 and 1000: `selmix gain`, `selmix eval` and a
// feature-mode `selmix finetune` (31 training and 3 validation rows a class, d = 2048, 200 steps) on an ordinary
// head, and at K = 1000 `selmix gain` on heads with median logit gaps of about 10, 300 and 3000: wall and CPU time,
// peak RSS, the size of report.json and of the matrices beside it, and the lines printed on the terminal.
//   node --import tsx bench/cliLarge.ts [--K 10,100,1000] [--steps 200] [--json]   (this section alone)
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeNpy } from '../src/data/npy';
import { writeFileAtomic } from '../src/data/atomicWrite';
import { gaussian, log, mulberry, runTimed } from './lib';

/** One whole-process row. */
export interface CliRow {
  command: string;
  K: number;
  d: number;
  rows: number;
  /** How far apart the logits are: the median gap between the top logit and the runner-up on validation. */
  logitGap: number;
  exitCode: number | null;
  wallS: number;
  cpuS: number;
  peakRssBytes: number;
  /** Bytes of report.json (finetune only) and of everything else the run wrote. */
  reportBytes: number | null;
  otherOutputBytes: number | null;
  /** Lines on stdout and stderr together, as a terminal shows them. */
  terminalLines: number;
  stderrTail: string;
  /** 1-minute load average when the process started (absent in reports made before it was recorded). */
  load?: number;
}

/**
 * Class centres, features around them, and a head whose logits have the requested scale (also used to profile by hand).
 */
export function makeData(
  dir: string,
  K: number,
  d: number,
  trainPerClass: number,
  valPerClass: number,
  headScale: number,
  seed: number,
): { gap: number } {
  const g = gaussian(mulberry(seed));
  const mu = new Float32Array(K * d);
  for (let i = 0; i < mu.length; i++) mu[i] = g() / Math.sqrt(d);
  const set = (perClass: number, noise: number) => {
    const n = K * perClass;
    const x = new Float32Array(n * d);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const k = i % K;
      y[i] = k;
      for (let r = 0; r < d; r++) x[i * d + r] = mu[k * d + r]! + (noise * g()) / Math.sqrt(d);
    }
    return { x, y, n };
  };
  const tr = set(trainPerClass, 0.9);
  const va = set(valPerClass, 0.9);
  const W = new Float32Array(K * d);
  for (let i = 0; i < W.length; i++) W[i] = headScale * mu[i]!;
  writeFileAtomic(join(dir, 'train_x.npy'), encodeNpy(tr.x, [tr.n, d]));
  writeFileAtomic(join(dir, 'train_y.npy'), encodeNpy(tr.y, [tr.n]));
  writeFileAtomic(join(dir, 'val_x.npy'), encodeNpy(va.x, [va.n, d]));
  writeFileAtomic(join(dir, 'val_y.npy'), encodeNpy(va.y, [va.n]));
  writeFileAtomic(join(dir, 'W.npy'), encodeNpy(W, [K, d]));
  writeFileAtomic(join(dir, 'b.npy'), encodeNpy(new Float32Array(K), [K]));
  // The median top-1 minus top-2 logit gap on (a sample of) validation, to say what "large gaps" means here.
  const gaps: number[] = [];
  for (let i = 0; i < Math.min(va.n, 300); i++) {
    let a = -Infinity,
      b = -Infinity;
    for (let k = 0; k < K; k++) {
      let z = 0;
      for (let r = 0; r < d; r++) z += va.x[i * d + r]! * W[k * d + r]!;
      if (z > a) {
        b = a;
        a = z;
      } else if (z > b) b = z;
    }
    gaps.push(a - b);
  }
  gaps.sort((p, q) => p - q);
  return { gap: gaps[Math.floor(gaps.length / 2)]! };
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? folderBytes(p) : statSync(p).size;
  }
  return total;
}

function lines(t: string): number {
  return t.split('\n').filter((l) => l.length > 0).length;
}

/** Whole-process figures of one command line in dir. */
async function row(
  command: string,
  args: string[],
  dir: string,
  K: number,
  d: number,
  rows: number,
  gap: number,
  out?: string,
): Promise<CliRow> {
  const load = loadavg()[0]!;
  const r = await runTimed(args, dir);
  let reportBytes: number | null = null;
  let other: number | null = null;
  if (out) {
    try {
      reportBytes = statSync(join(out, 'report.json')).size;
      other = folderBytes(out) - reportBytes;
    } catch {
      /* the run failed; the exit code says so */
    }
  }
  const c: CliRow = {
    command,
    K,
    d,
    rows,
    logitGap: gap,
    exitCode: r.code,
    wallS: r.wallS,
    cpuS: r.userS + r.sysS,
    peakRssBytes: r.peakRssBytes,
    reportBytes,
    otherOutputBytes: other,
    terminalLines: lines(r.stdout) + lines(r.stderr),
    stderrTail: r.stderr.split('\n').filter(Boolean).slice(-2).join(' | '),
    load,
  };
  log(
    `  ${command}, K = ${K}: ${r.wallS.toFixed(2)} s wall, ${c.cpuS.toFixed(2)} s CPU, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB, exit ${r.code} (load ${load.toFixed(1)})`,
  );
  return c;
}

/**
 * Runs the rows: at each K of o.Ks, `selmix gain`, `selmix eval` and a feature-mode `selmix finetune` on an ordinary
 * head (31 training and 3 validation rows a class); at the largest K also `selmix gain` on heads whose median logit
 * gap is about 10, 300 and 3000 (a confident head on well-separated classes).
 */
export async function benchCliLarge(o: {
  Ks: number[];
  d: number;
  steps: number;
  gapScales?: number[];
}): Promise<CliRow[]> {
  const cli = resolve('bin', 'selmix.js');
  const rows: CliRow[] = [];
  const gainArgs = [
    cli,
    'gain',
    '--features',
    'val_x.npy',
    '--labels',
    'val_y.npy',
    '--weights',
    'W.npy',
    '--bias',
    'b.npy',
    '--objective',
    'minRecall',
  ];
  const evalArgs = [
    cli,
    'eval',
    '--features',
    'val_x.npy',
    '--labels',
    'val_y.npy',
    '--weights',
    'W.npy',
    '--bias',
    'b.npy',
  ];
  const ftArgs = [
    cli,
    'finetune',
    '--features',
    'train_x.npy',
    '--labels',
    'train_y.npy',
    '--val-features',
    'val_x.npy',
    '--val-labels',
    'val_y.npy',
    '--weights',
    'W.npy',
    '--bias',
    'b.npy',
    '--objective',
    'minRecall',
    '--steps',
    String(o.steps),
    '--out',
    'out',
  ];
  for (const K of o.Ks) {
    const dir = mkdtempSync(join(tmpdir(), `selmix-bench-cli-${K}-`));
    try {
      log(`  writing K = ${K}, d = ${o.d} data (ordinary logits)`);
      const { gap } = makeData(dir, K, o.d, 31, 3, 3, 7);
      rows.push(await row('selmix gain', gainArgs, dir, K, o.d, 3 * K, gap));
      rows.push(await row('selmix eval', evalArgs, dir, K, o.d, 3 * K, gap));
      rows.push(await row(`selmix finetune (${o.steps} steps)`, ftArgs, dir, K, o.d, 31 * K, gap, join(dir, 'out')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const K = Math.max(...o.Ks);
  for (const scale of o.gapScales ?? [11, 330, 3300]) {
    const dir = mkdtempSync(join(tmpdir(), `selmix-bench-cli-gap-`));
    try {
      const { gap } = makeData(dir, K, o.d, 1, 3, scale, 7);
      rows.push(
        await row(
          `selmix gain (logit gap ~${gap < 100 ? gap.toFixed(0) : (Math.round(gap / 100) * 100).toFixed(0)})`,
          gainArgs,
          dir,
          K,
          o.d,
          3 * K,
          gap,
        ),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

/** The command line of this file alone. */
async function cliMain(): Promise<void> {
  const { values } = parseArgs({
    options: { K: { type: 'string' }, steps: { type: 'string' }, d: { type: 'string' }, json: { type: 'boolean' } },
  });
  const rows = await benchCliLarge({
    Ks: (values.K ?? '10,100,1000').split(',').map(Number),
    d: Number(values.d ?? 2048),
    steps: Number(values.steps ?? 200),
  });
  process.stdout.write(
    values.json ? JSON.stringify(rows) + '\n' : rows.map((r) => JSON.stringify(r)).join('\n') + '\n',
  );
}

if (process.argv[1] && /bench[/\\]cliLarge\.ts$/.test(process.argv[1])) {
  cliMain().catch((e) => {
    process.stderr.write(`bench/cliLarge.ts failed: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
