// A starting model at chance level: its validation accuracy is within sampling noise of 1/K. That is what a model
// fed inputs it was never trained on gives (unnormalised pixels, the wrong preset, channels in the wrong order), and
// fine-tuning from it "succeeds" without a word unless the run says so loudly.

/** What the chance-level check found (report.json's `startAtChance`). */
export interface ChanceCheck {
  accuracy: number;
  /** 1/K. */
  chance: number;
  /** 1/K + 3 standard errors of a chance-level accuracy on n examples: at or below it is "at chance". */
  bound: number;
  examples: number;
  message: string;
}

/** The check of a starting model's validation accuracy against chance (1/K), or null when it is clearly above. */
export function chanceLevel(accuracy: number, K: number, examples: number, hint: string): ChanceCheck | null {
  if (!(K >= 2) || !(examples > 0)) return null;
  const chance = 1 / K;
  const bound = chance + 3 * Math.sqrt((chance * (1 - chance)) / examples);
  if (accuracy > bound) return null;
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  return {
    accuracy,
    chance,
    bound,
    examples,
    message: `the starting model is at chance level on validation: accuracy ${pct(accuracy)} on ${examples} examples, chance 1/K = ${pct(chance)} (within noise: at most ${pct(bound)}). ${hint}`,
  };
}
