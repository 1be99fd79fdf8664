// The run's stage events (run/stage): what a run is doing before and outside its training loop, paced by wall time
// (at least every PROGRESS_EVENT_MS while a stage works, and at its first and last unit), with an ETA.
import { etaSeconds, ProgressPacer } from '../core/pacer';
import type { RunEvent, RunStageId } from '../protocol/messages';

/** Reports the progress of one stage: called after each unit of work (an image decoded, a batch run). */
export type StageProgress = (done: number, total: number) => void;

/** Emits run/stage events for a run, paced; `now` is injectable for tests. */
export class StageReporter {
  private current: { stage: RunStageId; label: string; t0: number; pacer: ProgressPacer } | null = null;

  constructor(
    private readonly emit: (e: RunEvent) => void,
    private readonly name: string | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Enters a stage (emitted at once) and returns the function that reports its progress. */
  enter(stage: RunStageId, label: string, total = 0): StageProgress {
    const t = this.now();
    const cur = { stage, label, t0: t, pacer: new ProgressPacer(t) };
    this.current = cur;
    this.send(0, total, null);
    return (done, tot) => {
      if (this.current !== cur) return;
      const now = this.now();
      if (!cur.pacer.tick(now) && done < tot) return;
      cur.pacer.mark(now);
      this.send(done, tot, etaSeconds(done, tot, now - cur.t0));
    };
  }

  private send(done: number, total: number, eta: number | null): void {
    const c = this.current!;
    this.emit({
      type: 'run/stage',
      payload: {
        stage: c.stage,
        label: c.label,
        done,
        total,
        etaSeconds: eta,
        ...(this.name !== undefined ? { name: this.name } : {}),
      },
    });
  }
}

/** Enters a stage and returns its progress function (StageReporter.enter, bound). */
export type StageEnter = (stage: RunStageId, label: string, total?: number) => StageProgress;
