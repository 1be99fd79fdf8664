// CIFAR-10-LT for `npm run bench:quality -- --dataset cifar10-lt --data DIR` (DIR holds train/<class>/*.jpg and
// test/<class>/*.jpg, e.g. /work/shared/data/cifar10-jpeg.tar.gz unpacked). rho = 100: class k (the usual order,
// airplane first) keeps n_k = floor(5000 rho^(-k/9)) training images, at most 5000 - valPerClass; the last valPerClass
// training images of each class (never labeled) are the class-balanced validation set; the official test set is the
// test set. The images are read by the tool's own reader (src/data/images.ts) from a folder of hard links to the
// chosen files, and the backbone is the demo CNN pre-trained on the labeled images through
// src/core/training/pretrain.ts, cached.
import { existsSync, linkSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { configSchema } from '../src/core/config';
import { demoCnn, fromLayersModel, writeBack } from '../src/core/training/model';
import { pretrain } from '../src/core/training/pretrain';
import { loadImageFolder } from '../src/data/images';
import { saveLayersModelToDir } from '../src/data/modelIo';
import type { FinetuneData } from '../src/core/training/train';
import { log } from './lib';

export const CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The CIFAR-10-LT split and where its files are. */
export interface CifarLT {
  data: FinetuneData;
  counts: { train: number[]; val: number };
  /** Cache key of the backbone: the split's settings. */
  key: string;
}

/** n_k = floor(5000 rho^(-k/9)), capped so that valPerClass images per class stay out of the labeled set. */
export function cifarLTCounts(rho: number, valPerClass: number): number[] {
  return CIFAR_CLASSES.map((_, k) => Math.min(5000 - valPerClass, Math.floor(5000 * rho ** (-k / 9))));
}

/** Hard links of the chosen files under dir/<class>/ (the reader then loads exactly them, in file-name order). */
function linkSubset(src: string, dir: string, pick: (files: string[]) => string[]): void {
  for (const c of CIFAR_CLASSES) {
    const files = readdirSync(join(src, c))
      .filter((f) => /\.jpe?g$/i.test(f))
      .sort();
    mkdirSync(join(dir, c), { recursive: true });
    for (const f of pick(files)) linkSync(join(src, c, f), join(dir, c, f));
  }
}

/** Loads CIFAR-10-LT from root (train/ and test/ class folders). */
export async function loadCifarLT(
  root: string,
  opts: { rho: number; valPerClass: number; work: string },
): Promise<CifarLT> {
  const counts = cifarLTCounts(opts.rho, opts.valPerClass);
  const work = resolve(opts.work);
  rmSync(work, { recursive: true, force: true });
  // Per class: the first n_k files (by name) are labeled, the last valPerClass the validation set.
  for (const [k, c] of CIFAR_CLASSES.entries()) {
    const files = readdirSync(join(root, 'train', c))
      .filter((f) => /\.jpe?g$/i.test(f))
      .sort();
    if (files.length < counts[k]! + opts.valPerClass)
      throw new Error(`${join(root, 'train', c)}: ${files.length} images, need ${counts[k]! + opts.valPerClass}`);
    for (const [part, sel] of [
      ['train', files.slice(0, counts[k])],
      ['val', files.slice(files.length - opts.valPerClass)],
    ] as const) {
      mkdirSync(join(work, part, c), { recursive: true });
      for (const f of sel) linkSync(join(root, 'train', c, f), join(work, part, c, f));
    }
  }
  linkSubset(join(root, 'test'), join(work, 'test'), (fs) => fs);
  const read = async (dir: string) => {
    const d = await loadImageFolder(dir, { labeled: true, classes: CIFAR_CLASSES });
    return { x: d.x, y: d.y!, n: d.n, shape: d.shape.slice() };
  };
  const train = await read(join(work, 'train'));
  const val = await read(join(work, 'val'));
  const test = await read(join(work, 'test'));
  rmSync(work, { recursive: true, force: true });
  return {
    data: { train, val, unlabeled: null, test, classNames: CIFAR_CLASSES.slice() },
    counts: { train: counts, val: opts.valPerClass },
    key: `rho${opts.rho}-val${opts.valPerClass}`,
  };
}

/** The cached demo CNN pre-trained on the labeled CIFAR-10-LT images (trained and saved when missing). */
export async function ensureCifarBackbone(c: CifarLT, epochs: number): Promise<string> {
  const path = resolve(`.selmix-cache/cifar10-lt-cnn-${c.key}-e${epochs}/model.json`);
  if (existsSync(path)) return path;
  const cfg = configSchema.parse({
    task: 'pretrain',
    data: { kind: 'images', train: 'x' },
    pretrain: { epochs },
  }).pretrain;
  log(
    `no ${path}: pre-training the demo CNN on ${c.data.train.n} CIFAR-10-LT images for ${epochs} epochs (cached for later runs)`,
  );
  const t0 = performance.now();
  const lm = demoCnn(10, cfg.seed, c.data.train.shape);
  const model = fromLayersModel(lm);
  await pretrain(
    model,
    c.data.train,
    cfg,
    () => undefined,
    () => false,
  );
  writeBack(model);
  await saveLayersModelToDir(lm, join(path, '..'));
  log(`pre-trained in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return path;
}
