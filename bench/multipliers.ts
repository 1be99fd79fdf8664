// How the coverage multipliers move (`node --import tsx bench/multipliers.ts [--damping D] [--cold]`): SelMix for
// meanRecallMinCoverage on MNIST-LT, head-only on the demo CNN's features (bench:quality's setup, its cached model),
// at the tool's defaults; prints, per seed, the mean and max refresh-to-refresh change of max lambda, its range, and
// whether the validation constraint holds at the kept iterate.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend';
import { configSchema } from '../src/core/config';
import { forwardAll, type ExampleSet } from '../src/core/evaluate';
import { fromLayersModel } from '../src/core/model';
import { evaluateSet, finetune, trainableVariables, type FinetuneData } from '../src/core/train';
import { feasibilityOf } from '../src/core/metrics';
import { loadMnistLT } from '../src/data/mnist';
import { loadLayersModelFromFile } from '../src/data/modelIo';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { damping: { type: 'string' }, cold: { type: 'boolean' } } });
  await initBackend({ choice: 'wasm' });
  const m = loadMnistLT({ rho: 100, nMax: 4000, valPerClass: 100, seed: 0 });
  const start = fromLayersModel(await loadLayersModelFromFile(resolve('.selmix-cache/mnist-lt-cnn/model.json')));
  const f = (s: ExampleSet): ExampleSet => ({ x: forwardAll(start, s).features, y: s.y, n: s.n, shape: [start.d] });
  const data: FinetuneData = { train: f(m.train) as FinetuneData['train'], val: f(m.val) as FinetuneData['val'], unlabeled: null, test: null, classNames: m.classNames };
  const model = { ...start, inputShape: [start.d], backbone: null };
  const W0 = start.W.clone(), b0 = start.b.clone();
  for (const seed of [0, 1, 2]) {
    model.W.assign(W0); model.b.assign(b0);
    const cfg = configSchema.parse({ objective: 'meanRecallMinCoverage', data: { kind: 'builtin' }, training: { seed, ...(values.cold ? { warmStart: 'none' } : {}) } });
    if (values.damping !== undefined) cfg.selmix.coverage.damping = Number(values.damping);
    const maxLam: number[] = [];
    const r = await finetune(model, data, { config: cfg, emit: (e) => { if (e.type === 'run/refresh' && e.payload.multipliers) maxLam.push(Math.max(...e.payload.multipliers)); }, shouldStop: () => false });
    trainableVariables(model, true).forEach((v, i) => v.assign(r.bestWeights[i]!));
    r.bestWeights.forEach((t) => t.dispose());
    const fv = feasibilityOf('meanRecallMinCoverage', evaluateSet(model, data.val, 0.9), 10, 0.95)!;
    const d = maxLam.slice(1).map((x, i) => Math.abs(x - maxLam[i]!));
    console.log(`damping ${cfg.selmix.coverage.damping}${values.cold ? ' (cold start)' : ''} seed ${seed}: ${maxLam.length} refreshes, max lambda in [${Math.min(...maxLam).toFixed(1)}, ${Math.max(...maxLam).toFixed(1)}], mean |change| ${(d.reduce((a, b) => a + b, 0) / d.length).toFixed(2)}, max |change| ${Math.max(...d).toFixed(1)}; kept step ${r.bestStep}: val min coverage ${(100 * fv.value).toFixed(1)}% vs ${(100 * fv.bound).toFixed(1)}%: ${fv.met ? 'met' : 'not met'}`);
  }
}
void main();
