// `eval` and `gain` as the engine does them: the same request, the same loader (loadInputs), the model's own
// forward pass on the tensor backend, the same evaluation as a run's before/after, and, for `gain`, one
// refresh through the engine's own matmul provider. The CLI prints what these return.
import { join } from 'node:path';
import { initBackend, prepareGainMatMul, type BackendChoice } from '../backend/backend';
import { ConfigError } from '../core/errors';
import { disposeModel, headArrays, type SelmixModel } from '../core/training/model';
import { forwardAll, metricsOf, type ExampleSet } from '../core/training/evaluate';
import { computeRefresh, type RefreshResult } from '../core/numerics/refresh';
import { evaluateSet, objectiveOptions } from '../core/training/train';
import type { MetricsReport, RunEvent, RunRequest } from '../protocol/messages';
import { loadInputs, type RunInputs } from './inputs';
import { onnxFeaturize, onnxLogits } from './onnxStage';
import { prepareRun, preparedConfig, type PreparedRun } from '../request/prepare';
import { reportedObjective, stageContext, startingModel } from './stages';
import type { SelmixConfig } from '../core/config';

/** How an evaluation is driven (events only when it must pre-train the demo model first). */
export interface EvalOptions {
  emit?: (e: RunEvent) => void;
  shouldStop?: () => boolean;
  backend?: BackendChoice;
  /** Told the class names (folder names for image data) once the data are loaded. */
  onClassNames?: (names: string[]) => void;
}

/** A prepared, loaded request with its starting model; the model is the caller's to dispose. */
interface Loaded {
  prepared: PreparedRun;
  cfg: SelmixConfig;
  inputs: RunInputs;
  model: SelmixModel;
}

/**
 * Prepares and loads a request and makes its starting model (pre-training the demo CNN when it is not cached). Null:
 * stopped.
 */
async function loadWithModel(request: RunRequest, o: EvalOptions): Promise<Loaded | null> {
  const prepared = prepareRun(request);
  const cfg = preparedConfig(prepared);
  if (cfg.task === 'pretrain' || !cfg.model)
    throw new ConfigError(request.configPath, [{ path: 'model', message: 'this command needs a "model" to evaluate' }]);
  const backend = await initBackend(o.backend ? { choice: o.backend } : {});
  const inputs = await loadInputs(cfg, prepared.baseDir, request.configPath, { train: false });
  o.onClassNames?.(inputs.data.classNames);
  // Progress events only when the demo model must be pre-trained first.
  const ctx = stageContext((e) => o.emit?.(e), o.shouldStop ?? (() => false), backend);
  const start = await startingModel(ctx, cfg, inputs, request.configPath, false);
  if ('cancelled' in start) return null;
  const model = start.model;
  return { prepared, cfg, inputs, model };
}

/** The starting model's metrics on the config's validation or test split; null when stopped while pre-training. */
export async function evaluateRequest(
  request: RunRequest,
  split: 'val' | 'test',
  o: EvalOptions = {},
): Promise<MetricsReport | null> {
  const l = await loadWithModel(request, o);
  if (!l) return null;
  try {
    const set = split === 'val' ? l.inputs.data.val : l.inputs.data.test;
    if (!set?.y)
      throw new ConfigError(request.configPath, [
        { path: `data.${split}`, message: `the config has no labeled ${split} set` },
      ]);
    // An ONNX model is evaluated whole, on ONNX Runtime.
    const onnx = l.inputs.model?.kind === 'loaded' ? l.inputs.model.onnx : undefined;
    if (onnx)
      return metricsOf(
        await onnxLogits(onnx, set, o.emit ? { emit: o.emit } : {}),
        set.y,
        l.model.K,
        l.cfg.selmix.headFrac,
      );
    return evaluateSet(
      l.model,
      set as ExampleSet & { y: Int32Array },
      l.cfg.selmix.headFrac,
      await prepareGainMatMul(l.model.K),
    );
  } finally {
    disposeModel(l.model);
  }
}

/** One refresh of the config's starting model on its validation split: confusion, metrics, multipliers, G and P. */
export async function gainRequest(
  request: RunRequest,
  o: EvalOptions = {},
): Promise<{ K: number; n: number; objective: string; refresh: RefreshResult } | null> {
  const l = await loadWithModel(request, o);
  if (!l) return null;
  try {
    const { cfg } = l;
    let { model } = l;
    let val = l.inputs.data.val;
    const onnx = l.inputs.model?.kind === 'loaded' ? l.inputs.model.onnx : undefined;
    if (onnx)
      ({
        model,
        data: { val },
      } = await onnxFeaturize(
        onnx,
        model,
        { ...l.inputs.data, train: val, unlabeled: null, test: null },
        { cacheDir: join(l.prepared.baseDir, '.selmix-cache', 'onnx-features') },
      ));
    const objective = reportedObjective(l.prepared, cfg, model.K);
    const matmul = await prepareGainMatMul(model.K);
    const fw = forwardAll(model, val, undefined, matmul);
    // W as the model holds it, in float32 (computeRefresh takes either precision); b in float64.
    const head = headArrays(model);
    const [W, b] = [head.W, Float64Array.from(head.b)];
    const refresh = computeRefresh({
      K: model.K,
      d: model.d,
      features: fw.features,
      labels: val.y,
      logits: fw.logits,
      W,
      b,
      objective,
      prevMultipliers: null,
      options: objectiveOptions(cfg),
      s: cfg.selmix.temperature,
      variant: cfg.selmix.deltaW,
      logitsFromHead: true,
      ...(cfg.selmix.epsMask !== undefined ? { epsMask: cfg.selmix.epsMask } : {}),
      matmul,
    });
    return { K: model.K, n: val.n, objective: objective.name, refresh };
  } finally {
    disposeModel(l.model);
  }
}
