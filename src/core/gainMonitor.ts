// The linear-approximation monitor (docs/ALGORITHM.md section 3, "Approximations"): the mean predicted gain G_ij of
// the pairs drawn over each refresh interval against the realised change of the objective over that interval, and
// their Pearson correlation. Its state is a plain object, so the training loop checkpoints it with the rest.

/** Refresh intervals needed before the gain monitor judges the estimate. */
export const MONITOR_MIN_INTERVALS = 5;

/** Predicted gains of the sampled pairs against realised objective changes, one entry per closed interval. */
export interface GainTrack {
  predicted: number[];
  realised: number[];
  /** The objective at the last refresh (null before the first). */
  lastObjective: number | null;
  /** Sum and count of the predicted gains of the pairs drawn since the last refresh. */
  predictedSum: number;
  predictedCount: number;
}

/** A monitor with no interval yet. */
export function emptyGainTrack(): GainTrack {
  return { predicted: [], realised: [], lastObjective: null, predictedSum: 0, predictedCount: 0 };
}

/** Adds the predicted gains G[a * K + p] of one batch's (anchor class, partner class) pairs to the open interval. */
export function recordPairs(track: GainTrack, G: Float64Array, K: number, anchorClass: ArrayLike<number>, partnerClass: ArrayLike<number>): void {
  for (let i = 0; i < anchorClass.length; i++) track.predictedSum += G[anchorClass[i]! * K + partnerClass[i]!]!;
  track.predictedCount += anchorClass.length;
}

/** Closes the open interval at a refresh: its mean predicted gain against the objective's change since the last refresh. */
export function closeInterval(track: GainTrack, objectiveValue: number): void {
  if (track.lastObjective !== null && track.predictedCount > 0) {
    track.predicted.push(track.predictedSum / track.predictedCount);
    track.realised.push(objectiveValue - track.lastObjective);
  }
  track.lastObjective = objectiveValue;
  track.predictedSum = 0;
  track.predictedCount = 0;
}

/** The correlation so far, and whether the estimate still tracks (too few intervals or no correlation yet counts as tracking). */
export function trackingOf(track: GainTrack): { correlation: number | null; tracking: boolean } {
  const correlation = pearson(track.predicted, track.realised);
  return { correlation, tracking: correlation === null || track.predicted.length < MONITOR_MIN_INTERVALS || correlation > 0 };
}

/** Pearson correlation, or null with fewer than 3 points or zero variance. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = Math.min(a.length, b.length);
  if (n < 3) return null;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { const x = a[i]! - ma, y = b[i]! - mb; sab += x * y; saa += x * x; sbb += y * y; }
  if (saa <= 0 || sbb <= 0) return null;
  return sab / Math.sqrt(saa * sbb);
}

/** What a refresh did to the monitor's verdict: nothing, raised the warning, or withdrew it. */
export type MonitorChange = 'none' | 'raised' | 'withdrawn';

/**
 * Closes the open interval (closeInterval) and says whether the verdict changed. Raised or not is trackingOf of the
 * track before and after, a function of the checkpointed track alone: a warning is raised once per episode of not
 * tracking, withdrawn when the correlation over every interval is positive again, and the final figure of a run (its
 * correlation over every interval) is the one its last warning or withdrawal stated.
 */
export function monitorChange(track: GainTrack, objectiveValue: number): { change: MonitorChange; correlation: number | null; tracking: boolean } {
  const before = trackingOf(track).tracking;
  closeInterval(track, objectiveValue);
  const { correlation, tracking } = trackingOf(track);
  return { change: before && !tracking ? 'raised' : !before && tracking ? 'withdrawn' : 'none', correlation, tracking };
}
