// The pair sampler of docs/ALGORITHM.md section 4 (FastJointSampler semantics): anchor class from the
// smoothed row mass of P, partner class from the smoothed row of P, examples uniform within class.
import { TrainingError } from '../errors';
import type { Rng } from './rng';

/** Arguments of PairSampler. */
export interface PairSamplerArgs {
  /**
   * The sampling distribution P (K x K, row-major). Kept by reference: a partner row is read when its anchor class is
   * first drawn, so P must not change while the sampler is in use (the loop replaces P at a refresh, never edits it).
   */
  P: Float64Array;
  K: number;
  /** Indices (into the caller's anchor set) of each class's anchor examples. */
  anchorsByClass: number[][];
  /** Indices (into the caller's partner set) of each class's partner examples. */
  partnersByClass: number[][];
  /** Smoothing eps' (default 1/K^3, docs/ALGORITHM.md section 4). */
  eps?: number;
  rng: Rng;
}

/**
 * The work arrays of AliasTable's construction over n outcomes, for a sampler to reuse across its tables (at K = 1000
 * a refresh interval builds hundreds of partner tables; fresh work arrays for each took about a fifth of their time).
 */
class AliasWork {
  readonly scaled: Float64Array;
  /** The two work lists as typed stacks (each index is on at most one of them at a time). */
  readonly small: Int32Array;
  readonly large: Int32Array;

  constructor(n: number) {
    this.scaled = new Float64Array(n);
    this.small = new Int32Array(n);
    this.large = new Int32Array(n);
  }
}

/** A Walker/Vose alias table over n outcomes: one uniform draw and one comparison per sample. */
class AliasTable {
  readonly prob: Float64Array;
  readonly alias: Int32Array;

  /** Builds the table from non-negative weights with a positive sum (work: arrays for n outcomes, else fresh ones). */
  constructor(w: Float64Array, work: AliasWork = new AliasWork(w.length)) {
    const n = w.length;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += w[i]!;
    const { scaled, small, large } = work;
    let ns = 0,
      nl = 0;
    for (let i = 0; i < n; i++) {
      scaled[i] = (w[i]! * n) / total;
      if (scaled[i]! < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns]!;
      const l = large[nl - 1]!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) {
        nl--;
        small[ns++] = l;
      }
    }
    // Leftovers are 1 up to rounding; a zero-weight leftover must never be returned.
    for (let q = 0; q < nl; q++) {
      const i = large[q]!;
      this.prob[i] = 1;
      this.alias[i] = i;
    }
    for (let q = 0; q < ns; q++) {
      const i = small[q]!;
      this.prob[i] = w[i]! > 0 ? 1 : 0;
      this.alias[i] = w[i]! > 0 ? i : firstPositive(w);
    }
  }

  /** One draw given a uniform u in [0, 1). */
  sample(u: number): number {
    const x = u * this.prob.length;
    const i = Math.min(this.prob.length - 1, Math.floor(x));
    return x - i < this.prob[i]! ? i : this.alias[i]!;
  }
}

/** Index of the first positive weight (the caller guarantees one exists). */
function firstPositive(w: Float64Array): number {
  for (let i = 0; i < w.length; i++) if (w[i]! > 0) return i;
  return 0;
}

/**
 * Draws (anchor, partner) example pairs from P with the smoothing of docs/ALGORITHM.md section 4; O(1) per draw. A
 * partner row's alias table is built the first time its anchor class is drawn: at K = 1000 the K tables of K entries
 * cost 20 to 30 ms at every refresh, while the 10 to 50 steps until the next one draw from a few hundred rows. Draws
 * do not depend on when a table is built.
 */
export class PairSampler {
  private readonly K: number;
  private readonly P: Float64Array;
  private readonly eps: number;
  private readonly anchorsByClass: number[][];
  private readonly partnersByClass: number[][];
  private readonly hasPartner: Uint8Array;
  private readonly rng: Rng;
  private readonly pAnchor: Float64Array;
  private readonly anchorTable: AliasTable;
  /** Row i's alias table over p(j | i), once built (null until its anchor class is first drawn). */
  private readonly partnerTables: (AliasTable | null)[];
  /** A partner row's weights and the construction's work arrays, reused by every partner table (K each). */
  private partnerWork: { row: Float64Array; alias: AliasWork } | null = null;

  /** Builds the anchor table p(i) ∝ sum_j P_ij + K eps; p(j|i) ∝ P_ij + eps, over classes with partners, on demand. */
  constructor(args: PairSamplerArgs) {
    const { P, K } = args;
    if (P.length !== K * K) throw new RangeError(`PairSampler: P has ${P.length} entries, expected ${K * K}`);
    if (args.anchorsByClass.length !== K || args.partnersByClass.length !== K) {
      throw new RangeError(`PairSampler: anchorsByClass and partnersByClass must have K = ${K} entries`);
    }
    const eps = args.eps ?? 1 / (K * K * K);
    if (!(eps >= 0)) throw new RangeError(`PairSampler: eps must be >= 0, got ${eps}`);
    this.K = K;
    this.P = P;
    this.eps = eps;
    this.anchorsByClass = args.anchorsByClass;
    this.partnersByClass = args.partnersByClass;
    this.rng = args.rng;
    const partnerClass = Uint8Array.from({ length: K }, (_, j) => (args.partnersByClass[j]!.length > 0 ? 1 : 0));
    this.hasPartner = partnerClass;
    const hasAnchor = (i: number): boolean => args.anchorsByClass[i]!.length > 0;
    if (!partnerClass.includes(1)) {
      throw new TrainingError(
        'no partner example to mix with: every class of the partner set is empty. With an unlabeled set and ' +
          'selmix.partnerLabels "pseudo", this happens when every unlabeled example is below selmix.pseudoLabelThreshold: lower the ' +
          'threshold (0 keeps every example), use a larger unlabeled set, or start from a more confident model.',
      );
    }
    // Row sums for the anchor weights; each partner row's sum over classes with partners decides whether the row can
    // be drawn from (docs/ALGORITHM.md section 4).
    const aw = new Float64Array(K);
    for (let i = 0; i < K; i++) {
      let rowSum = 0;
      let partnerSum = 0;
      for (let j = 0; j < K; j++) {
        const p = P[i * K + j]!;
        if (!(p >= 0)) throw new RangeError(`PairSampler: P[${i},${j}] = ${p}`);
        rowSum += p;
        if (partnerClass[j] === 1) partnerSum += p + eps;
      }
      // No reachable partner from this anchor class: it is never drawn.
      aw[i] = hasAnchor(i) && partnerSum > 0 ? rowSum + K * eps : 0;
    }
    this.partnerTables = new Array<AliasTable | null>(K).fill(null);
    let total = 0;
    for (let i = 0; i < K; i++) total += aw[i]!;
    if (!(total > 0)) {
      throw new TrainingError(
        'no (anchor, partner) class pair can be drawn: every class with labeled anchor examples has zero ' +
          'probability towards the classes that have partner examples. Set selmix.samplerEps above 0 (the default is 1/K^3), or give ' +
          'the partner set examples of the classes SelMix selects.',
      );
    }
    this.pAnchor = new Float64Array(K);
    for (let i = 0; i < K; i++) this.pAnchor[i] = aw[i]! / total;
    this.anchorTable = new AliasTable(aw);
  }

  /**
   * Row i of the partner weights: P_ij + eps over classes with partners, 0 elsewhere, and their sum (into row when
   * given: every entry is written).
   */
  private partnerRow(i: number, row: Float64Array = new Float64Array(this.K)): { row: Float64Array; sum: number } {
    const { K, P, eps, hasPartner } = this;
    let sum = 0;
    for (let j = 0; j < K; j++) {
      if (hasPartner[j] === 1) {
        row[j] = P[i * K + j]! + eps;
        sum += row[j]!;
      } else row[j] = 0;
    }
    return { row, sum };
  }

  /** The alias table of row i, built on first use (row i has a positive weight: it was drawn). */
  private partnerTable(i: number): AliasTable {
    let t = this.partnerTables[i];
    if (!t) {
      const work = (this.partnerWork ??= { row: new Float64Array(this.K), alias: new AliasWork(this.K) });
      t = new AliasTable(this.partnerRow(i, work.row).row, work.alias);
      this.partnerTables[i] = t;
    }
    return t;
  }

  /** n pairs: example indices into the caller's anchor/partner sets and their classes. */
  draw(n: number): { anchors: Int32Array; partners: Int32Array; anchorClass: Int32Array; partnerClass: Int32Array } {
    const anchors = new Int32Array(n);
    const partners = new Int32Array(n);
    const anchorClass = new Int32Array(n);
    const partnerClass = new Int32Array(n);
    const rng = this.rng;
    for (let t = 0; t < n; t++) {
      const i = this.anchorTable.sample(rng.next());
      const j = this.partnerTable(i).sample(rng.next());
      const as = this.anchorsByClass[i]!;
      const ps = this.partnersByClass[j]!;
      anchorClass[t] = i;
      partnerClass[t] = j;
      anchors[t] = as[rng.int(as.length)]!;
      partners[t] = ps[rng.int(ps.length)]!;
    }
    return { anchors, partners, anchorClass, partnerClass };
  }

  /** The realised joint p(i) p(j|i) of class pairs (K x K), smoothing included. */
  jointProbabilities(): Float64Array {
    const K = this.K;
    const J = new Float64Array(K * K);
    for (let i = 0; i < K; i++) {
      if (!(this.pAnchor[i]! > 0)) continue;
      const { row, sum } = this.partnerRow(i);
      for (let j = 0; j < K; j++) J[i * K + j] = this.pAnchor[i]! * (row[j]! / sum);
    }
    return J;
  }
}
