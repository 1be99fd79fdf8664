// The temperature sweep as the host drives it: the list of values from the input box, then one run per
// value, one after the other, stopping at the first failure or when the user stops. Pure (no vscode): the
// controller supplies how one run happens; unit-tested with a fake.
import { parseTemperatureList } from '../report/sweep';
import type { RunFinishedPayload } from '../protocol/messages';
import type { TerminalEvent } from './runSession';

/** The input box's default. */
export const DEFAULT_SWEEP_VALUES = '0.1,1,10,100';

/** Validates the input box's text: the values, or a message for the box (duplicates would share an output folder). */
export function parseSweepInput(text: string): { values: number[] } | { error: string } {
  const r = parseTemperatureList(text);
  if ('error' in r)
    return { error: `${r.error}: enter positive numbers separated by commas, e.g. ${DEFAULT_SWEEP_VALUES}` };
  const dup = r.values.find((v, i) => r.values.indexOf(v) !== i);
  if (dup !== undefined) return { error: `s = ${dup} is listed twice: each value runs once` };
  return r;
}

/** How a sweep ended. */
export interface SweepLoopResult {
  /** Runs that completed (not stopped by the user), in order. */
  completed: { s: number; summary: RunFinishedPayload }[];
  outcome: 'done' | 'stopped' | 'failed';
  /** The value whose run failed, and why (outcome 'failed'). */
  failure?: { s: number; message: string };
}

/**
 * Runs runOne(s, index) for each value in order. runOne resolves with the run's terminal event, or null when
 * the run could not be started. Stops before the next value once stopped() is true; a run the user stopped
 * (stoppedBy 'cancel') is not counted as completed.
 */
export async function runSweepLoop(
  values: number[],
  runOne: (s: number, index: number) => Promise<TerminalEvent | null>,
  stopped: () => boolean,
): Promise<SweepLoopResult> {
  const completed: SweepLoopResult['completed'] = [];
  for (let i = 0; i < values.length; i++) {
    const s = values[i]!;
    if (stopped()) return { completed, outcome: 'stopped' };
    const end = await runOne(s, i);
    if (end === null) return { completed, outcome: 'failed', failure: { s, message: 'the run could not be started' } };
    if (end.type === 'run/failed')
      return { completed, outcome: 'failed', failure: { s, message: end.payload.message } };
    if (end.payload.stoppedBy === 'cancel') return { completed, outcome: 'stopped' };
    completed.push({ s, summary: end.payload });
  }
  return { completed, outcome: 'done' };
}
