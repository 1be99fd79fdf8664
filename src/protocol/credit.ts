// Credit where it is due: a finished run's objective split into three rows, the starting model, the logit-adjusted
// warm start (which tau, what it gave) and SelMix's own change from there, on validation and on test. One builder for
// every surface (CLI, report.json, report.html, dashboard, sidebar, notification), so they cannot disagree. Pure.
import type { MetricsReport, RunFinishedPayload } from './messages';

/** One row of the split: a value on validation and test, and its change from the row above (null: not known). */
export interface CreditRow {
  key: 'start' | 'warmStart' | 'selmix';
  /** What the row is, in words ("warm start: logit adjustment, tau = 1.3"). */
  label: string;
  val: number | null;
  test: number | null;
  /** The change from the previous row (the warm start's from the starting model; SelMix's from the warm start). */
  changeVal: number | null;
  changeTest: number | null;
}

/** The value of a built-in objective that is a plain field of a metrics report (null for the others). */
function field(m: MetricsReport | undefined, objective: string): number | null {
  const v = m ? (m as unknown as Record<string, unknown>)[objective] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);

/** The three rows of a finished run: the starting model, the warm start and SelMix's own change from it. */
export function creditRows(f: RunFinishedPayload): CreditRow[] {
  const o = f.objective;
  const startVal = f.before.objectiveValue;
  const startTest = f.before.testObjectiveValue ?? field(f.before.test, o);
  const ws = f.warmStart;
  const warmVal = ws ? ws.objectiveValue : startVal;
  const warmTest = ws ? (ws.testObjectiveValue ?? field(ws.test, o)) : startTest;
  const afterVal = f.after.objectiveValue;
  const afterTest = f.after.testObjectiveValue ?? field(f.after.test, o);
  const warmLabel = !ws
    ? 'warm start: none (the run starts from the model as it is)'
    : ws.tau === 0
      ? 'warm start: logit adjustment, tau = 0 (no adjustment helped on validation)'
      : `warm start: logit adjustment, tau = ${+ws.tau.toFixed(3)}`;
  const how = f.stoppedBy === 'cancel' ? ', stopped' : '';
  return [
    { key: 'start', label: 'starting model', val: startVal, test: startTest, changeVal: null, changeTest: null },
    {
      key: 'warmStart',
      label: warmLabel,
      val: warmVal,
      test: warmTest,
      changeVal: diff(warmVal, startVal),
      changeTest: diff(warmTest, startTest),
    },
    {
      key: 'selmix',
      label: `SelMix (kept iterate, step ${f.bestStep}${how})`,
      val: afterVal,
      test: afterTest,
      changeVal: diff(afterVal, warmVal),
      changeTest: diff(afterTest, warmTest),
    },
  ];
}

/** A change in points (x 100, signed, 2 decimals), or "n/a". */
export function pointsText(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  const p = 100 * v;
  return `${p >= 0 ? '+' : ''}${p.toFixed(2)}`;
}

/** The split in one sentence, for a notification or a log line. */
export function creditSentence(f: RunFinishedPayload): string {
  const [, warm, selmix] = creditRows(f);
  const ws = f.warmStart;
  const warmPart = ws
    ? `the warm start (tau = ${+ws.tau.toFixed(3)}) ${pointsText(warm!.changeVal)} points`
    : 'no warm start (0 points)';
  const testPart =
    selmix!.test !== null
      ? ` (test: warm start ${pointsText(warm!.changeTest)}, SelMix ${pointsText(selmix!.changeTest)})`
      : '';
  return `Of the change in ${f.objective} on validation, ${warmPart}, SelMix's own ${pointsText(selmix!.changeVal)} points${testPart}.`;
}
