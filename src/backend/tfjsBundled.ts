// What the bundles (esbuild.mjs) load for '@tensorflow/tfjs': the umbrella package's own index, less the parts this
// tool never uses (the WebGL backend, the graph-model converter, tfjs-data and the fetch polyfills it brings). The
// source imports '@tensorflow/tfjs' (types, tests and benches run on the umbrella); esbuild's alias puts this file in
// its place, which cuts about a quarter of the CLI bundle that every command parses at start-up.
import '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import { version_core } from '@tensorflow/tfjs-core';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { version_layers } from '@tensorflow/tfjs-layers';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export * from '@tensorflow/tfjs-backend-cpu';

/** The versions of the sub-packages in the bundle (the umbrella's `tf.version`, without the parts left out). */
export const version = { 'tfjs-core': version_core, 'tfjs-backend-cpu': version_cpu, 'tfjs-layers': version_layers };
