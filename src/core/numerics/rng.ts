// The seeded random generators, all of them: Rng, the one generator of a run (sfc32 seeded through splitmix32), so
// every draw of a run (pair sampling, mixup weights, shuffles, initialisation) is reproducible from the integer seed
// and a run can be resumed bit-exactly from getState(); and mulberry32, the data splits' generator (the built-in
// MNIST-LT split and the benchmarks' synthetic inputs), kept as it is so the split a seed draws never changes.

/** One step of splitmix32 on a 32-bit state; returns [newState, output]. */
function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) | 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [s, z >>> 0];
}

/** A seeded pseudo-random generator (sfc32); all randomness of a run flows through one instance. */
export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /** Seeds the generator from an integer (any JS number; it is reduced to 32 bits). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
    let s = Math.trunc(seed) | 0;
    // Mix the high bits of large seeds in too, so seeds differing above bit 31 differ.
    s ^= Math.trunc(seed / 4294967296) | 0;
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [ns, z] = splitmix32(s);
      s = ns;
      out.push(z);
    }
    [this.a, this.b, this.c, this.d] = out as [number, number, number, number];
    if ((this.a | this.b | this.c) === 0) this.a = 1;
    // Discard the first outputs, as recommended for sfc32.
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** A uniform double in [a, b). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** A standard normal draw (Box-Muller; no cached spare, so the state is just the four words). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** An index drawn with probability proportional to weights (non-negative, positive sum). */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`Rng.categorical: weight ${i} is ${w}`);
      total += w;
    }
    if (!(total > 0)) throw new RangeError('Rng.categorical: weights sum to 0');
    const u = this.next() * total;
    let acc = 0;
    let last = -1;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (w <= 0) continue;
      acc += w;
      last = i;
      if (u < acc) return i;
    }
    return last; // rounding: u landed on the total
  }

  /** Shuffles xs in place (Fisher-Yates) and returns it. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i]!;
      xs[i] = xs[j]!;
      xs[j] = t;
    }
    return xs;
  }

  /** The full generator state (four 32-bit words), JSON-safe. */
  getState(): number[] {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  /** A generator that continues exactly where the one that produced s stopped. */
  static fromState(s: number[]): Rng {
    if (!Array.isArray(s) || s.length !== 4 || s.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffffffff)) {
      throw new RangeError('Rng.fromState: expected four unsigned 32-bit integers');
    }
    const r = new Rng(0);
    r.a = s[0]! | 0;
    r.b = s[1]! | 0;
    r.c = s[2]! | 0;
    r.d = s[3]! | 0;
    return r;
  }
}

/**
 * mulberry32: the data splits' seeded generator of uniforms in [0, 1) (k / 2^32), so a split is reproducible from its
 * seed. Not the run's generator (Rng): the built-in MNIST-LT split has always been drawn with it, and changing it would
 * change the demo's data.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
