// Chi-square quantiles for the sampler tests, from the regularized incomplete gamma function
// (series for x < a + 1, Lentz continued fraction otherwise; Lanczos log-gamma).

/** log Gamma(x) for x > 0 (Lanczos, g = 7, n = 9; about 1e-15 relative). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const xx = x - 1;
  let a = c[0]!;
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Upper regularized incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return 1 - sum * Math.exp(lead);
  }
  const tiny = 1e-300;
  let bb = x + 1 - a;
  let c = 1 / tiny;
  let dd = 1 / bb;
  let h = dd;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    bb += 2;
    dd = an * dd + bb;
    if (Math.abs(dd) < tiny) dd = tiny;
    c = bb + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    dd = 1 / dd;
    const delta = dd * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(lead) * h;
}

/** The x with P(chi2_df > x) = p, by bisection on the survival function. */
export function chiSquareQuantileUpper(df: number, p: number): number {
  let lo = 0;
  let hi = df + 20 * Math.sqrt(2 * df) + 100;
  for (let it = 0; it < 200; it++) {
    const mid = (lo + hi) / 2;
    if (gammaQ(df / 2, mid / 2) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Pearson chi-square of counts against probabilities, pooling cells with expected count < 5; returns stat and df. */
export function chiSquare(
  counts: ArrayLike<number>,
  probs: ArrayLike<number>,
  n: number,
): { stat: number; df: number } {
  let stat = 0;
  let cells = 0;
  let poolObs = 0;
  let poolExp = 0;
  for (let t = 0; t < probs.length; t++) {
    const e = probs[t]! * n;
    if (e < 5) {
      poolObs += counts[t]!;
      poolExp += e;
      continue;
    }
    stat += (counts[t]! - e) ** 2 / e;
    cells++;
  }
  if (poolExp > 0) {
    stat += (poolObs - poolExp) ** 2 / poolExp;
    cells++;
  }
  return { stat, df: cells - 1 };
}
