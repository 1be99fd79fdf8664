// When to report progress: by wall time, not by a fraction of the work, so a view hears from a run at least every
// PROGRESS_EVENT_MS whatever the step time (at K = 1000 a step can take 100 ms; at K = 10, 10 us).
/** The longest gap between two progress events of a run (ms), as long as one unit of work takes less. */
export const PROGRESS_EVENT_MS = 250;

/** The shortest gap between two step events sent at refreshes (ms): at K = 10 a refresh can come every millisecond. */
export const MIN_STEP_EVENT_MS = 50;

/**
 * Paces progress events: tick() after each unit of work (a step, a decoded image, a batch) says whether to report now,
 * so that the next report still comes within intervalMs when the next unit takes as long as the last one. Pure: the
 * caller passes the time.
 */
export class ProgressPacer {
  private lastEvent: number;
  private lastTick: number;

  constructor(
    now: number,
    private readonly intervalMs = PROGRESS_EVENT_MS,
  ) {
    this.lastEvent = now;
    this.lastTick = now;
  }

  /** Records a unit of work finished at `now`; true when an event is due (then call mark). */
  tick(now: number): boolean {
    const unit = now - this.lastTick;
    this.lastTick = now;
    return now - this.lastEvent + unit >= this.intervalMs;
  }

  /** Records that an event was sent at `now`. */
  mark(now: number): void {
    this.lastEvent = now;
  }
}

/** Seconds left at a steady rate: done of total after elapsedMs; null until there is a rate to go by. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | null {
  if (!(done > 0) || !(total > 0) || !(elapsedMs > 0) || done > total) return done >= total && total > 0 ? 0 : null;
  return ((total - done) * elapsedMs) / done / 1000;
}
