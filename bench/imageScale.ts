// Decoding and feature extraction at scale, as whole CLI processes: N images (CIFAR-10 JPEGs repeated by symlinks in a
// temp folder: file i of the run links to the (i mod M)-th of the M source files, so 200,000 images need no copies),
// an ONNX model on them (model.preprocess preset "cifar", the head alone: freezeBackbone), `selmix finetune` with one
// training step, run twice: the first run decodes and extracts every image, the second finds the features in the
// cache. Prints images/s (N over the process's wall time) and peak RSS (/usr/bin/time -v) of each run.
//   node --import tsx bench/imageScale.ts --model model.onnx --data /work/data/train --n 20000 [--n 200000]
// The model: any ONNX classifier taking N x 3 x 32 x 32 with 10 outputs (bench/pytorch_parity/parity.py writes one).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string', default: '/work/data/train' },
    n: { type: 'string', multiple: true, default: ['20000'] },
  },
});
if (!values.model) throw new Error('--model <file.onnx> is required');
const root = resolve(__dirname, '..');
const src = resolve(values.data!);
const classes = readdirSync(src).sort();
const sources = classes.map((c) =>
  readdirSync(join(src, c))
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort()
    .map((f) => join(src, c, f)),
);

/** One CLI run: wall seconds and peak RSS in MiB. */
function timed(args: string[], cwd: string): { seconds: number; rssMiB: number; stderr: string } {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, join(root, 'bin', 'selmix.js'), ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`selmix ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return { seconds, rssMiB: m ? Number(m[1]) / 1024 : Number.NaN, stderr: r.stderr };
}

execFileSync(process.execPath, [join(root, 'esbuild.mjs')], { stdio: 'inherit' });
process.stdout.write(
  '| images | first run: images/s | first run: peak RSS | cached run: images/s | cached run: peak RSS |\n|---|---|---|---|---|\n',
);
for (const nStr of values.n!) {
  const n = Number(nStr);
  const dir = mkdtempSync(join(tmpdir(), 'selmix-scale-'));
  try {
    const per = Math.ceil(n / classes.length);
    classes.forEach((c, k) => {
      mkdirSync(join(dir, 'imgs', c), { recursive: true });
      const files = sources[k]!;
      for (let i = 0; i < per && k * per + i < n; i++)
        symlinkSync(files[i % files.length]!, join(dir, 'imgs', c, `${String(i).padStart(7, '0')}.jpg`));
    });
    copyFileSync(resolve(values.model), join(dir, 'model.onnx'));
    writeFileSync(
      join(dir, 'scale.selmix.json'),
      JSON.stringify({
        data: { kind: 'images', train: 'imgs' },
        // The head alone, on features extracted once and cached (a whole-network run decodes images at every step).
        model: { kind: 'onnx', path: 'model.onnx', preprocess: { preset: 'cifar' }, freezeBackbone: true },
        training: { steps: 1, warmStart: 'none' },
        output: 'out',
      }),
    );
    const first = timed(['finetune', '--config', 'scale.selmix.json'], dir);
    rmSync(join(dir, 'out'), { recursive: true, force: true });
    const cached = timed(['finetune', '--config', 'scale.selmix.json'], dir);
    if (!/features from the cache/.test(cached.stderr)) throw new Error('the second run did not use the feature cache');
    process.stdout.write(
      `| ${n.toLocaleString('en')} | ${(n / first.seconds).toFixed(0)} (${first.seconds.toFixed(1)} s) | ${first.rssMiB.toFixed(0)} MiB | ${(n / cached.seconds).toFixed(0)} (${cached.seconds.toFixed(1)} s) | ${cached.rssMiB.toFixed(0)} MiB |\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
