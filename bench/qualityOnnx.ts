// Whole-network quality on CIFAR-10-LT with the PyTorch-trained ResNet-8 (bench/cifar_resnet/), through the engine a
// user
// runs: every row is a runRequest() on an image-folder config with model.kind "onnx" and the "cifar" preprocessing
// preset.
//
//   node --import tsx bench/qualityOnnx.ts --data /work/data [--model bench/cifar_resnet/resnet_cifar10lt.onnx]
//       [--steps 200] [--batch 32] [--lr 0.003] [--backbone-lr-factor 0.01] [--refresh 25] [--seeds 3]
//       [--test-per-class 500] [--objectives minRecall,meanRecall] [--kinds headSelmix,wholeSelmix,wholeUniform]
//       [--momentum 0] [--margin Z (training.selectionMargin)] [--first-seed 0] [--no-test] [--out bench/results]
// (defaults: the setting chosen on validation, docs/QUALITY.md "CIFAR-10-LT, whole network").
//
// --data DIR holds CIFAR-10 as images: train/<class>/ and test/<class>/. The split is the one the ResNet was trained on
// (bench/cifar_resnet/split_train_lt.txt and split_val.txt, paths relative to train/): the listed files are symlinked
// into a temporary folder tree train/<class>/, val/<class>/, and the first --test-per-class files (sorted) of each
// test/<class>/ into test/<class>/ (0: all of them). --no-test runs without a test set (validation only: for choosing
// settings without looking at test).
//
// Rows, for each objective o: the starting model; post-hoc logit adjustment with tau tuned on validation for o (the
// run's own warm start, its test metrics as the run reports them); head-only SelMix (model.freezeBackbone true);
// whole-network SelMix; whole-network uniform mixup (selmix.policy "uniformMixup", its kept iterate picked by o on
// validation, as SelMix's is). All fine-tuned rows share the budget, batch, lr, refresh interval and seed.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { MetricsReport, RunFinishedPayload } from '../src/protocol/messages';
import { runRequest } from '../src/run/run';
import { linkResnetSplit } from './cifarResnet';
import { fmtMs, log, mdTable } from './lib';

type Kind = 'headSelmix' | 'wholeSelmix' | 'wholeUniform';
const KIND_LABEL: Record<Kind, string> = {
  headSelmix: 'SelMix, head only (freezeBackbone)',
  wholeSelmix: 'SelMix, whole network',
  wholeUniform: 'uniform mixup, whole network',
};

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
      'first-seed': { type: 'string' },
      'test-per-class': { type: 'string' },
      objectives: { type: 'string' },
      kinds: { type: 'string' },
      'no-test': { type: 'boolean' },
      out: { type: 'string' },
      momentum: { type: 'string' },
      margin: { type: 'string' },
    },
  });
  if (!values.data) throw new Error('--data DIR is required (CIFAR-10 images: train/<class>/ and test/<class>/)');
  const dataDir = resolve(values.data);
  const modelPath = resolve(values.model ?? 'bench/cifar_resnet/resnet_cifar10lt.onnx');
  const splitDir = dirname(modelPath);
  const steps = Number(values.steps ?? 200);
  const batch = Number(values.batch ?? 32);
  const lr = Number(values.lr ?? 0.003);
  const blf = Number(values['backbone-lr-factor'] ?? 0.01);
  const momentum = Number(values.momentum ?? 0);
  // training.selectionMargin (absent: the tool's default, 0).
  const margin = values.margin !== undefined ? Number(values.margin) : undefined;
  const refresh = Number(values.refresh ?? 25);
  const nSeeds = Number(values.seeds ?? 3);
  const firstSeed = Number(values['first-seed'] ?? 0);
  const testPerClass = Number(values['test-per-class'] ?? 500);
  const withTest = values['no-test'] !== true;
  const objectives = (values.objectives ?? 'minRecall,meanRecall').split(',');
  const kinds = (values.kinds ?? 'headSelmix,wholeSelmix,wholeUniform').split(',') as Kind[];
  const outDir = resolve(values.out ?? join('bench', 'results'));
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  const load0 = loadavg()[0]!;

  // The folder tree the configs point at.
  const work = mkdtempSync(join(tmpdir(), 'selmix-qonnx-'));
  const n = linkResnetSplit(dataDir, splitDir, work, testPerClass, withTest);
  const nTrain = n.train;
  const nVal = n.val;
  const nTest = n.test;
  log(
    `split: train ${nTrain}, val ${nVal}, test ${withTest ? nTest : 'none'} (links under ${work}); ${steps} steps, batch ${batch}+${batch}, lr ${lr}, backbone x${blf}, momentum ${momentum}, refresh ${refresh}${margin !== undefined ? `, selection margin ${margin}` : ''}, seeds ${firstSeed}..${firstSeed + nSeeds - 1}`,
  );

  type Rec = { objective: string; kind: Kind; seed: number; s: RunFinishedPayload };
  const recs: Rec[] = [];
  try {
    for (let seed = firstSeed; seed < firstSeed + nSeeds; seed++) {
      for (const o of objectives) {
        for (const kind of kinds) {
          const runDir = join(work, `run-${o}-${kind}-${seed}`);
          const cfg = {
            name: `qualityOnnx ${kind} ${o} seed ${seed}`,
            objective: o,
            data: {
              kind: 'images',
              train: join(work, 'train'),
              val: join(work, 'val'),
              ...(withTest ? { test: join(work, 'test') } : {}),
            },
            model: {
              kind: 'onnx',
              path: modelPath,
              freezeBackbone: kind === 'headSelmix',
              preprocess: { preset: 'cifar' },
            },
            training: {
              seed,
              steps,
              batchSize: batch,
              lr,
              backboneLrFactor: blf,
              momentum,
              refreshEvery: refresh,
              ...(margin !== undefined ? { selectionMargin: margin } : {}),
            },
            selmix: { policy: kind === 'wholeUniform' ? 'uniformMixup' : 'selmix' },
            output: runDir,
          };
          const configPath = join(work, `config-${o}-${kind}-${seed}.json`);
          writeFileSync(configPath, JSON.stringify(cfg, null, 1));
          const ts = performance.now();
          const traj: string[] = [];
          const r = await runRequest(
            { configText: JSON.stringify(cfg), configPath },
            {
              emit: (e) => {
                if (e.type === 'run/refresh')
                  traj.push(
                    `${e.payload.step}:${e.payload.val.minRecall.toFixed(2)}/${e.payload.val.meanRecall.toFixed(3)}`,
                  );
              },
              shouldStop: () => false,
            },
          );
          if (!r.ok) throw new Error(`${kind} ${o} seed ${seed} failed (${r.kind}): ${r.message}`);
          const s = r.summary;
          recs.push({ objective: o, kind, seed, s });
          const v = (m: MetricsReport | undefined) =>
            m ? `min ${m.minRecall.toFixed(4)} mean ${m.meanRecall.toFixed(4)}` : '-';
          log(
            `${kind} ${o} seed ${seed}: ${((performance.now() - ts) / 1000).toFixed(0)} s, ${s.steps} steps, best step ${s.bestStep}, warm tau ${s.warmStart?.tau ?? '-'}; val ${v(s.after.val)} (warm ${v(s.warmStart?.val)}); test ${v(s.after.test)} (warm ${v(s.warmStart?.test)}); val min/mean at refreshes ${traj.join(' ')}; load ${loadavg()[0]!.toFixed(2)}`,
          );
          rmSync(runDir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const totalSeconds = (performance.now() - t0) / 1000;
  const split = withTest ? 'test' : 'val';
  const ms = (xs: number[]): string => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
    return sd > 1e-9 ? `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}` : (100 * m).toFixed(1);
  };
  const pickM = (s: RunFinishedPayload, which: 'start' | 'warm' | 'after'): MetricsReport | undefined =>
    which === 'start'
      ? split === 'test'
        ? s.before.test
        : s.before.val
      : which === 'warm'
        ? split === 'test'
          ? s.warmStart?.test
          : s.warmStart?.val
        : split === 'test'
          ? s.after.test
          : s.after.val;
  const rows: string[][] = [];
  const json: Record<string, unknown>[] = [];
  for (const o of objectives) {
    const mine = recs.filter((r) => r.objective === o);
    const cells = (list: Rec[], which: 'start' | 'warm' | 'after') => {
      const ms2 = list.map((r) => pickM(r.s, which)).filter((m): m is MetricsReport => m !== undefined);
      return [ms(ms2.map((m) => m.minRecall)), ms(ms2.map((m) => m.meanRecall))];
    };
    const anyRun = mine.filter((r) => r.kind === kinds[0]);
    rows.push([o, 'starting model (PyTorch CE)', ...cells(anyRun.slice(0, 1), 'start'), '–']);
    const taus = [...new Set(mine.map((r) => r.s.warmStart?.tau).filter((t) => t !== undefined))].join(', ');
    rows.push([o, `post-hoc LA, tau tuned on val (tau ${taus})`, ...cells(anyRun.slice(0, 1), 'warm'), '–']);
    for (const kind of kinds) {
      const list = mine.filter((r) => r.kind === kind);
      rows.push([o, KIND_LABEL[kind], ...cells(list, 'after'), list.map((r) => r.s.bestStep).join(', ')]);
      json.push(
        ...list.map((r) => ({
          objective: o,
          kind,
          seed: r.seed,
          bestStep: r.s.bestStep,
          wallSeconds: r.s.wallSeconds,
          tau: r.s.warmStart?.tau,
          start: pickM(r.s, 'start'),
          warm: pickM(r.s, 'warm'),
          after: pickM(r.s, 'after'),
          afterVal: r.s.after.val,
        })),
      );
    }
  }
  const md =
    [
      `### CIFAR-10-LT, whole network (ONNX, PyTorch-trained ResNet-8): ${withTest ? `test subset, first ${testPerClass > 0 ? testPerClass : 'all'} images of each class (${nTest})` : 'VALIDATION (no test set)'}`,
      '',
      `Objective o picks the warm start's tau and the kept iterate on validation (1000 images, 100 a class). ${steps} steps, batch ${batch} anchors + ${batch} partners, lr ${lr} cosine (backbone x${blf}), momentum ${momentum}, refresh every ${refresh}${margin !== undefined ? `, selection margin ${margin} standard errors` : ''}; seeds ${firstSeed}..${firstSeed + nSeeds - 1}; values in %, mean ± std over seeds (start and LA are deterministic). Load average ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end; ${fmtMs(totalSeconds * 1000)} in all.`,
      '',
      mdTable(['objective o', 'method', `min recall (${split})`, `mean recall (${split})`, 'kept step per seed'], rows),
    ].join('\n') + '\n';
  const name = withTest ? 'quality-onnx' : 'quality-onnx-val';
  writeFileSync(
    join(outDir, `${name}.json`),
    JSON.stringify(
      {
        settings: {
          steps,
          batch,
          lr,
          backboneLrFactor: blf,
          momentum,
          refresh,
          ...(margin !== undefined ? { selectionMargin: margin } : {}),
          seeds: nSeeds,
          firstSeed,
          testPerClass,
          nTest,
        },
        runs: json,
        totalSeconds,
      },
      null,
      1,
    ),
  );
  writeFileSync(join(outDir, `${name}.md`), md);
  process.stdout.write(md);
  log(`done in ${fmtMs(totalSeconds * 1000)}; wrote ${join(outDir, `${name}.json`)} and .md`);
}

main().catch((e) => {
  process.stderr.write(`bench:quality-onnx failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
