import { initBackend, prepareGainMatMul } from '../src/backend/backend';
import { syntheticProblem } from './overhead';
import { finetune } from '../src/core/train';
import { configSchema } from '../src/core/config';
(async () => {
  await initBackend({ choice: 'wasm' });
  const { model, data } = syntheticProblem(100, 512);
  const cfg = configSchema.parse({ objective: 'minRecall', data: { kind: 'npy', train: { features: 'x.npy', labels: 'y.npy' } }, model: { kind: 'linear', weights: 'w.npy' }, training: { steps: 1500, refreshEvery: 50, seed: 0 }, selmix: { policy: 'selmix' } });
  const mm = await prepareGainMatMul(100);
  const t = performance.now();
  const r = await finetune(model, data, { config: cfg, ...(mm ? { matmul: mm } : {}), emit: () => {}, shouldStop: () => false });
  console.log('wall', (performance.now() - t).toFixed(0));
  r.bestWeights.forEach((x) => x.dispose());
})();
