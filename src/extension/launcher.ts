// The run launcher: one run at a time, in a worker (RunSession), with a progress notification (Cancel = Stop),
// the status bar item and the views fed through a throttled ViewFeed. A run may come in stages (pre-training,
// then fine-tuning: docs/ARCHITECTURE.md, "Staged runs"); each stage's run/started resets the views, the
// status bar and the progress message. What to run and what to say at the end is the commands' business.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HostToWebview, RunEvent, RunRequest, RunSnapshot, WebviewToHost } from '../protocol/messages';
import type { SelmixConfig } from '../core/config';
import { readReportSnapshot } from '../report/report';
import type { Log } from './log';
import { describeError } from './log';
import { listRuns, runCurves, saveExport } from './runHistory';
import { showReport } from './reportView';
import { RunSession } from './runSession';
import type { TerminalEvent } from './runSession';
import { settings } from './settings';
import { fmt as fmtValue } from './summary';
import { stageLine } from '../protocol/stageLine';
import { ViewFeed } from './viewFeed';
import { GapStats } from '../core/gapStats';
import { DashboardPanel, ViewHub } from './views';
import type { ViewHost } from './views';

const LAST_REPORT_KEY = 'selmix.lastReport';

/** A config that passed the checks and the user's consent: the request to send and what the messages need. */
export interface CheckedRun {
  request: RunRequest;
  config: SelmixConfig;
  name: string;
  outputDir: string;
}

/** How one run is shown: the progress notification's title. */
export interface LaunchOptions {
  title?: string;
  /** When the command that started the run was invoked (Date.now()): the dashboard's timing marks start there. */
  commandAt?: number;
}

/** How long a run's worker waits at most for a new dashboard's page to load before it starts (ms). */
export const WORKER_START_WAIT_MS = 1500;

/** Owns the run in progress, the views' feed and the status bar. */
export class Launcher implements vscode.Disposable, ViewHost {
  readonly hub: ViewHub;
  private readonly feed: ViewFeed;
  private session: RunSession | null = null;
  private runName = '';
  private readonly status = vscode.window.createStatusBarItem('selmix.status', vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [];
  private progress: { report(v: { message?: string; increment?: number }): void } | null = null;
  private progressDone = 0;
  /** The stage of the run in progress (from its latest run/started). */
  private mode: 'pretrain' | 'finetune' = 'finetune';
  private reportLoaded = false;
  /** The run's latest checkpoint, logged once when the run ends (not at every refresh). */
  private lastCheckpoint: { step: number; path: string } | null = null;
  /** The log file of the last run (<output>/run.log), once it ended; null when it wrote none. */
  lastLogPath: string | null = null;
  /**
   * Set while a batch of runs (a temperature sweep) is in progress, also between its runs; stopped: Stop was asked for.
   */
  private batch: { stopped: boolean } | null = null;
  /** When Stop was asked for the run in progress (Date.now()), for the "ended N ms after the stop" log line. */
  private stopRequestedAt: number | null = null;
  /** When the host received the fine-tuning stage's run/step and run/refresh events (the run's log summarises). */
  private readonly stepGaps = new GapStats();
  /** The worker's progress events as received: its steps and the parts of a refresh holding them. */
  private readonly progressGaps = new GapStats();
  private readonly refreshGaps = new GapStats();
  /** Set by dispose (deactivation): what still finishes must not touch the status bar item. */
  private disposed = false;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly logger: Log,
  ) {
    this.feed = new ViewFeed({
      updatesPerSecond: settings.updatesPerSecond,
      onStall: (id, ms) =>
        this.logger.info(`${id} acknowledged nothing for ${ms} ms: it was sent the run's state afresh`),
    });
    this.hub = new ViewHub(this.feed, this);
    this.status.name = 'SelMix';
    this.status.command = 'selmix.openDashboard';
    this.disposables.push(
      this.status,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('selmix.dashboard.updatesPerSecond'))
          this.feed.setUpdatesPerSecond(settings.updatesPerSecond);
      }),
    );
    void vscode.commands.executeCommand('setContext', 'selmix.running', false);
  }

  // ViewHost

  bootstrapSnapshot(matrices = true): RunSnapshot {
    return this.feed.bootstrapSnapshot(matrices);
  }

  onViewCommand(command: Extract<WebviewToHost, { type: 'view/command' }>['command']): void {
    switch (command) {
      case 'start':
        void vscode.commands.executeCommand('selmix.fineTune');
        break;
      case 'stop':
        void vscode.commands.executeCommand('selmix.stop');
        break;
      case 'openDashboard':
        void vscode.commands.executeCommand('selmix.openDashboard');
        break;
      case 'openReport':
        void this.openReport();
        break;
      case 'showLog':
        this.logger.show();
        break;
      case 'manageTrust':
        void vscode.commands.executeCommand('workbench.trust.manage');
        break;
    }
  }

  get trusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  onExport(m: Extract<WebviewToHost, { type: 'view/export' }>): void {
    void saveExport(m.format, m.name, m.data).then(
      (path) => {
        if (path) {
          this.logger.info(`exported ${m.format.toUpperCase()} to ${path}`);
          void vscode.window.showInformationMessage(`SelMix: saved ${path}`);
        }
      },
      (e: unknown) =>
        void this.logger.error(`SelMix could not save the ${m.format.toUpperCase()}: ${describeError(e).message}`),
    );
  }

  onRuns(m: Extract<WebviewToHost, { type: 'view/runs' }>, post: (msg: HostToWebview) => void): void {
    void listRuns().then(
      (runs) => post({ type: 'host/runs', runs, curves: runCurves(m.compare, runs) }),
      (e: unknown) => this.logger.info(`run history: ${describeError(e).message}`),
    );
  }

  log(line: string): void {
    this.logger.info(line);
  }

  // State

  /** True while a run (or a batch of runs, between its runs too) is in progress. */
  get running(): boolean {
    return this.session !== null || this.batch !== null || this.starting !== null;
  }

  /** A run whose worker waits for the dashboard's page (launch); stop() marks it to be stopped once it exists. */
  private starting: { stop: boolean } | null = null;

  /** The full-resolution snapshot of the current (or last) run. */
  get snapshot(): RunSnapshot {
    return this.feed.snapshot;
  }

  /** The run in progress in words, for "already in progress" messages. */
  describeRunning(): string {
    const step = this.feed.snapshot.lastStep;
    const stage = this.mode === 'pretrain' ? ', pre-training' : '';
    return `"${this.runName}"${stage}${step ? `, step ${step.step} of ${step.totalSteps}` : ''}`;
  }

  /** Marks the start of a batch of runs (stopped as a whole by Stop); returns its handle. */
  beginBatch(): { stopped: boolean } {
    this.batch = { stopped: false };
    return this.batch;
  }

  /** Marks the end of the batch. */
  endBatch(): void {
    this.batch = null;
    if (!this.session) void vscode.commands.executeCommand('setContext', 'selmix.running', false);
  }

  /** Sets the status bar item; a click runs command (default: open the dashboard). */
  setStatus(text: string, tooltip: string, command: vscode.Command | string = 'selmix.openDashboard'): void {
    if (this.disposed) return; // a command finishing while the window reloads
    this.status.text = text;
    this.status.tooltip = tooltip;
    this.status.command = command;
    this.status.show();
  }

  // Reports

  /** The last report written in this workspace (by any run of the extension). */
  get lastReportPath(): string | undefined {
    return this.context.workspaceState.get<string>(LAST_REPORT_KEY);
  }

  /** Remembers a run's report (a run that wrote none leaves the previous one). */
  async rememberReport(path: string | null): Promise<void> {
    if (path !== null) await this.context.workspaceState.update(LAST_REPORT_KEY, path);
  }

  /**
   * Loads the last run's report (report.json and its .npy matrices) into the views when nothing ran in this window yet:
   * the one this workspace remembers, else the newest report.json in the workspace (runs of the CLI, of another window,
   * or of a workspace opened restricted, where the views must not say "No run yet" while runs exist).
   */
  loadLastReportIfIdle(): void {
    if (this.running || this.reportLoaded || this.feed.snapshot.status !== 'idle') return;
    const path = this.lastReportPath;
    if (path && existsSync(path)) {
      this.loadIfIdle(path);
      return;
    }
    if (this.searchingReports) return;
    this.searchingReports = true;
    void listRuns()
      .then(
        (runs) => {
          const newest = runs.find((r) => !r.archived);
          if (newest) this.loadIfIdle(newest.reportPath);
        },
        (e: unknown) => this.logger.info(`run history: ${describeError(e).message}`),
      )
      .finally(() => {
        this.searchingReports = false;
      });
  }

  private searchingReports = false;

  private loadIfIdle(path: string): void {
    if (this.running || this.reportLoaded || this.feed.snapshot.status !== 'idle') return;
    const snap = readReportSnapshot(path);
    if (snap) {
      this.reportLoaded = true;
      this.feed.reset(snap);
    }
  }

  /** Opens a run's report as a page (report.html, written beside report.json; default: the current or last run's). */
  async openReport(path?: string): Promise<void> {
    const finished = this.feed.snapshot.finished;
    if (path === undefined && finished && finished.reportPath === null) {
      void vscode.window.showInformationMessage(
        'This run was stopped during pre-training; nothing was written, so it has no report.',
      );
      return;
    }
    const target = path ?? finished?.reportPath ?? this.lastReportPath;
    if (!target || !existsSync(target)) {
      void vscode.window.showInformationMessage('No SelMix report yet: it is written when a run finishes.');
      return;
    }
    try {
      const html = showReport(target);
      this.logger.info(`report page: ${html}`);
    } catch (e) {
      // A report the page cannot read (written by another version?): show the JSON itself.
      this.logger.info(`could not render ${target}: ${describeError(e).message}`);
      await vscode.window.showTextDocument(vscode.Uri.file(target), { preview: false });
    }
  }

  /** Shows the dashboard (with the last report when nothing ran in this window yet). */
  openDashboard(commandAt = Date.now()): void {
    this.loadLastReportIfIdle();
    DashboardPanel.show(this.context.extensionUri, this.hub, this, commandAt);
  }

  // Runs

  /** Stops the run in progress (and the batch it belongs to); false when nothing runs. */
  stop(): boolean {
    if (this.batch && !this.batch.stopped) {
      this.batch.stopped = true;
      this.logger.info('stop requested: the temperature sweep ends after the current run stops');
    }
    if (this.starting && !this.session) {
      // The worker is not started yet: it gets the stop as soon as it exists, and ends at its first check.
      this.starting.stop = true;
      this.stopRequestedAt ??= Date.now();
      this.logger.info('stop requested before the training worker started');
      this.status.text = '$(loading~spin) SelMix: stopping…';
      return true;
    }
    // A run that already ended (a cancel from its closing notification) must not be shown as stopping again.
    if (!this.session || this.session.isDone) return this.batch !== null;
    this.logger.info(
      this.mode === 'pretrain'
        ? 'stop requested during pre-training: the run ends at the next step and writes nothing'
        : 'stop requested; the worker stops at the next step boundary and keeps a checkpoint',
    );
    this.stopRequestedAt ??= Date.now();
    this.session.stop();
    if (this.feed.snapshot.status === 'running') this.feed.reset({ ...this.feed.snapshot, status: 'stopping' });
    this.status.text = '$(loading~spin) SelMix: stopping…';
    return true;
  }

  /**
   * Runs one request in a worker with progress, status bar and views live; resolves with its terminal event (null: not
   * started).
   */
  async launch(run: CheckedRun, opts: LaunchOptions = {}): Promise<TerminalEvent | null> {
    const workerPath = join(this.context.extensionPath, 'dist', 'worker.js');
    if (!existsSync(workerPath)) {
      await this.logger.error(
        'The SelMix training worker (dist/worker.js) is missing from this installation.',
        `not found: ${workerPath}`,
      );
      return null;
    }
    this.runName = run.name;
    this.mode = 'finetune';
    this.reportLoaded = false;
    this.lastLogPath = null;
    this.stopRequestedAt = null;
    this.stepGaps.reset();
    this.progressGaps.reset();
    this.refreshGaps.reset();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    this.logger.beginRunLog();
    this.logger.info(
      `starting "${run.name}" from ${run.request.configPath} (backend ${settings.backend}); output ${run.outputDir}`,
    );
    // Every view switches to the new run now, before the worker exists (its loading competes for the CPU with the
    // webview's first paint); the worker's own stages follow.
    this.feed.push({
      type: 'run/stage',
      payload: {
        stage: 'starting',
        label: 'starting the training worker',
        done: 0,
        total: 0,
        etaSeconds: null,
        name: run.name,
      },
    });
    this.logger.closeToasts(); // the earlier refusals and failures are stale now
    void vscode.commands.executeCommand('setContext', 'selmix.running', true);
    this.setStatus(
      `$(loading~spin) SelMix: starting "${run.name}"`,
      'SelMix run in progress; click to open the dashboard',
    );
    const commandAt = opts.commandAt ?? Date.now();
    this.openDashboard(commandAt);
    this.logger.info(`command -> dashboard shown ${Date.now() - commandAt} ms (config checked, views switched)`);
    // The notification lasts until the run ends (or fails to start).
    let endProgress: () => void = () => undefined;
    const progressEnds = new Promise<void>((r) => (endProgress = r));
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: opts.title ?? `SelMix: ${run.name}`, cancellable: true },
      (progress, token) => {
        this.progress = progress;
        this.progressDone = 0;
        progress.report({ message: 'starting…' });
        token.onCancellationRequested(() => this.stop());
        return progressEnds;
      },
    );
    // The worker starts once the dashboard's page has loaded (at most WORKER_START_WAIT_MS from here): loading ONNX
    // Runtime and decoding images took the cores VS Code needed to create the page, and the live stage line came
    // later (docs/PERFORMANCE.md, "The extension during a run"). A dashboard already on screen is not waited for.
    const starting = (this.starting = { stop: false });
    if (!this.feed.isReady('dashboard')) {
      const t0 = Date.now();
      const loaded = await this.feed.nextReady('dashboard', WORKER_START_WAIT_MS);
      this.logger.info(
        `the training worker starts ${Date.now() - t0} ms later, ${loaded ? 'once the dashboard had loaded' : 'without waiting longer for the dashboard'}`,
      );
    }
    this.starting = null;
    if (this.disposed) {
      endProgress();
      loopDelay.disable();
      this.logger.endRunLog();
      return null;
    }
    let session: RunSession;
    try {
      session = new RunSession({
        workerPath,
        request: {
          type: 'worker/start',
          request: run.request,
          backend: settings.backend,
          wasmDir: join(this.context.extensionPath, 'dist'),
        },
        onEvent: (e) => this.onEvent(e),
        log: (l) => this.logger.info(l),
      });
    } catch (e) {
      const d = describeError(e);
      this.feed.push({
        type: 'run/failed',
        payload: { message: `could not start the training worker: ${d.message}`, kind: 'internal' },
      });
      this.feed.flush();
      endProgress();
      loopDelay.disable();
      void vscode.commands.executeCommand('setContext', 'selmix.running', false);
      this.logger.endRunLog();
      await this.logger.error(`SelMix could not start the training worker: ${d.message}`, d.stack);
      return null;
    }
    this.session = session;
    void session.done.then(endProgress, endProgress);
    if (starting.stop) this.stop();
    const end = await session.done;
    loopDelay.disable();
    // Where the views' update rate comes from: the worker's step events as received here, then the posts to each view,
    // and how late this thread ran what was due (its event loop's delay, sampled every 10 ms).
    const lag = (q: number): string => (loopDelay.percentile(q) / 1e6).toFixed(0);
    this.logger.info(
      `updates: fine-tuning step events reached the host ${this.stepGaps.describe()}; progress events (steps and refresh parts) ${this.progressGaps.describe()}; refreshes ${this.refreshGaps.describe()}; posts with a new step: ${this.feed.describeStepPosts()}; the host's event loop ran late by p50 ${lag(50)} ms, p99 ${lag(99)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
    );
    if (this.stopRequestedAt !== null)
      this.logger.info(
        `the run ended (${end.type}) ${Date.now() - this.stopRequestedAt} ms after the stop was requested`,
      );
    this.lastLogPath = this.logger.endRunLog();
    this.session = null;
    this.progress = null;
    if (!this.batch) void vscode.commands.executeCommand('setContext', 'selmix.running', false);
    return end;
  }

  /** When the toast and status bar last changed (Date.now()), and the stage they showed: at most 4 updates a second. */
  private stageShownAt = 0;
  private pendingIncrement = 0;
  private stageShown = '';

  /**
   * The toast and the status bar say what the views' stage line says; a new stage at once, progress at most 4 times a
   * second (every update crosses to the workbench; at K = 10 a run sends a thousand events a second).
   */
  private showStage(extra = '', increment?: number): void {
    const line = stageLine(this.feed.snapshot);
    if (!line) return;
    const now = Date.now();
    const key = `${line.stage}:${this.mode}`;
    if (key === this.stageShown && now - this.stageShownAt < 250) {
      if (increment) this.pendingIncrement += increment;
      return;
    }
    this.stageShown = key;
    this.stageShownAt = now;
    if (increment !== undefined) increment += this.pendingIncrement;
    this.pendingIncrement = 0;
    this.progress?.report({ message: line.text + extra, ...(increment !== undefined ? { increment } : {}) });
    if (this.session && this.feed.snapshot.status !== 'stopping') {
      this.setStatus(
        `$(loading~spin) SelMix: ${line.text}${extra}`,
        `SelMix "${this.runName}": ${line.text}; click to open the dashboard`,
      );
    }
  }

  /** " · objective value" of the last refresh, for the notification and the status bar ('' before the first). */
  private objectiveNow(): string {
    const obj = this.feed.snapshot.lastRefresh;
    return obj ? ` · ${obj.objective} ${fmtValue(obj.objectiveValue)}` : '';
  }

  private onEvent(e: RunEvent): void {
    this.feed.push(e);
    switch (e.type) {
      case 'run/stage':
        this.showStage();
        break;
      case 'run/started': {
        const p = e.payload;
        this.mode = p.mode;
        // The fine-tuning stage's log goes beside its report (a pre-training stage writes nothing until it completes).
        if (p.mode === 'finetune') this.logger.writeTo(join(p.outputDir, 'run.log'));
        this.logger.info(
          `run ${p.runId} started: K=${p.K}, ${p.totalSteps} steps, backend ${p.backend}, mode ${p.mode}, output ${p.outputDir}`,
        );
        for (const n of p.notes) this.logger.info(`note: ${n}`);
        this.showStage();
        break;
      }
      case 'run/step': {
        const p = e.payload;
        if (this.mode === 'pretrain') {
          // The notification's bar only moves forward, so it tracks the fine-tuning stage; pre-training shows its
          // count.
          this.showStage();
          break;
        }
        this.stepGaps.record(Date.now());
        this.progressGaps.record(Date.now());
        const pct = p.totalSteps > 0 ? (100 * p.step) / p.totalSteps : 0;
        this.showStage(this.objectiveNow(), Math.max(0, pct - this.progressDone));
        this.progressDone = Math.max(this.progressDone, pct);
        break;
      }
      case 'run/refreshing':
        // A refresh holds the steps: the notification and the status bar say what it does meanwhile.
        this.progressGaps.record(Date.now());
        if (this.mode !== 'pretrain') this.showStage(this.objectiveNow());
        break;
      case 'run/log':
        this.logger.info(`${e.payload.level === 'warn' ? 'WARN ' : ''}${e.payload.message}`);
        break;
      case 'run/checkpoint':
        // A checkpoint comes with every refresh (tens a second on small data): the log says where the last one is,
        // once.
        this.lastCheckpoint = { step: e.payload.step, path: e.payload.path };
        break;
      case 'run/refresh':
        this.refreshGaps.record(Date.now());
        break;
      case 'run/finished':
      case 'run/failed':
        if (this.lastCheckpoint)
          this.logger.info(`the last checkpoint (step ${this.lastCheckpoint.step}) is in ${this.lastCheckpoint.path}`);
        this.lastCheckpoint = null;
        this.feed.flush();
        break;
    }
  }

  dispose(): void {
    this.disposed = true;
    this.session?.kill('VS Code is shutting down the extension');
    this.feed.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
