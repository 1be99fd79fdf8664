// The one message vocabulary of SelMix: what the worker posts, what the CLI prints one per line with
// `--json`, what the extension host forwards to its webviews, and what the webviews send back.
// Payloads are JSON-safe: matrices are flat row-major number arrays plus their size K (a K x K matrix the engine
// made may travel as a Float64Array, which structured clone copies as it is, and the host posts a view's matrices as
// Float32Array, which VS Code carries as binary: a JSON writer passes jsonSafe).

/**
 * A K x K matrix, flat row-major: entry (i, j) is data[i * K + j]. The engine hands its own Float64Array (a
 * million entries at K = 1000: a plain-array copy per refresh cost more than the refresh's arithmetic); a webview
 * gets Float32Array (src/extension/viewFeed.ts).
 */
export interface FlatMatrix {
  K: number;
  data: number[] | Float64Array | Float32Array;
  /**
   * Set only on matrices the host downsampled for a view: each cell summarises a block x block tile of the full matrix
   * (G: its entry of largest magnitude; P: its total mass).
   */
  block?: number;
  /** Set in report.json, where data is empty: the .npy file beside the report that holds the matrix. */
  file?: string;
}

/** The metrics report of a confusion matrix (see docs/ALGORITHM.md section 2, "test-time metrics"). */
export interface MetricsReport {
  accuracy: number;
  meanRecall: number;
  minRecall: number;
  maxRecall: number;
  gMean: number;
  hMean: number;
  headRecall: number;
  tailRecall: number;
  minHeadTailRecall: number;
  minCoverage: number;
  headCoverage: number;
  tailCoverage: number;
  recall: number[];
  coverage: number[];
  /** Number of examples of each class in the evaluated set (a class with 0 is reported, never dropped). */
  support: number[];
}

/** The state of SelMix after one refresh: multipliers, gain matrix, sampling distribution. */
export interface RefreshPayload {
  step: number;
  objective: string;
  /** The target objective's value on the validation set (the quantity SelMix maximises). */
  objectiveValue: number;
  val: MetricsReport;
  multipliers: number[] | null;
  gain: FlatMatrix;
  distribution: FlatMatrix;
  maxGain: number;
  /** Correlation between predicted gains of sampled pairs and the realised objective change, once known. */
  gainCorrelation?: number | null;
  /** The gain monitor's reading at this refresh (runs written before it carry gainCorrelation only). */
  gainCheck?: GainCheck;
  /**
   * A constrained objective's constraint on the validation set at this refresh (absent for unconstrained objectives).
   */
  feasibility?: Feasibility;
}

/**
 * The gain monitor: the realised change of the objective per refresh interval in the direction the first-order gain
 * estimate predicted, averaged with weights from the noise of each change, and whether the evidence says the estimate
 * is wrong.
 */
export interface GainCheck {
  /** False when the realised changes run against the predicted ones beyond their noise (the run warns). */
  tracking: boolean;
  meanChange: number | null;
  meanChangeSE: number | null;
  intervals: number;
  /** Intervals whose change went against the prediction beyond its noise. */
  against?: number;
  /** Mean squared residual of the realised changes in units of their noise (null: too few intervals). */
  dispersion?: number | null;
  /** The standard error of the objective's change over the last interval, on this validation set (null: none yet). */
  noise: number | null;
}

/** A constraint of the objective as achieved: the bound, the value reached and whether it holds (value >= bound). */
export interface Feasibility {
  /** What is bounded, in words (e.g. "min coverage"). */
  constraint: string;
  bound: number;
  value: number;
  met: boolean;
}

/**
 * A comparison row of a run's summary, computed in the same run from the same starting model (e.g. post-hoc logit
 * adjustment).
 */
export interface BaselineRow {
  /** What the row is, in words (e.g. "post-hoc logit adjustment (tau = 1)"). */
  label: string;
  objectiveValue: number;
  val: MetricsReport;
  test?: MetricsReport;
  seconds: number;
}

/** Where a run stands, sent at most every few steps. */
export interface StepPayload {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  msPerStep: number;
}

/** What a refresh of the training loop does, in order (RefreshingPayload). */
export type RefreshPhase = 'validation' | 'gains' | 'distribution' | 'checkpoint';

/**
 * A refresh in progress: no step runs while it does (at K = 1000 a refresh can hold the loop for hundreds of ms, and a
 * whole network's validation pass for seconds), so the loop says what it is doing at least every PROGRESS_EVENT_MS.
 */
export interface RefreshingPayload {
  /** The step the refresh is at. */
  step: number;
  phase: RefreshPhase;
  /** Units done of total within the phase (validation rows; 0 of 0: no count). */
  done: number;
  total: number;
}

/** The stages of a run, in order: what a run does before and while it trains. */
export type RunStageId = 'starting' | 'checking' | 'decoding' | 'extracting' | 'pretraining' | 'finetuning' | 'writing';

/**
 * Where a run stands outside its training loop (loading, decoding, feature extraction), sent at least every
 * PROGRESS_EVENT_MS (250 ms) while a stage works.
 */
export interface StagePayload {
  stage: RunStageId;
  /** The stage in words, e.g. "decoding images (train)". */
  label: string;
  /** Units done of total (0 of 0: no count, e.g. checking the inputs). */
  done: number;
  total: number;
  /** Seconds left in this stage at the rate so far; null until there is a rate. */
  etaSeconds: number | null;
  /** The run's name (the config's "name"), so the views can title it before its run/started. */
  name?: string;
}

/** Static facts about a run, sent once before the first step. */
export interface RunStartedPayload {
  runId: string;
  name: string;
  objective: string;
  K: number;
  classNames: string[];
  totalSteps: number;
  backend: string;
  outputDir: string;
  mode: 'finetune' | 'pretrain';
  /** What the optimizer updates: the linear head only (on features, or with a frozen backbone) or the whole network. */
  trains?: 'head' | 'network';
  /** The settings a comparison of runs needs: selmix.temperature and training.lr (absent in older runs). */
  temperature?: number;
  lr?: number;
  notes: string[];
  /** Metrics of the starting model on validation (and test when a test set is given). */
  startVal?: MetricsReport;
  startTest?: MetricsReport;
}

/** The outcome of a finished run, the same object that report.json holds under "summary". */
export interface RunFinishedPayload {
  runId: string;
  outputDir: string;
  /** report.json, or null when the run wrote nothing (stopped during its pre-training stage). */
  reportPath: string | null;
  stoppedBy: 'steps' | 'earlyStop' | 'cancel';
  steps: number;
  objective: string;
  /**
   * The starting model; testObjectiveValue: the objective on test (a custom objective's too), when there is a test set.
   */
  before: { objectiveValue: number; val: MetricsReport; test?: MetricsReport; testObjectiveValue?: number };
  /** The kept iterate (the best on validation). */
  after: { objectiveValue: number; val: MetricsReport; test?: MetricsReport; testObjectiveValue?: number };
  bestStep: number;
  wallSeconds: number;
  /** A constrained objective's constraint at the kept iterate, on validation and (when there is one) test. */
  feasibility?: { val: Feasibility; test?: Feasibility };
  /**
   * A constrained run whose kept iterate misses its bound on validation: that it is infeasible there, and why, in
   * words.
   */
  infeasible?: string;
  /** Baselines computed in the same run (config training.baselines), to compare with "after". */
  baselines?: BaselineRow[];
  /** The logit-adjustment warm start, when it was used: tau, the objective on validation after it, and its metrics. */
  warmStart?: WarmStartSummary;
  /** Where the unlabeled partners' pseudo-labels came from at the last refresh, when an unlabeled set was used. */
  pseudoLabels?: PseudoLabelSummary;
}

/**
 * The pseudo-labels of the unlabeled set at a refresh: from the model itself ("self") or from the exponential moving
 * average of its weights ("ema", the Mean Teacher), and how many examples passed the confidence threshold.
 */
export interface PseudoLabelSummary {
  source: 'self' | 'ema';
  /** The teacher's decay (source "ema"). */
  decay?: number;
  threshold: number;
  /** Unlabeled examples whose top softmax probability reached the threshold (all of them at threshold 0). */
  passed: number;
  total: number;
  /** The step of the refresh that made them. */
  step: number;
}

/**
 * The warm start of a run (post-hoc logit adjustment, tau chosen on validation): what it gave before SelMix trained.
 */
export interface WarmStartSummary {
  tau: number;
  /** The objective on validation at the warm start. */
  objectiveValue: number;
  /** Its metrics on validation and test (runs written before these fields carry tau and objectiveValue only). */
  val?: MetricsReport;
  test?: MetricsReport;
  testObjectiveValue?: number;
}

/** Events a run emits, in order: run/started, then run/step and run/refresh interleaved, then one terminal event. */
export type RunEvent =
  /** The run is in a stage before (or outside) its training loop; the first one marks a new run in every view. */
  | { type: 'run/stage'; payload: StagePayload }
  /** The run has loaded its data and model and is about to train. */
  | { type: 'run/started'; payload: RunStartedPayload }
  /** Progress of the optimizer. */
  | { type: 'run/step'; payload: StepPayload }
  /** A refresh is under way (no step runs meanwhile); the next run/step or run/refresh ends it. */
  | { type: 'run/refreshing'; payload: RefreshingPayload }
  /** Multipliers, G and P were recomputed from a validation pass. */
  | { type: 'run/refresh'; payload: RefreshPayload }
  /** A checkpoint was written. */
  | { type: 'run/checkpoint'; payload: { step: number; path: string; best: boolean } }
  /**
   * A free-form line for the log; step: the worker's own step when the line was written (absent: the last reported
   * step).
   */
  | { type: 'run/log'; payload: { level: 'info' | 'warn'; message: string; step?: number } }
  /** Terminal: the run completed (steps done, early stop, or cancelled with a checkpoint kept). */
  | { type: 'run/finished'; payload: RunFinishedPayload }
  /** Terminal: the run failed; kind says whose fault it is (bad input vs. training failure). */
  | { type: 'run/failed'; payload: { message: string; kind: FailureKind; stack?: string; details?: string[] } };

/** Whose fault a failure is: bad input (usage, config, data or model files: exit 2) or a failed run (exit 1). */
export type FailureKind = 'usage' | 'config' | 'data' | 'training' | 'internal';

/** The type tags of run events. */
export type RunEventType = RunEvent['type'];

/** Config fields a request replaces after validation (CLI flags, a sweep's temperature, the default output folder). */
export interface RunOverrides {
  /** training.steps. */
  steps?: number;
  /** training.seed. */
  seed?: number;
  /** selmix.temperature, the inverse temperature s (> 0). */
  temperature?: number;
  /** The built-in objective id. */
  objective?: string;
  /** The output folder (absolute, or relative to the config file). */
  output?: string;
}

/**
 * The one request every surface builds: the config file's own text (so errors point at its lines), its path, overrides.
 */
export interface RunRequest {
  configText: string;
  /** The config file's absolute path; relative paths in the config are relative to its folder. */
  configPath: string;
  overrides?: RunOverrides;
  /** Continue from the checkpoint in the output folder. */
  resume?: boolean;
}

/** Requests the host sends to the worker. */
export type WorkerRequest =
  /** Start a run. stopFlag: the buffer of a StopFlag (src/protocol/stopFlag.ts) the host sets to stop it. */
  | { type: 'worker/start'; request: RunRequest; backend?: string; wasmDir?: string; stopFlag?: SharedArrayBuffer }
  /** Stop gracefully at the next step boundary, keeping a checkpoint. */
  | { type: 'worker/stop' };

/** Backend names a user may ask for (the selmix.backend setting, --backend, worker/start's backend). */
export const BACKEND_CHOICES = ['auto', 'onnxruntime', 'tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'] as const;
/** A backend a user may ask for. */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The buttons a view may press, as view/command names them. */
export const VIEW_COMMANDS = ['start', 'stop', 'openDashboard', 'openReport', 'showLog', 'manageTrust'] as const;
/** One of VIEW_COMMANDS. */
export type ViewCommand = (typeof VIEW_COMMANDS)[number];

/** Messages a webview sends to the extension host. */
export type WebviewToHost =
  /** The webview has loaded its script and can receive data. */
  | { type: 'view/ready' }
  /** The webview has drawn the last host message and can take the next (flow control: at most one in flight). */
  | { type: 'view/ack' }
  /** The user pressed a button. */
  | { type: 'view/command'; command: ViewCommand }
  /** Save a chart: as a PNG (data is a data:image/png;base64 URL) or its data as CSV text; the host asks where. */
  | { type: 'view/export'; format: 'png' | 'csv'; name: string; data: string }
  /**
   * List the workspace's past runs (the host answers host/runs), or overlay the curves of these reports (host/compare).
   */
  | { type: 'view/runs'; compare: string[] };

/** A past run as the run history lists it (from its report.json). */
export interface RunListing {
  reportPath: string;
  name: string;
  objective: string;
  /** ISO time the report was written (its file's modification time). */
  writtenAt: string;
  steps: number;
  stoppedBy: RunFinishedPayload['stoppedBy'] | null;
  before: number | null;
  /** The objective of the best iterate (what the run keeps), on validation. */
  after: number | null;
  /** The objective on the test set after fine-tuning, when the run had one. */
  testAfter: number | null;
  /** selmix.temperature, training.lr and what was trained (null when the report does not say). */
  temperature: number | null;
  lr: number | null;
  trains: 'head' | 'network' | null;
  /** True for a run kept in an output folder's history (<output>/.selmix-history), not its latest report. */
  archived?: boolean;
}

/** The metrics a comparison of runs can plot (each run's own objective is 'objective'). */
export const COMPARE_METRICS = ['objective', 'minRecall', 'meanRecall', 'gMean', 'hMean', 'accuracy'] as const;

/** A metric a comparison of runs plots. */
export type CompareMetric = (typeof COMPARE_METRICS)[number];

/**
 * One run's validation curves for the comparison chart: its objective and the metrics at every refresh (NaN where a
 * report lacks one).
 */
export interface RunCurve {
  reportPath: string;
  name: string;
  objective: string;
  temperature: number | null;
  lr: number | null;
  trains: 'head' | 'network' | null;
  steps: number[];
  series: Record<CompareMetric, number[]>;
}

/** Messages the extension host sends to a webview. */
export type HostToWebview =
  /** The full state so far (sent after view/ready and on reload). refreshAt: see host/events. */
  | { type: 'host/snapshot'; snapshot: RunSnapshot; refreshAt?: number; postedAt?: number }
  /**
   * A batch of run events since the last message (coalesced by the host). refreshAt: the host's Date.now() when the
   * newest refresh in it arrived (the views measure their refresh latency). postedAt: the host's Date.now() when it
   * posted the message (the views measure how long it travelled).
   */
  | { type: 'host/events'; events: RunEvent[]; refreshAt?: number; postedAt?: number }
  /** The workspace's past runs, newest first, and the curves of those asked to compare. */
  | { type: 'host/runs'; runs: RunListing[]; curves: RunCurve[] };

/** Everything a view needs to draw a run from scratch. */
export interface RunSnapshot {
  status: 'idle' | 'running' | 'finished' | 'failed' | 'stopping';
  started: RunStartedPayload | null;
  lastStep: StepPayload | null;
  lastRefresh: RefreshPayload | null;
  /**
   * Objective and validation metrics at each refresh (gMean, hMean, accuracy absent in older reports); loss at each
   * reported step.
   */
  history: {
    step: number;
    objective: number;
    meanRecall: number;
    minRecall: number;
    gMean?: number;
    hMean?: number;
    accuracy?: number;
    multipliers: number[] | null;
    gainCorrelation?: number | null;
  }[];
  losses: { step: number; loss: number }[];
  finished: RunFinishedPayload | null;
  error: string | null;
  bestObjective: number | null;
  /** The stage of the run before or outside its training loop (from run/stage; cleared by each run/started). */
  stage?: StagePayload | null;
  /** The refresh under way (from run/refreshing; cleared by the next run/step, run/refresh or terminal event). */
  refreshing?: RefreshingPayload | null;
  /** The run's latest run/log lines (at most MAX_SNAPSHOT_LOGS; absent in reports written before it existed). */
  logs?: { level: 'info' | 'warn'; message: string; step: number | null }[];
}

/** A snapshot keeps at most this many log lines (the newest). */
export const MAX_SNAPSHOT_LOGS = 50;

// Keyed by RunEvent's own tags: a new event type that is not listed here (or a listed one that is not an event) fails
// the type check.
const RUN_EVENT_TYPES: Record<RunEvent['type'], true> = {
  'run/stage': true,
  'run/started': true,
  'run/step': true,
  'run/refreshing': true,
  'run/refresh': true,
  'run/checkpoint': true,
  'run/log': true,
  'run/finished': true,
  'run/failed': true,
};

/** True when value has the shape of a run event (type tag known and a payload object). */
export function isRunEvent(value: unknown): value is RunEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { type?: unknown; payload?: unknown };
  return (
    typeof v.type === 'string' &&
    Object.hasOwn(RUN_EVENT_TYPES, v.type) &&
    typeof v.payload === 'object' &&
    v.payload !== null
  );
}

/** Validates a message from a webview; returns it typed, or null when it is unknown or malformed. */
export function parseWebviewMessage(value: unknown): WebviewToHost | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (v.type === 'view/ready' && keys.length === 1) return { type: 'view/ready' };
  if (v.type === 'view/ack' && keys.length === 1) return { type: 'view/ack' };
  if (
    v.type === 'view/command' &&
    keys.length === 2 &&
    typeof v.command === 'string' &&
    (VIEW_COMMANDS as readonly string[]).includes(v.command)
  ) {
    return { type: 'view/command', command: v.command as ViewCommand };
  }
  if (
    v.type === 'view/export' &&
    keys.length === 4 &&
    (v.format === 'png' || v.format === 'csv') &&
    typeof v.name === 'string' &&
    /^[\w .-]{1,80}$/.test(v.name) &&
    typeof v.data === 'string' &&
    v.data.length <= 32 * 1024 * 1024 &&
    (v.format === 'csv' || v.data.startsWith('data:image/png;base64,'))
  ) {
    return { type: 'view/export', format: v.format, name: v.name, data: v.data };
  }
  if (
    v.type === 'view/runs' &&
    keys.length === 2 &&
    Array.isArray(v.compare) &&
    v.compare.length <= 8 &&
    v.compare.every((p): p is string => typeof p === 'string' && p.length <= 4096)
  ) {
    return { type: 'view/runs', compare: [...v.compare] };
  }
  return null;
}

/** An empty snapshot. */
export function emptySnapshot(): RunSnapshot {
  return {
    status: 'idle',
    started: null,
    lastStep: null,
    lastRefresh: null,
    history: [],
    losses: [],
    finished: null,
    error: null,
    bestObjective: null,
  };
}

/** Folds one run event into a snapshot (pure; used by the host, the webviews and report replay). */
export function applyEvent(s: RunSnapshot, e: RunEvent): RunSnapshot {
  switch (e.type) {
    case 'run/stage': {
      // The first stage event of a run starts it afresh in every view (the previous run's results leave at once).
      const live = s.status === 'running' || s.status === 'stopping';
      return { ...(live ? s : { ...emptySnapshot(), status: 'running' }), stage: e.payload };
    }
    case 'run/started':
      return {
        ...emptySnapshot(),
        status: s.status === 'stopping' ? 'stopping' : 'running',
        started: e.payload,
        stage: null,
        ...(s.logs && s.status === 'running' && !s.started ? { logs: s.logs } : {}),
      };
    case 'run/step': {
      const losses = s.losses.length >= 2000 ? thin(s.losses) : s.losses.slice();
      losses.push({ step: e.payload.step, loss: e.payload.loss });
      return { ...s, lastStep: e.payload, losses, ...endRefreshing(s) };
    }
    case 'run/refreshing':
      return { ...s, refreshing: e.payload };
    case 'run/refresh': {
      const v = e.payload.val;
      const h = {
        step: e.payload.step,
        objective: e.payload.objectiveValue,
        meanRecall: v.meanRecall,
        minRecall: v.minRecall,
        gMean: v.gMean,
        hMean: v.hMean,
        accuracy: v.accuracy,
        multipliers: e.payload.multipliers,
        gainCorrelation: e.payload.gainCorrelation ?? null,
      };
      const best =
        s.bestObjective === null ? e.payload.objectiveValue : Math.max(s.bestObjective, e.payload.objectiveValue);
      return { ...s, lastRefresh: e.payload, history: [...s.history, h], bestObjective: best, ...endRefreshing(s) };
    }
    case 'run/finished':
      return { ...s, status: 'finished', finished: e.payload, ...endRefreshing(s) };
    case 'run/failed':
      return { ...s, status: 'failed', error: e.payload.message, ...endRefreshing(s) };
    case 'run/log': {
      const logs = [
        ...(s.logs ?? []),
        { level: e.payload.level, message: e.payload.message, step: e.payload.step ?? s.lastStep?.step ?? null },
      ];
      return { ...s, logs: logs.length > MAX_SNAPSHOT_LOGS ? logs.slice(-MAX_SNAPSHOT_LOGS) : logs };
    }
    case 'run/checkpoint':
      return s;
  }
}

/** What ends a refresh under way (a step, the refresh's own event, the end): none left, when there was one. */
function endRefreshing(s: RunSnapshot): Partial<RunSnapshot> {
  return s.refreshing ? { refreshing: null } : {};
}

/** Keeps every other point, so long loss curves stay bounded in size. */
function thin<T>(xs: T[]): T[] {
  return xs.filter((_, i) => i % 2 === 0);
}

/** A JSON.stringify replacer that writes typed arrays (a FlatMatrix's data) as plain number arrays. */
export function jsonSafe(_key: string, value: unknown): unknown {
  return value instanceof Float64Array || value instanceof Float32Array || value instanceof Int32Array
    ? Array.from(value)
    : value;
}
