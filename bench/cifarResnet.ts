// CIFAR-10-LT with the PyTorch-trained ResNet-8 of bench/cifar_resnet/: the split it was trained on as a folder tree
// of symlinks, and (for head-only benchmarks) its frozen backbone's features on every split, extracted once on ONNX
// Runtime through the engine's own loading path (loadInputs, onnxFeaturize) and cached.
import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { configSchema } from '../src/core/config';
import type { FinetuneData } from '../src/core/training/train';
import type { SelmixModel } from '../src/core/training/model';
import { loadInputs } from '../src/run/inputs';
import { onnxFeaturize } from '../src/run/onnxStage';

/** The ResNet's ONNX file, with its split lists beside it. */
export const RESNET_MODEL = 'bench/cifar_resnet/resnet_cifar10lt.onnx';

/** Symlinks the listed files (relative to src) into dst/<class>/. */
/** Symlinks each listed file (class/name, relative to src) into dst/class/; returns how many. */
export function linkList(src: string, list: string[], dst: string): number {
  for (const rel of list) {
    const cls = rel.split('/')[0]!;
    mkdirSync(join(dst, cls), { recursive: true });
    symlinkSync(join(src, rel), join(dst, rel));
  }
  return list.length;
}

/** The non-empty lines of a split list file. */
export const readList = (p: string): string[] =>
  readFileSync(p, 'utf8')
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/**
 * Links the ResNet's split (splitDir/split_train_lt.txt and split_val.txt, relative to dataDir/train) into
 * work/train and work/val, and the first testPerClass images (sorted names; 0: all) of each dataDir/test/<class>/ into
 * work/test (withTest false: no test set). Returns the counts.
 */
export function linkResnetSplit(
  dataDir: string,
  splitDir: string,
  work: string,
  testPerClass: number,
  withTest = true,
): { train: number; val: number; test: number } {
  const train = linkList(join(dataDir, 'train'), readList(join(splitDir, 'split_train_lt.txt')), join(work, 'train'));
  const val = linkList(join(dataDir, 'train'), readList(join(splitDir, 'split_val.txt')), join(work, 'val'));
  let test = 0;
  if (withTest) {
    for (const files of testImages(dataDir).files)
      test += linkList(
        join(dataDir, 'test'),
        testPerClass > 0 ? files.slice(0, testPerClass) : files,
        join(work, 'test'),
      );
  }
  return { train, val, test };
}

/** The classes of dataDir/test/ (sorted) and each one's images as `<class>/<file>`, sorted by name. */
export function testImages(dataDir: string): { classes: string[]; files: string[][] } {
  const classes = readdirSync(join(dataDir, 'test')).sort();
  const files = classes.map((cls) =>
    readdirSync(join(dataDir, 'test', cls))
      .filter((f) => /\.(jpe?g|png)$/i.test(f))
      .sort()
      .map((f) => `${cls}/${f}`),
  );
  return { classes, files };
}

/**
 * The ResNet's head on its frozen features of the linked split in `work` (train, val, all of test), as a run with
 * model.freezeBackbone gets them; features cached under cacheDir by the model's and the images' hash.
 */
export async function resnetFeatures(
  work: string,
  modelPath: string,
  cacheDir: string,
): Promise<{ model: SelmixModel; data: FinetuneData; counts: number[]; notes: string[] }> {
  const cfg = configSchema.parse({
    objective: 'meanRecall',
    data: { kind: 'images', train: join(work, 'train'), val: join(work, 'val'), test: join(work, 'test') },
    model: { kind: 'onnx', path: resolve(modelPath), freezeBackbone: true, preprocess: { preset: 'cifar' } },
  });
  const inputs = await loadInputs(cfg, work, join(work, 'quality.selmix.json'));
  if (inputs.model?.kind !== 'loaded' || !inputs.model.onnx) throw new Error(`${modelPath}: not loaded as ONNX`);
  const f = await onnxFeaturize(inputs.model.onnx, inputs.model.model, inputs.data, { cacheDir });
  const K = f.data.classNames.length;
  const counts = new Array<number>(K).fill(0);
  for (const y of f.data.train.y) counts[y]!++;
  return { model: f.model, data: f.data, counts, notes: [...inputs.notes, ...f.notes] };
}
