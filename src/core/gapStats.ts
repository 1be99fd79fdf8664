// How often something happened and how long something waited: the gaps between successive events (the run's step
// events as the host received them, the host's posts to a view) and durations (a step's wait for its post, a view's
// ack), summarised for the run's log so a slow view can be told from a slow worker. Pure: the caller passes the time.

/** Percentiles of recorded durations or gaps (ms). */
export interface GapSummary {
  count: number;
  p50: number;
  p95: number;
  max: number;
}

/** Records durations (ms) and summarises them (the newest `keep`): how long something waited. */
export class DurationStats {
  private xs: number[] = [];
  private n = 0;
  private total = 0;

  constructor(private readonly keep = 5000) {}

  /** Forgets every duration. */
  reset(): void {
    this.xs = [];
    this.n = 0;
    this.total = 0;
  }

  /** How many durations were recorded in all (the summary covers the newest `keep`). */
  get count(): number {
    return this.n;
  }

  /** The sum of every duration recorded (ms). */
  get sum(): number {
    return this.total;
  }

  /** Records one duration. */
  add(ms: number): void {
    this.n++;
    this.total += ms;
    this.xs.push(ms);
    if (this.xs.length > this.keep) this.xs.splice(0, this.xs.length - this.keep);
  }

  /** Median, 95th percentile (nearest rank) and largest; null before the first. */
  summary(): GapSummary | null {
    if (this.xs.length === 0) return null;
    const s = [...this.xs].sort((a, b) => a - b);
    const rank = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
    return { count: s.length, p50: rank(0.5), p95: rank(0.95), max: s[s.length - 1]! };
  }

  /** "p50 N ms, p95 N ms, max N ms (N)", or "none". */
  describe(): string {
    const g = this.summary();
    return g
      ? `p50 ${Math.round(g.p50)} ms, p95 ${Math.round(g.p95)} ms, max ${Math.round(g.max)} ms (${g.count})`
      : 'none';
  }
}

/** Records event times and summarises the gaps between them (the newest `keep` gaps). */
export class GapStats {
  private last: number | null = null;
  private readonly gaps: DurationStats;

  constructor(keep = 5000) {
    this.gaps = new DurationStats(keep);
  }

  /** Forgets every event (a new run). */
  reset(): void {
    this.last = null;
    this.gaps.reset();
  }

  /** Records an event at `now` (ms). */
  record(now: number): void {
    if (this.last !== null) this.gaps.add(now - this.last);
    this.last = now;
  }

  /** Median, 95th percentile (nearest rank) and largest gap; null before two events. */
  summary(): GapSummary | null {
    return this.gaps.summary();
  }

  /** The summary in words: "every p50 N ms, p95 N ms, max N ms (N gaps)", or "fewer than two". */
  describe(): string {
    const g = this.summary();
    return g
      ? `every p50 ${Math.round(g.p50)} ms, p95 ${Math.round(g.p95)} ms, max ${Math.round(g.max)} ms (${g.count} gaps)`
      : 'fewer than two';
  }
}
