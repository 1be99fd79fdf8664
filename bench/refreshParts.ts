// The bookkeeping around a K = 1000 refresh, part by part, in one checkout: the sampler's partner alias tables over a
// refresh interval, the change noise's bootstrap, the worker's downsampling of G and P for the views, and what a first
// touch of a new 8 MB array costs this process (with glibc's malloc as the CLI's child has it, and without). Each part
// prints a median and a checksum of its results, so two checkouts can be compared side by side and shown to compute
// the same: run it in this one and in another (`git worktree add /tmp/old REV`, then `--root /tmp/old`).
//   node --import tsx bench/refreshParts.ts [--root DIR] [--reps N]
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { log, median } from './lib';
import type * as Sampler from '../src/core/numerics/sampler';
import type * as Distribution from '../src/core/numerics/distribution';
import type * as RngModule from '../src/core/numerics/rng';
import type * as GainMonitor from '../src/core/numerics/gainMonitor';
import type * as Downsample from '../src/protocol/downsample';

const { values } = parseArgs({
  options: { root: { type: 'string' }, reps: { type: 'string' }, child: { type: 'string' } },
});
const root = resolve(values.root ?? resolve(__dirname, '..'));
const reps = Number(values.reps ?? 40);
const K = 1000;

/** Fold numbers into a 32-bit checksum (their float64 bits). */
function checksum(xs: ArrayLike<number>, h = 0): number {
  const f = new Float64Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < xs.length; i++) {
    f[0] = xs[i]!;
    h = (Math.imul(h, 31) + u[0]!) >>> 0;
    h = (Math.imul(h, 31) + u[1]!) >>> 0;
  }
  return h;
}

/** ms of fn, median of n runs. */
function timed(n: number, fn: (rep: number) => void): number {
  const ts: number[] = [];
  for (let r = 0; r < n; r++) {
    const t0 = performance.now();
    fn(r);
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** A first touch of a new K x K float64 array (one write a page), median of 40, in this process. */
function firstTouch(): number {
  const keep: Float64Array[] = [];
  return timed(40, () => {
    const a = new Float64Array(K * K);
    for (let i = 0; i < a.length; i += 512) a[i] = i;
    keep.push(a);
    if (keep.length > 3) keep.shift();
  });
}

async function main(): Promise<void> {
  if (values.child === 'touch') {
    process.stdout.write(`${firstTouch()}\n`);
    return;
  }
  const mod = async <T>(p: string): Promise<T> => (await import(resolve(root, p))) as T;
  const { PairSampler } = await mod<typeof Sampler>('src/core/numerics/sampler.ts');
  const { samplingDistribution } = await mod<typeof Distribution>('src/core/numerics/distribution.ts');
  const { Rng } = await mod<typeof RngModule>('src/core/numerics/rng.ts');
  const { changeNoise } = await mod<typeof GainMonitor>('src/core/numerics/gainMonitor.ts');
  const { downsampleMatrix } = await mod<typeof Downsample>('src/protocol/downsample.ts');
  log(`checkout ${root}, K = ${K}`);

  // The sampler of one refresh interval at the e2e's rhythm: 10 steps of 128 pairs from a new PairSampler.
  const r = new Rng(3);
  const P = samplingDistribution(
    Float64Array.from({ length: K * K }, () => (r.next() - 0.7) * 0.01),
    K,
    300,
  );
  const classes = Array.from({ length: K }, (_, k) => Array.from({ length: 8 }, (_, t) => k * 8 + t));
  const draws: number[] = [];
  const sampler = timed(reps, (rep) => {
    const s = new PairSampler({ P, K, anchorsByClass: classes, partnersByClass: classes, rng: new Rng(rep) });
    for (let step = 0; step < 10; step++) draws.push(...s.draw(128).partnerClass);
  });
  log(
    `  sampler, 10 steps x 128 pairs: ${sampler.toFixed(1)} ms (median of ${reps}); draws checksum ${checksum(draws)}`,
  );

  // The change noise at K = 1000: 8,000 rows, 8 replicates (a refresh's), six inputs.
  const noise: number[] = [];
  const noiseMs = timed(6, (rep) => {
    const q = new Rng(100 + rep);
    const labels = Int32Array.from({ length: 8 * K }, () => q.int(K));
    const before = Int32Array.from(labels, (y) => (q.next() < 0.6 ? y : q.int(K)));
    const after = Int32Array.from(before, (p) => (q.next() < 0.1 ? q.int(K) : p));
    const objective = (_C: () => Float64Array, st: { diag: Float64Array; R: Float64Array }): number => {
      let v = 0;
      for (let k = 0; k < K; k++) v += st.diag[k]! / Math.max(st.R[k]!, 1e-12);
      return v / K;
    };
    noise.push(changeNoise(before, after, labels, K, objective, 17 + rep, 8));
  });
  log(
    `  change noise, 8,000 rows, 8 replicates: ${noiseMs.toFixed(1)} ms (median of 6); values checksum ${checksum(noise)}`,
  );

  // The worker's downsampling of a K = 1000 G (largest magnitude a tile) and P (sum a tile).
  const q = new Rng(7);
  const G = Float64Array.from({ length: K * K }, () => q.next() - 0.5);
  const cells: number[] = [];
  const down = (reduce: 'maxAbs' | 'sum'): number =>
    timed(reps, () => cells.push(...(downsampleMatrix({ K, data: G }, reduce).data as number[]).slice(0, 50)));
  const maxAbs = down('maxAbs');
  const sum = down('sum');
  log(
    `  downsampling to 100 x 100: G ${maxAbs.toFixed(1)} ms, P ${sum.toFixed(1)} ms (medians of ${reps}); cells checksum ${checksum(cells)}`,
  );

  // A first touch of a new 8 MB array, in a child with the CLI child's malloc settings and in one without any.
  const touch = (env: NodeJS.ProcessEnv): string => {
    const c = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child', 'touch'], {
      env,
      encoding: 'utf8',
    });
    return Number(c.stdout.trim()).toFixed(2);
  };
  const plain = { ...process.env };
  delete plain.GLIBC_TUNABLES;
  const cliChild = { ...plain, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576' };
  const thresholdOnly = { ...plain, GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576' };
  log(
    `  first touch of a new 8 MB array (median of 40): ${touch(plain)} ms by default, ${touch(thresholdOnly)} ms with the 1 MiB mmap threshold, ${touch(cliChild)} ms with it and huge pages (the CLI's child)`,
  );
}

void main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
