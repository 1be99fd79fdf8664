// Benchmark (g): the CLI as a user runs it at large K, whole processes: `selmix gain` on a K-class head over
// d-dimensional features (3 validation rows a class) with ordinary logits and with confident logits whose gaps
// are in the hundreds, and a feature-mode `selmix finetune` of the ordinary head (31 training rows a class, 200 steps): wall time,
// peak RSS, the size of report.json and of the matrices beside it, and the lines printed on the terminal.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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
}

/** Class centres, features around them, and a head whose logits have the requested scale (also used to profile by hand). */
export function makeData(dir: string, K: number, d: number, trainPerClass: number, valPerClass: number, headScale: number, seed: number): { gap: number } {
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
      for (let r = 0; r < d; r++) x[i * d + r] = mu[k * d + r]! + noise * g() / Math.sqrt(d);
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
    let a = -Infinity, b = -Infinity;
    for (let k = 0; k < K; k++) {
      let z = 0;
      for (let r = 0; r < d; r++) z += va.x[i * d + r]! * W[k * d + r]!;
      if (z > a) { b = a; a = z; } else if (z > b) b = z;
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

/** Runs the rows: gain with ordinary logits, finetune on that head, then gain with confident logits. */
export async function benchCliLarge(o: { K: number; d: number; steps: number }): Promise<CliRow[]> {
  const cli = resolve('bin', 'selmix.js');
  const rows: CliRow[] = [];
  for (const [label, scale] of [['ordinary', 3], ['confident', 300]] as const) {
    const dir = mkdtempSync(join(tmpdir(), `selmix-bench-cli-${label}-`));
    try {
      log(`  writing K = ${o.K}, d = ${o.d} data (${label} logits)`);
      const { gap } = makeData(dir, o.K, o.d, 31, 3, scale, 7);
      const gainArgs = [cli, 'gain', '--features', 'val_x.npy', '--labels', 'val_y.npy', '--weights', 'W.npy', '--bias', 'b.npy', '--objective', 'minRecall'];
      const g = await runTimed(gainArgs, dir);
      rows.push({ command: `selmix gain (${label} logits)`, K: o.K, d: o.d, rows: 3 * o.K, logitGap: gap, exitCode: g.code, wallS: g.wallS, cpuS: g.userS + g.sysS,
        peakRssBytes: g.peakRssBytes, reportBytes: null, otherOutputBytes: null, terminalLines: lines(g.stdout) + lines(g.stderr), stderrTail: g.stderr.split('\n').filter(Boolean).slice(-2).join(' | ') });
      log(`  gain, ${label} logits (median gap ${gap.toFixed(1)}): ${g.wallS.toFixed(2)} s, exit ${g.code}`);
      if (label !== 'ordinary') continue;
      const ftArgs = [cli, 'finetune', '--features', 'train_x.npy', '--labels', 'train_y.npy', '--val-features', 'val_x.npy', '--val-labels', 'val_y.npy',
        '--weights', 'W.npy', '--bias', 'b.npy', '--objective', 'minRecall', '--steps', String(o.steps), '--out', 'out'];
      const f = await runTimed(ftArgs, dir);
      const out = join(dir, 'out');
      let reportBytes: number | null = null;
      let other: number | null = null;
      try {
        reportBytes = statSync(join(out, 'report.json')).size;
        other = folderBytes(out) - reportBytes;
      } catch { /* the run failed; the exit code says so */ }
      rows.push({ command: `selmix finetune (${o.steps} steps)`, K: o.K, d: o.d, rows: 31 * o.K, logitGap: gap, exitCode: f.code, wallS: f.wallS, cpuS: f.userS + f.sysS,
        peakRssBytes: f.peakRssBytes, reportBytes, otherOutputBytes: other, terminalLines: lines(f.stdout) + lines(f.stderr), stderrTail: f.stderr.split('\n').filter(Boolean).slice(-2).join(' | ') });
      log(`  finetune: ${f.wallS.toFixed(2)} s, report.json ${reportBytes} bytes, ${lines(f.stdout) + lines(f.stderr)} terminal lines, exit ${f.code}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
