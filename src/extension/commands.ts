// The SelMix commands: their registration (every one in context.subscriptions) and their handlers. A run
// command picks a config, checks it with prepareRun (problems go to the editor, the Problems panel and a
// message; nothing runs), asks before writing outside the workspace, hands the request to the launcher and
// reports the outcome with "Open Report" / "Reveal Output" or "Show Log".
import * as vscode from 'vscode';
import { existsSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { SelmixConfigInput } from '../core/config';
import { writeFileAtomic } from '../data/atomicWrite';
import type { RunRequest } from '../protocol/messages';
import { readConfigText } from '../request/configFile';
import { DEMO_OUTPUT, demoConfigText } from '../request/demo';
import { isInside, prepareRun } from '../request/prepare';
import type { PreparedRun } from '../request/prepare';
import { ConfigIndex } from './configIndex';
import { ConfigDiagnostics, configRequest, isConfigUri, workspaceRoots } from './diagnostics';
import type { CheckedRun, Launcher } from './launcher';
import type { Log } from './log';
import { describeError, SHOW_LOG } from './log';
import { writeReportHtml } from '../report/reportPage';
import { fmt, gainMonitorOf, summaryLine } from './summary';
import { temperatureSweep } from './sweepCommand';
import { CONFIG_TEMPLATES, npyConfig, NPY_ROLES, rankForRole, roleScore, templateText } from './templates';
import type { NpyRole } from './templates';
import { findImageFolders, rankFolders, type ImageFolderFound } from './folderScan';
import { imageConfig, modelKind, PREPROCESS_PRESETS, type PreprocessPreset } from './wizard';

/** The demo's config file, inside its output folder (as `selmix demo` writes it). */
const DEMO_FILE = 'demo.selmix.json';

/** Runs a command body, turning any exception into an error message with "Show Log". */
function guarded(log: Log, name: string, fn: (...args: unknown[]) => unknown): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      const d = describeError(e);
      await log.error(`SelMix: ${name} failed: ${d.message}`, d.stack);
    }
  };
}

/** Registers every SelMix command into context.subscriptions. */
export function registerCommands(
  context: vscode.ExtensionContext,
  launcher: Launcher,
  diagnostics: ConfigDiagnostics,
  log: Log,
): void {
  const configs = new ConfigIndex();
  context.subscriptions.push(configs);
  const c = new Commands(context, launcher, diagnostics, log, configs);
  const uriOf = (u: unknown): vscode.Uri | undefined => (u instanceof vscode.Uri ? u : undefined);
  context.subscriptions.push(
    vscode.commands.registerCommand(
      'selmix.fineTune',
      guarded(log, 'Fine-tune', (uri) => c.fineTune(uriOf(uri))),
    ),
    vscode.commands.registerCommand(
      'selmix.sweep',
      guarded(log, 'Temperature Sweep', (uri) => c.sweep(uriOf(uri))),
    ),
    vscode.commands.registerCommand(
      'selmix.stop',
      guarded(log, 'Stop', () => c.stop()),
    ),
    vscode.commands.registerCommand(
      'selmix.openDashboard',
      guarded(log, 'Open Dashboard', () => launcher.openDashboard()),
    ),
    vscode.commands.registerCommand(
      'selmix.newConfig',
      guarded(log, 'New Config File', () => c.newConfig()),
    ),
    vscode.commands.registerCommand(
      'selmix.runDemo',
      guarded(log, 'Run Demo', () => c.runDemo()),
    ),
    vscode.commands.registerCommand(SHOW_LOG, () => log.show()),
  );
}

/** The command handlers. */
class Commands {
  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly launcher: Launcher,
    private readonly diagnostics: ConfigDiagnostics,
    private readonly logger: Log,
    private readonly configs: ConfigIndex,
  ) {}

  /** SelMix: Stop. */
  stop(): void {
    if (!this.launcher.stop()) void vscode.window.showInformationMessage('No SelMix run is in progress.');
  }

  /**
   * SelMix: Fine-tune. uri: a config picked in the explorer or the editor title; otherwise the active or a chosen one.
   */
  async fineTune(uri?: vscode.Uri): Promise<void> {
    const commandAt = Date.now();
    if (!this.canStart()) return;
    const run = await this.prepare(uri, 'SelMix: Fine-tune');
    if (run) await this.start(run, commandAt);
  }

  /** SelMix: Temperature Sweep. */
  async sweep(uri?: vscode.Uri): Promise<void> {
    if (!this.canStart()) return;
    const run = await this.prepare(uri, 'SelMix: Temperature Sweep');
    if (run)
      await temperatureSweep({ launcher: this.launcher, logger: this.logger, canStart: () => this.canStart() }, run);
  }

  /**
   * SelMix: Run Demo. Writes the one demo config (src/request/demo.ts) into its output folder, as `selmix demo` does,
   * and runs that file, so the CLI's demo and this one are the same run (and share the pre-trained model's cache).
   */
  async runDemo(): Promise<void> {
    if (!this.canStart()) return;
    const root = workspaceRoots()[0] ?? this.context.globalStorageUri.fsPath;
    const outDir = join(root, DEMO_OUTPUT);
    const request: RunRequest = { configText: demoConfigText(), configPath: join(outDir, DEMO_FILE) };
    // Check before anything is written (the model is pre-trained when missing, so no input must exist yet).
    const prepared = prepareRun(request, { workspaceRoots: workspaceRoots(), exists: () => true });
    const errors = prepared.issues.filter((i) => i.severity === 'error');
    if (errors.length > 0 || !prepared.config || !prepared.outputDir) {
      await this.logger.error(
        'SelMix could not prepare the demo.',
        errors.map((i) => `${i.path}: ${i.message}`).join('\n'),
      );
      return;
    }
    mkdirSync(outDir, { recursive: true });
    writeFileAtomic(request.configPath, request.configText);
    await this.start({
      request,
      config: prepared.config,
      name: prepared.config.name ?? 'demo',
      outputDir: prepared.outputDir,
    });
  }

  /**
   * SelMix: New Config File. Offers the workspace's own files (the .npy files for each role, best guess first;
   * image folders and model files), writes a template with a comment on each field and opens it; a config made
   * from picked files validates as it is.
   */
  async newConfig(): Promise<vscode.Uri | undefined> {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (!root) {
      void vscode.window.showWarningMessage('Open a folder first: a SelMix config file lives in the workspace.');
      return undefined;
    }
    const rel = (u: vscode.Uri): string => relative(root.fsPath, u.fsPath).split(sep).join('/');
    const exclude = '{**/node_modules/**,**/selmix-out/**,**/.selmix-cache/**,**/.git/**}';
    const npy = (await vscode.workspace.findFiles('**/*.npy', exclude, 2000)).map(rel).sort();
    // Image data sets by their structure (class-folder trees), not by a capped file search: a real data set is found
    // whole.
    const images = findImageFolders(root.fsPath);
    const models = (await vscode.workspace.findFiles('**/{model.json,*.onnx}', exclude, 200)).map(rel).sort();
    const found = (n: number, what: string): string =>
      n > 0
        ? `${n} ${what} found in this workspace: pick them, no typing`
        : `no ${what} in this workspace yet: the paths are placeholders`;
    const items = CONFIG_TEMPLATES.map((t) => ({
      label: t.label,
      t,
      detail: t.detail,
      description:
        t.config.data.kind === 'npy'
          ? found(npy.length, '.npy files')
          : t.config.data.kind === 'images'
            ? found(images.length, 'image folders')
            : '',
    }));
    if (images.length > 0 && npy.length === 0) items.unshift(items.splice(1, 1)[0]!);
    const pick = await vscode.window.showQuickPick(items, {
      title: 'New SelMix config file',
      placeHolder: 'Start from a template',
    });
    if (!pick) return undefined;
    let config: SelmixConfigInput | undefined = pick.t.config;
    const name = basename(root.fsPath) || 'My SelMix run';
    if (pick.t.config.data.kind === 'npy' && npy.length > 0) config = await this.pickNpyFiles(npy, name);
    else if (pick.t.config.data.kind === 'images' && images.length > 0)
      config = await this.pickImageFiles(images, models, pick.t.config);
    if (!config) return undefined;
    let fileName = pick.t.fileName;
    for (let n = 2; existsSync(join(root.fsPath, fileName)); n++)
      fileName = pick.t.fileName.replace(/\.selmix\.json$/, `-${n}.selmix.json`);
    const uri = vscode.Uri.joinPath(root, fileName);
    await writeFile(uri.fsPath, templateText({ ...pick.t, config }), { flag: 'wx' });
    await vscode.window.showTextDocument(uri, { preview: false });
    return uri;
  }

  /** Asks for the file of each .npy role (best guess first); undefined when the user cancels. */
  private async pickNpyFiles(npy: string[], name: string): Promise<SelmixConfigInput | undefined> {
    const files: Partial<Record<NpyRole, string>> = {};
    const used = new Set<string>();
    const roles = NPY_ROLES;
    for (let i = 0; i < roles.length; i++) {
      const role = roles[i]!;
      if (role.key === 'valY' && !files.valX) continue;
      const ranked = rankForRole(
        role.key,
        npy.filter((p) => !used.has(p)),
      );
      const best = ranked[0] !== undefined && roleScore(role.key, ranked[0]) > 0 ? ranked[0] : undefined;
      const none = {
        label: role.key === 'valX' ? '(none: carve a balanced validation set from train)' : '(none)',
        path: undefined as string | undefined,
        description: '',
      };
      const list = ranked.map((p) => ({
        label: p,
        path: p as string | undefined,
        description: p === best ? 'suggested' : '',
      }));
      const ordered = role.optional ? (best ? [...list.slice(0, 1), none, ...list.slice(1)] : [none, ...list]) : list;
      if (ordered.length === 0) break;
      const chosen = await vscode.window.showQuickPick(ordered, {
        title: `New SelMix config (${i + 1}/${roles.length}): ${role.title}`,
        placeHolder: `The .npy file of the ${role.title.toLowerCase()}`,
        ignoreFocusOut: true,
      });
      if (!chosen) return undefined;
      if (chosen.path) {
        files[role.key] = chosen.path;
        used.add(chosen.path);
      }
    }
    if (!files.trainX || !files.trainY || !files.weights) {
      void vscode.window.showWarningMessage(
        'SelMix needs training features, training labels and a head weight: the workspace has too few .npy files for all three.',
      );
      return undefined;
    }
    return npyConfig(files, name);
  }

  /**
   * Asks for the image folders (train, val, test: class-folder trees, best guess first), the model file and, for an
   * ONNX model, its preprocessing preset; for a model with a backbone, whether to train the whole network. Undefined
   * when the user cancels.
   */
  private async pickImageFiles(
    folders: ImageFolderFound[],
    models: string[],
    template: SelmixConfigInput,
  ): Promise<SelmixConfigInput | undefined> {
    const item = (f: ImageFolderFound, suggested: boolean) => ({
      label: f.path,
      description: `${f.classes} classes, ${f.images} images${suggested ? ' · suggested' : ''}`,
      path: f.path as string | undefined,
    });
    const pickFolder = async (
      role: 'train' | 'val' | 'test',
      title: string,
      none: string | null,
      taken: string[],
    ): Promise<string | null | undefined> => {
      const ranked = rankFolders(
        folders.filter((f) => !taken.includes(f.path)),
        role,
      );
      const items = ranked.map((f, i) =>
        item(f, i === 0 && role !== 'train' ? /val|valid|dev|test|eval/i.test(f.path) : i === 0),
      );
      if (none !== null) {
        const noneItem = { label: none, description: '', path: undefined as string | undefined };
        if (items[0]?.description.endsWith('suggested')) items.splice(1, 0, noneItem);
        else items.unshift(noneItem);
      }
      if (items.length === 0) return null;
      const chosen = await vscode.window.showQuickPick(items, { title, ignoreFocusOut: true });
      return chosen === undefined ? undefined : (chosen.path ?? null);
    };
    const train = await pickFolder('train', 'New SelMix config: training images (one sub-folder per class)', null, []);
    if (!train) return undefined;
    const val = await pickFolder(
      'val',
      'New SelMix config: validation images',
      '(none: carve a balanced validation set from train)',
      [train],
    );
    if (val === undefined) return undefined;
    const test = await pickFolder(
      'test',
      'New SelMix config: test images (reported before and after, never trained on)',
      '(none)',
      [train, ...(val ? [val] : [])],
    );
    if (test === undefined) return undefined;
    const model =
      models.length > 0
        ? await vscode.window.showQuickPick(
            models.map((m) => ({ label: m, description: modelKind(m) === 'onnx' ? 'ONNX model' : 'tfjs LayersModel' })),
            { title: 'New SelMix config: the starting model (.onnx or a tfjs model.json)', ignoreFocusOut: true },
          )
        : undefined;
    if (models.length > 0 && !model) return undefined;
    let preset: PreprocessPreset | undefined;
    let wholeNetwork: boolean | undefined;
    if (model) {
      if (modelKind(model.label) === 'onnx') {
        const p = await vscode.window.showQuickPick(
          PREPROCESS_PRESETS.map((x) => ({ label: x.label, detail: x.detail, id: x.id })),
          {
            title: "New SelMix config: how were the model's training images normalised?",
            placeHolder: 'The preprocessing your PyTorch transforms applied',
            ignoreFocusOut: true,
          },
        );
        if (!p) return undefined;
        preset = p.id;
      }
      const w = await vscode.window.showQuickPick(
        [
          {
            label: 'The head only',
            detail: 'The backbone runs once over every image; fast. The last layer (Gemm or Dense) is fine-tuned.',
            whole: false,
          },
          { label: 'The whole network', detail: 'Every layer is fine-tuned; slower, can gain more.', whole: true },
        ],
        { title: 'New SelMix config: what should SelMix train?', ignoreFocusOut: true },
      );
      if (!w) return undefined;
      wholeNetwork = w.whole;
    }
    return imageConfig(template, {
      train,
      ...(val ? { val } : {}),
      ...(test ? { test } : {}),
      ...(model ? { model: model.label } : {}),
      ...(preset ? { preset } : {}),
      ...(wholeNetwork !== undefined ? { wholeNetwork } : {}),
    });
  }

  // Internals

  /** False (with a message saying why) in a restricted workspace or while a run is in progress. */
  private canStart(): boolean {
    if (!vscode.workspace.isTrusted) {
      void vscode.window
        .showWarningMessage(
          'SelMix does not run in a restricted workspace: training executes on your data and writes model files. Trust this workspace to run it.',
          'Manage Workspace Trust',
        )
        .then((c) => c && vscode.commands.executeCommand('workbench.trust.manage'));
      return false;
    }
    if (this.launcher.running) {
      void vscode.window
        .showWarningMessage(
          `A SelMix run is already in progress (${this.launcher.describeRunning()}). One run at a time: stop it first.`,
          'Open Dashboard',
          'Stop',
        )
        .then((c) => (c === 'Stop' ? this.stop() : c === 'Open Dashboard' ? this.launcher.openDashboard() : undefined));
      return false;
    }
    return true;
  }

  private async pickConfig(title: string): Promise<vscode.Uri | undefined> {
    // The active editor, else the active tab: right after Quick Open the extension host may not know the new editor yet
    // (the e2e saw the command ask "Which config?" with the config open); the tab is a second source.
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    for (const active of [
      vscode.window.activeTextEditor?.document.uri,
      tab instanceof vscode.TabInputText ? tab.uri : undefined,
    ])
      if (active && active.scheme === 'file' && isConfigUri(active)) return active;
    // The index answers at once when it knows exactly one config (the common case); otherwise the user picks from a
    // fresh search (a file watcher may lag behind a file just written).
    const t0 = Date.now();
    let found = await this.configs.list();
    let how = `${found.length} in the index after ${Date.now() - t0} ms`;
    if (found.length !== 1 || !existsSync(found[0]!.fsPath)) {
      const t1 = Date.now();
      found = await this.configs.refresh();
      how += `, ${found.length} when searched again in ${Date.now() - t1} ms`;
    }
    this.logger.info(`configs: ${how}`);
    if (found.length === 1) return found[0];
    if (found.length === 0) {
      const c = await vscode.window.showInformationMessage(
        'No *.selmix.json config in this workspace.',
        'Create Config File',
        'Run Demo',
      );
      if (c === 'Create Config File') await this.newConfig();
      if (c === 'Run Demo') await this.runDemo();
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      found.map((u) => ({ label: basename(u.fsPath), description: vscode.workspace.asRelativePath(u), u })),
      { title, placeHolder: 'Which config?' },
    );
    return pick?.u;
  }

  /**
   * Picks a config (the given one, the active editor's, or one chosen from the workspace) and checks it. The
   * request carries the text as the editor holds it, saved or not: what runs is exactly what the diagnostics
   * show. Asks before writing outside the workspace.
   */
  private async prepare(uri: vscode.Uri | undefined, title: string): Promise<CheckedRun | null> {
    const t0 = Date.now();
    const target = uri && isConfigUri(uri) ? uri : await this.pickConfig(title);
    if (!target) return null;
    const t1 = Date.now();
    const file = target.fsPath;
    // The editor's text when the config is open (saved or not), else the file as the CLI reads it: opening a document
    // only to read it cost the first Fine-tune of a window about 240 ms in the e2e.
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
    const request = configRequest(file, open ? open.getText() : readConfigText(file));
    const t2 = Date.now();
    const prepared = this.diagnostics.check(request);
    this.logger.info(
      `${basename(file)}: picked in ${t1 - t0} ms, read in ${t2 - t1} ms, checked in ${Date.now() - t2} ms`,
    );
    const errors = prepared.issues.filter((i) => i.severity === 'error');
    if (errors.length > 0 || !prepared.config || !prepared.outputDir) {
      await this.showProblems(open ?? (await vscode.workspace.openTextDocument(target)), prepared);
      return null;
    }
    if (prepared.outputOutsideWorkspace) {
      const go = await vscode.window.showWarningMessage(
        `The output folder ${prepared.outputDir} is outside the workspace.`,
        { modal: true, detail: 'SelMix writes model files and a report there. Write outside the workspace anyway?' },
        'Write Outside Workspace',
      );
      if (go !== 'Write Outside Workspace') {
        this.logger.info(
          `run not started: output ${prepared.outputDir} is outside the workspace and the user declined`,
        );
        return null;
      }
    }
    return {
      request,
      config: prepared.config,
      name: prepared.config.name ?? basename(file).replace(/\.selmix\.json$/, ''),
      outputDir: prepared.outputDir,
    };
  }

  /** Puts the cursor on the first problem and says how many there are; nothing was started. */
  private async showProblems(doc: vscode.TextDocument, prepared: PreparedRun): Promise<void> {
    const file = prepared.request.configPath;
    const errors = prepared.issues.filter((i) => i.severity === 'error');
    const first = errors[0];
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    if (first) {
      const pos = new vscode.Position(first.line - 1, Math.max(0, first.column - 1));
      editor.selection = new vscode.Selection(pos, pos);
      editor.revealRange(new vscode.Range(pos, pos));
    }
    const n = Math.max(1, errors.length);
    const list = errors.map((i) => `  line ${i.line}:${i.column} ${i.path || '(root)'}: ${i.message}`).join('\n');
    const message = `${ConfigDiagnostics.display(file)} has ${n} problem${n === 1 ? '' : 's'}; nothing was started. Fix ${n === 1 ? 'it' : 'them'} and run again.`;
    this.logger.toast('refused', message, `${file}:\n${list}`);
    this.launcher.setStatus(
      `$(error) SelMix: ${n} problem${n === 1 ? '' : 's'}`,
      `${message} Click to open the Problems panel.`,
      { command: 'workbench.actions.view.problems', title: 'Show Problems' },
    );
  }

  /** Runs one checked config and reports its outcome. */
  private async start(run: CheckedRun, commandAt?: number): Promise<void> {
    const end = await this.launcher.launch(run, commandAt !== undefined ? { commandAt } : {});
    if (!end) return;
    if (end.type === 'run/failed') {
      const p = end.payload;
      const detail = [p.stack, ...(p.details ?? [])].filter(Boolean).join('\n');
      this.logger.toast('failed', `SelMix run "${run.name}" failed (${p.kind}): ${p.message}`, detail || undefined);
      this.launcher.setStatus('$(error) SelMix: failed', `${p.message} Click to show the log.`, {
        command: SHOW_LOG,
        title: 'Show Log',
      });
      return;
    }
    const f = end.payload;
    const line = summaryLine(f, run.name, gainMonitorOf(this.launcher.snapshot));
    if (f.reportPath === null) {
      // Stopped during pre-training: no report, no checkpoint, no cached model (docs/ARCHITECTURE.md, "Staged runs").
      this.logger.info(line);
      this.launcher.setStatus('$(debug-stop) SelMix: stopped during pre-training', line);
      void vscode.window.showInformationMessage(line);
      return;
    }
    await this.launcher.rememberReport(f.reportPath);
    let page = '';
    try {
      page = ` Page: ${writeReportHtml(f.reportPath).path}`;
    } catch (e) {
      this.logger.info(`report.html not written: ${describeError(e).message}`);
    }
    const logPath = this.launcher.lastLogPath;
    this.logger.info(line + ` Report: ${f.reportPath}.${page}${logPath ? ` Log: ${logPath}` : ''}`);
    this.launcher.setStatus(
      `$(${f.stoppedBy === 'cancel' ? 'debug-stop' : 'check'}) SelMix: ${f.objective} ${fmt(f.after.objectiveValue)} (best iterate)`,
      line,
    );
    const choice = await vscode.window.showInformationMessage(line, 'Open Report', 'Open Log', 'Reveal Output');
    if (choice === 'Open Report') await this.launcher.openReport(f.reportPath);
    if (choice === 'Open Log') {
      if (logPath) await vscode.window.showTextDocument(vscode.Uri.file(logPath), { preview: false });
      else this.logger.show();
    }
    if (choice === 'Reveal Output') await this.revealOutput(f.outputDir);
  }

  private async revealOutput(dir: string): Promise<void> {
    const uri = vscode.Uri.file(dir);
    if (workspaceRoots().some((r) => isInside(r, dir))) await vscode.commands.executeCommand('revealInExplorer', uri);
    else await vscode.commands.executeCommand('revealFileInOS', uri);
  }
}
