/** Seeded shuffles and K-fold splits of sample indices. */

/** What a split needs from a random generator; `Rng` from nn satisfies it without data importing nn. */
export interface RandomSource {
  nextUint32(): number;
  /** A uniform integer in [0, bound). */
  uniformInt(bound: number): number;
}

/** One fold of a K-fold split: the validation part is one of the K parts, the training part the rest. */
export interface Fold {
  /** 1-based fold number. */
  fold: number;
  train: Int32Array;
  validation: Int32Array;
}

/** Largest K accepted by {@link kFold}. */
export const MAX_FOLDS = 10;

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fff_ffff) {
    throw new RangeError(`Expected an integer from 0 to 2^31 − 1 for n but received ${String(n)}`);
  }
}

/**
 * The indices 0..n−1 in a uniformly random order (Fisher–Yates, drawing from the end).
 *
 * @throws RangeError if n is not an integer from 0 to 2^31 − 1.
 */
export function shuffledIndices(n: number, random: RandomSource): Int32Array {
  checkCount(n);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return shuffleInPlace(order, random);
}

/** Shuffles the array in place (Fisher–Yates, drawing from the end) and returns it. */
export function shuffleInPlace(order: Int32Array, random: RandomSource): Int32Array {
  for (let i = order.length - 1; i > 0; i--) {
    const j = random.uniformInt(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/**
 * Splits 0..n−1 into k folds: one shuffle, then k contiguous parts whose sizes differ by at most one (the
 * first n mod k parts are one longer). Fold f validates on part f and trains on the other parts, in their
 * shuffled order.
 *
 * @throws RangeError if n is not a valid count, or k is not an integer from 2 to 10 and at most n.
 */
export function kFold(n: number, k: number, random: RandomSource): Fold[] {
  checkCount(n);
  if (!Number.isInteger(k) || k < 2 || k > MAX_FOLDS) {
    throw new RangeError(`Expected an integer from 2 to ${MAX_FOLDS} for k but received ${String(k)}`);
  }
  if (k > n) {
    throw new RangeError(`Expected k at most the number of samples (${n}) but received ${k}`);
  }
  const order = shuffledIndices(n, random);
  const base = Math.floor(n / k);
  const longer = n % k;
  const folds: Fold[] = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const end = start + base + (f < longer ? 1 : 0);
    const train = new Int32Array(n - (end - start));
    train.set(order.subarray(0, start), 0);
    train.set(order.subarray(end), start);
    folds.push({ fold: f + 1, train, validation: order.slice(start, end) });
    start = end;
  }
  return folds;
}
