// The one output channel, "SelMix", and error messages that always offer "Show Log".
import * as vscode from 'vscode';

/** The extension's log: one output channel; stacks and details go here, short messages to the user. */
export class Log implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('SelMix');

  /** Appends a timestamped line. */
  info(line: string): void {
    this.channel.appendLine(`[${new Date().toISOString()}] ${line}`);
  }

  /** Reveals the channel. */
  show(): void {
    this.channel.show(true);
  }

  /** Logs message (and detail, e.g. a stack) and shows a short error with "Show Log" plus any extra actions; resolves to the action chosen. */
  async error(message: string, detail?: string, ...actions: string[]): Promise<string | undefined> {
    this.info(`ERROR ${message}${detail ? '\n' + detail : ''}`);
    const choice = await vscode.window.showErrorMessage(message, ...actions, 'Show Log');
    if (choice === 'Show Log') this.show();
    return choice;
  }

  dispose(): void {
    this.channel.dispose();
  }
}

/** A one-line message of an unknown thrown value, and its stack when there is one. */
export function describeError(e: unknown): { message: string; stack?: string } {
  if (e instanceof Error) return e.stack === undefined ? { message: e.message } : { message: e.message, stack: e.stack };
  return { message: String(e) };
}
