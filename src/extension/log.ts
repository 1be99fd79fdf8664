// The one output channel, "SelMix", and error messages that always offer "Show Log". While a run is in
// progress its lines also go to <output>/run.log, so a run's log survives a window reload.
import * as vscode from 'vscode';
import { appendFileSync, writeFileSync } from 'node:fs';

/** The extension's log: one output channel; stacks and details go here, short messages to the user. */
export class Log implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('SelMix');
  /** Set once disposed (the window reloads or closes): a command still finishing must not write to the closed channel. */
  private disposed = false;
  /** The run log file lines are copied to, and lines waiting for it (those logged before its folder existed). */
  private file: { path: string | null; pending: string[] } | null = null;

  /** Appends a timestamped line (to the channel, and to the run's log file while one is open). */
  info(line: string): void {
    const text = `[${new Date().toISOString()}] ${line}`;
    if (!this.disposed) this.channel.appendLine(text);
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
    if (!this.disposed) this.channel.show(true);
  }

  /** Logs message (and detail, e.g. a stack) and shows a short error with "Show Log" plus any extra actions; resolves to the action chosen. */
  async error(message: string, detail?: string, ...actions: string[]): Promise<string | undefined> {
    this.info(`ERROR ${message}${detail ? '\n' + detail : ''}`);
    if (this.disposed) return undefined;
    const choice = await vscode.window.showErrorMessage(message, ...actions, 'Show Log');
    if (choice === 'Show Log') this.show();
    return choice;
  }

  /** Toasts still on screen, by key. */
  private readonly open = new Set<string>();

  /**
   * error(), but at most one toast per key on screen: while one is open a repeat is only logged (VS Code cannot
   * close a notification, so the fresh text goes to the log and the status bar instead of piling up).
   */
  async errorOnce(key: string, message: string, detail?: string, ...actions: string[]): Promise<string | undefined> {
    if (this.open.has(key)) {
      this.info(`ERROR ${message}${detail ? '\n' + detail : ''} (the earlier message about this is still open)`);
      return undefined;
    }
    this.open.add(key);
    try {
      return await this.error(message, detail, ...actions);
    } finally {
      this.open.delete(key);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.channel.dispose();
  }
}

/** A one-line message of an unknown thrown value, and its stack when there is one. */
export function describeError(e: unknown): { message: string; stack?: string } {
  if (e instanceof Error) return e.stack === undefined ? { message: e.message } : { message: e.message, stack: e.stack };
  return { message: String(e) };
}
