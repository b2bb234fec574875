/**
 * A float64 multilayer perceptron in plain TypeScript, written for clarity rather than speed: the reference
 * the float32 layers and Mlp are checked against. Each operation's forward sits beside its backward, and
 * every backward line carries, as a comment, the forward line it differentiates.
 *
 * Matrices are row-major arrays with their shapes passed explicitly: a batch is (B×C), one row per sample.
 */

export type ReferenceActivation = 'sigmoid' | 'relu';

/** Anything indexable by number: number[], Float32Array, Float64Array. */
export type Values = ArrayLike<number>;

// ---------------------------------------------------------------------------------------------- inner product

/** out = x·w + b.  x is (B,C), w is (C,OC), b is (OC); out is (B,OC). */
export function innerProductForward(x: Values, w: Values, b: Values, B: number, C: number, OC: number): Float64Array {
  const out = new Float64Array(B * OC);
  for (let i = 0; i < B; i++) {
    for (let o = 0; o < OC; o++) {
      let sum = b[o]!;
      for (let c = 0; c < C; c++) sum += x[i * C + c]! * w[c * OC + o]!;
      out[i * OC + o] = sum;
    }
  }
  return out;
}

/** Given dout (B,OC) and the forward's x (B,C) and w (C,OC): dx (B,C), dw (C,OC), db (OC). */
export function innerProductBackward(
  dout: Values,
  x: Values,
  w: Values,
  B: number,
  C: number,
  OC: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(B * C);
  const dw = new Float64Array(C * OC);
  const db = new Float64Array(OC);
  for (let i = 0; i < B; i++) {
    for (let o = 0; o < OC; o++) {
      const d = dout[i * OC + o]!;
      // out[i][o] = b[o] + ...
      db[o]! += d;
      for (let c = 0; c < C; c++) {
        // out[i][o] += x[i][c] · w[c][o]
        dx[i * C + c]! += d * w[c * OC + o]!;
        dw[c * OC + o]! += d * x[i * C + c]!;
      }
    }
  }
  return { dx, dw, db };
}

// ------------------------------------------------------------------------------------------------ activations

/** y = σ(x) = 1 / (1 + e^(−x)), elementwise. */
export function sigmoidForward(x: Values): Float64Array {
  return Float64Array.from(x, (v) => 1 / (1 + Math.exp(-v)));
}

/** Given dy and the forward's output y. */
export function sigmoidBackward(dy: Values, y: Values): Float64Array {
  // y = σ(x)  ⇒  dσ/dx = σ(x)·(1 − σ(x)) = y·(1 − y)
  return Float64Array.from(dy, (d, i) => d * y[i]! * (1 - y[i]!));
}

/** y = max(0, x), elementwise (ReLU). */
export function reluForward(x: Values): Float64Array {
  return Float64Array.from(x, (v) => Math.max(0, v));
}

/** Given dy and the forward's output y. */
export function reluBackward(dy: Values, y: Values): Float64Array {
  // y = max(0, x)  ⇒  dy/dx = 1 where x > 0 (that is, y > 0), else 0
  return Float64Array.from(dy, (d, i) => (y[i]! > 0 ? d : 0));
}

export function activationForward(kind: ReferenceActivation, x: Values): Float64Array {
  return kind === 'sigmoid' ? sigmoidForward(x) : reluForward(x);
}

export function activationBackward(kind: ReferenceActivation, dy: Values, y: Values): Float64Array {
  return kind === 'sigmoid' ? sigmoidBackward(dy, y) : reluBackward(dy, y);
}

// ---------------------------------------------------------------------------------- softmax cross-entropy

/** Index of the largest value of row i of an (B,V) matrix, the first one on ties. */
export function argmaxRow(x: Values, i: number, V: number): number {
  let best = 0;
  for (let j = 1; j < V; j++) if (x[i * V + j]! > x[i * V + best]!) best = j;
  return best;
}

/**
 * p = softmax(z) per row; loss = −(1/B)·Σ_i log p[i][t_i]; correct = rows whose argmax(z) is t_i.
 * logits z is (B,V), labels t is (B); probabilities p is (B,V).
 */
export function softmaxCrossEntropyForward(
  logits: Values,
  labels: Values,
  B: number,
  V: number,
): { loss: number; correct: number; probabilities: Float64Array } {
  const probabilities = new Float64Array(B * V);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < B; i++) {
    // Subtracting the row's largest score keeps e^z finite; softmax is unchanged by the shift.
    const max = logits[i * V + argmaxRow(logits, i, V)]!;
    let sum = 0;
    for (let j = 0; j < V; j++) sum += (probabilities[i * V + j] = Math.exp(logits[i * V + j]! - max));
    for (let j = 0; j < V; j++) probabilities[i * V + j]! /= sum;
    const t = labels[i]!;
    loss -= Math.log(probabilities[i * V + t]!);
    if (argmaxRow(logits, i, V) === t) correct++;
  }
  return { loss: loss / B, correct, probabilities };
}

/** d(loss)/d(logits) (B,V), from the forward's probabilities (B,V) and the labels (B). */
export function softmaxCrossEntropyBackward(probabilities: Values, labels: Values, B: number, V: number): Float64Array {
  const dlogits = new Float64Array(B * V);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < V; j++) {
      // loss = −(1/B)·Σ_i (z[i][t_i] − log Σ_j e^z[i][j])  ⇒  dloss/dz[i][j] = (p[i][j] − [j = t_i]) / B
      dlogits[i * V + j] = (probabilities[i * V + j]! - (j === labels[i] ? 1 : 0)) / B;
    }
  }
  return dlogits;
}

// ------------------------------------------------------------------------------------------------------- MLP

/** inner product → activation for each hidden layer, then an inner product to the classes and softmax. */
export interface ReferenceMlp {
  /** [inputs, hidden widths..., classes]. */
  widths: number[];
  /** One per hidden layer: activations[l] follows inner product l. */
  activations: ReferenceActivation[];
  /** weights[l] is (widths[l] × widths[l+1]), row-major. */
  weights: Values[];
  /** biases[l] is (widths[l+1]). */
  biases: Values[];
}

export interface ReferenceForward {
  loss: number;
  correct: number;
  /** Class scores (B, classes) before the softmax. */
  scores: Float64Array;
  /** softmax(scores) (B, classes). */
  probabilities: Float64Array;
  /** inputs[l] is what inner product l read (B, widths[l]); inputs[0] is x. */
  inputs: Float64Array[];
  /** outputs[l] is activation l's output (B, widths[l+1]). */
  outputs: Float64Array[];
}

export interface ReferenceGradients {
  /** dW[l] is (widths[l] × widths[l+1]). */
  dW: Float64Array[];
  /** dB[l] is (widths[l+1]). */
  dB: Float64Array[];
  /** d(loss)/dx (B, inputs). */
  dX: Float64Array;
}

function checkReference(net: ReferenceMlp, x: Values, labels: Values, B: number): void {
  const L = net.widths.length - 1;
  if (L < 1 || net.activations.length !== L - 1 || net.weights.length !== L || net.biases.length !== L) {
    throw new Error('reference MLP: widths, activations, weights and biases disagree on the layer count');
  }
  for (let l = 0; l < L; l++) {
    if (net.weights[l]!.length !== net.widths[l]! * net.widths[l + 1]!) throw new Error(`reference MLP: weights[${l}] has the wrong length`);
    if (net.biases[l]!.length !== net.widths[l + 1]!) throw new Error(`reference MLP: biases[${l}] has the wrong length`);
  }
  if (x.length !== B * net.widths[0]! || labels.length !== B) throw new Error('reference MLP: x or labels has the wrong length');
}

/** Mean cross-entropy, correct count and probabilities of a batch x (B, inputs) with labels (B). */
export function referenceForward(net: ReferenceMlp, x: Values, labels: Values, B: number): ReferenceForward {
  checkReference(net, x, labels, B);
  const { widths } = net;
  const L = widths.length - 1;
  const inputs: Float64Array[] = [Float64Array.from(x)];
  const outputs: Float64Array[] = [];
  let h = inputs[0]!;
  for (let l = 0; l < L; l++) {
    const z = innerProductForward(h, net.weights[l]!, net.biases[l]!, B, widths[l]!, widths[l + 1]!);
    if (l === L - 1) {
      const { loss, correct, probabilities } = softmaxCrossEntropyForward(z, labels, B, widths[L]!);
      return { loss, correct, scores: z, probabilities, inputs, outputs };
    }
    h = activationForward(net.activations[l]!, z);
    outputs.push(h);
    inputs.push(h);
  }
  throw new Error('unreachable');
}

/** d(mean loss) with respect to every weight, bias and the input, from a forward pass's cache. */
export function referenceBackward(net: ReferenceMlp, forward: ReferenceForward, labels: Values, B: number): ReferenceGradients {
  const { widths } = net;
  const L = widths.length - 1;
  const dW: Float64Array[] = new Array<Float64Array>(L);
  const dB: Float64Array[] = new Array<Float64Array>(L);
  // loss = softmaxCrossEntropy(scores, labels)
  let dz = softmaxCrossEntropyBackward(forward.probabilities, labels, B, widths[L]!);
  for (let l = L - 1; l >= 0; l--) {
    // z_l = h_l · W_l + b_l
    const { dx, dw, db } = innerProductBackward(dz, forward.inputs[l]!, net.weights[l]!, B, widths[l]!, widths[l + 1]!);
    dW[l] = dw;
    dB[l] = db;
    if (l === 0) return { dW, dB, dX: dx };
    // h_l = act_{l−1}(z_{l−1})
    dz = activationBackward(net.activations[l - 1]!, dx, forward.outputs[l - 1]!);
  }
  throw new Error('unreachable');
}

// ------------------------------------------------------------------------------------ finite differences

export interface FiniteDifference {
  index: number;
  /** (L(θ₊) − L(θ₋)) / (θ₊ − θ₋). */
  numeric: number;
  analytic: number;
}

/**
 * Central differences of a scalar objective with respect to entries of an array (float32 for the layers,
 * float64 for the reference itself), compared with the analytic gradient. The step is step·max(1, |θ|); the
 * quotient divides by the values actually stored (θ₊ − θ₋), so the rounding of θ ± h does not bias it. Entries whose `pattern` (for instance the
 * sign pattern of ReLU inputs) differs at θ₊ or θ₋ from θ straddle a kink, where the difference quotient
 * is not the derivative; they are skipped and counted. Every entry is restored.
 */
export function finiteDifferences(options: {
  values: Float32Array | Float64Array;
  analytic: Values;
  objective: () => number;
  indices?: number[];
  step?: number;
  pattern?: () => string;
}): { checked: FiniteDifference[]; skipped: number } {
  const { values, analytic, objective, pattern } = options;
  const step = options.step ?? 1e-2;
  const indices = options.indices ?? Array.from(values, (_, i) => i);
  const base = pattern?.();
  const checked: FiniteDifference[] = [];
  let skipped = 0;
  for (const index of indices) {
    const theta = values[index]!;
    const h = step * Math.max(1, Math.abs(theta));
    values[index] = theta + h;
    const plus = values[index]!;
    const lossPlus = objective();
    const patternPlus = pattern?.();
    values[index] = theta - h;
    const minus = values[index]!;
    const lossMinus = objective();
    const patternMinus = pattern?.();
    values[index] = theta;
    if (patternPlus !== base || patternMinus !== base) {
      skipped++;
      continue;
    }
    checked.push({ index, numeric: (lossPlus - lossMinus) / (plus - minus), analytic: analytic[index]! });
  }
  return { checked, skipped };
}

/** The largest |numeric − analytic| / (atol + rtol·|analytic|): at most 1 when every entry is within tolerance. */
export function worstFiniteDifference(checked: FiniteDifference[], atol: number, rtol: number): number {
  let worst = 0;
  for (const c of checked) {
    const e = Math.abs(c.numeric - c.analytic) / (atol + rtol * Math.abs(c.analytic));
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/** Σ r ⊙ y accumulated in float64: a scalar objective whose gradient with respect to y is r. */
export function weightedSum(r: Values, y: Values): number {
  let sum = 0;
  for (let i = 0; i < r.length; i++) sum += r[i]! * y[i]!;
  return sum;
}
