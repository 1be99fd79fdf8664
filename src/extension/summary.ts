// The words the host uses for a finished run: the one-line outcome (notification, status bar tooltip, log)
// and the linear-approximation monitor's verdict. Pure: no vscode import, unit-tested.
import type { RunFinishedPayload, RunSnapshot } from '../protocol/messages';
import { creditSentence } from '../protocol/credit';

/** A number for a message: 3 decimals. */
export function fmt(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3);
}

/**
 * The monitor's state: the correlation of predicted gain and realised objective change, over how many refresh
 * intervals, and its verdict (tracking false: the realised changes ran against the prediction beyond their noise;
 * null: a run written before the monitor weighed noise, judged by the sign of r).
 */
export interface GainMonitor {
  r: number | null;
  intervals: number;
  tracking: boolean | null;
}

/** The monitor from a snapshot: the last refresh's reading; an interval lies between two refreshes. */
export function gainMonitorOf(s: RunSnapshot): GainMonitor {
  return {
    r: s.lastRefresh?.gainCorrelation ?? null,
    intervals: Math.max(0, s.history.length - 1),
    tracking: s.lastRefresh?.gainCheck?.tracking ?? null,
  };
}

/** The monitor in one sentence. */
export function gainMonitorSentence(m: GainMonitor): string {
  if (m.r === null && m.tracking !== false)
    return `Gain estimate vs reality: not enough refresh intervals to judge (${m.intervals}).`;
  const wrong = m.tracking === false || (m.tracking === null && m.r !== null && m.r <= 0);
  const verdict = wrong
    ? ': the realised change of the objective ran against the first-order gain estimate beyond the validation noise'
    : m.tracking === true
      ? ' (within the validation noise of the estimate)'
      : '';
  return `Gain estimate vs reality: r = ${m.r === null ? 'n/a' : m.r.toFixed(2)} over ${m.intervals} intervals${verdict}.`;
}

/**
 * The outcome of a run stopped during its pre-training stage (reportPath null: it wrote nothing, not even the cache).
 */
export function stoppedInPretrainLine(f: RunFinishedPayload, name: string): string {
  return `SelMix "${name}" stopped during pre-training after ${f.steps} step${f.steps === 1 ? '' : 's'}; nothing was written (the next run pre-trains again).`;
}

/** The one-line outcome of a finished run (with the monitor's verdict when given). */
export function summaryLine(f: RunFinishedPayload, name: string, monitor?: GainMonitor): string {
  if (f.reportPath === null) return stoppedInPretrainLine(f, name);
  const how =
    f.stoppedBy === 'cancel'
      ? `stopped at step ${f.steps}`
      : f.stoppedBy === 'earlyStop'
        ? `stopped early at step ${f.steps}`
        : `finished ${f.steps} steps`;
  const testOf = (m: RunFinishedPayload['after']['test']): number | null => {
    const v = m ? (m as unknown as Record<string, unknown>)[f.objective] : undefined;
    return typeof v === 'number' ? v : null;
  };
  const [tb, ta] = [testOf(f.before.test), testOf(f.after.test)];
  const test = ta !== null ? ` On test: ${f.objective} ${fmt(tb)} → ${fmt(ta)}.` : '';
  // The constraint of a constrained objective at the kept iterate (a field newer runs carry).
  const fv = (f as { feasibility?: { val?: { constraint: string; bound: number; value: number; met: boolean } } })
    .feasibility?.val;
  const feas = fv
    ? ` Constraint ${fv.constraint} ${fmt(fv.value)} ≥ ${fmt(fv.bound)} on validation: ${fv.met ? 'met' : 'NOT met'}.`
    : '';
  const line = `SelMix "${name}" ${how}: ${f.objective} ${fmt(f.before.objectiveValue)} → ${fmt(f.after.objectiveValue)}, min recall ${fmt(f.before.val.minRecall)} → ${fmt(f.after.val.minRecall)} (validation; after = the best iterate, step ${f.bestStep}).${test} ${creditSentence(f)}${feas}`;
  return monitor ? `${line} ${gainMonitorSentence(monitor)}` : line;
}
