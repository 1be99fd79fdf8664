// Shared helpers of the benchmarks: timing, memory measurement, the machine description and table
// formatting. Never a timed test: the benchmarks report numbers, they do not assert them.
import { cpus, totalmem } from 'node:os';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Timing of repeated runs: median, min and max in milliseconds. */
export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Median process CPU time (user + system) per run: less sensitive than wall time to other load on the machine. */
  cpuMedianMs: number;
  reps: number;
}

/** Process CPU time (user + system) in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function summarise(ts: number[], cs: number[]): Timing {
  return {
    medianMs: median(ts),
    minMs: Math.min(...ts),
    maxMs: Math.max(...ts),
    cpuMedianMs: median(cs),
    reps: ts.length,
  };
}

/**
 * Runs fn `warmup` times untimed, then until `reps` runs are done or `budgetMs` has passed (at least one
 * timed run), and returns the median time.
 */
export function timeIt(fn: () => unknown, opts: { reps?: number; warmup?: number; budgetMs?: number } = {}): Timing {
  const reps = opts.reps ?? 5;
  const budget = opts.budgetMs ?? Infinity;
  for (let i = 0; i < (opts.warmup ?? 1); i++) fn();
  const ts: number[] = [];
  const cs: number[] = [];
  const start = performance.now();
  while (ts.length < reps && (ts.length === 0 || performance.now() - start < budget)) {
    const c0 = cpuMs();
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
    cs.push(cpuMs() - c0);
  }
  return summarise(ts, cs);
}

/** Async variant of timeIt. */
export async function timeItAsync(
  fn: () => Promise<unknown>,
  opts: { reps?: number; warmup?: number; budgetMs?: number } = {},
): Promise<Timing> {
  const reps = opts.reps ?? 5;
  const budget = opts.budgetMs ?? Infinity;
  for (let i = 0; i < (opts.warmup ?? 1); i++) await fn();
  const ts: number[] = [];
  const cs: number[] = [];
  const start = performance.now();
  while (ts.length < reps && (ts.length === 0 || performance.now() - start < budget)) {
    const c0 = cpuMs();
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
    cs.push(cpuMs() - c0);
  }
  return summarise(ts, cs);
}

/** Bytes of typed arrays allocated while fn ran, and the largest single one. */
export interface Allocation {
  totalBytes: number;
  largestBytes: number;
  count: number;
  /** Peak bytes of backend tensors during the same call (tf.profile), where measured. */
  tensorPeakBytes?: number;
}

const TYPED = [
  'Float64Array',
  'Float32Array',
  'Int32Array',
  'Uint8Array',
  'Uint32Array',
  'Int8Array',
  'Int16Array',
  'Uint16Array',
] as const;

/**
 * Counts the typed arrays allocated while fn runs, by swapping each global typed-array constructor for a
 * counting subclass (code resolves `new Float64Array(...)` and `Float64Array.from(...)` through the global
 * at call time). The total is an upper bound of the peak live array memory (nothing is freed in between);
 * run it untimed, the subclasses are slower.
 */
export function countAllocations<T>(fn: () => T): { result: T; alloc: Allocation } {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = TYPED.map((n) => g[n]);
  const alloc: Allocation = { totalBytes: 0, largestBytes: 0, count: 0 };
  for (const n of TYPED) {
    const Base = g[n] as new (...a: unknown[]) => ArrayBufferView;
    g[n] = class extends Base {
      constructor(...a: unknown[]) {
        super(...a);
        // Views over an existing buffer allocate nothing.
        if (!(
          a[0] instanceof ArrayBuffer ||
          (typeof SharedArrayBuffer !== 'undefined' && a[0] instanceof SharedArrayBuffer)
        )) {
          alloc.totalBytes += this.byteLength;
          alloc.largestBytes = Math.max(alloc.largestBytes, this.byteLength);
          alloc.count++;
        }
      }
    };
  }
  try {
    return { result: fn(), alloc };
  } finally {
    TYPED.forEach((n, i) => {
      g[n] = saved[i];
    });
  }
}

/**
 * A whole process's figures: exit code, wall, CPU and peak RSS (GNU time -v when /usr/bin/time exists), and its output.
 */
export interface TimedProcess {
  code: number | null;
  wallS: number;
  userS: number;
  sysS: number;
  peakRssBytes: number;
  measuredWith: string;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node ...args` (or `o.exe ...args`, with `o.env` added) in cwd as a child process and times it as a whole (what
 * a user waits for).
 */
export async function runTimed(
  args: string[],
  cwd: string,
  o: { exe?: string; env?: Record<string, string> } = {},
): Promise<TimedProcess> {
  const gnuTime = existsSync('/usr/bin/time');
  const timeFile = join(cwd, `.time-${process.pid}-${Date.now()}.txt`);
  const exe = o.exe ?? process.execPath;
  const cmd = gnuTime ? '/usr/bin/time' : exe;
  const cmdArgs = gnuTime ? ['-v', '-o', timeFile, exe, ...args] : [...args];
  const t0 = performance.now();
  let stdout = '';
  let stderr = '';
  const code = await new Promise<number | null>((res) => {
    const ch = spawn(cmd, cmdArgs, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
    });
    ch.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    ch.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    ch.on('close', (c) => res(c));
  });
  const wallS = (performance.now() - t0) / 1000;
  let userS = NaN,
    sysS = NaN,
    peak = NaN;
  let measuredWith = 'wall clock only (no /usr/bin/time)';
  if (gnuTime && existsSync(timeFile)) {
    const t = readFileSync(timeFile, 'utf8');
    const num = (re: RegExp) => Number(re.exec(t)?.[1] ?? NaN);
    userS = num(/User time \(seconds\): ([\d.]+)/);
    sysS = num(/System time \(seconds\): ([\d.]+)/);
    peak = num(/Maximum resident set size \(kbytes\): (\d+)/) * 1024;
    measuredWith = '/usr/bin/time -v (wall from this process)';
    rmSync(timeFile, { force: true });
  }
  return { code, wallS, userS, sysS, peakRssBytes: peak, measuredWith, stdout, stderr };
}

/** Samples RSS while a (possibly async) region runs; returns the largest value seen. */
export class RssSampler {
  private peak = process.memoryUsage().rss;
  private timer: NodeJS.Timeout | null = null;

  /** Starts sampling every `ms` milliseconds (also sample() by hand inside synchronous loops). */
  start(ms = 20): this {
    this.timer = setInterval(() => this.sample(), ms);
    return this;
  }

  /** Takes one sample now. */
  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
  }

  /** Stops sampling and returns the peak RSS in bytes. */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** The machine and runtime the numbers come from. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  tfjs: string;
  backend: string;
  gitCommit: string;
  date: string;
}

/** Describes this machine. */
export function machineInfo(backend: string, tfjsVersion: string): MachineInfo {
  const cs = cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    // Uncommitted engine edits change the numbers: say so.
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'test/helpers'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (dirty) commit += ' + uncommitted changes in src/';
  } catch {
    // not a git checkout
  }
  return {
    cpuModel: cs[0]?.model.trim() ?? 'unknown',
    cores: cs.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    tfjs: tfjsVersion,
    backend,
    gitCommit: commit,
    date: new Date().toISOString(),
  };
}

/** A markdown table from a header row and body rows. */
export function mdTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A duration in ms, with units chosen for readability. */
export function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

/** Bytes as KiB/MiB/GiB. */
export function fmtBytes(b: number): string {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (b >= 2 ** 10) return `${(b / 2 ** 10).toFixed(1)} KiB`;
  return `${b} B`;
}

/** A ratio like "12.3x". */
export function fmtX(r: number): string {
  if (!Number.isFinite(r)) return 'n/a';
  if (r >= 100) return `${Math.round(r).toLocaleString('en-US')}x`;
  return `${r.toFixed(r >= 10 ? 1 : 2)}x`;
}

/** A seeded uniform generator in [0, 1) for synthetic inputs: the same mulberry32 that splits MNIST-LT. */
export { mulberry32 as mulberry } from '../src/core/numerics/rng';

/** Standard normal draws from a uniform generator (Box-Muller). */
export function gaussian(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Logs a progress line to stderr (stdout stays for the report). */
export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
