// Config templates for "SelMix: New Config File". The demo template is the one demo definition
// (src/run/demo.ts), placed at the workspace root instead of inside its output folder.
import type { SelmixConfigInput } from '../core/config';
import { DEMO_CACHE, DEMO_CONFIG, DEMO_OUTPUT } from '../run/demo';

/** The demo's config as a file at the workspace root: the same run, with its cache and output paths from there. */
export const DEMO_TEMPLATE_CONFIG: SelmixConfigInput = { ...DEMO_CONFIG, model: { kind: 'pretrained-demo', path: DEMO_CACHE }, output: DEMO_OUTPUT };

/** A template the user can pick. */
export interface ConfigTemplate {
  label: string;
  detail: string;
  fileName: string;
  config: SelmixConfigInput;
}

/** The templates offered by "SelMix: New Config File". */
export const CONFIG_TEMPLATES: ConfigTemplate[] = [
  {
    label: 'Features (.npy) + linear head',
    detail: 'Your own features (N x d) and labels as .npy, and a head W (K x d) to fine-tune for worst-class recall.',
    fileName: 'run.selmix.json',
    config: {
      name: 'My SelMix run',
      objective: 'minRecall',
      data: {
        kind: 'npy',
        train: { features: 'data/train_features.npy', labels: 'data/train_labels.npy' },
        val: { features: 'data/val_features.npy', labels: 'data/val_labels.npy' },
      },
      model: { kind: 'linear', weights: 'model/head_weight.npy', bias: 'model/head_bias.npy' },
      training: { steps: 2000, batchSize: 64, lr: 0.01, refreshEvery: 50 },
      selmix: { temperature: 10 },
      output: 'selmix-out/run',
    },
  },
  {
    label: 'Image folders + tfjs model',
    detail: 'Folders of .png/.jpg images (one sub-folder per class) and a tfjs LayersModel whose last layer is Dense.',
    fileName: 'images.selmix.json',
    config: {
      name: 'Images run',
      objective: 'gMean',
      data: { kind: 'images', train: 'images/train', val: 'images/val' },
      model: { kind: 'tfjs', path: 'model/model.json' },
      training: { steps: 1000, refreshEvery: 50 },
      output: 'selmix-out/images',
    },
  },
  {
    label: 'MNIST-LT demo',
    detail: 'The built-in long-tailed MNIST and a small CNN, pre-trained on first use (a minute or two).',
    fileName: 'demo.selmix.json',
    config: DEMO_TEMPLATE_CONFIG,
  },
];

/** The text of a new config file. */
export function templateText(t: ConfigTemplate): string {
  return JSON.stringify(t.config, null, 2) + '\n';
}
