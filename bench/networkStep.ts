// Benchmark: the whole-network SelMix step on ONNX Runtime (the training graph of src/formats/onnx/networkStep.ts,
// run by src/backend/onnxNetworkStep.ts) against the same step in PyTorch on the CPU (bench/torch_network_step.py), on
// the same architecture, weights, batch and thread count, each in a process of its own, side by side with the ratio.
//
//   node --import tsx bench/networkStep.ts [--nets resnet,depthwise,vit] [--batch 32] [--size 32] [--steps 20]
// [--threads 1]
//
// PyTorch exports the net it times (same seeded weights) as ONNX; the tool's step is timed on that file. The BLAS the
// PyTorch process actually mapped is printed; a ratio against the reference BLAS is refused (not a fair peer).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

interface Args {
  nets: string[];
  batch: number;
  size: number;
  steps: number;
  threads: number;
  warmup: number;
}

function parseArgs(argv: string[]): Args & { ort?: string } {
  const get = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
  };
  const num = (name: string, dflt: number) => {
    const v = Number(get(name, String(dflt)));
    if (!Number.isInteger(v) || v < 1) {
      console.error(`--${name} must be a positive integer`);
      process.exit(2);
    }
    return v;
  };
  const nets = get('nets', 'resnet,depthwise,vit').split(',');
  for (const n of nets)
    if (!['resnet', 'depthwise', 'vit'].includes(n)) {
      console.error(`--nets: unknown net "${n}" (resnet, depthwise, vit)`);
      process.exit(2);
    }
  const ort = get('ort', '');
  return {
    nets,
    batch: num('batch', 32),
    size: num('size', 32),
    steps: num('steps', 20),
    threads: num('threads', 1),
    warmup: num('warmup', 3),
    ...(ort ? { ort } : {}),
  };
}

/** The ORT side, in its own process: times the step graph on the exported model. */
async function ortWorker(file: string, a: Args): Promise<void> {
  const { readOnnxModel } = await import('../src/data/onnxModel');
  const { networkModel } = await import('../src/formats/onnx/networkStep');
  const { OrtNetworkStep, probeNetwork } = await import('../src/backend/onnxNetworkStep');
  const { tensorFloats } = await import('../src/formats/onnx/proto');
  const { probeOnnxRuntime } = await import('../src/backend/onnxRuntime');
  const probe = probeOnnxRuntime();
  if (!probe.ok) throw new Error(probe.detail);
  const onnx = readOnnxModel(file);
  const m = networkModel(onnx.proto, onnx.input.name, onnx.head, onnx.head.W, onnx.head.b);
  const ex = [3, a.size, a.size];
  const t0 = performance.now();
  const step = new OrtNetworkStep(m, probeNetwork(m, ex), a.batch, ex);
  const buildMs = performance.now() - t0;
  const inits = new Map((m.proto.graph!.initializer ?? []).map((t) => [t.name ?? '', t]));
  const values = new Map(m.params.map((p) => [p, tensorFloats(inits.get(p)!)!]));
  const mom = new Map([...values].map(([k, v]) => [k, new Float32Array(v.length)]));
  let s = 7;
  const rnd = () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 4294967296;
  };
  const per = ex.reduce((x, y) => x * y, 1);
  const batch = {
    xa: Float32Array.from({ length: a.batch * per }, () => rnd() * 2 - 1),
    xp: Float32Array.from({ length: a.batch * per }, () => rnd() * 2 - 1),
    lam: Float32Array.from({ length: a.batch }, () => 0.6 + 0.4 * rnd()),
    ya: Int32Array.from({ length: a.batch }, () => Math.floor(rnd() * m.head.K)),
  };
  const hp = { lr: 0.01, momentum: 0.9, wd: 5e-4, backboneLrFactor: 0.1 };
  for (let i = 0; i < a.warmup; i++) step.step(values, mom, batch, hp);
  const times: number[] = [];
  for (let i = 0; i < a.steps; i++) {
    const t = performance.now();
    step.step(values, mom, batch, hp);
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  const mean = times.reduce((x, y) => x + y, 0) / times.length;
  console.log(
    JSON.stringify({
      msPerStep: mean,
      medianMs: times[Math.floor(times.length / 2)],
      buildMs,
      threads: Number(process.env.SELMIX_ORT_THREADS ?? 1),
      provider: probe.provider,
      params: m.params.length,
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
  step.dispose();
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.ort) {
    await ortWorker(a.ort, a);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'selmix-bench-net-'));
  const rows: string[][] = [];
  const load = (): string =>
    loadavg()
      .map((v) => v.toFixed(2))
      .join(' ');
  const loadAtStart = load();
  try {
    for (const net of a.nets) {
      const file = join(dir, `${net}.onnx`);
      const py = spawnSync(
        '/usr/bin/python3',
        [
          'bench/torch_network_step.py',
          '--net',
          net,
          '--batch',
          String(a.batch),
          '--size',
          String(a.size),
          '--steps',
          String(a.steps),
          '--threads',
          String(a.threads),
          '--warmup',
          String(a.warmup),
          '--json',
          '--export',
          file,
        ],
        { encoding: 'utf8', timeout: 1_800_000 },
      );
      if (py.status !== 0)
        throw new Error(
          `bench/torch_network_step.py failed for ${net}: ${py.stderr.trim().split('\n').slice(-3).join(' ')}`,
        );
      const torch = JSON.parse(py.stdout.trim().split('\n').pop()!) as {
        msPerStep: number;
        blas: string;
        blasThreads: number | null;
        threads: number;
        torch: string;
        peakRssMB?: number;
      };
      const node = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/networkStep.ts',
          '--ort',
          file,
          '--batch',
          String(a.batch),
          '--size',
          String(a.size),
          '--steps',
          String(a.steps),
          '--warmup',
          String(a.warmup),
        ],
        { encoding: 'utf8', timeout: 1_800_000, env: { ...process.env, SELMIX_ORT_THREADS: String(a.threads) } },
      );
      if (node.status !== 0)
        throw new Error(
          `the ONNX Runtime step failed for ${net}: ${node.stderr.trim().split('\n').slice(-3).join(' ')}`,
        );
      const ort = JSON.parse(node.stdout.trim().split('\n').pop()!) as {
        msPerStep: number;
        buildMs: number;
        threads: number;
        provider: string;
        peakRssMB: number;
      };
      const fair = torch.blas !== 'reference';
      rows.push([
        net,
        String(a.batch),
        `${a.size}x${a.size}`,
        `ORT ${ort.threads}; PyTorch ${torch.threads} intra-op, BLAS ${torch.blasThreads ?? '?'}`,
        ort.msPerStep.toFixed(1),
        torch.msPerStep.toFixed(1),
        fair ? (ort.msPerStep / torch.msPerStep).toFixed(2) : 'refused (reference BLAS)',
        torch.blas,
        `torch ${torch.torch}`,
        `${ort.peakRssMB} / ${torch.peakRssMB === undefined ? '?' : Math.round(torch.peakRssMB)}`,
        ort.buildMs.toFixed(0),
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const head = [
    'net',
    'batch',
    'image',
    'threads (ORT; PyTorch intra-op, its BLAS pool)',
    'ORT ms/step',
    'PyTorch ms/step',
    'ORT / PyTorch',
    'PyTorch BLAS',
    'PyTorch',
    'peak RSS MB (ORT / PyTorch)',
    'ORT graph build ms',
  ];
  console.log(`| ${head.join(' | ')} |\n| ${head.map(() => '---').join(' | ')} |`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`load average (1, 5, 15 min): ${loadAtStart} at the start, ${load()} at the end; ${cpus().length} cores`);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
