// Fine-tuning checkpoints on disk (docs/ALGORITHM.md section 5.5: everything needed to resume bit for bit).
//
// A checkpoint folder holds two files:
//   state.json           small metadata: the format and its version, a checksum, the name, size and sha256 of the
//                        arrays file, the fingerprint of the settings and inputs the run belongs to, and the state
//                        with every typed array replaced by {dtype, offset, length} into the arrays file;
//   arrays-<hash>.bin    one little-endian buffer of every typed array of the state (weights, momentum, best weights,
//                        P, G, multipliers, pseudo-labels, histories), each at an 8-byte aligned offset.
// The arrays file is named after its own hash, so writing a new checkpoint never replaces the one the current
// state.json refers to: the rename of state.json is the single commit point, and a crash at any moment leaves a
// matching pair behind. Reading validates everything (version, checksums, schema, shapes, fingerprint) before the
// caller writes anything, and refuses with a DataError naming the file and what differs.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { formatPath, type SelmixConfig } from '../core/config';
import { DataError } from '../core/errors';
import type { ExampleSet } from '../core/training/evaluate';
import type { FinetuneData, StateTensor, TrainState } from '../core/training/train';
import { writeFilesAtomic } from './atomicWrite';

/** The format id and the version this build writes and reads. */
export const CHECKPOINT_FORMAT = 'selmix-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** The metadata file of a checkpoint folder. */
export const CHECKPOINT_STATE_FILE = 'state.json';

const ARRAYS_FILE = /^arrays-[0-9a-f]{16}\.bin$/;

/**
 * The shapes a checkpoint must fit: classes, feature size, the trainable variables, and the unlabeled set's size (0:
 * none).
 */
export interface CheckpointShapes {
  K: number;
  d: number;
  weights: number[][];
  unlabeled: number;
}

/** One config value, flattened. */
export type Setting = string | number | boolean | null;

/**
 * What a checkpoint belongs to: settings that must not change, settings that may, the shapes, and the inputs' digest.
 */
export interface CheckpointFingerprint {
  /** Config settings a resumed run must share with the stopped one, by path (e.g. "training.lr"). */
  settings: Record<string, Setting>;
  /**
   * Settings that may change between stop and resume (training.steps, training.checkpointEvery,
   * training.checkpointSeconds); changes are reported.
   */
  safe: Record<string, Setting>;
  shapes: CheckpointShapes;
  /** A digest of the training inputs (inputsDigest). */
  inputs: string;
  /** The starting model: its file and a digest of its weights (an ONNX model: its bytes with their external data). */
  model?: { file: string; digest: string };
}

/** The settings a resume may change: the run length and the checkpoint intervals. */
const SAFE_TRAINING = new Set(['steps', 'checkpointEvery', 'checkpointSeconds']);

/** Flattens plain objects into dotted paths; arrays become JSON text, absent values are left out. */
function flatten(prefix: string, v: unknown, out: Record<string, Setting>): void {
  if (v === undefined) return;
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, out);
  } else if (Array.isArray(v)) out[prefix] = JSON.stringify(v);
  else out[prefix] = v as Setting;
}

/**
 * The fingerprint of a fine-tuning run: the objective (and custom objective), every selmix.* and training.* setting
 * (training.steps and the checkpoint intervals apart, as safe to change), the model's kind and backbone freezing,
 * the shapes, and the caller's digest of the inputs.
 */
export function checkpointFingerprint(
  cfg: SelmixConfig,
  shapes: CheckpointShapes,
  inputsDigest: string,
  model?: { file: string; digest: string },
): CheckpointFingerprint {
  const settings: Record<string, Setting> = {
    objective: cfg.objective,
    customObjective: cfg.customObjective ? JSON.stringify(cfg.customObjective) : null,
  };
  flatten('selmix', cfg.selmix, settings);
  const training: Record<string, unknown> = {};
  const safe: Record<string, Setting> = {
    'training.steps': cfg.training.steps ?? null,
    'training.checkpointEvery': cfg.training.checkpointEvery ?? null,
    'training.checkpointSeconds': cfg.training.checkpointSeconds,
  };
  for (const [k, v] of Object.entries(cfg.training)) if (!SAFE_TRAINING.has(k)) training[k] = v;
  flatten('training', training, settings);
  settings['model.kind'] = cfg.model?.kind ?? null;
  settings['model.freezeBackbone'] = cfg.model && 'freezeBackbone' in cfg.model ? cfg.model.freezeBackbone : null;
  // An ONNX model's head node and preprocessing decide its features (and the feature cache's key) as much as its file.
  if (cfg.model?.kind === 'onnx') {
    settings['model.head'] = cfg.model.head ?? null;
    settings['model.preprocess'] = cfg.model.preprocess ? JSON.stringify(cfg.model.preprocess) : null;
  }
  return {
    settings,
    safe,
    shapes: { K: shapes.K, d: shapes.d, weights: shapes.weights.map((s) => s.slice()), unlabeled: shapes.unlabeled },
    inputs: inputsDigest,
    ...(model ? { model: { ...model } } : {}),
  };
}

/** Values of a large input array hashed into the digest: at most this many, evenly strided. */
const DIGEST_SAMPLE = 1 << 18;

/**
 * A digest of the training inputs (the train, validation and unlabeled sets): each set's size, example shape, its
 * labels in full and a strided sample of at most 2^18 input values, so a resume on other data is refused.
 */
export function inputsDigest(data: FinetuneData): string {
  const h = createHash('sha256');
  const sets: [string, ExampleSet | null][] = [
    ['train', data.train],
    ['val', data.val],
    ['unlabeled', data.unlabeled],
  ];
  for (const [name, set] of sets) {
    if (!set) {
      h.update(`${name}:none;`);
      continue;
    }
    h.update(
      `${name}:${set.n}:${set.shape.join('x')}:${set.x.length}:${set.y ? set.y.length : -1};${set.sourceKey ?? ''}`,
    );
    const stride = Math.max(1, Math.ceil(set.x.length / DIGEST_SAMPLE));
    const x =
      stride === 1
        ? set.x
        : Float32Array.from({ length: Math.ceil(set.x.length / stride) }, (_, i) => set.x[i * stride]!);
    h.update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    if (set.y) h.update(new Uint8Array(set.y.buffer, set.y.byteOffset, set.y.byteLength));
  }
  return h.digest('hex');
}

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---- Encoding: typed arrays into one buffer, the rest into JSON ----

type Dtype = 'float32' | 'float64' | 'int32';
type Typed = Float32Array | Float64Array | Int32Array;

/** A typed array of the state, stored in the arrays file. */
interface ArrayRef {
  dtype: Dtype;
  offset: number;
  length: number;
}

const CTOR = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

/** The array type of each dtype. */
interface ArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
}

function dtypeOf(v: unknown): Dtype | null {
  if (v instanceof Float32Array) return 'float32';
  if (v instanceof Float64Array) return 'float64';
  if (v instanceof Int32Array) return 'int32';
  return null;
}

/** JSON has no NaN, infinities or -0: they are written as these strings, in the float fields that allow them. */
const SPECIAL_FLOATS = ['NaN', 'Infinity', '-Infinity', '-0'] as const;

/**
 * The state as JSON-safe metadata, its typed arrays appended to chunks (8-byte aligned) and replaced by references.
 * The chunks are views of the state's own arrays, not copies: they are hashed and written before anything changes them.
 */
function encode(v: unknown, chunks: Uint8Array[], at: { offset: number }): unknown {
  const dtype = dtypeOf(v);
  if (dtype) {
    const a = v as Typed;
    const pad = (8 - (at.offset % 8)) % 8;
    if (pad) chunks.push(new Uint8Array(pad));
    const ref: ArrayRef = { dtype, offset: at.offset + pad, length: a.length };
    chunks.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    at.offset = ref.offset + a.byteLength;
    return ref;
  }
  if (Array.isArray(v)) return v.map((x) => encode(x, chunks, at));
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x, chunks, at)]));
  if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return Object.is(v, -0) ? '-0' : String(v);
  return v;
}

/** The checksum of state.json: over the arrays file's entry, the fingerprint and the state, as written. */
function bodyChecksum(body: { arrays: unknown; fingerprint: unknown; state: unknown }): string {
  return sha256(JSON.stringify({ arrays: body.arrays, fingerprint: body.fingerprint, state: body.state }));
}

/**
 * Writes a checkpoint into dir (created when missing): the arrays file first, then state.json, each through a temp
 * file and a rename, then removes the arrays files of earlier checkpoints. Returns the path of state.json.
 */
export function writeCheckpoint(dir: string, state: TrainState, fingerprint: CheckpointFingerprint): string {
  const chunks: Uint8Array[] = [];
  const meta = encode(state, chunks, { offset: 0 });
  // The arrays file is the chunks in order: hashed and written chunk by chunk, never concatenated.
  const h = createHash('sha256');
  let bytes = 0;
  for (const c of chunks) {
    h.update(c);
    bytes += c.byteLength;
  }
  const binSha = h.digest('hex');
  const file = `arrays-${binSha.slice(0, 16)}.bin`;
  const body = { arrays: { file, bytes, sha256: binSha }, fingerprint, state: meta };
  const text = JSON.stringify({
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    checksum: bodyChecksum(body),
    ...body,
  });
  mkdirSync(dir, { recursive: true });
  const statePath = join(dir, CHECKPOINT_STATE_FILE);
  writeFilesAtomic([
    { path: join(dir, file), data: chunks },
    { path: statePath, data: text },
  ]);
  // Only now that state.json names the new arrays file are the older ones unreferenced.
  for (const f of readdirSync(dir)) {
    if (ARRAYS_FILE.test(f) && f !== file) rmSync(join(dir, f), { force: true });
  }
  return statePath;
}

// ---- Decoding and validation ----

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 in hex');
const int = z.number().int();
const setting = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const fingerprintSchema = z.strictObject({
  settings: z.record(z.string(), setting),
  safe: z.record(z.string(), setting),
  shapes: z.strictObject({
    K: int.min(1),
    d: int.min(1),
    weights: z.array(z.array(int.min(0))),
    unlabeled: int.min(0),
  }),
  inputs: z.string(),
  model: z.strictObject({ file: z.string(), digest: z.string() }).optional(),
});

const envelopeSchema = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  checksum: hex64,
  arrays: z.strictObject({
    file: z.string().regex(ARRAYS_FILE, 'expected a file name arrays-<16 hex digits>.bin'),
    bytes: int.min(0),
    sha256: hex64,
  }),
  fingerprint: fingerprintSchema,
  state: z.unknown(),
});

/** A float field: a number, or one of the strings JSON needs for NaN, the infinities and -0. */
const float = z.union([z.number(), z.enum(SPECIAL_FLOATS).transform((s) => Number(s))]);
const finite = (what: string) => (a: ArrayLike<number>) =>
  Array.prototype.every.call(a, Number.isFinite) || `${what} holds a value that is not finite`;

/** The schema of the state, decoding each array reference from bin (one copy per array). */
function stateSchema(bin: Uint8Array) {
  const ref = <D extends Dtype>(dtype: D) =>
    z
      .strictObject({ dtype: z.literal(dtype), offset: int.min(0), length: int.min(0) })
      .transform((r, ctx): ArrayOf[D] => {
        const size = CTOR[dtype].BYTES_PER_ELEMENT;
        if (r.offset + r.length * size > bin.byteLength) {
          ctx.addIssue({
            code: 'custom',
            message: `${r.length} ${dtype} values at byte ${r.offset} run past the end of the arrays file (${bin.byteLength} bytes)`,
          });
          return z.NEVER;
        }
        const copy = new Uint8Array(r.length * size);
        copy.set(bin.subarray(r.offset, r.offset + r.length * size));
        return new CTOR[dtype](copy.buffer) as ArrayOf[D];
      });
  const f32 = ref('float32');
  const f64 = ref('float64');
  const i32 = ref('int32');
  const tensor = z
    .strictObject({ shape: z.array(int.min(0)), data: f32 })
    .refine((t) => t.data.length === t.shape.reduce((a, b) => a * b, 1), {
      message: 'the number of values does not match the shape',
    })
    .refine((t) => finite('the tensor')(t.data) === true, {
      message: 'the tensor holds a value that is not finite',
    }) satisfies z.ZodType<StateTensor>;
  return z.strictObject({
    step: int.min(0),
    afterRefresh: z.boolean(),
    weights: z.array(tensor).min(2),
    momentum: z.array(tensor),
    headScale: float.refine((s) => Number.isFinite(s) && s > 0, { message: 'expected a positive finite number' }),
    bestWeights: z.array(tensor),
    rng: z.array(int.min(0).max(0xffffffff)).length(4),
    multipliers: f64.nullable(),
    P: f64
      .refine((p) => finite('P')(p) === true && p.every((x) => x >= 0), {
        message: 'P must hold finite non-negative values',
      })
      .nullable(),
    G: f64.nullable(),
    partnerLabels: i32.nullable(),
    maxGainHistory: f64.refine((h) => h.length >= 1, { message: 'expected at least the first entry' }),
    best: z.strictObject({ step: int.min(-1), score: float, feasible: z.boolean() }),
    pendingEarlyStop: z.boolean(),
    gainTrack: z.strictObject({
      predicted: f64,
      realised: f64,
      lastObjective: float.nullable(),
      predictedSum: float,
      predictedCount: int.min(0),
      noise: f64.optional(),
      lastPreds: i32.nullable().optional(),
    }),
    // Checkpoints written before the field read as "no warm start recorded".
    warmStart: z.strictObject({ tau: float }).nullable().default(null),
    bestPreds: i32.nullable().default(null),
    // Checkpoints written before the field read as "no teacher yet": it restarts from the resumed weights.
    teacher: z.array(tensor).nullable().default(null),
  });
}

// The schema and TrainState describe the same fields: a field added to one but not the other fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesTrainState: Same<keyof z.output<ReturnType<typeof stateSchema>>, keyof TrainState> = true;
const schemaOutputIsTrainState: Same<z.output<ReturnType<typeof stateSchema>>, TrainState> = true;
void schemaMatchesTrainState;
void schemaOutputIsTrainState;

/** The field names the checkpoint schema knows (tests compare them with the training loop's). */
export const CHECKPOINT_STATE_FIELDS = Object.keys(stateSchema(new Uint8Array(0)).shape) as (keyof TrainState)[];

/** zod issues as one line each: the JSON path in the file, and the problem. */
function issueLines(prefix: (string | number)[], issues: z.core.$ZodIssue[]): string {
  return (
    issues
      .slice(0, 8)
      .map((i) => {
        const path = formatPath([...prefix, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))]);
        const extra = i.code === 'unrecognized_keys' ? ` (${(i as { keys?: string[] }).keys?.join(', ')})` : '';
        return `${path || '(root)'}: ${i.message}${extra}`;
      })
      .join('; ') + (issues.length > 8 ? `; and ${issues.length - 8} more` : '')
  );
}

const show = (v: Setting | undefined): string => (v === undefined ? '(not set)' : JSON.stringify(v));

/** Settings that differ between two flattened maps, as "path: was -> now". */
function differences(was: Record<string, Setting>, now: Record<string, Setting>): string[] {
  const keys = [...new Set([...Object.keys(was), ...Object.keys(now)])].sort();
  return keys
    .filter((k) => was[k] !== now[k])
    .map((k) => `${k}: ${show(was[k])} in the checkpoint, ${show(now[k])} now`);
}

const shapeText = (s: number[][]): string => s.map((x) => `[${x.join(', ')}]`).join(', ');

/** Checks a decoded state against its own fingerprint's shapes; returns the first inconsistency, or null. */
function inconsistency(s: TrainState, shapes: CheckpointShapes): string | null {
  const { K, weights } = shapes;
  for (const [what, list] of [
    ['weights', s.weights],
    ['momentum', s.momentum],
    ['bestWeights', s.bestWeights],
  ] as const) {
    if (shapeText(list.map((t) => t.shape)) !== shapeText(weights))
      return `state.${what}: shapes ${shapeText(list.map((t) => t.shape))}, the fingerprint says ${shapeText(weights)}`;
  }
  if (s.teacher && shapeText(s.teacher.map((t) => t.shape)) !== shapeText(weights))
    return `state.teacher: shapes ${shapeText(s.teacher.map((t) => t.shape))}, the fingerprint says ${shapeText(weights)}`;
  if (weights.length < 2 || shapeText(weights.slice(0, 2)) !== shapeText([[shapes.d, K], [K]]))
    return `fingerprint.shapes: the head is ${shapeText(weights.slice(0, 2))}, not [${shapes.d}, ${K}], [${K}] for K = ${K}, d = ${shapes.d}`;
  for (const [what, a] of [
    ['P', s.P],
    ['G', s.G],
  ] as const) {
    if (a && a.length !== K * K) return `state.${what}: ${a.length} values, expected K x K = ${K * K}`;
  }
  if (s.partnerLabels) {
    if (s.partnerLabels.length !== shapes.unlabeled)
      return `state.partnerLabels: ${s.partnerLabels.length} labels, the unlabeled set has ${shapes.unlabeled}`;
    if (s.partnerLabels.some((y) => y < -1 || y >= K)) return `state.partnerLabels: a label outside -1 .. ${K - 1}`;
  }
  if (s.gainTrack.predicted.length !== s.gainTrack.realised.length)
    return 'state.gainTrack: predicted and realised have different lengths';
  if (s.best.step > s.step) return `state.best.step: ${s.best.step} is after the checkpoint's step ${s.step}`;
  return null;
}

/**
 * A checkpoint that passed every check, with the safe settings that changed since it was written (one line each, for
 * the log).
 */
export interface ResumePoint {
  state: TrainState;
  changes: string[];
  /** The state.json it was read from. */
  path: string;
}

/**
 * Reads and validates the checkpoint in dir against the current run's fingerprint: format and version, the checksum of
 * state.json and the sha256 of the arrays file, the schema of every field, the shapes (K, d, every weight) and inputs,
 * and the settings. Throws a DataError naming the file and what differs; settings that may change are returned as
 * changes.
 */
export function readCheckpoint(dir: string, expected: CheckpointFingerprint): ResumePoint {
  const path = join(dir, CHECKPOINT_STATE_FILE);
  if (!existsSync(path)) throw new DataError(path, 'no checkpoint to resume from');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DataError(path, `unreadable checkpoint (${(e as Error).message}); start afresh without --resume`);
  }
  const head = z.object({ format: z.string(), version: z.unknown() }).safeParse(raw);
  if (!head.success || head.data.format !== CHECKPOINT_FORMAT) {
    throw new DataError(
      path,
      `not a SelMix checkpoint of this format (no "format": "${CHECKPOINT_FORMAT}"; an older version may have written it); start afresh without --resume`,
    );
  }
  if (head.data.version !== CHECKPOINT_VERSION) {
    throw new DataError(
      path,
      `checkpoint format version ${JSON.stringify(head.data.version)}, this version of SelMix reads version ${CHECKPOINT_VERSION}; start afresh without --resume`,
    );
  }
  const env = envelopeSchema.safeParse(raw);
  if (!env.success) throw new DataError(path, `invalid checkpoint: ${issueLines([], env.error.issues)}`);
  const e = env.data;
  if (bodyChecksum(e) !== e.checksum)
    throw new DataError(
      path,
      'the contents do not match the checksum: the file was edited or damaged; start afresh without --resume',
    );

  const binPath = join(dir, e.arrays.file);
  if (!existsSync(binPath)) throw new DataError(binPath, `missing: ${CHECKPOINT_STATE_FILE} refers to it`);
  const bin = readFileSync(binPath);
  if (bin.byteLength !== e.arrays.bytes)
    throw new DataError(
      binPath,
      `${bin.byteLength} bytes, ${CHECKPOINT_STATE_FILE} expects ${e.arrays.bytes} (truncated or replaced)`,
    );
  if (sha256(bin) !== e.arrays.sha256)
    throw new DataError(
      binPath,
      `the contents do not match the sha256 in ${CHECKPOINT_STATE_FILE}: the file was modified or damaged`,
    );

  const st = stateSchema(bin).safeParse(e.state);
  if (!st.success) throw new DataError(path, `invalid checkpoint: ${issueLines(['state'], st.error.issues)}`);
  const state = st.data as TrainState;
  const was = e.fingerprint;
  const bad = inconsistency(state, was.shapes);
  if (bad) throw new DataError(path, `invalid checkpoint: ${bad}`);

  const now = expected.shapes;
  if (was.shapes.K !== now.K || was.shapes.d !== now.d || shapeText(was.shapes.weights) !== shapeText(now.weights)) {
    throw new DataError(
      path,
      `the checkpoint is for a model with K = ${was.shapes.K} classes and d = ${was.shapes.d} features (weights ${shapeText(was.shapes.weights)}); ` +
        `this run's model has K = ${now.K} and d = ${now.d} (weights ${shapeText(now.weights)}). Resume with the model it was made with, or start afresh without --resume`,
    );
  }
  if (was.shapes.unlabeled !== now.unlabeled || was.inputs !== expected.inputs) {
    throw new DataError(
      path,
      `the checkpoint was made on other inputs (${was.shapes.unlabeled !== now.unlabeled ? `an unlabeled set of ${was.shapes.unlabeled} examples, now ${now.unlabeled}` : 'the data digest differs'}); resume with the same data, or start afresh without --resume`,
    );
  }
  if (expected.model && was.model?.digest !== expected.model.digest) {
    throw new DataError(
      path,
      `the model ${expected.model.file} ${was.model ? 'changed since the checkpoint was made (its weights or graph differ)' : "cannot be matched to the checkpoint (an earlier version wrote it without the model's digest)"}; resume with the model it was made with, or start afresh without --resume`,
    );
  }
  const refused = differences(was.settings, expected.settings);
  if (refused.length > 0) {
    throw new DataError(
      path,
      `the config changed since the checkpoint: ${refused.join('; ')}. Resume with the settings it was made with, or start afresh without --resume`,
    );
  }
  return {
    state,
    changes: differences(was.safe, expected.safe).map((c) =>
      c.replace(' in the checkpoint, ', ' -> ').replace(/ now$/, ''),
    ),
    path,
  };
}
