// The one output channel, "SelMix", and error messages that always offer "Show Log". While a run is in
// progress its lines also go to <output>/run.log, so a run's log survives a window reload.
import * as vscode from 'vscode';
import { appendFileSync, writeFileSync } from 'node:fs';

/** The command that shows the SelMix output channel: the failed-run status bar item's action (not in the palette). */
export const SHOW_LOG = 'selmix.showLog';

/** The extension's log: one output channel; stacks and details go here, short messages to the user. */
export class Log implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('SelMix');
  /**
   * Set once disposed (the window reloads or closes): a command still finishing must not write to the closed channel.
   */
  private disposed = false;
  /** The run log file lines are copied to, and lines waiting for it (those logged before its folder existed). */
  private file: { path: string | null; pending: string[] } | null = null;

  /** Appends a timestamped line (to the channel, and to the run's log file while one is open). */
  info(line: string): void {
    const text = `[${new Date().toISOString()}] ${line}`;
    this.toChannel((c) => c.appendLine(text));
    if (this.file) {
      if (this.file.path === null) this.file.pending.push(text);
      else this.appendToFile(text);
    }
  }

  /** Starts collecting a run's lines (written to a file once writeTo names it). */
  beginRunLog(): void {
    this.file = { path: null, pending: [] };
  }

  /** From now on, and for the lines collected since beginRunLog, the run's lines go to path (e.g. <output>/run.log). */
  writeTo(path: string): void {
    if (!this.file) this.file = { path: null, pending: [] };
    const pending = this.file.pending;
    this.file = { path, pending: [] };
    try {
      writeFileSync(path, pending.map((l) => l + '\n').join('')); // a new run in this folder starts a new log
    } catch {
      this.file.path = null;
    }
  }

  /** Stops copying lines to the run's log file; returns its path (null when none was written). */
  endRunLog(): string | null {
    const path = this.file?.path ?? null;
    this.file = null;
    return path;
  }

  private appendToFile(text: string): void {
    if (!this.file?.path || !text) return;
    try {
      appendFileSync(this.file.path, text + '\n');
    } catch {
      this.file.path = null; // the folder went away: the channel still has every line
    }
  }

  /** Reveals the channel. */
  show(): void {
    this.toChannel((c) => c.show(true));
  }

  /**
   * Runs fn on the channel unless it is gone. While the window reloads, VS Code closes the channel's connection
   * before deactivate disposes it, and a command still finishing would throw "Channel has been closed".
   */
  private toChannel(fn: (c: vscode.OutputChannel) => void): void {
    if (this.disposed) return;
    try {
      fn(this.channel);
    } catch {
      this.disposed = true; // closed under us: the run's log file still gets every line
    }
  }

  /**
   * Logs message (and detail, e.g. a stack) and shows a short error with "Show Log" plus any extra actions; resolves to
   * the action chosen.
   */
  async error(message: string, detail?: string, ...actions: string[]): Promise<string | undefined> {
    this.info(`ERROR ${message}${detail ? '\n' + detail : ''}`);
    if (this.disposed) return undefined;
    const choice = await vscode.window.showErrorMessage(message, ...actions, 'Show Log');
    if (choice === 'Show Log') this.show();
    return choice;
  }

  /** The replaceable toast on screen, by kind: the function that closes it. */
  private readonly toasts = new Map<string, () => void>();

  /**
   * Logs message (and detail) and shows it as the one toast of its kind: the previous toast of that kind closes,
   * and closeToasts() closes them all (a run started). VS Code cannot close a showErrorMessage notification, so
   * this is a progress notification, which closes when its promise resolves; its button dismisses it. Actions
   * (Show Problems, Show Log) are the caller's, on the status bar item.
   */
  toast(kind: string, message: string, detail?: string): void {
    this.info(`ERROR ${message}${detail ? '\n' + detail : ''}`);
    if (this.disposed) return;
    this.toasts.get(kind)?.();
    let close: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      close = resolve;
    });
    this.toasts.set(kind, close);
    void vscode.window
      .withProgress(
        { location: vscode.ProgressLocation.Notification, title: message, cancellable: true },
        (progress, token) => {
          progress.report({ increment: 100 }); // a full, still bar: nothing is in progress
          token.onCancellationRequested(close);
          return closed;
        },
      )
      .then(() => {
        if (this.toasts.get(kind) === close) this.toasts.delete(kind);
      });
  }

  /** Closes every replaceable toast (a new run started: the old refusals and failures are stale). */
  closeToasts(): void {
    for (const close of this.toasts.values()) close();
    this.toasts.clear();
  }

  dispose(): void {
    this.closeToasts();
    this.disposed = true;
    this.channel.dispose();
  }
}

/** A one-line message of an unknown thrown value, and its stack when there is one. */
export function describeError(e: unknown): { message: string; stack?: string } {
  if (e instanceof Error)
    return e.stack === undefined ? { message: e.message } : { message: e.message, stack: e.stack };
  return { message: String(e) };
}
