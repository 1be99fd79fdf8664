// One training run in a worker_threads Worker, seen from the host: forwards the worker's run events,
// turns a crash, an exit without a terminal event, or a stop that never completes into a run/failed
// event, and terminates the worker after the terminal event. Pure Node (no vscode), unit-tested with
// fake workers.
import { Worker } from 'node:worker_threads';
import { isRunEvent } from '../protocol/messages';
import { releaseThreadLock } from '../data/outputFolder';
import type { RunEvent, WorkerRequest } from '../protocol/messages';
import { StopFlag } from '../protocol/stopFlag';

/** The terminal events of a run. */
export type TerminalEvent = Extract<RunEvent, { type: 'run/finished' | 'run/failed' }>;

/** Options of a RunSession. */
export interface RunSessionOptions {
  /** Absolute path of dist/worker.js. */
  workerPath: string;
  request: Extract<WorkerRequest, { type: 'worker/start' }>;
  /** Every event of the run, in order, ending with exactly one terminal event. */
  onEvent: (e: RunEvent) => void;
  /** Lines for the log (dropped messages, worker stderr). */
  log: (line: string) => void;
  /** How long a stop may take before the worker is terminated (ms). */
  stopTimeoutMs?: number;
}

/** True for run/finished and run/failed. */
export function isTerminal(e: RunEvent): e is TerminalEvent {
  return e.type === 'run/finished' || e.type === 'run/failed';
}

/** A run in a worker. `done` settles (never rejects) with the terminal event. */
export class RunSession {
  readonly done: Promise<TerminalEvent>;
  private readonly worker: Worker;
  private finished = false;
  private stopTimer: ReturnType<typeof setTimeout> | null = null;
  private resolveDone!: (e: TerminalEvent) => void;
  /** The output folder of the current stage (from its run/started), whose lock the worker may hold. */
  private outputDir: string | null = null;
  private readonly threadId: number;
  /** Shared with the worker: set by stop(), read by the training loop at every step. */
  private readonly stopFlag = new StopFlag();

  constructor(private readonly opts: RunSessionOptions) {
    this.done = new Promise((res) => (this.resolveDone = res));
    this.worker = new Worker(opts.workerPath, { stderr: true, stdout: true });
    // Read now: once the thread has ended, worker.threadId is -1.
    this.threadId = this.worker.threadId;
    this.worker.stderr.on('data', (b: Buffer) => opts.log(`[worker stderr] ${b.toString().trimEnd()}`));
    this.worker.stdout.on('data', (b: Buffer) => opts.log(`[worker] ${b.toString().trimEnd()}`));
    this.worker.on('message', (m: unknown) => this.onMessage(m));
    this.worker.on('messageerror', (err) => opts.log(`[worker] a message could not be read: ${err.message}`));
    this.worker.on('error', (err) => {
      this.fail(`the training worker crashed: ${err.message}`, 'internal', err.stack);
    });
    this.worker.on('exit', (code) => {
      this.fail(`the training worker exited (code ${code}) before the run finished`, 'internal');
    });
    this.worker.postMessage({ ...opts.request, stopFlag: this.stopFlag.buffer } satisfies WorkerRequest);
  }

  /** True once the terminal event has been emitted. */
  get isDone(): boolean {
    return this.finished;
  }

  /**
   * Asks the worker to stop at the next step boundary (it keeps a checkpoint); terminates it if it does not. The
   * shared flag reaches the loop at once; the message is for a worker that reads only messages.
   */
  stop(): void {
    if (this.finished || this.stopTimer !== null) return;
    this.stopFlag.request();
    this.worker.postMessage({ type: 'worker/stop' } satisfies WorkerRequest);
    const ms = this.opts.stopTimeoutMs ?? 60_000;
    this.stopTimer = setTimeout(
      () => this.fail(`the run did not stop within ${Math.round(ms / 1000)} s; the worker was terminated`, 'internal'),
      ms,
    );
  }

  /** Terminates the worker now (extension deactivation); a run not yet finished is marked failed. */
  kill(reason: string): void {
    this.fail(reason, 'internal');
  }

  private onMessage(m: unknown): void {
    if (this.finished) return;
    if (!isRunEvent(m)) {
      this.opts.log(`[worker] dropped a message that is not a run event: ${JSON.stringify(m)?.slice(0, 200)}`);
      return;
    }
    if (isTerminal(m)) {
      this.end(m);
      return;
    }
    if (m.type === 'run/started') this.outputDir = m.payload.outputDir;
    this.opts.onEvent(m);
  }

  private fail(message: string, kind: 'internal', stack?: string): void {
    if (this.finished) return;
    // The worker ends without finishing its run: the output folder's lock it holds would outlive it.
    if (this.outputDir) releaseThreadLock(this.outputDir, this.threadId);
    this.end({ type: 'run/failed', payload: stack === undefined ? { message, kind } : { message, kind, stack } });
  }

  private end(e: TerminalEvent): void {
    this.finished = true;
    if (this.stopTimer !== null) clearTimeout(this.stopTimer);
    this.opts.onEvent(e);
    void this.worker.terminate();
    this.resolveDone(e);
  }
}
