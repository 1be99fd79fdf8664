// Config templates for "SelMix: New Config File". The demo template is the one demo definition
// (src/request/demo.ts), placed at the workspace root instead of inside its output folder.
import type { SelmixConfigInput } from '../core/config';
import { DEMO_CACHE, DEMO_CONFIG, DEMO_OUTPUT } from '../request/demo';

/** The demo's config as a file at the workspace root: the same run, with its cache and output paths from there. */
export const DEMO_TEMPLATE_CONFIG: SelmixConfigInput = {
  ...DEMO_CONFIG,
  model: { ...DEMO_CONFIG.model, kind: 'pretrained-demo', path: DEMO_CACHE },
  output: DEMO_OUTPUT,
};

/**
 * An ONNX model entry for image data: the preprocessing a new config starts from (the user picks the preset the model
 * was trained with).
 */
export function onnxModelConfig(path: string): NonNullable<SelmixConfigInput['model']> {
  return { kind: 'onnx', path, preprocess: { preset: 'imagenet', layout: 'NCHW' } };
}

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
    label: 'Image folders + ONNX model (PyTorch)',
    detail:
      'Folders of .png/.jpg images (one sub-folder per class) and a model exported with torch.onnx.export; set preprocess to the transforms it was trained with.',
    fileName: 'onnx.selmix.json',
    config: {
      name: 'ONNX run',
      objective: 'minRecall',
      data: { kind: 'images', train: 'images/train', val: 'images/val' },
      model: onnxModelConfig('model/model.onnx'),
      training: { steps: 1000, refreshEvery: 50 },
      output: 'selmix-out/onnx',
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

/** The text of a new config file: JSONC with a comment on each field. */
export function templateText(t: ConfigTemplate): string {
  return `// SelMix run configuration (JSON with comments). Run it with "SelMix: Fine-tune"; hover a field for its schema.\n${commentedJson(t.config)}\n`;
}

/** What each field of a config is for: the comment written above it in a new config file (by JSON path). */
export const FIELD_COMMENTS: Record<string, string> = {
  name: 'A label for the run, shown in the dashboard and the report.',
  objective:
    'The metric SelMix maximises: minRecall, meanRecall, gMean, hMean, minHeadTailRecall, or a coverage-constrained one.',
  data: 'Where the examples come from. Paths are relative to this file.',
  'data.kind':
    '"npy": feature vectors and labels as .npy files; "images": folders of images, one sub-folder per class.',
  'data.train': 'The training set: the anchors and partners of mixup.',
  'data.train.features': 'N x d float32/float64 features (or model inputs).',
  'data.train.labels': 'N integer labels, 0 .. K-1.',
  'data.val':
    'The validation set: the objective, G and P are computed on it. Leave it out to carve a balanced one from train.',
  'data.val.features': 'Validation features.',
  'data.val.labels': 'Validation labels.',
  'data.test': 'Optional test set: reported before and after fine-tuning, never trained on.',
  'data.test.features': 'Test features.',
  'data.test.labels': 'Test labels.',
  model: 'The starting model to fine-tune.',
  'model.kind': '"linear": a head W (K x d) on your features; "tfjs": a tfjs LayersModel; "onnx": an ONNX model.',
  'model.weights': 'K x d head weight (PyTorch nn.Linear layout).',
  'model.bias': 'K head bias (zeros when left out).',
  'model.path': 'The model file.',
  'model.preprocess':
    'How images become the model input, as the torchvision transforms the model was trained with (PIL decoding, Resize, CenterCrop, ToTensor, Normalize).',
  'model.preprocess.preset':
    '"imagenet": Resize(256), CenterCrop(224), ImageNet mean/std; "cifar": CIFAR-10 mean/std, no resize; "mnist": 0.1307/0.3081; "none": pixels in [0, 1]. Add resize, centerCrop, mean or std to change one step.',
  'model.preprocess.layout': 'The model input layout: "NCHW" (PyTorch) or "NHWC".',
  training: 'The optimiser.',
  'training.steps': 'Optimizer steps (a hard cap; Stop ends a run early and keeps a checkpoint).',
  'training.batchSize': 'Anchors per step; as many partners are drawn.',
  'training.lr': 'Learning rate of the head.',
  'training.refreshEvery': 'Recompute the multipliers, G and P every this many steps.',
  selmix: 'The sampling policy.',
  'selmix.temperature': 'Inverse temperature s of the sampling softmax: higher picks the best pairs more greedily.',
  output: 'Output folder (report, model, log), relative to this file; it must stay inside the workspace.',
};

/** A JSON value as text with a // comment above each commented field (JSONC: SelMix and VS Code both read it). */
export function commentedJson(
  value: unknown,
  comments: Record<string, string> = FIELD_COMMENTS,
  path = '',
  indent = '',
): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return JSON.stringify(value);
  const inner = indent + '  ';
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const lines = entries.map(([k, v], i) => {
    const p = path ? `${path}.${k}` : k;
    const c = comments[p];
    const comma = i < entries.length - 1 ? ',' : '';
    return `${c ? `${inner}// ${c}\n` : ''}${inner}${JSON.stringify(k)}: ${commentedJson(v, comments, p, inner)}${comma}`;
  });
  return `{\n${lines.join('\n')}\n${indent}}`;
}

/** The roles of the files a .npy + linear-head config names, in the order they are asked for. */
export const NPY_ROLES = [
  {
    key: 'trainX',
    title: 'Training features (N x d)',
    optional: false,
    want: [/train/, /(^|[_-])(x|feat|features|emb|embeddings?)([_.-]|$)/],
  },
  {
    key: 'trainY',
    title: 'Training labels (N)',
    optional: false,
    want: [/train/, /(^|[_-])(y|label|labels|targets?)([_.-]|$)/],
  },
  {
    key: 'valX',
    title: 'Validation features',
    optional: true,
    want: [/val|valid|dev/, /(^|[_-])(x|feat|features|emb|embeddings?)([_.-]|$)/],
  },
  {
    key: 'valY',
    title: 'Validation labels',
    optional: true,
    want: [/val|valid|dev/, /(^|[_-])(y|label|labels|targets?)([_.-]|$)/],
  },
  {
    key: 'weights',
    title: 'Head weight W (K x d)',
    optional: false,
    want: [/head|fc|linear|classifier|model/, /(^|[_-])(w|weight|weights)([_.-]|$)/],
  },
  {
    key: 'bias',
    title: 'Head bias b (K)',
    optional: true,
    want: [/head|fc|linear|classifier|model/, /(^|[_-])(b|bias)([_.-]|$)/],
  },
] as const;

/** The role keys of NPY_ROLES. */
export type NpyRole = (typeof NPY_ROLES)[number]['key'];

/** How well a workspace-relative path fits a role (higher is better; 0: no hint). */
export function roleScore(role: NpyRole, relPath: string): number {
  const r = NPY_ROLES.find((x) => x.key === role)!;
  const name = relPath.toLowerCase().split('/').pop() ?? '';
  const full = relPath.toLowerCase();
  return (r.want[0].test(full) ? 2 : 0) + (r.want[1].test(name) ? 3 : 0) + (r.want[0].test(name) ? 1 : 0);
}

/** The .npy files ordered for a role: the best fit first, then by path. */
export function rankForRole(role: NpyRole, relPaths: string[]): string[] {
  return [...relPaths].sort((a, b) => roleScore(role, b) - roleScore(role, a) || a.localeCompare(b));
}

/** The config of a .npy + linear-head run from the picked files (relative to the config's folder). */
export function npyConfig(files: Partial<Record<NpyRole, string>>, name: string): SelmixConfigInput {
  return {
    name,
    objective: 'minRecall',
    data: {
      kind: 'npy',
      train: { features: files.trainX!, labels: files.trainY! },
      ...(files.valX && files.valY ? { val: { features: files.valX, labels: files.valY } } : {}),
    },
    model: { kind: 'linear', weights: files.weights!, ...(files.bias ? { bias: files.bias } : {}) },
    training: { steps: 2000, batchSize: 64, lr: 0.01, refreshEvery: 50 },
    selmix: { temperature: 10 },
    output: `selmix-out/${
      name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'run'
    }`,
  };
}
