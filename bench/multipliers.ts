// How the coverage multipliers move (`node --import tsx bench/multipliers.ts [--update dual|hinge] [--eta E]
// [--damping D] [--smoothing S] [--cold] [--dataset cifar10-lt --data DIR] [--objective ID] [--trace]`): SelMix for
// meanRecallMinCoverage on MNIST-LT
// (or CIFAR-10-LT with 500 validation images a class; --objective for another objective, with --trace), head-only on
// the demo CNN's features (bench:quality's setup,
// its cached models), at the tool's defaults; prints, per seed, the refresh-to-refresh change
// of the multipliers (the largest change of any class's lambda: its mean over all refreshes and over the last 5, and
// its maximum), the range of max lambda, and whether the validation constraint holds at the kept iterate.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend';
import { configSchema } from '../src/core/config';
import { forwardAll, type ExampleSet } from '../src/core/training/evaluate';
import { fromLayersModel } from '../src/core/training/model';
import { evaluateSet, finetune, trainableVariables, type FinetuneData } from '../src/core/training/train';
import { feasibilityOf } from '../src/core/numerics/metrics';
import { loadMnistLT } from '../src/data/mnist';
import { ensureCifarBackbone, loadCifarLT } from './cifar';
import { loadLayersModelFromFile } from '../src/data/modelIo';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      damping: { type: 'string' },
      update: { type: 'string' },
      eta: { type: 'string' },
      cold: { type: 'boolean' },
      dataset: { type: 'string' },
      data: { type: 'string' },
      trace: { type: 'boolean' },
      objective: { type: 'string' },
      smoothing: { type: 'string' },
    },
  });
  const objective = values.objective ?? 'meanRecallMinCoverage';
  await initBackend({ choice: 'wasm' });
  let m: { train: ExampleSet; val: ExampleSet; classNames: string[] };
  let modelPath = resolve('.selmix-cache/mnist-lt-cnn/model.json');
  if (values.dataset === 'cifar10-lt') {
    if (!values.data)
      throw new Error('--dataset cifar10-lt needs --data DIR (train/<class>/ and test/<class>/ images)');
    const c = await loadCifarLT(resolve(values.data), {
      rho: 100,
      valPerClass: 500,
      work: resolve('bench/results/cifar-links'),
    });
    modelPath = await ensureCifarBackbone(c, 30);
    m = c.data;
  } else if (values.dataset === undefined || values.dataset === 'mnist-lt') {
    m = loadMnistLT({ rho: 100, nMax: 4000, valPerClass: 100, seed: 0 });
  } else throw new Error(`--dataset ${values.dataset}: expected mnist-lt or cifar10-lt`);
  const start = fromLayersModel(await loadLayersModelFromFile(modelPath));
  const f = (s: ExampleSet): ExampleSet => ({ x: forwardAll(start, s).features, y: s.y, n: s.n, shape: [start.d] });
  const data: FinetuneData = {
    train: f(m.train) as FinetuneData['train'],
    val: f(m.val) as FinetuneData['val'],
    unlabeled: null,
    test: null,
    classNames: m.classNames,
  };
  const model = { ...start, inputShape: [start.d], backbone: null };
  const W0 = start.W.clone(),
    b0 = start.b.clone();
  for (const seed of [0, 1, 2]) {
    model.W.assign(W0);
    model.b.assign(b0);
    const cfg = configSchema.parse({
      objective,
      data: { kind: 'builtin' },
      training: { seed, ...(values.cold ? { warmStart: 'none' } : {}) },
    });
    if (values.damping !== undefined) cfg.selmix.coverage.damping = Number(values.damping);
    if (values.update === 'dual' || values.update === 'hinge') cfg.selmix.coverage.update = values.update;
    else if (values.update !== undefined) throw new Error(`--update ${values.update}: expected dual or hinge`);
    if (values.eta !== undefined) cfg.selmix.coverage.eta = Number(values.eta);
    if (values.smoothing !== undefined) cfg.selmix.smoothing = Number(values.smoothing);
    const lams: number[][] = [];
    const r = await finetune(model, data, {
      config: cfg,
      emit: (e) => {
        if (e.type !== 'run/refresh') return;
        const p = e.payload;
        if (p.multipliers) lams.push([...p.multipliers]);
        if (!values.trace || seed !== 0) return;
        // Where the sampled P puts its anchors (row sums), and the per-class validation recall.
        const K = p.distribution.K,
          P = p.distribution.data;
        const rows = Array.from({ length: K }, (_, i) =>
          Array.prototype.slice.call(P, i * K, (i + 1) * K).reduce((a: number, b: number) => a + b, 0),
        );
        console.log(
          `  step ${p.step}: val ${objective} ${p.objectiveValue.toFixed(4)}, mean recall ${(100 * p.val.meanRecall).toFixed(2)}, min coverage ${(100 * p.val.minCoverage).toFixed(2)}%${p.multipliers ? `, max lambda ${Math.max(...p.multipliers).toFixed(2)}` : ''}\n    recall % ${p.val.recall.map((r) => (100 * r).toFixed(0)).join(' ')}; anchor mass of P ${rows.map((r) => r.toFixed(2)).join(' ')}`,
        );
      },
      shouldStop: () => false,
    });
    trainableVariables(model, true).forEach((v, i) => v.assign(r.bestWeights[i]!));
    r.bestWeights.forEach((t) => t.dispose());
    const fv = feasibilityOf(cfg.objective, evaluateSet(model, data.val, 0.9), 10, 0.95);
    if (!fv || lams.length === 0) {
      console.log(`${objective} seed ${seed}: no multipliers; kept step ${r.bestStep}`);
      continue;
    }
    const maxLam = lams.map((l) => Math.max(...l));
    const d = lams.slice(1).map((l, i) => Math.max(...l.map((x, k) => Math.abs(x - lams[i]![k]!))));
    const avg = (a: number[]): string => (a.reduce((x, y) => x + y, 0) / a.length).toFixed(2);
    const c = cfg.selmix.coverage;
    const rule = c.update === 'dual' ? `dual eta ${c.eta}` : `hinge damping ${c.damping}`;
    console.log(
      `${rule}${values.cold ? ' (cold start)' : ''} seed ${seed}: ${lams.length} refreshes, max lambda in [${Math.min(...maxLam).toFixed(1)}, ${Math.max(...maxLam).toFixed(1)}], largest per-class |change|: mean ${avg(d)}, last 5 ${avg(d.slice(-5))}, max ${Math.max(...d).toFixed(1)}; kept step ${r.bestStep}: val min coverage ${(100 * fv.value).toFixed(1)}% vs ${(100 * fv.bound).toFixed(1)}%: ${fv.met ? 'met' : 'not met'}`,
    );
  }
}
void main();
