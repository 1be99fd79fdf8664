// Shared pieces of the reliability tests: a private build of the CLI and worker bundles, tree
// hashes for "no input modified, nothing half-written", and a small synthetic linear-head job.
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { buildSync } from 'esbuild';
import { encodeNpy } from '../../src/data/npy';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/numerics/rng';
import { clusterSet } from './synthetic';
import { fill, type Fragment } from '../corpus/corpus';

export const root = join(__dirname, '..', '..');

let bundles: string | null = null;

/**
 * Builds dist-like bundles of the CLI and the worker (the same esbuild options as esbuild.mjs) into a
 * folder of this process. The suite runs test files two at a time and other tests rebuild dist/ (which
 * starts by deleting it), so spawning dist/ here could race with a rebuild.
 */
export function privateBundles(): string {
  if (bundles) return bundles;
  const out = mkdtempSync(join(tmpdir(), 'selmix-rel-dist-'));
  buildSync({
    entryPoints: [
      { in: join(root, 'src/cli/main.ts'), out: 'cli' },
      { in: join(root, 'src/worker/worker.ts'), out: 'worker' },
    ],
    outdir: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'error',
    absWorkingDir: root,
    external: [
      'vscode',
      '@tensorflow/tfjs-node',
      '@tensorflow/tfjs-node-gpu',
      'webgpu',
      '@tensorflow/tfjs-backend-webgpu',
    ],
    ignoreAnnotations: true,
    mainFields: ['module', 'main'],
  });
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    copyFileSync(join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', f), join(out, f));
  }
  bundles = out;
  return out;
}

/** The result of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the built CLI (`selmix argv...`) in a child process. */
export function runCli(argv: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const cli = join(privateBundles(), 'cli.js');
  const t0 = performance.now();
  return new Promise((resolveP) => {
    // The private bundles live outside the repository, so ONNX Runtime is pointed at the repository's copy.
    const env = {
      ...process.env,
      SELMIX_BACKEND: 'cpu',
      SELMIX_ORT_PATH: process.env.SELMIX_ORT_PATH ?? join(root, 'node_modules', 'onnxruntime-node', 'package.json'),
    };
    const p = spawn(process.execPath, [cli, ...argv], {
      cwd: opts.cwd ?? root,
      env,
      timeout: opts.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => {
      stdout += b.toString('utf8');
    });
    p.stderr.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
    });
    p.on('close', (code) => resolveP({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/**
 * sha256 of every regular file below dir, by path relative to dir (folders listed with an empty hash; a symlink by
 * its target, a FIFO or device by its kind: reading those would block or never end).
 */
export function treeHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  // Paths as bytes: a name that is not UTF-8 (a corpus case) would not round-trip through a string.
  const root = Buffer.from(dir);
  const walk = (d: Buffer): void => {
    for (const name of readdirSync(d, { encoding: 'buffer' })) {
      const p = Buffer.concat([d, Buffer.from('/'), name]);
      const rel = relative(dir, p.toString('utf8'));
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.set(rel + '/', '');
        walk(p);
      } else if (st.isSymbolicLink()) out.set(rel, `link:${readlinkSync(p)}`);
      else if (st.isFile()) out.set(rel, createHash('sha256').update(readFileSync(p)).digest('hex'));
      else out.set(rel, `special:${st.mode}`);
    }
  };
  walk(root);
  return out;
}

/** The differences between two tree snapshots, as readable lines (empty when equal). */
export function treeDiff(
  before: Map<string, string>,
  after: Map<string, string>,
  ignore: (rel: string) => boolean = () => false,
): string[] {
  const out: string[] = [];
  for (const [k, v] of before) {
    if (ignore(k)) continue;
    if (!after.has(k)) out.push(`removed: ${k}`);
    else if (after.get(k) !== v) out.push(`changed: ${k}`);
  }
  for (const k of after.keys()) if (!before.has(k) && !ignore(k)) out.push(`added: ${k}`);
  return out;
}

/** Shape of the small job: K classes, d features. */
export interface SmallJob {
  dir: string;
  configPath: string;
  config: Record<string, unknown>;
}

/**
 * Writes a small linear-head job (K = 5, d = 8, separable long-tailed clusters, a weak starting head)
 * and its config into a fresh temp folder; training options are merged into the config's training.
 */
export function smallJob(training: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): SmallJob {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-rel-'));
  const K = 5;
  const d = 8;
  const rng = new Rng(42);
  const set = (perClass: number[], name: string) => {
    const { x, y, n } = clusterSet(perClass, d, rng, 1.5);
    writeFileSync(join(dir, `${name}_x.npy`), encodeNpy(x, [n, d]));
    writeFileSync(join(dir, `${name}_y.npy`), encodeNpy(y, [n]));
  };
  set([120, 60, 30, 15, 8], 'train');
  set([20, 20, 20, 20, 20], 'val');
  mkdirSync(join(dir, 'head'));
  const W = new Float32Array(K * d);
  for (let k = 0; k < K; k++) for (let r = 0; r < d; r++) W[k * d + r] = (r === k ? 0.5 : 0) + 0.1 * rng.normal();
  writeFileSync(join(dir, 'head', 'W.npy'), encodeNpy(W, [K, d]));
  writeFileSync(join(dir, 'head', 'b.npy'), encodeNpy(Float32Array.from([0.6, 0.3, 0, -0.3, -0.6]), [K]));
  const config = {
    name: 'reliability',
    objective: 'minRecall',
    data: {
      kind: 'npy',
      train: { features: 'train_x.npy', labels: 'train_y.npy' },
      val: { features: 'val_x.npy', labels: 'val_y.npy' },
    },
    model: { kind: 'linear', weights: 'head/W.npy', bias: 'head/b.npy' },
    training: { steps: 200, batchSize: 16, refreshEvery: 25, seed: 7, ...training },
    output: 'out',
    ...extra,
  };
  const configPath = join(dir, 'run.selmix.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { dir, configPath, config };
}

/** Asserts that text holds every fragment (a literal after `{dir}` is filled in, a pattern, or a function of dir). */
export function assertFragments(text: string, fragments: Fragment[], dir: string, what: string): void {
  for (const fr of fragments) {
    const want = typeof fr === 'function' ? fr(dir) : fr;
    if (typeof want === 'string')
      assert.ok(text.includes(fill(want, dir)), `${what} lacks ${JSON.stringify(fill(want, dir))}:\n${text}`);
    else assert.match(text, want, `${what}:\n${text}`);
  }
}
