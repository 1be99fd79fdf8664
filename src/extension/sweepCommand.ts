// "SelMix: Temperature Sweep": the same fine-tuning once per inverse temperature s of the sampling softmax
// (docs/ALGORITHM.md, section 4), one after the other through the launcher, each with sweepRequest's
// temperature and output overrides; then sweep.md, sweep.json and sweep.svg, the same files `selmix sweep` writes.
import * as vscode from 'vscode';
import { sweepObjectiveName, sweepOutputDir, sweepRequest, sweepRow, writeSweepOutputs } from '../report/sweep';
import type { CheckedRun, Launcher } from './launcher';
import type { Log } from './log';
import { describeError, SHOW_LOG } from './log';
import { gainMonitorOf, summaryLine } from './summary';
import { DEFAULT_SWEEP_VALUES, parseSweepInput, runSweepLoop } from './sweepLoop';
import type { SweepLoopResult } from './sweepLoop';

/** What the sweep needs from the commands. */
export interface SweepDeps {
  launcher: Launcher;
  logger: Log;
  /** False (with a message) when a run may not start now. */
  canStart: () => boolean;
}

/** Asks for the values of s, runs the sweep of a checked config, writes its table and shows it. */
export async function temperatureSweep(deps: SweepDeps, run: CheckedRun): Promise<void> {
  const { launcher, logger } = deps;
  const text = await vscode.window.showInputBox({
    title: `SelMix: Temperature Sweep of "${run.name}"`,
    prompt: 'Inverse temperatures s of the sampling softmax, separated by commas: one fine-tuning run each',
    value: DEFAULT_SWEEP_VALUES,
    ignoreFocusOut: true,
    validateInput: (t) => {
      const r = parseSweepInput(t);
      return 'error' in r ? r.error : undefined;
    },
  });
  if (text === undefined) return;
  const parsed = parseSweepInput(text);
  if ('error' in parsed) {
    void vscode.window.showErrorMessage(`SelMix: ${parsed.error}`);
    return;
  }
  // Something may have started while the input box was open.
  if (!deps.canStart()) return;
  const values = parsed.values;
  const batch = launcher.beginBatch();
  logger.info(`temperature sweep of "${run.name}" over s = ${values.join(', ')}; outputs under ${run.outputDir}`);
  let result: SweepLoopResult;
  try {
    result = await runSweepLoop(
      values,
      async (s, i) => {
        const label = `${run.name} · s = ${s}`;
        const end = await launcher.launch(
          {
            ...run,
            request: sweepRequest(run.request, run.outputDir, s),
            name: label,
            outputDir: sweepOutputDir(run.outputDir, s),
          },
          { title: `SelMix sweep ${i + 1}/${values.length}: ${label}` },
        );
        if (end?.type === 'run/finished') {
          const f = end.payload;
          await launcher.rememberReport(f.reportPath);
          logger.info(
            summaryLine(f, label, gainMonitorOf(launcher.snapshot)) + (f.reportPath ? ` Report: ${f.reportPath}` : ''),
          );
        } else if (end?.type === 'run/failed') {
          const p = end.payload;
          logger.info(
            `run "${label}" failed (${p.kind}): ${p.message}${[p.stack, ...(p.details ?? [])]
              .filter(Boolean)
              .map((l) => `\n${l}`)
              .join('')}`,
          );
        }
        return end;
      },
      () => batch.stopped,
    );
  } finally {
    launcher.endBatch();
  }
  const rows = result.completed.map((c) => sweepRow(run.config, c.s, c.summary, sweepOutputDir(run.outputDir, c.s)));
  const done = `${rows.length} of ${values.length} value${values.length === 1 ? '' : 's'}`;
  let mdPath: string | null = null;
  if (rows.length > 0) {
    try {
      mdPath = writeSweepOutputs(run.outputDir, sweepObjectiveName(run.config), rows).mdPath;
      logger.info(`sweep: wrote ${mdPath}, sweep.json and sweep.svg (${done})`);
    } catch (e) {
      const d = describeError(e);
      await logger.error(`SelMix could not write the sweep's table: ${d.message}`, d.stack);
    }
  }
  if (result.outcome === 'failed') {
    const f = result.failure!;
    logger.toast(
      'failed',
      `SelMix temperature sweep of "${run.name}" failed at s = ${f.s} (${done} completed): ${f.message}`,
    );
    launcher.setStatus('$(error) SelMix: sweep failed', `${f.message} Click to show the log.`, {
      command: SHOW_LOG,
      title: 'Show Log',
    });
  } else {
    const what = result.outcome === 'stopped' ? `stopped after ${done}` : `finished ${done}`;
    launcher.setStatus(
      `$(${result.outcome === 'stopped' ? 'debug-stop' : 'check'}) SelMix: sweep ${what}`,
      `Temperature sweep of "${run.name}": ${what}`,
    );
    void vscode.window.showInformationMessage(
      `SelMix temperature sweep of "${run.name}" ${what}.${mdPath ? ' Table: sweep.md.' : ''}`,
    );
  }
  if (mdPath) await openMarkdown(mdPath);
}

/** Shows a markdown file in the preview (the editor when the preview is unavailable). */
async function openMarkdown(path: string): Promise<void> {
  const uri = vscode.Uri.file(path);
  try {
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  } catch {
    await vscode.window.showTextDocument(uri, { preview: false });
  }
}
