// MNIST-LT written as PNG class folders (train: long-tailed, val: balanced), for the ONNX image-folder tests.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { loadMnistLT } from '../../src/data/mnist';

/** Writes dir/train/<digit>/<i>.png and dir/val/<digit>/<i>.png from a seeded MNIST-LT draw. */
export function writeMnistFolders(
  dir: string,
  opts: { rho: number; nMax: number; valPerClass: number; seed: number },
): void {
  const m = loadMnistLT(opts);
  for (const [name, s] of [
    ['train', m.train],
    ['val', m.val],
  ] as const) {
    for (let i = 0; i < s.n; i++) {
      const sub = join(dir, name, String(s.y[i]));
      mkdirSync(sub, { recursive: true });
      const png = new PNG({ width: 28, height: 28, colorType: 0 });
      for (let p = 0; p < 784; p++) {
        const v = Math.round(s.x[i * 784 + p]! * 255);
        png.data.set([v, v, v, 255], p * 4);
      }
      writeFileSync(join(sub, `${i}.png`), PNG.sync.write(png, { colorType: 0 }));
    }
  }
}
