// Input-level mixups and the Mean Teacher on a whole ONNX network: CIFAR-10-LT with the PyTorch-trained ResNet-8
// (bench/cifar_resnet/), every row a runRequest() on an image-folder config, as `selmix finetune --config` runs it.
//
//   node --import tsx bench/mixupOnnx.ts --data /work/data [--model bench/cifar_resnet/resnet_cifar10lt.onnx]
//       [--steps 300] [--batch 32] [--lr 0.003] [--backbone-lr-factor 0.01] [--refresh 25] [--seeds 3]
//       [--test-per-class 200] [--objectives minRecall,meanRecall] [--mixups feature,cutmix,puzzle]
//       [--unlabeled-objective minRecall] [--unlabeled-max 200] [--rho-u 100,1,0.01] [--threshold 0.5]
//       [--teacher-decay 0.99] [--parts mixup,unlabeled,timing] [--out bench/results]
//   (npm run bench:mixup-onnx -- --data DIR)
//
// --data DIR holds CIFAR-10 as images: train/<class>/ and test/<class>/. Labeled training and validation images are the
// ResNet's own split (bench/cifar_resnet/split_train_lt.txt, split_val.txt). Test: the first --test-per-class files
// (sorted) of each test/<class>/. The unlabeled set (part "unlabeled") comes from the test images after those, so it is
// disjoint from every set the run scores on: class c gets floor(M * rho_u^(-c/9)) images for rho_u >= 1 (M =
// --unlabeled-max) and floor(M * (1/rho_u)^(-(9-c)/9)) for rho_u < 1 (inverted: the tail classes most frequent); its
// labels are never read by the runs (pseudo-labels).
//
// Parts: "mixup": for each objective, whole-network SelMix with training.mixup feature, cutmix and puzzle, seeds
// 0..seeds-1. "unlabeled": for each rho_u, whole-network SelMix (feature mixup) with the unlabeled set's partners
// pseudo-labelled by the model itself (selmix.teacher "self") or by the Mean Teacher ("ema"), both at the same
// confidence threshold. "timing": milliseconds per training step of each mixup (lr 0, the model's real graphs, batch
// --batch, 3 warm-up steps then the median of 10), including the JS mixing and, for puzzle, the saliency pass.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { MetricsReport, RunFinishedPayload } from '../src/protocol/messages';
import { runRequest } from '../src/run/run';
import { readOnnxModel } from '../src/data/onnxModel';
import { networkModel } from '../src/formats/onnx/networkStep';
import { tensorFloats } from '../src/formats/onnx/proto';
import { OrtNetwork, probeNetwork, type ParamValues } from '../src/backend/onnxNetworkStep';
import { cutmixImages, puzzleImages, saliencyGrid, softTargets, type ImageLayout } from '../src/core/training/inputMix';
import { Rng } from '../src/core/numerics/rng';
import { fmtMs, log, mdTable, median } from './lib';
import { linkList, linkResnetSplit, testImages } from './cifarResnet';

type Mixup = 'feature' | 'cutmix' | 'puzzle';

/** Unlabeled images of class c (of K) for imbalance rho_u (inverted below 1), at most M. */
const unlabeledCount = (c: number, K: number, M: number, rhoU: number): number =>
  rhoU >= 1 ? Math.floor(M * rhoU ** (-c / (K - 1))) : Math.floor(M * (1 / rhoU) ** (-(K - 1 - c) / (K - 1)));

/** Milliseconds per step of each mixup on the model's real graphs (lr 0: nothing changes). */
function timeSteps(modelPath: string, B: number, mixups: Mixup[], seed: number): Record<Mixup, number> {
  const onnx = readOnnxModel(modelPath);
  const m = networkModel(onnx.proto, onnx.input.name, onnx.head, onnx.head.W, onnx.head.b);
  const ex = onnx.input.dims.slice(1) as number[];
  const net = new OrtNetwork(m, probeNetwork(m, ex), ex);
  const inits = new Map((m.proto.graph!.initializer ?? []).map((t) => [t.name ?? '', t]));
  const params: ParamValues = new Map(m.params.map((p) => [p, tensorFloats(inits.get(p)!)!]));
  const K = m.head.K;
  const per = ex.reduce((a, v) => a * v, 1);
  const rng = new Rng(seed);
  const xa = Float32Array.from({ length: B * per }, () => rng.next() * 4 - 2);
  const xp = Float32Array.from({ length: B * per }, () => rng.next() * 4 - 2);
  const ya = Int32Array.from({ length: B }, (_, i) => i % K);
  const yp = Int32Array.from({ length: B }, (_, i) => (i * 3 + 1) % K);
  const lam = Float32Array.from({ length: B }, () => rng.uniform(0.6, 1));
  const img: ImageLayout = { layout: 'NCHW', shape: ex };
  const hp = { lr: 0, momentum: 0, wd: 0, backboneLrFactor: 0 };
  const mom: ParamValues = new Map([...params].map(([k, v]) => [k, new Float32Array(v.length)]));
  const out = {} as Record<Mixup, number>;
  try {
    for (const mix of mixups) {
      const once = (): void => {
        if (mix === 'feature') {
          net.stepFor(B, 'feature').step(params, mom, { xa, xp, lam, ya }, hp);
          return;
        }
        let mixed;
        if (mix === 'cutmix') mixed = cutmixImages(xa, xp, B, img, lam, rng);
        else {
          const both = new Float32Array(2 * B * per);
          both.set(xa);
          both.set(xp, B * per);
          const labels = new Int32Array(2 * B);
          labels.set(ya);
          labels.set(yp, B);
          const sal = saliencyGrid(net.saliencyFor(2 * B).run(params, both, labels), 2 * B, img, 4);
          mixed = puzzleImages(xa, xp, B, img, 4, sal.subarray(0, B * 16), sal.subarray(B * 16), lam);
        }
        const y = softTargets(ya, yp, mixed.lamEff, K);
        net.stepFor(B, 'input').step(params, mom, { xa: mixed.x, xp, lam, ya, y }, hp);
      };
      for (let i = 0; i < 3; i++) once();
      const ts: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = performance.now();
        once();
        ts.push(performance.now() - t);
      }
      out[mix] = median(ts);
    }
  } finally {
    net.dispose();
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      model: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      'backbone-lr-factor': { type: 'string' },
      refresh: { type: 'string' },
      seeds: { type: 'string' },
      'test-per-class': { type: 'string' },
      objectives: { type: 'string' },
      mixups: { type: 'string' },
      'unlabeled-objective': { type: 'string' },
      'unlabeled-max': { type: 'string' },
      'rho-u': { type: 'string' },
      threshold: { type: 'string' },
      'teacher-decay': { type: 'string' },
      parts: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (!values.data) throw new Error('--data DIR is required (CIFAR-10 images: train/<class>/ and test/<class>/)');
  const dataDir = resolve(values.data);
  const modelPath = resolve(values.model ?? 'bench/cifar_resnet/resnet_cifar10lt.onnx');
  const splitDir = dirname(modelPath);
  const steps = Number(values.steps ?? 300);
  const batch = Number(values.batch ?? 32);
  const lr = Number(values.lr ?? 0.003);
  const blf = Number(values['backbone-lr-factor'] ?? 0.01);
  const refresh = Number(values.refresh ?? 25);
  const nSeeds = Number(values.seeds ?? 3);
  const testPerClass = Number(values['test-per-class'] ?? 200);
  const objectives = (values.objectives ?? 'minRecall,meanRecall').split(',');
  const mixups = (values.mixups ?? 'feature,cutmix,puzzle').split(',') as Mixup[];
  const uObjective = values['unlabeled-objective'] ?? 'minRecall';
  const uMax = Number(values['unlabeled-max'] ?? 200);
  const rhoUs = (values['rho-u'] ?? '100,1,0.01').split(',').map(Number);
  const threshold = Number(values.threshold ?? 0.5);
  const decay = Number(values['teacher-decay'] ?? 0.99);
  const parts = new Set((values.parts ?? 'mixup,unlabeled,timing').split(','));
  const outDir = resolve(values.out ?? join('bench', 'results'));
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  const load0 = loadavg()[0]!;

  const work = mkdtempSync(join(tmpdir(), 'selmix-mixonnx-'));
  // The ResNet's own train and val split, the first testPerClass test images of each class; the unlabeled sets come
  // from the test images after those.
  const { train: nTrain, val: nVal, test: nTest } = linkResnetSplit(dataDir, splitDir, work, testPerClass);
  const { classes, files: testFiles } = testImages(dataDir);
  const unlabeledDirs = new Map<number, { dir: string; counts: number[] }>();
  for (const rhoU of parts.has('unlabeled') ? rhoUs : []) {
    const counts = classes.map((_, c) => unlabeledCount(c, classes.length, uMax, rhoU));
    const dir = join(work, `unlabeled-${rhoU}`);
    counts.forEach((n, c) => {
      if (testPerClass + n > testFiles[c]!.length)
        throw new Error(`class ${classes[c]}: ${n} unlabeled images after ${testPerClass} test images do not fit`);
    });
    // Class folders, for the layout only: the runs use pseudo-labels (selmix.partnerLabels "pseudo").
    linkList(
      join(dataDir, 'test'),
      counts.flatMap((n, c) => testFiles[c]!.slice(testPerClass, testPerClass + n)),
      dir,
    );
    unlabeledDirs.set(rhoU, { dir, counts });
  }
  log(
    `split: train ${nTrain}, val ${nVal}, test ${nTest}; ${steps} steps, batch ${batch}+${batch}, lr ${lr}, backbone x${blf}, refresh ${refresh}, seeds 0..${nSeeds - 1}; unlabeled ${[...unlabeledDirs].map(([r, u]) => `rho_u ${r}: ${u.counts.join('/')}`).join('; ')}`,
  );

  interface Rec {
    part: 'mixup' | 'unlabeled';
    objective: string;
    variant: string;
    rhoU?: number;
    seed: number;
    s: RunFinishedPayload;
    seconds: number;
  }
  const recs: Rec[] = [];
  const runOne = async (
    part: Rec['part'],
    o: string,
    variant: string,
    seed: number,
    training: object,
    selmix: object,
    unlabeled?: string,
    rhoU?: number,
  ): Promise<void> => {
    const runDir = join(work, `run-${part}-${o}-${variant}-${rhoU ?? ''}-${seed}`);
    const cfg = {
      name: `mixupOnnx ${part} ${variant} ${o} seed ${seed}`,
      objective: o,
      data: {
        kind: 'images',
        train: join(work, 'train'),
        val: join(work, 'val'),
        test: join(work, 'test'),
        ...(unlabeled ? { unlabeled } : {}),
      },
      model: { kind: 'onnx', path: modelPath, preprocess: { preset: 'cifar' } },
      training: { seed, steps, batchSize: batch, lr, backboneLrFactor: blf, refreshEvery: refresh, ...training },
      selmix,
      output: runDir,
    };
    const ts = performance.now();
    const r = await runRequest(
      { configText: JSON.stringify(cfg), configPath: join(work, 'config.json') },
      { emit: () => undefined, shouldStop: () => false },
    );
    if (!r.ok) throw new Error(`${part} ${variant} ${o} seed ${seed} failed (${r.kind}): ${r.message}`);
    const seconds = (performance.now() - ts) / 1000;
    recs.push({ part, objective: o, variant, seed, s: r.summary, seconds, ...(rhoU !== undefined ? { rhoU } : {}) });
    const v = (m: MetricsReport | undefined) =>
      m ? `min ${m.minRecall.toFixed(4)} mean ${m.meanRecall.toFixed(4)}` : '-';
    const pl = r.summary.pseudoLabels;
    log(
      `${part} ${variant}${rhoU !== undefined ? ` rho_u ${rhoU}` : ''} ${o} seed ${seed}: ${seconds.toFixed(0)} s, best step ${r.summary.bestStep}; test ${v(r.summary.after.test)} (warm ${v(r.summary.warmStart?.test)})${pl ? `; pseudo-labels ${pl.source} ${pl.passed}/${pl.total}` : ''}; load ${loadavg()[0]!.toFixed(2)}`,
    );
    rmSync(runDir, { recursive: true, force: true });
  };

  let timing: Record<Mixup, number> | null = null;
  /** Writes (and prints) the tables of the runs so far: after every seed, so a stopped bench leaves its seeds. */
  const writeTables = (seedsDone: number): void => {
    const nSeeds = seedsDone;
    const totalSeconds = (performance.now() - t0) / 1000;
    const ms = (xs: number[]): string => {
      if (!xs.length) return '-';
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
      return sd > 1e-9 ? `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}` : (100 * m).toFixed(1);
    };
    const cells = (list: Rec[], pick: (s: RunFinishedPayload) => MetricsReport | undefined) => {
      const got = list.map((r) => pick(r.s)).filter((m): m is MetricsReport => m !== undefined);
      return [ms(got.map((m) => m.minRecall)), ms(got.map((m) => m.meanRecall))];
    };
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const sections: string[] = [];
    const setting = `${steps} steps, batch ${batch} anchors + ${batch} partners, lr ${lr} cosine (backbone x${blf}), no momentum, refresh every ${refresh}, warm start: logit adjustment with tau tuned on validation; seeds 0..${nSeeds - 1}; test: the first ${testPerClass} images of each class (${nTest}); values in %, mean ± std over seeds.`;
    if (parts.has('mixup')) {
      const rows: string[][] = [];
      for (const o of objectives) {
        const mine = recs.filter((r) => r.part === 'mixup' && r.objective === o);
        const first = mine.filter((r) => r.seed === 0).slice(0, 1);
        rows.push([o, 'starting model', ...cells(first, (s) => s.before.test), '–', '–', '–']);
        rows.push([o, 'post-hoc LA (the warm start)', ...cells(first, (s) => s.warmStart?.test), '–', '–', '–']);
        for (const mix of mixups) {
          const list = mine.filter((r) => r.variant === mix);
          rows.push([
            o,
            `SelMix, ${mix}`,
            ...cells(list, (s) => s.after.test),
            list.map((r) => r.s.bestStep).join(', '),
            timing ? timing[mix].toFixed(0) : '–',
            mean(list.map((r) => r.seconds)).toFixed(0),
          ]);
        }
      }
      sections.push(
        [
          `### Mixups on the whole network (ONNX ResNet-8, CIFAR-10-LT), under SelMix's P`,
          '',
          setting,
          '',
          mdTable(
            [
              'objective',
              'method',
              'min recall (test)',
              'mean recall (test)',
              'kept step per seed',
              'ms per step',
              's per run',
            ],
            rows,
          ),
        ].join('\n'),
      );
    }
    if (parts.has('unlabeled')) {
      const rows: string[][] = [];
      for (const [rhoU, u] of unlabeledDirs) {
        const mine = recs.filter((r) => r.part === 'unlabeled' && r.rhoU === rhoU);
        const first = mine.filter((r) => r.seed === 0).slice(0, 1);
        const label = `${rhoU} (${u.counts.reduce((a, b) => a + b, 0)} images)`;
        rows.push([label, 'post-hoc LA (the warm start)', ...cells(first, (s) => s.warmStart?.test), '–', '–']);
        for (const teacher of ['self', 'ema']) {
          const list = mine.filter((r) => r.variant === teacher);
          rows.push([
            label,
            teacher === 'self' ? 'own pseudo-labels' : `Mean Teacher (EMA ${decay})`,
            ...cells(list, (s) => s.after.test),
            list.map((r) => `${r.s.pseudoLabels?.passed ?? '-'}/${r.s.pseudoLabels?.total ?? '-'}`).join(', '),
            list.map((r) => r.s.bestStep).join(', '),
          ]);
        }
      }
      sections.push(
        [
          `### The unlabeled set's pseudo-labels: the model's own against the Mean Teacher's (objective ${uObjective}, feature mixup)`,
          '',
          `${setting} Unlabeled images: test images after the scored ones, class 0's count ${uMax}; confidence threshold ${threshold} for both.`,
          '',
          mdTable(
            [
              'rho_u',
              'pseudo-labels',
              'min recall (test)',
              'mean recall (test)',
              'passed the threshold (last refresh), per seed',
              'kept step per seed',
            ],
            rows,
          ),
        ].join('\n'),
      );
    }
    const md =
      sections.join('\n\n') +
      `\n\nLoad average ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end; ${fmtMs(totalSeconds * 1000)} in all.\n`;
    writeFileSync(
      join(outDir, 'mixup-onnx.json'),
      JSON.stringify(
        {
          settings: { steps, batch, lr, blf, refresh, nSeeds, testPerClass, uMax, rhoUs, threshold, decay },
          timing,
          runs: recs.map((r) => ({
            part: r.part,
            objective: r.objective,
            variant: r.variant,
            rhoU: r.rhoU,
            seed: r.seed,
            seconds: r.seconds,
            bestStep: r.s.bestStep,
            after: r.s.after.test,
            warm: r.s.warmStart?.test,
            pseudoLabels: r.s.pseudoLabels,
          })),
          totalSeconds,
        },
        null,
        1,
      ),
    );
    writeFileSync(join(outDir, 'mixup-onnx.md'), md);
    process.stdout.write(md);
    log(
      `${seedsDone} of ${values.seeds ?? 3} seeds in ${fmtMs(totalSeconds * 1000)}; wrote ${join(outDir, 'mixup-onnx.json')} and .md`,
    );
  };
  try {
    if (parts.has('timing')) {
      timing = timeSteps(modelPath, batch, mixups, 0);
      log(`ms per step: ${mixups.map((m) => `${m} ${timing![m].toFixed(1)}`).join(', ')}`);
    }
    for (let seed = 0; seed < nSeeds; seed++) {
      if (parts.has('mixup'))
        for (const o of objectives) for (const mix of mixups) await runOne('mixup', o, mix, seed, { mixup: mix }, {});
      if (parts.has('unlabeled'))
        for (const [rhoU, u] of unlabeledDirs)
          for (const teacher of ['self', 'ema'])
            await runOne(
              'unlabeled',
              uObjective,
              teacher,
              seed,
              {},
              { teacher, teacherDecay: decay, pseudoLabelThreshold: threshold },
              u.dir,
              rhoU,
            );
      writeTables(seed + 1);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench:mixup-onnx failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
