// Child process of the refresh benchmark: counts the typed-array bytes one computeRefresh / gainMatrix /
// bruteForceGain allocates, for one size, and prints JSON. It runs apart from the timed process because the
// counting subclasses would make the timed code's typed-array accesses polymorphic (and much slower).
// The refresh is counted on the path a run takes at this K (the wasm matmul provider from FAST_GAIN_MIN_K), and
// tf.profile gives the peak of tensor memory in the backend (the wasm heap), which the typed-array count misses.
// Usage: node --import tsx bench/allocCount.ts K d objective [brute]
import { initBackend, prepareGainMatMul, tf, tfMatMul } from '../src/backend/backend';
import { computeRefresh } from '../src/core/numerics/refresh';
import { gainMatrix } from '../src/core/numerics/gain';
import { classCentroids } from '../src/core/numerics/centroids';
import { bruteForceGain } from '../test/helpers/bruteForceGain';
import type { ObjectiveId } from '../src/core/objectives/objectiveIds';
import { countAllocations } from './lib';
import { syntheticInput } from './refresh';

void (async () => {
  await initBackend({ choice: 'wasm' });
  const [K, d] = [Number(process.argv[2]), Number(process.argv[3])];
  const objective = process.argv[4] as ObjectiveId;
  const mm = await prepareGainMatMul(K);
  const inp = { ...syntheticInput(K, d, objective, 1, tfMatMul), ...(mm ? { matmul: mm, logitsFromHead: true } : {}) };
  const r = computeRefresh(inp);
  const { Z } = classCentroids(inp.features, inp.labels.length, d, inp.labels, K);
  const args = { K, d, Z, W: inp.W, b: inp.b, D: r.D, ...(mm ? { matmul: mm } : {}) };
  const refresh = countAllocations(() => computeRefresh(inp)).alloc;
  const gain = countAllocations(() => gainMatrix(args)).alloc;
  const tensorPeakBytes = (
    await tf.profile(() => {
      computeRefresh(inp);
    })
  ).peakBytes;
  const brute =
    process.argv[5] === 'brute'
      ? countAllocations(() => bruteForceGain({ K, d, Z, W: inp.W, b: inp.b, D: r.D })).alloc
      : null;
  process.stdout.write(JSON.stringify({ refresh: { ...refresh, tensorPeakBytes }, gain, brute }) + '\n');
})();
