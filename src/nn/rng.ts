/**
 * The seeded random number generator every run draws from: xoshiro128** (Blackman and Vigna) over four
 * 32-bit words, seeded through splitmix32, in pure 32-bit integer math so that a seed gives the same bits
 * on every machine and Node.js version.
 */

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_MINUS_24 = 2 ** -24;
const TWO_POW_MINUS_53 = 2 ** -53;

/** Murmur3's 32-bit finalizer: a bijection on uint32 that maps 0 to 0 and spreads every input bit. */
function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function checkSeed(seed: number): void {
  if (typeof seed !== 'number') {
    throw new TypeError(`Expected a non-negative integer for seed but received ${String(seed)} of type ${typeof seed}`);
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`Expected a non-negative integer for seed (at most 2^53 − 1) but received ${seed}`);
  }
}

/**
 * Everything a generator will draw from: its four state words and the second normal of a pair, if one
 * waits. Plain data, so a run can be stopped and resumed bit for bit.
 */
export interface RngState {
  words: [number, number, number, number];
  /** The normal the polar method made along with the last one it returned; null if none waits. */
  spareNormal: number | null;
}

function checkState(state: RngState): void {
  const words = state?.words;
  if (!Array.isArray(words) || words.length !== 4 || !words.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)) {
    throw new RangeError(`Expected four integers from 0 to 2^32 − 1 for words but received ${String(words)}`);
  }
  // xoshiro's one forbidden state: all-zero words would draw zeros forever.
  if (words.every((w) => w === 0)) throw new RangeError('Expected state words that are not all zero');
  if (state.spareNormal !== null && (typeof state.spareNormal !== 'number' || !Number.isFinite(state.spareNormal))) {
    throw new RangeError(`Expected a finite number or null for spareNormal but received ${String(state.spareNormal)}`);
  }
}

function checkFinite(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RangeError(`Expected a finite number for ${name} but received ${String(value)}`);
  }
}

/**
 * A seeded xoshiro128** generator. Same seed, same sequence, bit for bit.
 *
 * @example
 * const rng = new Rng(1);
 * const weights = new Float32Array(784 * 256);
 * rng.fillNormal(weights, 0, 1 / Math.sqrt(784));
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The polar method makes normals in pairs; the second waits here for the next call. */
  private spareNormal = 0;
  private hasSpareNormal = false;

  /**
   * @param seed - A non-negative safe integer. The low 32 bits drive splitmix32; the high bits, when
   *   present, are mixed into every state word, so seeds below 2^32 keep the plain splitmix32 seeding.
   * @throws TypeError if seed is not a number; RangeError if it is not a non-negative safe integer.
   */
  constructor(seed: number) {
    checkSeed(seed);
    const hiMix = fmix32(Math.floor(seed / TWO_POW_32));
    let counter = seed >>> 0;
    // splitmix32: consecutive counter values through a bijection, so the four words are never all zero.
    const next = (): number => {
      counter = (counter + 0x9e3779b9) >>> 0;
      return (fmix32(counter) ^ hiMix) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** This generator's state, to continue the same sequence later with {@link Rng.setState}. */
  getState(): RngState {
    // The words are kept as int32 between draws; the state speaks uint32.
    return { words: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spareNormal: this.hasSpareNormal ? this.spareNormal : null };
  }

  /**
   * Continues from a state {@link Rng.getState} returned: the draws that follow are those the generator
   * that gave the state would have drawn.
   *
   * @throws RangeError if the words are not four uint32 values, not all zero, or the spare normal is not
   *   finite.
   */
  setState(state: RngState): this {
    checkState(state);
    [this.s0, this.s1, this.s2, this.s3] = state.words;
    this.hasSpareNormal = state.spareNormal !== null;
    this.spareNormal = state.spareNormal ?? 0;
    return this;
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 24 random bits, so it is exact in a Float32Array too. */
  nextFloat(): number {
    return (this.nextUint32() >>> 8) * TWO_POW_MINUS_24;
  }

  /** A uniform double in [0, 1) with 53 random bits (two draws). */
  nextDouble(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 0x400_0000 + lo) * TWO_POW_MINUS_53;
  }

  /**
   * A uniform integer in [0, bound), without modulo bias: draws below 2^32 mod bound are rejected
   * (at most one draw in two, on average far fewer).
   *
   * @param bound - An integer from 1 to 2^32.
   * @throws RangeError if bound is out of range.
   */
  uniformInt(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > TWO_POW_32) {
      throw new RangeError(`Expected an integer from 1 to 2^32 for bound but received ${String(bound)}`);
    }
    const threshold = (TWO_POW_32 - bound) % bound;
    for (;;) {
      const x = this.nextUint32();
      if (x >= threshold) return x % bound;
    }
  }

  /** A normal draw N(mean, std²), by Marsaglia's polar method on 53-bit uniforms. */
  normal(mean = 0, std = 1): number {
    if (this.hasSpareNormal) {
      this.hasSpareNormal = false;
      return mean + std * this.spareNormal;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.nextDouble() - 1;
      v = 2 * this.nextDouble() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const factor = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * factor;
    this.hasSpareNormal = true;
    return mean + std * (u * factor);
  }

  /**
   * Fills `out` with draws from N(mean, std²), in index order.
   *
   * @throws RangeError if mean is not finite or std is negative or not finite.
   */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    checkFinite('mean', mean);
    checkFinite('std', std);
    if (std < 0) throw new RangeError(`Expected a non-negative std but received ${std}`);
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /**
   * Fills `out` with uniform draws from [low, high) (rounding to float32 may reach high when the range is
   * wide relative to its ends).
   *
   * @throws RangeError if low or high is not finite, or low > high.
   */
  fillUniform(out: Float32Array, low = 0, high = 1): Float32Array {
    checkFinite('low', low);
    checkFinite('high', high);
    if (low > high) throw new RangeError(`Expected low ≤ high but received low ${low} and high ${high}`);
    const width = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + width * this.nextFloat();
    return out;
  }

  /**
   * A new generator whose seed is drawn from this one (53 bits): deterministic, and a different stream
   * from this generator's own continuation. Advances this generator by two draws.
   */
  fork(): Rng {
    const hi = this.nextUint32() >>> 11;
    const lo = this.nextUint32();
    return new Rng(hi * TWO_POW_32 + lo);
  }
}
