// The unlabeled set's pseudo-labels in words: who labelled it (the model itself or the Mean Teacher) and how many
// unlabeled examples passed the confidence threshold at the last refresh. One sentence for every surface (report.json's
// notes, the run log, report.html, the dashboard's results), so they cannot disagree. Pure.
import type { PseudoLabelSummary } from './messages';

/** Who gave the pseudo-labels, in words. */
export function pseudoLabelSource(pl: PseudoLabelSummary): string {
  return pl.source === 'ema'
    ? `the Mean Teacher (exponential moving average of the weights, decay ${pl.decay})`
    : 'the model being trained';
}

/** The pseudo-labels of a run in one line: their source, and how many unlabeled examples passed the threshold. */
export function pseudoLabelLine(pl: PseudoLabelSummary): string {
  return `unlabeled partners: pseudo-labels from ${pseudoLabelSource(pl)}; ${pl.passed} of ${pl.total} unlabeled examples reached the confidence threshold ${pl.threshold} at the last refresh (step ${pl.step})`;
}
