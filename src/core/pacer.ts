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

/** What a training loop knows after a step, to decide whether to send a step event now (stepEventDue). */
export interface StepTiming {
  /** ms since the last event. */
  sinceEvent: number;
  /** How long the step just done took, ms (without the pause before it). */
  unitMs: number;
  /**
   * Steps that run before the next pause (a refresh: no step can be reported while it runs): 0 when the next step
   * starts with one; Infinity when none comes.
   */
  stepsToPause: number;
  /** How long the last pause took, ms (0 before the first). */
  pauseMs: number;
}

/**
 * Whether a training loop sends a step event now. The step reached is reported right before each pause (unless an
 * event went out within minGapMs and the pause is short), since nothing can be reported during it; between two
 * pauses the events are spread evenly, at most intervalMs apart as long as a step takes less. A plain pacer reports
 * when the interval is about to run out, and so left the longest gap (the last event, the rest of the steps, the
 * pause) around every refresh: at K = 1000 half of all gaps. Pure.
 */
export function stepEventDue(t: StepTiming, intervalMs = PROGRESS_EVENT_MS, minGapMs = MIN_STEP_EVENT_MS): boolean {
  const e = t.sinceEvent,
    u = t.unitMs;
  if (t.stepsToPause === 0) return e >= minGapMs || e + t.pauseMs + u >= intervalMs;
  // When the event before the next pause would come, counted from the last one.
  const toPause = e + t.stepsToPause * u;
  if (!Number.isFinite(toPause)) return e + u >= intervalMs;
  if (toPause <= intervalMs) return false;
  // That span in equal parts of at most intervalMs: report now when one more step would pass the first part's end.
  const part = toPause / Math.ceil(toPause / intervalMs);
  return e + u > part;
}

/**
 * Whether a pause of the training loop (a refresh: no step runs) sends a run/refreshing event as it starts its next
 * part: when nothing went out for intervalMs, or the part, taking as long as last time (nextMs), would end past it;
 * never within minGapMs of the last event. Pure.
 */
export function pauseEventDue(
  sinceEvent: number,
  nextMs: number,
  intervalMs = PROGRESS_EVENT_MS,
  minGapMs = MIN_STEP_EVENT_MS,
): boolean {
  return sinceEvent >= minGapMs && sinceEvent + nextMs >= intervalMs;
}

/** Seconds left at a steady rate: done of total after elapsedMs; null until there is a rate to go by. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | null {
  if (!(done > 0) || !(total > 0) || !(elapsedMs > 0) || done > total) return done >= total && total > 0 ? 0 : null;
  return ((total - done) * elapsedMs) / done / 1000;
}
