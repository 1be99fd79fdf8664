// runRequest: one run end to end, the same for the worker (the extension), the CLI, the sweep and the
// experiments: prepare the request, load the inputs, pre-train when the starting model must be made first,
// fine-tune, write the outputs, and emit protocol events. Never throws: a failure is a run/failed event.
import { initBackend, type BackendChoice } from '../backend/backend';
import { failureKindOf, ioFailureOf, ConfigError } from '../core/errors';
import { disposeModel, type SelmixModel } from '../core/training/model';
import type { FailureKind, RunEvent, RunFinishedPayload, RunRequest } from '../protocol/messages';
import { prepareRun, preparedConfig } from '../request/prepare';
import { loadInputs } from './inputs';
import { StageReporter, type StageEnter } from './progress';
import {
  checkOutputs,
  finetuneStage,
  runName,
  pretrainTask,
  stageContext,
  startingModel,
  stoppedEarly,
  type StageContext,
} from './stages';

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
  // Until the stage context exists (its snapshot follows every event), events go straight out.
  let ctx: StageContext | null = null;
  const emit = (e: RunEvent) => (ctx ? ctx.emit(e) : opts.emit(e));
  let model: SelmixModel | null = null;
  try {
    const prepared = prepareRun(request);
    const cfg = preparedConfig(prepared);
    // A run is live from its first second: every view switches to it now, and hears of each stage before training.
    const stages = new StageReporter(opts.emit, runName(prepared, cfg));
    const enter: StageEnter = (stage, label, total) => stages.enter(stage, label, total);
    enter('checking', 'checking the inputs and loading the model');
    const backend = await initBackend({
      ...(opts.backend ? { choice: opts.backend } : {}),
      ...(opts.wasmDir ? { wasmDir: opts.wasmDir } : {}),
    });
    ctx = stageContext(opts.emit, opts.shouldStop, backend, enter);
    const outputDir = prepared.outputDir!;
    if (prepared.outputOutsideConfigFolder) {
      emit({
        type: 'run/log',
        payload: {
          level: 'warn',
          message: `the output folder ${outputDir} is outside the config's folder ${prepared.baseDir} (output "${request.overrides?.output ?? cfg.output}")`,
        },
      });
    }
    const inputs = await loadInputs(cfg, prepared.baseDir, request.configPath, { enter });
    enter('checking', 'checking the data against the model');
    const finish = (summary: RunFinishedPayload): RunResult => {
      emit({ type: 'run/finished', payload: summary });
      return { ok: true, summary };
    };
    if (cfg.task === 'pretrain') return finish(await pretrainTask(ctx, prepared, cfg, inputs, outputDir));
    // The outputs are checked before any stage runs, so a bad output folder does not wait for pre-training.
    try {
      checkOutputs(prepared, outputDir, inputs.inputs);
    } catch (e) {
      if (inputs.model?.kind === 'loaded') disposeModel(inputs.model.model);
      throw e;
    }
    const start = await startingModel(ctx, cfg, inputs, request.configPath, true);
    if ('cancelled' in start) return finish(stoppedEarly(ctx, cfg, outputDir, start.steps));
    model = start.model;
    return finish(await finetuneStage(ctx, prepared, cfg, inputs, model, outputDir));
  } catch (caught) {
    const e = ioFailureOf(caught) ?? caught;
    const kind = failureKindOf(e);
    const err = e as Error;
    emit({
      type: 'run/failed',
      payload: {
        message: err.message,
        kind,
        ...(err.stack ? { stack: err.stack } : {}),
        ...(e instanceof ConfigError
          ? { details: e.issues.map((i) => `${i.line ? `line ${i.line}: ` : ''}${i.path}: ${i.message}`) }
          : {}),
      },
    });
    return { ok: false, kind, message: err.message };
  } finally {
    if (model) disposeModel(model);
  }
}
