// runRequest: one run end to end, the same for the worker (the extension), the CLI, the sweep and the
// experiments: prepare the request, load the inputs, pre-train when the starting model must be made first,
// fine-tune, write the outputs, and emit protocol events. Never throws: a failure is a run/failed event.
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { initBackend, tf, type BackendChoice } from '../backend/backend';
import { failureKindOf, ConfigError } from '../core/errors';
import { disposeModel, type SelmixModel } from '../core/model';
import { loadLayersModelFromFile } from '../data/modelIo';
import { fromLayersModel } from '../core/model';
import { applyEvent, emptySnapshot, type FailureKind, type RunEvent, type RunFinishedPayload, type RunRequest, type RunSnapshot } from '../protocol/messages';
import { prepareRun, preparedConfig } from './prepare';
import { checkInputShape, checkLabels, loadInputs } from './inputs';
import { checkOutputs, finetuneStage, pretrainStage, pretrainTask, stoppedEarly, type StageContext } from './stages';

/** How a run is driven. */
export interface RunOptions {
  emit: (e: RunEvent) => void;
  shouldStop: () => boolean;
  backend?: BackendChoice;
  wasmDir?: string;
}

/** The outcome: ok, or failed with the kind of failure (for exit codes). */
export type RunResult = { ok: true; summary: RunFinishedPayload } | { ok: false; kind: FailureKind; message: string };

/** Runs a request end to end. Never throws: failures become a run/failed event and a failed result. */
export async function runRequest(request: RunRequest, opts: RunOptions): Promise<RunResult> {
  let snapshot: RunSnapshot = emptySnapshot();
  const emit = (e: RunEvent) => {
    snapshot = applyEvent(snapshot, e);
    opts.emit(e);
  };
  let model: SelmixModel | null = null;
  try {
    const prepared = prepareRun(request);
    const cfg = preparedConfig(prepared);
    const backend = await initBackend({ ...(opts.backend ? { choice: opts.backend } : {}), ...(opts.wasmDir ? { wasmDir: opts.wasmDir } : {}) });
    const ctx: StageContext = { runId: randomUUID(), emit, shouldStop: opts.shouldStop, backend, t0: performance.now(), snapshot: () => snapshot, tensorsAtStart: tf.memory().numTensors };
    const outputDir = prepared.outputDir!;
    const inputs = await loadInputs(cfg, prepared.baseDir, request.configPath);
    const finish = (summary: RunFinishedPayload): RunResult => {
      emit({ type: 'run/finished', payload: summary });
      return { ok: true, summary };
    };
    if (cfg.task === 'pretrain') return finish(await pretrainTask(ctx, prepared, cfg, inputs, outputDir));
    // The outputs are checked before any stage runs, so a bad output folder does not wait for pre-training.
    checkOutputs(prepared, outputDir, inputs.inputs);
    const source = inputs.model;
    if (!source) throw new ConfigError(request.configPath, [{ path: 'model', message: 'a finetune run needs a "model"' }]);
    let modelFile: string;
    if (source.kind === 'pretrain') {
      const r = await pretrainStage(ctx, cfg, inputs.data, { saveDir: dirname(source.cachePath), name: `${cfg.name ?? 'SelMix run'}: pre-training the demo CNN`,
        notes: [`no pre-trained model at ${source.cachePath}: pre-training the demo CNN first (cached there for later runs)`], withStart: false });
      if ('cancelled' in r) return finish(stoppedEarly(ctx, cfg, outputDir, r.steps));
      disposeModel(r.model);
      r.lm.dispose();
      // Fine-tune from the saved copy, exactly as a later run that finds it cached does.
      model = fromLayersModel(await loadLayersModelFromFile(source.cachePath));
      modelFile = source.cachePath;
      inputs.inputs.push(source.cachePath);
    } else {
      model = source.model;
      modelFile = source.file;
    }
    checkInputShape(model, inputs.data, inputs.files, modelFile);
    checkLabels(inputs, model.K, request.configPath, true);
    return finish(await finetuneStage(ctx, prepared, cfg, inputs, model, outputDir));
  } catch (e) {
    const kind = failureKindOf(e);
    const err = e as Error;
    emit({ type: 'run/failed', payload: { message: err.message, kind, ...(err.stack ? { stack: err.stack } : {}), ...(e instanceof ConfigError ? { details: e.issues.map((i) => `${i.line ? `line ${i.line}: ` : ''}${i.path}: ${i.message}`) } : {}) } });
    return { ok: false, kind, message: err.message };
  } finally {
    if (model) disposeModel(model);
  }
}
