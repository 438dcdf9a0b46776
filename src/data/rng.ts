/**
 * The one seeded random number generator: xoshiro128** over 32-bit integer arithmetic,
 * seeded through splitmix32. Only integer ops, `/` and `Math.sqrt` (correctly rounded) are
 * used, so the same seed gives the same bits in every JavaScript engine; its whole state is
 * four numbers, so a checkpoint can store and restore it exactly.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  constructor(seed = 0) {
    if (!Number.isInteger(seed)) throw new RangeError(`Rng seed must be a whole number, got ${seed}`);
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n >= 1 && n <= 4294967296 && Number.isInteger(n))) throw new RangeError(`Rng.int needs a whole n in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let u = this.nextU32();
    while (u >= limit) u = this.nextU32();
    return u % n;
  }

  /**
   * Standard normal by the Marsaglia polar method. It needs a logarithm, and engines'
   * Math.log may differ in the last bit, so the log is computed by `deterministicLog`.
   */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const m = Math.sqrt((-2 * deterministicLog(s)) / s);
        this.spareNormal = v * m;
        return u * m;
      }
    }
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp as never;
    }
  }

  /** The full state, for checkpoints. */
  getState(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0, this.spareNormal ?? NaN];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 5 || state.slice(0, 4).some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`Rng state must be four uint32 words and a spare normal, got [${state.join(", ")}]`);
    }
    [this.s0, this.s1, this.s2, this.s3] = state;
    this.spareNormal = Number.isNaN(state[4]) ? null : state[4];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Natural log for x in (0, 1] using only arithmetic that IEEE 754 rounds the same way in
 * every engine: x = m·2^e with m in [1/√2, √2), then ln m = 2·atanh((m−1)/(m+1)) by its
 * series (|s| < 0.172, 12 terms: error < 1e-16 relative), plus e·ln 2.
 */
export function deterministicLog(x: number): number {
  let e = 0;
  while (x < Math.SQRT1_2) {
    x *= 2;
    e--;
  }
  while (x >= Math.SQRT2) {
    x /= 2;
    e++;
  }
  const s = (x - 1) / (x + 1);
  const s2 = s * s;
  let term = s;
  let sum = 0;
  for (let k = 1; k <= 23; k += 2) {
    sum += term / k;
    term *= s2;
  }
  return 2 * sum + e * 0.6931471805599453;
}
