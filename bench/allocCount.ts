// Child process of the refresh benchmark: counts the typed-array bytes one computeRefresh / gainMatrix /
// bruteForceGain allocates, for one size, and prints JSON. It runs apart from the timed process because the
// counting subclasses would make the timed code's typed-array accesses polymorphic (and much slower).
// Usage: node --import tsx bench/allocCount.ts K d objective [brute]
import { computeRefresh } from '../src/core/refresh';
import { gainMatrix } from '../src/core/gain';
import { classCentroids } from '../src/core/centroids';
import { bruteForceGain } from '../test/helpers/bruteForceGain';
import type { ObjectiveId } from '../src/core/objectives';
import { countAllocations } from './lib';
import { syntheticInput } from './refresh';

const [K, d] = [Number(process.argv[2]), Number(process.argv[3])];
const objective = process.argv[4] as ObjectiveId;
const inp = syntheticInput(K, d, objective);
const r = computeRefresh(inp);
const { Z } = classCentroids(inp.features, inp.labels.length, d, inp.labels, K);
const args = { K, d, Z, W: inp.W, b: inp.b, D: r.D };
const refresh = countAllocations(() => computeRefresh(inp)).alloc;
const gain = countAllocations(() => gainMatrix(args)).alloc;
const brute = process.argv[5] === 'brute' ? countAllocations(() => bruteForceGain(args)).alloc : null;
process.stdout.write(JSON.stringify({ refresh, gain, brute }) + '\n');
