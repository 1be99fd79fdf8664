// Bench (h): ONNX Runtime against tfjs-wasm and PyTorch. (1) The head loop (K = 100, d = 512, 64 anchors + 64
// partners, feature mixup, CE, SGD with weight decay) as whole processes, same work, one thread each, interleaved
// rounds (median): the fused ONNX step (src/backend/onnxHeadStep.ts), tfjs-wasm's LinearHeadTrainer
// (src/core/training/headStep.ts), and PyTorch on the CPU (bench/torch_head_loop.py, when python3 has torch), which
// reports
// the BLAS it actually loaded: a ratio against the reference BLAS (a fresh Debian machine without OpenBLAS) is refused.
// (2) Feature extraction, images/s: the
// PyTorch-exported CNN (test/fixtures/onnx/cnn_bn_gap.onnx) on ONNX Runtime against the same architecture on tfjs-wasm.
//   node --import tsx bench/onnx.ts [--steps N] [--rounds R] [--json]   (this section alone; SELMIX_ORT_PROVIDER picks
// the provider)
//   node --import tsx bench/onnx.ts --child ort|wasm --steps N   (one head-loop process; prints JSON)
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, tf } from '../src/backend/backend';
import { OrtHeadStep } from '../src/backend/onnxHeadStep';
import { OrtSession, probeOnnxRuntime } from '../src/backend/onnxRuntime';
import { LinearHeadTrainer, type HeadBatch } from '../src/core/training/headStep';
import { backboneBytes, readOnnxModel } from '../src/data/onnxModel';
import { fmtMs, fmtX, gaussian, log, mdTable, median, mulberry, runTimed } from './lib';

const [K, D, N, B] = [100, 512, 5000, 64];
const ROOT = join(import.meta.dirname, '..');

/** One head-loop engine's figures: medians over the rounds, each a whole process. */
export interface HeadLoopRow {
  engine: string;
  ok: boolean;
  wallS: number;
  /** The process's CPU time (user + system), from /usr/bin/time. */
  cpuS?: number;
  loopMs: number;
  msPerStep: number;
  /** Threads, in words: the engine's own and (PyTorch) its BLAS's. */
  threads?: string;
  note?: string;
}

/** The BLAS PyTorch ran on, as bench/torch_head_loop.py read it from /proc/self/maps. */
export interface TorchBlas {
  kind: 'openblas' | 'mkl' | 'blis' | 'atlas' | 'reference' | 'unknown';
  libs: string[];
  threads: number | null;
  buildBlas: string | null;
}

/** What section (h) measured. */
export interface OnnxBenchResult {
  steps: number;
  /** Interleaved rounds per engine (medians reported). */
  rounds?: number;
  /** 1-minute load average at the start and the end of the head loops (other processes inflate wall times). */
  load?: [number, number];
  ortProvider: string;
  headLoop: HeadLoopRow[];
  /** The BLAS PyTorch loaded; absent without torch (or from a report made before it was recorded: an unfair peer). */
  torchBlas?: TorchBlas;
  /**
   * Our fused step's whole-process wall time over PyTorch's (target at most 0.5); null without torch, or when PyTorch's
   * BLAS is not an optimised one.
   */
  wallRatioVsTorch: number | null;
  features: { images: number; ortImagesPerS: number; wasmImagesPerS: number; ratio: number };
}

/** The head loop inside one process: `engine` ort (fused ONNX step) or wasm (LinearHeadTrainer). */
async function child(engine: string, steps: number): Promise<void> {
  const u = mulberry(1);
  const g = gaussian(u);
  const pool = Float32Array.from({ length: N * D }, g);
  const labels = Int32Array.from({ length: N }, () => Math.floor(u() * K));
  const W0 = Float32Array.from({ length: D * K }, () => g() * 0.01);
  const batches: HeadBatch[] = Array.from({ length: 64 }, () => {
    const anchors = Int32Array.from({ length: B }, () => Math.floor(u() * N));
    return {
      anchorSet: pool,
      partnerSet: pool,
      anchors,
      partners: Int32Array.from({ length: B }, () => Math.floor(u() * N)),
      ya: Int32Array.from(anchors, (a) => labels[a]!),
      lam: Float32Array.from({ length: B }, () => 0.6 + 0.4 * u()),
    };
  });
  const p = { lr: 0.01, momentum: 0, wd: 5e-4 };
  let loopMs: number;
  if (engine === 'ort') {
    if (!probeOnnxRuntime().ok) throw new Error(probeOnnxRuntime().detail);
    const st = new OrtHeadStep(B, D, K);
    const state = { W: W0.slice(), b: new Float32Array(K), mW: new Float32Array(D * K), mb: new Float32Array(K) };
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) st.step(state, batches[s % batches.length]!, p);
    loopMs = performance.now() - t0;
  } else {
    await initBackend({ choice: 'wasm' });
    const v = {
      W: tf.variable(tf.tensor2d(W0, [D, K])),
      b: tf.variable(tf.zeros([K])),
      mW: tf.variable(tf.zeros([D, K])),
      mb: tf.variable(tf.zeros([K])),
    };
    const tr = new LinearHeadTrainer(v);
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) tr.step(batches[s % batches.length]!, p);
    tr.sync();
    loopMs = performance.now() - t0;
  }
  process.stdout.write(JSON.stringify({ steps, loopMs }) + '\n');
}

/** Threads of every engine's process: one, for the BLAS too (OpenBLAS's pthreads would otherwise take every core). */
const ONE_THREAD = { SELMIX_ORT_THREADS: '1', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

/** What one head-loop child printed. */
interface ChildLine {
  loopMs?: number;
  torch?: string;
  threads?: number;
  blas?: TorchBlas;
}

/** Runs a command as a whole process: its wall and CPU time and the JSON line it printed. */
async function timed(
  exe: string,
  args: string[],
): Promise<{ ok: boolean; wallS: number; cpuS: number; out: ChildLine; err: string }> {
  const r = await runTimed(args, ROOT, { exe, env: ONE_THREAD });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return {
      ok: r.code === 0,
      wallS: r.wallS,
      cpuS: r.userS + r.sysS,
      out: JSON.parse(line) as ChildLine,
      err: r.stderr,
    };
  } catch {
    return {
      ok: false,
      wallS: r.wallS,
      cpuS: r.userS + r.sysS,
      out: {},
      err: r.stderr.split('\n').slice(-3).join(' '),
    };
  }
}

/**
 * Whether a ratio against PyTorch on this BLAS is a fair comparison: only an optimised BLAS, never the reference one.
 */
export function fairBlas(b: TorchBlas | undefined): boolean {
  return b !== undefined && (b.kind === 'openblas' || b.kind === 'mkl' || b.kind === 'blis');
}

/** A python3 that has torch, or null. */
function torchPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

/**
 * Feature extraction images/s: the fixture CNN on ONNX Runtime and the same architecture (random weights) on tfjs-wasm.
 */
async function benchFeatures(images: number): Promise<OnnxBenchResult['features']> {
  const u = mulberry(2);
  const x = Float32Array.from({ length: images * 784 }, u);
  const m = readOnnxModel(join(ROOT, 'test/fixtures/onnx/cnn_bn_gap.onnx'));
  const s = new OrtSession(backboneBytes(m));
  const bs = 64;
  const runOrt = () => {
    for (let i = 0; i < images; i += bs)
      s.run({ image: { data: x.subarray(i * 784, (i + bs) * 784), dims: [bs, 1, 28, 28] } });
  };
  runOrt();
  let t0 = performance.now();
  runOrt();
  const ortImagesPerS = images / ((performance.now() - t0) / 1000);
  s.dispose();
  await initBackend({ choice: 'wasm' });
  // conv(1->16)-BN-ReLU-pool, conv(16->32)-BN-ReLU-pool, conv(32->64)-BN-ReLU, global average pool: the fixture's
  // backbone, NHWC.
  const layers = [
    [1, 16],
    [16, 32],
    [32, 64],
  ].map(([ci, co]) => ({
    w: tf.randomNormal([3, 3, ci!, co!], 0, 0.1),
    b: tf.zeros([co!]),
    mean: tf.zeros([co!]),
    variance: tf.ones([co!]),
    gamma: tf.ones([co!]),
    beta: tf.zeros([co!]),
  }));
  const forward = (xb: tf.Tensor4D) =>
    tf.tidy(() => {
      let h: tf.Tensor4D = xb;
      layers.forEach((l, i) => {
        h = tf.relu(
          tf.batchNorm(
            tf.add(tf.conv2d(h, l.w as tf.Tensor4D, 1, 'same'), l.b),
            l.mean,
            l.variance,
            l.beta,
            l.gamma,
            1e-5,
          ),
        ) as tf.Tensor4D;
        if (i < 2) h = tf.maxPool(h, 2, 2, 'valid');
      });
      return tf.mean(h, [1, 2]);
    });
  const runTf = () => {
    for (let i = 0; i < images; i += bs) {
      const t = tf.tensor4d(x.subarray(i * 784, (i + bs) * 784), [bs, 28, 28, 1]);
      const f = forward(t);
      f.dataSync();
      f.dispose();
      t.dispose();
    }
  };
  runTf();
  t0 = performance.now();
  runTf();
  const wasmImagesPerS = images / ((performance.now() - t0) / 1000);
  layers.forEach((l) => Object.values(l).forEach((t) => t.dispose()));
  return { images, ortImagesPerS, wasmImagesPerS, ratio: ortImagesPerS / wasmImagesPerS };
}

/** Section (h): the head loop as whole processes, and feature extraction. */
export async function benchOnnx(opts: { steps: number; images: number; rounds?: number }): Promise<OnnxBenchResult> {
  const steps = opts.steps;
  const rounds = opts.rounds ?? 3;
  const tsx = ['--import', 'tsx', join(ROOT, 'bench/onnx.ts'), '--child'];
  const probe = probeOnnxRuntime();
  if (!probe.ok) throw new Error(`ONNX Runtime did not pass its probe: ${probe.detail}`);
  const py = torchPython();
  const engines: { label: string; exe: string; args: string[] }[] = [
    {
      label: `ONNX Runtime (${probe.provider ?? 'unavailable'}), fused step graph`,
      exe: process.execPath,
      args: [...tsx, 'ort', '--steps', String(steps)],
    },
    {
      label: 'tfjs-wasm (SIMD), LinearHeadTrainer',
      exe: process.execPath,
      args: [...tsx, 'wasm', '--steps', String(steps)],
    },
    ...(py ? [{ label: 'PyTorch', exe: py, args: [join(ROOT, 'bench/torch_head_loop.py'), String(steps)] }] : []),
  ];
  // Interleaved rounds, so a slow spell of the shared machine falls on every engine alike; medians per engine.
  const runs = engines.map(() => [] as Awaited<ReturnType<typeof timed>>[]);
  const load0 = loadavg()[0]!;
  for (let r = 0; r < rounds; r++) {
    for (let e = 0; e < engines.length; e++) runs[e]!.push(await timed(engines[e]!.exe, engines[e]!.args));
  }
  let torchBlas: TorchBlas | undefined;
  const rows: HeadLoopRow[] = engines.map((e, i) => {
    const ok = runs[i]!.filter((r) => r.ok);
    const last = runs[i]![runs[i]!.length - 1]!;
    if (ok.length === 0)
      return { engine: e.label, ok: false, wallS: NaN, loopMs: NaN, msPerStep: NaN, note: last.err.slice(0, 200) };
    const loopMs = median(ok.map((r) => r.out.loopMs ?? NaN));
    let engine = e.label;
    let threads = 'one (SELMIX_ORT_THREADS=1)';
    if (i === 1) threads = 'one (wasm, no threads)';
    if (i === 2) {
      const o = ok[0]!.out;
      torchBlas = o.blas;
      engine = `PyTorch ${o.torch ?? ''} (CPU), BLAS: ${o.blas ? `${o.blas.kind}${o.blas.libs.length ? ` (${o.blas.libs.map((l) => l.split('/').pop()).join(', ')})` : ''}` : 'not reported'}`;
      threads = `torch ${o.threads ?? '?'} (set_num_threads), BLAS ${o.blas?.threads ?? 'unknown'} (OPENBLAS_NUM_THREADS=1)`;
    }
    return {
      engine,
      ok: true,
      wallS: median(ok.map((r) => r.wallS)),
      cpuS: median(ok.map((r) => r.cpuS)),
      loopMs,
      msPerStep: loopMs / steps,
      threads,
    };
  });
  if (!py)
    rows.push({
      engine: 'PyTorch (CPU)',
      ok: false,
      wallS: NaN,
      loopMs: NaN,
      msPerStep: NaN,
      note: 'python3 with torch not found (Debian: apt-get install python3-torch): not measured',
    });
  const torch = rows[2]!;
  const wallRatioVsTorch = torch.ok && rows[0]!.ok && fairBlas(torchBlas) ? rows[0]!.wallS / torch.wallS : null;
  const load: [number, number] = [load0, loadavg()[0]!];
  return {
    steps,
    rounds,
    load,
    ortProvider: probe.provider ?? 'none',
    headLoop: rows,
    ...(torchBlas ? { torchBlas } : {}),
    wallRatioVsTorch,
    features: await benchFeatures(opts.images),
  };
}

/** Markdown of section (h). */
export function renderOnnx(r: OnnxBenchResult): string[] {
  const torch = r.headLoop[2]!;
  // A ratio only against an optimised BLAS: PyTorch on the reference BLAS is not the peer a user would run.
  const fair = torch.ok && fairBlas(r.torchBlas);
  const unfair = !torch.ok
    ? 'no PyTorch'
    : !r.torchBlas
      ? "PyTorch's BLAS was not recorded"
      : `PyTorch ran on the ${r.torchBlas.kind} BLAS (${r.torchBlas.libs.join(', ') || 'no BLAS library mapped'}); install libopenblas0-pthread for a fair peer`;
  const out = ['## ONNX Runtime: the head loop against PyTorch, feature extraction against tfjs-wasm', ''];
  out.push(
    `${r.steps} head steps (K = ${K}, d = ${D}, ${B} anchors + ${B} partners from a pool of ${N}, feature mixup, CE, SGD with weight decay), each engine in its own process, one thread each ` +
      `(the BLAS's too), ${r.rounds ?? 1} interleaved round(s), medians. "wall" and "CPU" are the whole process (start-up, data, loop) as a user waits for it, "loop" the loop alone as the process timed it. ` +
      `Ratios are against PyTorch${fair ? '' : `, and refused here: ${unfair}`}.` +
      (r.load
        ? ` Load average (1 min) ${r.load[0].toFixed(1)} at the start of the loops, ${r.load[1].toFixed(1)} at the end, on ${cpus().length} cores shared with other work: wall times include waiting for a core, CPU times less so.`
        : ''),
    '',
  );
  out.push(
    mdTable(
      ['engine', 'threads', 'wall', 'CPU', 'loop', 'per step', 'wall vs PyTorch', 'CPU vs PyTorch', 'loop vs PyTorch'],
      r.headLoop.map((h) => [
        h.engine,
        h.threads ?? 'one',
        h.ok ? fmtMs(h.wallS * 1000) : 'n/a',
        h.ok && h.cpuS !== undefined && Number.isFinite(h.cpuS) ? fmtMs(h.cpuS * 1000) : 'n/a',
        h.ok ? fmtMs(h.loopMs) : 'n/a',
        h.ok ? fmtMs(h.msPerStep) : (h.note ?? 'failed'),
        h.ok && fair ? fmtX(h.wallS / torch.wallS) : 'n/a',
        h.ok && fair && h.cpuS !== undefined && torch.cpuS !== undefined ? fmtX(h.cpuS / torch.cpuS) : 'n/a',
        h.ok && fair ? fmtX(h.loopMs / torch.loopMs) : 'n/a',
      ]),
    ),
    '',
  );
  out.push(
    r.wallRatioVsTorch === null
      ? `Target (ours at most half of PyTorch's wall time): not measured (${unfair}).`
      : `Target, ours at most half of PyTorch's wall time (PyTorch on ${r.torchBlas?.kind}): **${r.wallRatioVsTorch <= 0.5 ? 'met' : 'missed'}** (${r.wallRatioVsTorch.toFixed(2)}; the loops alone ${(r.headLoop[0]!.loopMs / torch.loopMs).toFixed(2)}).`,
    '',
  );
  const f = r.features;
  out.push(
    `Feature extraction, ${f.images} images of 28x28, batches of 64, through the backbone of test/fixtures/onnx/cnn_bn_gap.onnx (exported from PyTorch): ` +
      `ONNX Runtime ${f.ortImagesPerS.toFixed(0)} images/s, the same architecture on tfjs-wasm ${f.wasmImagesPerS.toFixed(0)} images/s: **${fmtX(f.ratio)}**.`,
    '',
  );
  return out;
}

/** The command line of this file alone: the section, or one head-loop child. */
async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      steps: { type: 'string' },
      images: { type: 'string' },
      rounds: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const steps = Number(values.steps ?? 2000);
  if (values.child) return child(values.child, steps);
  log('(h) ONNX Runtime: head loop vs PyTorch (whole processes), feature extraction vs tfjs-wasm');
  const r = await benchOnnx({ steps, images: Number(values.images ?? 2048), rounds: Number(values.rounds ?? 3) });
  process.stdout.write(values.json ? JSON.stringify(r) + '\n' : renderOnnx(r).join('\n') + '\n');
}

if (process.argv[1] && /bench[/\\]onnx\.ts$/.test(process.argv[1])) {
  cli().catch((e) => {
    process.stderr.write(`bench/onnx.ts failed: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
