// `npm run bench`: the performance benchmarks, side by side in one run. Writes bench/results/bench.json
// and bench/results/bench.md; `node --import tsx bench/readme-table.ts` prints docs/PERFORMANCE.md's sections
// from bench.json. Never a timed test: nothing here asserts a time, the report says which targets were met.
//
// Flags: --only a,b,c,d,e,f,g,h (default all)  --quick (fewer repetitions, smaller brute force)  --cold (also time
// `selmix demo` with an empty cache, i.e. with pre-training, twice: --backend wasm and auto; about 25 s each here)
// --out DIR (bench/results)
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, prepareGainMatMul, tf } from '../src/backend/backend';
import {
  benchBrute,
  benchLargeGap,
  benchRefresh,
  HUGE_GAP,
  LARGE_GAP,
  type BruteRow,
  type RefreshRow,
} from './refresh';
import { ortMatMul, probeOnnxRuntime } from '../src/backend/onnxRuntime';
import { benchHeadStep, type HeadStepResult } from './headStep';
import { benchCnnStep, benchConvGrad, type CnnStepResult, type ConvGradResult } from './cnnStep';
import { benchOverhead, type OverheadResult } from './overhead';
import { runDemo, type DemoRun } from './endToEnd';
import { benchLeak, type LeakResult } from './leak';
import { benchCliLarge, type CliRow } from './cliLarge';
import { log, machineInfo, type MachineInfo } from './lib';
import { renderReport } from './report';
import { benchOnnx, type OnnxBenchResult } from './onnx';

/** The whole report, as written to bench.json. */
export interface BenchReport {
  machine: MachineInfo;
  /** 1-minute load average at the start and end: other processes on the machine inflate wall times. */
  load: { start: number[]; end: number[] };
  totalSeconds: number;
  refresh?: { rows: RefreshRow[]; brute: BruteRow[]; bruteLimitMs: number };
  headStep?: HeadStepResult;
  cnnStep?: { wasm: CnnStepResult; cpu: CnnStepResult | null; cpuError?: string; convGrad?: ConvGradResult };
  overhead?: {
    head: OverheadResult;
    cnn: { refreshMs: number; stepMs: number; refreshEvery: number; share: number; validationImages: number } | null;
  };
  /** cold: the default backend (auto); coldWasm: the same cold demo with --backend wasm, in the same run (--cold). */
  endToEnd?: { warm: DemoRun | null; cold: DemoRun | null; coldWasm?: DemoRun | null; coldNote: string };
  leak?: LeakResult;
  cli?: CliRow[];
  onnx?: OnnxBenchResult;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean' },
      cold: { type: 'boolean' },
      out: { type: 'string' },
    },
  });
  const only = new Set((values.only ?? 'a,b,c,d,e,f,g,h').split(',').map((s) => s.trim()));
  const quick = values.quick === true;
  const outDir = resolve(values.out ?? join('bench', 'results'));
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  const loadStart = loadavg();
  const backend = await initBackend({ choice: 'wasm' });
  if (backend.tfName !== 'wasm') log(`warning: wasm unavailable, running on ${backend.name}`);
  const report: BenchReport = {
    machine: machineInfo(backend.name, tf.version.tfjs),
    load: { start: loadStart, end: [] },
    totalSeconds: 0,
  };
  const save = () => {
    report.load.end = loadavg();
    report.totalSeconds = (performance.now() - t0) / 1000;
    writeFileSync(join(outDir, 'bench.json'), JSON.stringify(report, null, 1));
    writeFileSync(join(outDir, 'bench.md'), renderReport(report, { title: '# SelMix performance benchmark' }));
  };

  if (only.has('a')) {
    log('(a) gain refresh: K x d grid');
    const rows: RefreshRow[] = [];
    for (const K of [10, 100, 1000]) {
      for (const d of [128, 512, 2048]) {
        const runMm = await prepareGainMatMul(K);
        const r = benchRefresh(K, d, 'minRecall', quick ? 3 : K >= 1000 ? 5 : 9, runMm);
        log(
          `  K=${K} d=${d}: refresh ${r.refresh.medianMs.toFixed(2)} ms (cpu ${r.refresh.cpuMedianMs.toFixed(2)}), G ${r.gain.medianMs.toFixed(2)} ms, arrays ${(r.alloc.totalBytes / 2 ** 20).toFixed(1)} MiB`,
        );
        rows.push(r);
      }
    }
    // A coverage objective at the largest size: its D has the Lagrangian term (the reference built a K^4 Jacobian for
    // it).
    const mm1000 = await prepareGainMatMul(1000);
    rows.push(benchRefresh(1000, 2048, 'meanRecallMinCoverage', quick ? 3 : 5, mm1000));
    // A confident head: 3 validation rows a class and logit gaps in the hundreds, beside ordinary logits of the same
    // shape.
    const gap = benchLargeGap(1000, 2048, quick ? 3 : 5, mm1000);
    rows.push(gap.ordinary, gap.largeGaps);
    // The same refresh with ONNX Runtime's products (what a run takes when ONNX Runtime loads), when it loads here.
    if (probeOnnxRuntime().ok) {
      log('  K = 1000, d = 2048 on ONNX Runtime products');
      rows.push(
        benchRefresh(1000, 2048, 'minRecall', quick ? 3 : 5, ortMatMul, {}, 'onnxruntime'),
        benchRefresh(1000, 2048, 'minRecall', quick ? 3 : 5, ortMatMul, LARGE_GAP, 'onnxruntime'),
        benchRefresh(1000, 2048, 'minRecall', quick ? 3 : 5, ortMatMul, HUGE_GAP, 'onnxruntime'),
      );
    }
    const limit = quick ? 10_000 : 120_000; // K = 100 at d = 128 (about 40-80 s here) is measured, not projected
    log(
      `(a) brute-force K^4 gain (test/helpers/bruteForceGain.ts), each size skipped when projected over ${limit / 1000} s`,
    );
    const brute = benchBrute(quick ? [10, 30] : [10, 30, 50, 100], quick ? [128] : [128, 512, 2048], limit);
    report.refresh = { rows, brute, bruteLimitMs: limit };
    save();
  }

  if (only.has('b')) {
    log('(b) head step (B = 64 + 64, d = 512, K = 100) vs matMul, transposed-matMul penalty');
    report.headStep = await benchHeadStep(
      { B: 64, d: 512, K: 100 },
      { reps: quick ? 3 : 9, iters: quick ? 30 : 100, profile: true },
    );
    const h = report.headStep;
    log(
      `  step ${h.engineStep.medianMs.toFixed(2)} ms (${h.engineGflops.toFixed(2)} GFLOP/s), matMul ${h.matmulOnly.medianMs.toFixed(2)} ms (${h.matmulGflops.toFixed(2)} GFLOP/s): ratio ${h.ratio.toFixed(2)}`,
    );
    save();
  }

  if (only.has('c') || only.has('d')) {
    log('(c) demo CNN step (64 + 64) on wasm vs pure-JS cpu');
    const wasm = await benchCnnStep({ reps: quick ? 3 : 5, iters: quick ? 2 : 5, profile: true, nVal: 1000 });
    log(`  wasm: ${wasm.step.medianMs.toFixed(1)} ms/step (cpu ${wasm.step.cpuMedianMs.toFixed(1)})`);
    let cpu: CnnStepResult | null = null;
    let cpuError: string | undefined;
    if (only.has('c')) {
      if (await tf.setBackend('cpu')) {
        cpu = await benchCnnStep({ reps: quick ? 1 : 3, iters: 1 });
        log(`  cpu: ${cpu.step.medianMs.toFixed(1)} ms/step`);
      } else {
        cpuError = "tf.setBackend('cpu') returned false";
      }
      if (!(await tf.setBackend(backend.tfName))) throw new Error(`could not switch back to ${backend.tfName}`);
    }
    const convGrad = benchConvGrad(quick ? 3 : 5);
    report.cnnStep = { wasm, cpu, ...(cpuError ? { cpuError } : {}), convGrad };
    if (only.has('d')) {
      log('(d) SelMix overhead vs plain mixup (head-only, K = 100, d = 512, 300 steps, real finetune runs)');
      const head = await benchOverhead({ K: 100, d: 512, steps: 300, rounds: quick ? 1 : 3 });
      log(
        `  overhead ${(100 * head.overheadWall).toFixed(1)}% wall, ${(100 * head.overheadCpu).toFixed(1)}% cpu, ${(100 * head.overheadFromParts).toFixed(1)}% from parts`,
      );
      // The CNN demo: a refresh is a validation pass over the images plus a K = 10 refresh; from the parts.
      const r10 = benchRefresh(10, 64, 'minRecall', 9, await prepareGainMatMul(10));
      const refreshMs = wasm.validationPass!.medianMs + r10.refresh.medianMs;
      const stepMs = wasm.step.medianMs;
      report.overhead = {
        head,
        cnn: {
          refreshMs,
          stepMs,
          refreshEvery: 50,
          share: refreshMs / (refreshMs + 50 * stepMs),
          validationImages: wasm.nVal,
        },
      };
    }
    save();
  }

  if (only.has('e')) {
    log('(e) selmix demo end to end (warm cache)');
    const { existsSync } = await import('node:fs');
    const haveCache = existsSync(resolve('.selmix-cache', 'mnist-lt-cnn', 'model.json'));
    let cold: DemoRun | null = null;
    let coldWasm: DemoRun | null = null;
    if (values.cold === true || !haveCache) {
      // Before and after, side by side: tfjs-wasm only, then the default (ONNX Runtime where it loads); each cold.
      log('  cold runs (pre-training the demo CNN first), --backend wasm then the default auto');
      coldWasm = await runDemo('cold', process.cwd(), 'wasm');
      log(`  cold, --backend wasm: ${coldWasm.wallS.toFixed(1)} s, exit ${coldWasm.exitCode}, ${coldWasm.backend}`);
      cold = await runDemo('cold', process.cwd(), 'auto');
      log(`  cold, auto: ${cold.wallS.toFixed(1)} s, exit ${cold.exitCode}, ${cold.backend}`);
    }
    const warm = await runDemo('warm', process.cwd());
    log(
      `  warm: ${warm.wallS.toFixed(1)} s wall, ${(warm.userS + warm.sysS).toFixed(1)} s cpu, peak RSS ${(warm.peakRssBytes / 2 ** 20).toFixed(0)} MiB, exit ${warm.exitCode}`,
    );
    report.endToEnd = {
      warm,
      cold,
      coldWasm,
      coldNote: cold ? 'measured in this run' : 'not measured in this run (pass --cold; it pre-trains the CNN)',
    };
    save();
  }

  if (only.has('f')) {
    log('(f) tensor leak check: 2000 head-only steps');
    report.leak = await benchLeak({ K: 100, d: 512, steps: quick ? 500 : 2000 });
    log(
      `  numTensors ${report.leak.tensorsBefore} -> ${report.leak.tensorsAfter}, peak RSS ${(report.leak.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    save();
  }
  if (only.has('g')) {
    log(
      "(g) the user's commands as whole processes at K = 10, 100, 1000 (gain, eval, feature-mode finetune), and gain at logit gaps of 10, 300, 3000",
    );
    report.cli = await benchCliLarge({ Ks: [10, 100, 1000], d: 2048, steps: 200 });
    save();
  }
  if (only.has('h')) {
    log('(h) ONNX Runtime: the head loop against PyTorch (whole processes), feature extraction against tfjs-wasm');
    report.onnx = await benchOnnx({ steps: quick ? 500 : 2000, images: quick ? 512 : 2048 });
    save();
  }
  save();
  process.stdout.write(renderReport(report, { title: '# SelMix performance benchmark' }));
  log(`done in ${report.totalSeconds.toFixed(0)} s; wrote ${join(outDir, 'bench.json')} and bench.md`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
