// `npm run bench:mixup`: SelMix for min recall with feature-level mixup (the paper's, which the gain model
// assumes) against input-level CutMix, on MNIST-LT (rho = 100) with the demo's pre-trained CNN, the whole
// network fine-tuned, the same steps and seeds; test-set metrics. Writes bench/results/mixup.json and mixup.md.
// Flags: --steps N (300)  --seeds N (2)  --out DIR (bench/results)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { configSchema } from '../src/core/config';
import { runRequest } from '../src/run/run';
import type { MetricsReport } from '../src/protocol/messages';
import { log } from './lib';

const MODEL_PATH = '.selmix-cache/mnist-lt-cnn/model.json';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { steps: { type: 'string' }, seeds: { type: 'string' }, out: { type: 'string' } },
  });
  const steps = Number(values.steps ?? 300);
  const seeds = Array.from({ length: Number(values.seeds ?? 2) }, (_, i) => i);
  const outDir = resolve(values.out ?? join('bench', 'results'));
  mkdirSync(outDir, { recursive: true });
  const rows: {
    mixup: 'feature' | 'cutmix';
    seed: number;
    before: MetricsReport;
    after: MetricsReport;
    seconds: number;
  }[] = [];
  for (const seed of seeds) {
    for (const mixup of ['feature', 'cutmix'] as const) {
      const cfg = configSchema.parse({
        name: `mixup ${mixup} seed ${seed}`,
        objective: 'minRecall',
        data: { kind: 'builtin', rho: 100 },
        model: { kind: 'pretrained-demo', path: MODEL_PATH },
        training: { steps, seed, mixup },
        output: join(outDir, 'mixup-runs', `${mixup}-s${seed}`),
      });
      const r = await runRequest(
        { configText: JSON.stringify(cfg), configPath: resolve('mixup.selmix.json') },
        { emit: () => undefined, shouldStop: () => false, backend: 'wasm' },
      );
      if (!r.ok) throw new Error(`${mixup} seed ${seed}: ${r.message}`);
      rows.push({
        mixup,
        seed,
        before: r.summary.before.test!,
        after: r.summary.after.test!,
        seconds: r.summary.wallSeconds,
      });
      log(
        `${mixup} seed ${seed}: test min recall ${r.summary.before.test!.minRecall.toFixed(4)} -> ${r.summary.after.test!.minRecall.toFixed(4)} in ${r.summary.wallSeconds.toFixed(0)} s`,
      );
    }
  }
  const stat = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return `${(100 * m).toFixed(1)} ± ${(100 * Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length)).toFixed(1)}`;
  };
  const line = (label: string, ms: MetricsReport[]) =>
    `| ${label} | ${stat(ms.map((m) => m.accuracy))} | ${stat(ms.map((m) => m.meanRecall))} | ${stat(ms.map((m) => m.minRecall))} | ${stat(ms.map((m) => m.gMean))} | ${stat(ms.map((m) => m.hMean))} |`;
  const md =
    [
      `SelMix (minRecall), MNIST-LT rho = 100, demo CNN fine-tuned end to end, ${steps} steps, seeds ${seeds.join(', ')}; test set, % (mean ± std over seeds).`,
      '',
      '| model | accuracy | mean recall | min recall | G-mean | H-mean |',
      '| --- | --- | --- | --- | --- | --- |',
      line('starting model', [rows[0]!.before]),
      line(
        'SelMix, feature mixup',
        rows.filter((r) => r.mixup === 'feature').map((r) => r.after),
      ),
      line(
        'SelMix, CutMix',
        rows.filter((r) => r.mixup === 'cutmix').map((r) => r.after),
      ),
    ].join('\n') + '\n';
  writeFileSync(join(outDir, 'mixup.json'), JSON.stringify({ steps, seeds, rows }, null, 1));
  writeFileSync(join(outDir, 'mixup.md'), md);
  process.stdout.write(md);
}

void main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
