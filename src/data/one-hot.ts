/** One-hot target rows for the softmax cross-entropy. */

/**
 * Row i is all zeros except a 1 in column labels[i].
 *
 * @returns labels.length × classes floats.
 * @throws RangeError if classes is not a positive integer or a label is not an integer below classes.
 */
export function oneHot(labels: ArrayLike<number>, classes: number): Float32Array {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`Expected a positive integer for classes but received ${String(classes)}`);
  }
  const out = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new RangeError(`Expected labels from 0 to ${classes - 1} but received ${label} at index ${i}`);
    }
    out[i * classes + label] = 1;
  }
  return out;
}
