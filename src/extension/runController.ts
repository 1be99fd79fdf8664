// The run controller: one run at a time. Picks and checks a config, asks before writing outside the
// workspace, starts the worker, shows progress (notification with Cancel, status bar item), feeds the views
// through a throttled ViewFeed, and reports the outcome with "Open Report" / "Reveal Output" or "Show Log".
// A temperature sweep is a sequence of such runs, one per value, stopped as a whole by Stop.
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { RunEvent, RunOverrides, RunSnapshot, WebviewToHost } from '../protocol/messages';
import type { SelmixConfig } from '../core/config';
import { ConfigDiagnostics, isConfigUri, workspaceRoots } from './diagnostics';
import { describeError } from './log';
import type { Log } from './log';
import { readReportSnapshot } from './report';
import { RunSession } from './runSession';
import type { TerminalEvent } from './runSession';
import { settings } from './settings';
import { CONFIG_TEMPLATES, DEMO_CONFIG, templateText } from './templates';
import { ViewFeed } from './viewFeed';
import { DashboardPanel, ViewHub } from './views';
import type { ViewHost } from './views';
import { isInside } from './configCheck';
import { fmt, gainMonitorOf, summaryLine } from './summary';
import { DEFAULT_SWEEP_VALUES, parseSweepInput, runSweepLoop } from './sweepLoop';
import type { SweepLoopResult } from './sweepLoop';
import { sweepObjectiveName, sweepOutputDir, sweepRow, writeSweepOutputs } from '../worker/sweep';

const LAST_REPORT_KEY = 'selmix.lastReport';

/** A config that passed the checks and the user's consent, ready to run. */
interface PreparedRun {
  raw: Record<string, unknown>;
  config: SelmixConfig;
  file: string;
  name: string;
  outputDir: string;
}

/** How one run is shown: its name, the progress notification's title, and the worker's overrides. */
interface LaunchOptions {
  title?: string;
  overrides?: RunOverrides;
}

/** Owns the run in progress, the views' feed and the status bar. */
export class RunController implements vscode.Disposable, ViewHost {
  readonly hub: ViewHub;
  private readonly feed: ViewFeed;
  private session: RunSession | null = null;
  private runName = '';
  private readonly status = vscode.window.createStatusBarItem('selmix.status', vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [];
  private progress: { report(v: { message?: string; increment?: number }): void } | null = null;
  private progressDone = 0;
  private reportLoaded = false;
  private lastCheckpointLog = 0;
  /** Set while a temperature sweep runs (also between its runs); stopped: Stop was asked for. */
  private sweep: { stopped: boolean } | null = null;

  constructor(private readonly context: vscode.ExtensionContext, private readonly diagnostics: ConfigDiagnostics, private readonly logger: Log) {
    this.feed = new ViewFeed({ updatesPerSecond: settings.updatesPerSecond });
    this.hub = new ViewHub(this.feed, this);
    this.status.name = 'SelMix';
    this.status.command = 'selmix.openDashboard';
    this.disposables.push(this.status, vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('selmix.dashboard.updatesPerSecond')) this.feed.setUpdatesPerSecond(settings.updatesPerSecond);
    }));
    void vscode.commands.executeCommand('setContext', 'selmix.running', false);
  }

  // ViewHost

  bootstrapSnapshot(): RunSnapshot {
    return this.feed.bootstrapSnapshot();
  }

  onViewCommand(command: Extract<WebviewToHost, { type: 'view/command' }>['command']): void {
    switch (command) {
      case 'start': void vscode.commands.executeCommand('selmix.fineTune'); break;
      case 'stop': void vscode.commands.executeCommand('selmix.stop'); break;
      case 'openDashboard': void vscode.commands.executeCommand('selmix.openDashboard'); break;
      case 'openReport': void this.openReport(); break;
    }
  }

  log(line: string): void {
    this.logger.info(line);
  }

  /** True while a run (or a sweep, between its runs too) is in progress. */
  get running(): boolean {
    return this.session !== null || this.sweep !== null;
  }

  // Commands

  /** SelMix: Open Dashboard. With no run in this session, shows the last finished run from its report.json. */
  async openDashboard(): Promise<void> {
    await this.loadLastReportIfIdle();
    DashboardPanel.show(this.context.extensionUri, this.hub, this);
  }

  /** Loads the last run's report into the views when nothing ran in this window yet. */
  async loadLastReportIfIdle(): Promise<void> {
    if (this.running || this.reportLoaded || this.feed.snapshot.status !== 'idle') return;
    const path = this.context.workspaceState.get<string>(LAST_REPORT_KEY);
    if (!path) return;
    const snap = await readReportSnapshot(path);
    if (snap && this.feed.snapshot.status === 'idle') {
      this.reportLoaded = true;
      this.feed.reset(snap);
    }
  }

  /** SelMix: Stop. */
  stop(): void {
    if (this.sweep && !this.sweep.stopped) {
      this.sweep.stopped = true;
      this.logger.info('stop requested: the temperature sweep ends after the current run stops');
    }
    if (!this.session) {
      if (this.sweep) return;
      void vscode.window.showInformationMessage('No SelMix run is in progress.');
      return;
    }
    this.logger.info('stop requested; the worker stops at the next step boundary and keeps a checkpoint');
    this.session.stop();
    this.feed.reset({ ...this.feed.snapshot, status: 'stopping' });
    this.status.text = '$(loading~spin) SelMix: stopping…';
  }

  /** SelMix: Fine-tune. uri: a config picked in the explorer or the editor title; otherwise the active or a chosen one. */
  async fineTune(uri?: vscode.Uri): Promise<void> {
    if (!this.canStart()) return;
    const run = await this.prepare(uri, 'SelMix: Fine-tune');
    if (run) await this.start(run.raw, run.file, run.name, run.outputDir);
  }

  /** SelMix: Temperature Sweep. The same fine-tuning once per inverse temperature s, then sweep.md/json/svg. */
  async temperatureSweep(uri?: vscode.Uri): Promise<void> {
    if (!this.canStart()) return;
    const run = await this.prepare(uri, 'SelMix: Temperature Sweep');
    if (!run) return;
    const text = await vscode.window.showInputBox({
      title: `SelMix: Temperature Sweep of "${run.name}"`, prompt: 'Inverse temperatures s of the sampling softmax, separated by commas: one fine-tuning run each',
      value: DEFAULT_SWEEP_VALUES, ignoreFocusOut: true, validateInput: (t) => { const r = parseSweepInput(t); return 'error' in r ? r.error : undefined; },
    });
    if (text === undefined) return;
    const parsed = parseSweepInput(text);
    if ('error' in parsed) {
      void vscode.window.showErrorMessage(`SelMix: ${parsed.error}`);
      return;
    }
    if (!this.canStart()) return;
    const values = parsed.values;
    const sweep = { stopped: false };
    this.sweep = sweep;
    this.logger.info(`temperature sweep of "${run.name}" over s = ${values.join(', ')}; outputs under ${run.outputDir}`);
    let result: SweepLoopResult;
    try {
      result = await runSweepLoop(values, async (s, i) => {
        const label = `${run.name} · s = ${s}`;
        const end = await this.launch(run.raw, run.file, label, sweepOutputDir(run.outputDir, s),
          { title: `SelMix sweep ${i + 1}/${values.length}: ${label}`, overrides: { temperature: s, output: sweepOutputDir(run.outputDir, s) } });
        if (end?.type === 'run/finished') {
          const f = end.payload;
          await this.context.workspaceState.update(LAST_REPORT_KEY, f.reportPath);
          this.logger.info(summaryLine(f, label, gainMonitorOf(this.feed.snapshot)) + ` Report: ${f.reportPath}`);
        } else if (end?.type === 'run/failed') {
          const p = end.payload;
          this.logger.info(`run "${label}" failed (${p.kind}): ${p.message}${[p.stack, ...(p.details ?? [])].filter(Boolean).map((l) => `\n${l}`).join('')}`);
        }
        return end;
      }, () => sweep.stopped);
    } finally {
      this.sweep = null;
      void vscode.commands.executeCommand('setContext', 'selmix.running', false);
    }
    const rows = result.completed.map((c) => sweepRow(run.config, c.s, c.summary, sweepOutputDir(run.outputDir, c.s)));
    const done = `${rows.length} of ${values.length} value${values.length === 1 ? '' : 's'}`;
    let mdPath: string | null = null;
    if (rows.length > 0) {
      try {
        mdPath = writeSweepOutputs(run.outputDir, sweepObjectiveName(run.config), rows).mdPath;
        this.logger.info(`sweep: wrote ${mdPath}, sweep.json and sweep.svg (${done})`);
      } catch (e) {
        const d = describeError(e);
        await this.logger.error(`SelMix could not write the sweep's table: ${d.message}`, d.stack);
      }
    }
    if (result.outcome === 'failed') {
      const f = result.failure!;
      this.status.text = '$(error) SelMix: sweep failed';
      this.status.tooltip = f.message;
      await this.logger.error(`SelMix temperature sweep of "${run.name}" failed at s = ${f.s} (${done} completed): ${f.message}`);
    } else {
      const what = result.outcome === 'stopped' ? `stopped after ${done}` : `finished ${done}`;
      this.status.text = `$(${result.outcome === 'stopped' ? 'debug-stop' : 'check'}) SelMix: sweep ${what}`;
      this.status.tooltip = `Temperature sweep of "${run.name}": ${what}`;
      void vscode.window.showInformationMessage(`SelMix temperature sweep of "${run.name}" ${what}.${mdPath ? ' Table: sweep.md.' : ''}`);
    }
    if (mdPath) await this.openMarkdown(mdPath);
  }

  /** Shows a markdown file in the preview (the editor when the preview is unavailable). */
  private async openMarkdown(path: string): Promise<void> {
    const uri = vscode.Uri.file(path);
    try {
      await vscode.commands.executeCommand('markdown.showPreview', uri);
    } catch {
      await vscode.window.showTextDocument(uri, { preview: false });
    }
  }

  /**
   * Picks a config (the given one, the active editor's, or one chosen from the workspace), checks it (problems
   * go to the editor, the Problems panel and a message; nothing runs), and asks before writing outside the workspace.
   */
  private async prepare(uri: vscode.Uri | undefined, title: string): Promise<PreparedRun | null> {
    const target = uri instanceof vscode.Uri && isConfigUri(uri) ? uri : await this.pickConfig(title);
    if (!target) return null;
    const doc = await vscode.workspace.openTextDocument(target);
    const file = target.fsPath;
    const check = this.diagnostics.check(file, doc.getText());
    const errors = check.issues.filter((i) => i.severity === 'error');
    if (errors.length > 0 || !check.config || !check.raw) {
      const first = errors[0];
      const editor = await vscode.window.showTextDocument(doc, { preview: false });
      if (first) {
        const pos = new vscode.Position(first.line - 1, Math.max(0, first.column - 1));
        editor.selection = new vscode.Selection(pos, pos);
        editor.revealRange(new vscode.Range(pos, pos));
      }
      const list = errors.map((i) => `  line ${i.line}:${i.column} ${i.path || '(root)'}: ${i.message}`).join('\n');
      const choice = await this.logger.error(`${ConfigDiagnostics.display(file)} has ${errors.length} problem${errors.length === 1 ? '' : 's'}; nothing was started. Fix ${errors.length === 1 ? 'it' : 'them'} and run again.`,
        `${file}:\n${list}`, 'Show Problems');
      if (choice === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
      return null;
    }
    if (check.outputOutsideWorkspace && check.outputDir) {
      const go = await vscode.window.showWarningMessage(`The output folder ${check.outputDir} is outside the workspace.`,
        { modal: true, detail: 'SelMix writes model files and a report there. Write outside the workspace anyway?' }, 'Write Outside Workspace');
      if (go !== 'Write Outside Workspace') {
        this.logger.info(`run not started: output ${check.outputDir} is outside the workspace and the user declined`);
        return null;
      }
    }
    const raw = { ...check.raw };
    if (typeof raw.output !== 'string' && check.outputDir) raw.output = relative(dirname(file), check.outputDir) || '.';
    return { raw, config: check.config, file, name: check.config.name ?? basename(file).replace(/\.selmix\.json$/, ''), outputDir: check.outputDir ?? dirname(file) };
  }

  /** SelMix: Run Demo. */
  async runDemo(): Promise<void> {
    if (!this.canStart()) return;
    const root = workspaceRoots()[0] ?? this.context.globalStorageUri.fsPath;
    await mkdir(root, { recursive: true });
    await this.start({ ...DEMO_CONFIG }, join(root, 'selmix-demo.selmix.json'), DEMO_CONFIG.name ?? 'demo', join(root, DEMO_CONFIG.output ?? 'selmix-demo'));
  }

  /** SelMix: New Config File. */
  async newConfig(): Promise<vscode.Uri | undefined> {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (!root) {
      void vscode.window.showWarningMessage('Open a folder first: a SelMix config file lives in the workspace.');
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(CONFIG_TEMPLATES.map((t) => ({ label: t.label, detail: t.detail, t })), { title: 'New SelMix config file', placeHolder: 'Start from a template' });
    if (!pick) return undefined;
    let name = pick.t.fileName;
    for (let n = 2; existsSync(join(root.fsPath, name)); n++) name = pick.t.fileName.replace(/\.selmix\.json$/, `-${n}.selmix.json`);
    const uri = vscode.Uri.joinPath(root, name);
    await writeFile(uri.fsPath, templateText(pick.t), { flag: 'wx' });
    await vscode.window.showTextDocument(uri, { preview: false });
    return uri;
  }

  // Internals

  private canStart(): boolean {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage('SelMix does not run in a restricted workspace: training executes on your data and writes model files. Trust this workspace to run it.', 'Manage Workspace Trust')
        .then((c) => c && vscode.commands.executeCommand('workbench.trust.manage'));
      return false;
    }
    if (this.session || this.sweep) {
      const step = this.feed.snapshot.lastStep;
      void vscode.window.showWarningMessage(`A SelMix run is already in progress ("${this.runName}"${step ? `, step ${step.step} of ${step.totalSteps}` : ''}). One run at a time: stop it first.`, 'Open Dashboard', 'Stop')
        .then((c) => c === 'Stop' ? this.stop() : c === 'Open Dashboard' ? this.openDashboard() : undefined);
      return false;
    }
    return true;
  }

  private async pickConfig(title: string): Promise<vscode.Uri | undefined> {
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active && active.scheme === 'file' && isConfigUri(active)) return active;
    const found = (await vscode.workspace.findFiles('**/*.selmix.json', '**/node_modules/**', 200)).sort((a, b) => a.fsPath.localeCompare(b.fsPath));
    if (found.length === 1) return found[0];
    if (found.length === 0) {
      const c = await vscode.window.showInformationMessage('No *.selmix.json config in this workspace.', 'Create Config File', 'Run Demo');
      if (c === 'Create Config File') await this.newConfig();
      if (c === 'Run Demo') await this.runDemo();
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(found.map((u) => ({ label: basename(u.fsPath), description: vscode.workspace.asRelativePath(u), u })),
      { title, placeHolder: 'Which config?' });
    return pick?.u;
  }

  private async start(config: Record<string, unknown>, configPath: string, name: string, outputDir: string): Promise<void> {
    const end = await this.launch(config, configPath, name, outputDir);
    if (end) await this.finish(end, name);
  }

  /** Runs one config in a worker with progress, status bar and views live; resolves with its terminal event (null: not started). */
  private async launch(config: Record<string, unknown>, configPath: string, name: string, outputDir: string, opts: LaunchOptions = {}): Promise<TerminalEvent | null> {
    const workerPath = join(this.context.extensionPath, 'dist', 'worker.js');
    if (!existsSync(workerPath)) {
      await this.logger.error('The SelMix training worker (dist/worker.js) is missing from this installation.', `not found: ${workerPath}`);
      return null;
    }
    this.runName = name;
    this.reportLoaded = false;
    this.logger.info(`starting "${name}" from ${configPath} (backend ${settings.backend}); output ${outputDir}`);
    let session: RunSession;
    try {
      session = new RunSession({
        workerPath,
        request: { type: 'worker/start', config, configPath, backend: settings.backend, wasmDir: join(this.context.extensionPath, 'dist'), ...(opts.overrides ? { overrides: opts.overrides } : {}) },
        onEvent: (e) => this.onEvent(e),
        log: (l) => this.logger.info(l),
      });
    } catch (e) {
      const d = describeError(e);
      await this.logger.error(`SelMix could not start the training worker: ${d.message}`, d.stack);
      return null;
    }
    this.session = session;
    void vscode.commands.executeCommand('setContext', 'selmix.running', true);
    this.status.text = `$(loading~spin) SelMix: starting "${name}"`;
    this.status.tooltip = 'SelMix run in progress; click to open the dashboard';
    this.status.show();
    void this.openDashboard();
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: opts.title ?? `SelMix: ${name}`, cancellable: true }, (progress, token) => {
      this.progress = progress;
      this.progressDone = 0;
      progress.report({ message: 'starting…' });
      token.onCancellationRequested(() => this.stop());
      return session.done;
    });
    const end = await session.done;
    this.session = null;
    this.progress = null;
    if (!this.sweep) void vscode.commands.executeCommand('setContext', 'selmix.running', false);
    return end;
  }

  private onEvent(e: RunEvent): void {
    this.feed.push(e);
    switch (e.type) {
      case 'run/started':
        this.logger.info(`run ${e.payload.runId} started: K=${e.payload.K}, ${e.payload.totalSteps} steps, backend ${e.payload.backend}, mode ${e.payload.mode}, output ${e.payload.outputDir}`);
        for (const n of e.payload.notes) this.logger.info(`note: ${n}`);
        this.progress?.report({ message: `training on ${e.payload.backend}…` });
        break;
      case 'run/step': {
        const p = e.payload;
        const pct = p.totalSteps > 0 ? (100 * p.step) / p.totalSteps : 0;
        const obj = this.feed.snapshot.lastRefresh;
        const objText = obj ? ` · ${obj.objective} ${fmt(obj.objectiveValue)}` : '';
        this.progress?.report({ message: `step ${p.step}/${p.totalSteps}${objText}`, increment: Math.max(0, pct - this.progressDone) });
        this.progressDone = Math.max(this.progressDone, pct);
        if (this.session && this.feed.snapshot.status !== 'stopping') this.status.text = `$(loading~spin) SelMix ${p.step}/${p.totalSteps}${objText}`;
        break;
      }
      case 'run/log':
        this.logger.info(`${e.payload.level === 'warn' ? 'WARN ' : ''}${e.payload.message}`);
        break;
      case 'run/checkpoint': {
        // A checkpoint can come with every refresh (tens a second on small data): log one every few seconds.
        const now = Date.now();
        if (now - this.lastCheckpointLog >= 5000) {
          this.lastCheckpointLog = now;
          this.logger.info(`checkpoint at step ${e.payload.step}${e.payload.best ? ' (best so far)' : ''}: ${e.payload.path}`);
        }
        break;
      }
      case 'run/refresh':
        break;
      case 'run/finished':
      case 'run/failed':
        this.feed.flush();
        break;
    }
  }

  private async finish(end: TerminalEvent, name: string): Promise<void> {
    if (end.type === 'run/failed') {
      const p = end.payload;
      this.status.text = '$(error) SelMix: failed';
      this.status.tooltip = p.message;
      const detail = [p.stack, ...(p.details ?? [])].filter(Boolean).join('\n');
      await this.logger.error(`SelMix run "${name}" failed (${p.kind}): ${p.message}`, detail || undefined);
      return;
    }
    const f = end.payload;
    await this.context.workspaceState.update(LAST_REPORT_KEY, f.reportPath);
    const line = summaryLine(f, name, gainMonitorOf(this.feed.snapshot));
    this.logger.info(line + ` Report: ${f.reportPath}`);
    this.status.text = `$(${f.stoppedBy === 'cancel' ? 'debug-stop' : 'check'}) SelMix: ${f.objective} ${fmt(f.after.objectiveValue)}`;
    this.status.tooltip = line;
    const choice = await vscode.window.showInformationMessage(line, 'Open Report', 'Reveal Output');
    if (choice === 'Open Report') await this.openReport(f.reportPath);
    if (choice === 'Reveal Output') await this.revealOutput(f.outputDir);
  }

  /** Opens a run's report.json (default: the last run's). */
  async openReport(path = this.feed.snapshot.finished?.reportPath ?? this.context.workspaceState.get<string>(LAST_REPORT_KEY)): Promise<void> {
    if (!path || !existsSync(path)) {
      void vscode.window.showInformationMessage('No SelMix report yet: it is written when a run finishes.');
      return;
    }
    await vscode.window.showTextDocument(vscode.Uri.file(path), { preview: false });
  }

  private async revealOutput(dir: string): Promise<void> {
    const uri = vscode.Uri.file(dir);
    if (workspaceRoots().some((r) => isInside(r, dir))) await vscode.commands.executeCommand('revealInExplorer', uri);
    else await vscode.commands.executeCommand('revealFileInOS', uri);
  }

  dispose(): void {
    this.session?.kill('VS Code is shutting down the extension');
    this.feed.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
