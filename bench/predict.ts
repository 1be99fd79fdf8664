// Does the gain matrix predict? (`node --import tsx bench/predict.ts [--objectives a,b] [--steps 1,10] [--lr L]
// [--dataset cifar10-lt-resnet --data DIR]`.)
// MNIST-LT with the demo CNN's features (bench:quality's setup, head-only), or CIFAR-10-LT with the PyTorch-trained
// ResNet-8's features (bench:quality --dataset cifar10-lt-resnet's setup), at the logit-adjusted warm start of each
// objective: every pair (i, j) is trained alone from the same state for N SGD steps (batch 64 anchors of class i mixed
// with 64 partners of class j, lambda ~ U[lambdaMin, 1], the loop's defaults), and the realised change of the
// validation
// objective is set against G_ij. Prints, per objective and step count: the Pearson and Spearman correlations over all
// pairs and over the positive-gain pairs, how many positive-gain pairs lower the objective, where the top five pairs
// by G rank by realised change, and the largest change of any class's recall.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend';
import { configSchema } from '../src/core/config';
import { forwardAll, type ExampleSet } from '../src/core/training/evaluate';
import { fromLayersModel, type SelmixModel } from '../src/core/training/model';
import { objectiveOptions } from '../src/core/training/train';
import { logPrior, searchTau } from '../src/core/numerics/logitAdjust';
import { computeRefresh } from '../src/core/numerics/refresh';
import { argmaxRows } from '../src/core/numerics/classStats';
import { classSupport, confusionMatrix } from '../src/core/numerics/confusion';
import { metricsReport, objectiveMetricValue, objectiveScore } from '../src/core/numerics/metrics';
import { OBJECTIVE_IDS, type ObjectiveId } from '../src/core/objectives/objectiveIds';
import { pearson } from '../src/core/numerics/gainMonitor';
import { Rng } from '../src/core/numerics/rng';
import { loadMnistLT } from '../src/data/mnist';
import { loadLayersModelFromFile } from '../src/data/modelIo';
import { linkResnetSplit, RESNET_MODEL, resnetFeatures } from './cifarResnet';
import { log, mdTable } from './lib';

const MODEL_PATH = '.selmix-cache/mnist-lt-cnn/model.json';

/** Ranks (1 = smallest), ties averaged. */
function ranks(xs: number[]): number[] {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && xs[idx[j + 1]!] === xs[idx[i]!]) j++;
    for (let t = i; t <= j; t++) r[idx[t]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

const spearman = (a: number[], b: number[]) => pearson(ranks(a), ranks(b));

/** Validation logits f W + b (W d x K row-major). */
function logitsOf(f: Float32Array, n: number, d: number, K: number, W: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) {
      let s = b[k]!;
      for (let t = 0; t < d; t++) s += f[i * d + t]! * W[t * K + k]!;
      out[i * K + k] = s;
    }
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      objectives: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      dataset: { type: 'string' },
      data: { type: 'string' },
    },
  });
  const objectives = (values.objectives ? values.objectives.split(',') : [...OBJECTIVE_IDS]) as ObjectiveId[];
  const stepList = (values.steps ?? '1,10').split(',').map(Number);
  await initBackend({ choice: 'wasm' });
  const resnet = values.dataset === 'cifar10-lt-resnet';
  if (values.dataset !== undefined && values.dataset !== 'mnist-lt' && !resnet)
    throw new Error(`--dataset ${values.dataset}: expected mnist-lt or cifar10-lt-resnet`);
  let m: { train: ExampleSet & { y: Int32Array }; val: ExampleSet & { y: Int32Array } };
  let model: SelmixModel;
  let ftr: Float32Array, fva: Float32Array;
  if (resnet) {
    if (!values.data)
      throw new Error('--dataset cifar10-lt-resnet needs --data DIR (train/<class>/ and test/<class>/)');
    const work = mkdtempSync(join(tmpdir(), 'selmix-predict-'));
    try {
      linkResnetSplit(resolve(values.data), resolve('bench/cifar_resnet'), work, 0);
      const r = await resnetFeatures(work, RESNET_MODEL, resolve('.selmix-cache', 'cifar-resnet-features'));
      ({ model } = r);
      m = { train: r.data.train, val: r.data.val };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    ftr = m.train.x;
    fva = m.val.x;
  } else {
    m = loadMnistLT({ rho: 100, nMax: 4000, valPerClass: 100, seed: 0 });
    model = fromLayersModel(await loadLayersModelFromFile(resolve(MODEL_PATH)));
    const feats = (s: ExampleSet) => Float32Array.from(forwardAll(model, s).features);
    ftr = feats(m.train);
    fva = feats(m.val);
  }
  const K = model.K,
    d = model.d;
  const W0 = Float64Array.from(await model.W.data());
  const b0 = Float64Array.from(await model.b.data());
  const ytr = m.train.y,
    yva = m.val.y;
  const byClass: number[][] = Array.from({ length: K }, () => []);
  ytr.forEach((y, i) => byClass[y]!.push(i));
  const support = classSupport(yva, K);
  const lp = logPrior(ytr, K);
  const rows: (string | number)[][] = [];
  log(`${resnet ? 'CIFAR-10-LT ResNet-8' : 'MNIST-LT'} features: train ${m.train.n}, val ${m.val.n}, d ${d}, K ${K}`);
  for (const o of objectives) {
    const cfg = configSchema.parse({
      objective: o,
      data: { kind: 'builtin' },
      model: { kind: 'pretrained-demo' },
      ...(values.lr ? { training: { lr: Number(values.lr) } } : {}),
    });
    const tr = cfg.training;
    const alpha = cfg.selmix.coverage.alpha;
    const score = (mr: ReturnType<typeof metricsReport>) => objectiveScore(o, mr, K, alpha);
    const logits0 = logitsOf(fva, m.val.n, d, K, W0, b0);
    const tau = searchTau(logits0, yva, K, lp, cfg.selmix.headFrac, (_C, mr) => score(mr)).tau;
    const b = Float64Array.from(b0, (v, k) => v - tau * lp[k]!);
    const logits = logitsOf(fva, m.val.n, d, K, W0, b);
    const r = computeRefresh({
      K,
      d,
      features: fva,
      labels: yva,
      logits,
      W: W0,
      b,
      objective: o,
      prevMultipliers: null,
      round: 0,
      options: objectiveOptions(cfg),
      s: cfg.selmix.temperature,
      lambdaBar: (tr.lambdaMin + 1) / 2,
      variant: cfg.selmix.deltaW,
    });
    const valueOf = (W: Float64Array, bb: Float64Array) => {
      const C = confusionMatrix(yva, argmaxRows(logitsOf(fva, m.val.n, d, K, W, bb), m.val.n, K), K);
      const mr = metricsReport(C, K, support, cfg.selmix.headFrac);
      return { value: objectiveMetricValue(o, mr), recall: mr.recall };
    };
    const start = valueOf(W0, b);
    for (const steps of stepList) {
      const G: number[] = [],
        real: number[] = [];
      let maxRecallMove = 0;
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < K; j++) {
          if (!byClass[i]!.length || !byClass[j]!.length) continue;
          const rng = new Rng(Number(values.seed ?? 0) * 7919 + i * K + j);
          const W = W0.slice(),
            bb = b.slice();
          const B = tr.batchSize;
          const f = new Float64Array(B * d),
            g = new Float64Array(B * K);
          for (let t = 0; t < steps; t++) {
            const lr = tr.lr * 0.5 * (1 + Math.cos((Math.PI * t) / resolveBudget(tr, m.train.n)));
            for (let q = 0; q < B; q++) {
              const a = byClass[i]![rng.int(byClass[i]!.length)]!,
                p = byClass[j]![rng.int(byClass[j]!.length)]!;
              const lam = rng.uniform(tr.lambdaMin, 1);
              for (let u = 0; u < d; u++) f[q * d + u] = lam * ftr[a * d + u]! + (1 - lam) * ftr[p * d + u]!;
              let mx = -Infinity;
              for (let k = 0; k < K; k++) {
                let s = bb[k]!;
                for (let u = 0; u < d; u++) s += f[q * d + u]! * W[u * K + k]!;
                g[q * K + k] = s;
                mx = Math.max(mx, s);
              }
              let z = 0;
              for (let k = 0; k < K; k++) {
                g[q * K + k] = Math.exp(g[q * K + k]! - mx);
                z += g[q * K + k]!;
              }
              for (let k = 0; k < K; k++) g[q * K + k] = (g[q * K + k]! / z - (k === i ? 1 : 0)) / B;
            }
            // SGD with weight decay on W (not b), no momentum: the loop's defaults.
            for (let u = 0; u < d; u++) {
              for (let k = 0; k < K; k++) {
                let s = 0;
                for (let q = 0; q < B; q++) s += f[q * d + u]! * g[q * K + k]!;
                W[u * K + k] = W[u * K + k]! - lr * (s + tr.weightDecay * W[u * K + k]!);
              }
            }
            for (let k = 0; k < K; k++) {
              let s = 0;
              for (let q = 0; q < B; q++) s += g[q * K + k]!;
              bb[k] = bb[k]! - lr * s;
            }
          }
          const after = valueOf(W, bb);
          G.push(r.G[i * K + j]!);
          real.push(after.value - start.value);
          for (let k = 0; k < K; k++)
            maxRecallMove = Math.max(maxRecallMove, Math.abs(after.recall[k]! - start.recall[k]!));
        }
      }
      const pos = G.map((x, t) => ({ x, y: real[t]! })).filter((p) => p.x > 0);
      const order = G.map((_, t) => t).sort((a, c) => real[c]! - real[a]!);
      const rankByReal = new Map(order.map((t, rk) => [t, rk + 1]));
      const top5 = G.map((_, t) => t)
        .sort((a, c) => G[c]! - G[a]!)
        .slice(0, 5)
        .map((t) => rankByReal.get(t)!);
      const f2 = (v: number | null) => (v === null ? 'n/a' : v.toFixed(2));
      rows.push([
        o,
        tau,
        steps,
        f2(pearson(G, real)),
        f2(spearman(G, real)),
        f2(
          pearson(
            pos.map((p) => p.x),
            pos.map((p) => p.y),
          ),
        ),
        `${pos.filter((p) => p.y < 0).length} / ${pos.length}`,
        `${pos.filter((p) => p.y > 0).length}`,
        top5.join(', '),
        (100 * maxRecallMove).toFixed(1),
        (100 * Math.max(...real)).toFixed(2),
      ]);
      log(
        `${o} tau ${tau} steps ${steps}: pearson ${f2(pearson(G, real))}, spearman ${f2(spearman(G, real))}, top-5 G ranks ${top5.join(',')}`,
      );
    }
  }
  process.stdout.write(
    '\n' +
      mdTable(
        [
          'objective',
          'warm tau',
          'steps',
          'Pearson(G, realised)',
          'Spearman',
          'Pearson, G > 0 pairs',
          'G > 0 pairs that lower it',
          'G > 0 pairs that raise it',
          'top-5 pairs by G: rank by realised (of K^2)',
          'largest recall move (points)',
          'best realised change (points)',
        ],
        rows,
      ) +
      '\n',
  );
}

/** The run's step budget at the defaults (the cosine schedule's length). */
function resolveBudget(
  tr: { steps?: number; passes: number; batchSize: number; refreshEvery: number },
  n: number,
): number {
  return tr.steps ?? Math.max(tr.refreshEvery, Math.ceil((tr.passes * n) / tr.batchSize));
}

main().catch((e) => {
  process.stderr.write(`bench/predict failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
