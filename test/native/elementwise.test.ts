import { afterEach, describe, expect, it } from 'vitest';
import { native, type Isa } from '../../src/native.js';
import { Rng } from '../../src/nn/rng.js';
import { maxRelativeError, randomArray, sigmoid } from '../helpers/reference.js';

const initialIsa = native.getIsa();
const initialThreads = native.getThreads();
// The ISA and the threads are the process's: a test that fails midway must not leave its choice to the next.
afterEach(() => {
  native.setIsa(initialIsa);
  native.setThreads(initialThreads);
});

// Lengths around the vector widths and the parallel chunk (2^15), so every tail is exercised.
const lengths = [1, 7, 16, 17, 33, 1000, (1 << 15) + 3, 100_003];

describe.each(native.supportedIsas())('elementwise kernels on %s', (isa: Isa) => {
  it('sigmoid forward and backward match Math.exp to a few ulp, including the saturated range', () => {
    native.setIsa(isa);
    const rng = new Rng(21);
    for (const n of lengths) {
      const x = randomArray(rng, n, -30, 30);
      x[0] = -200;
      if (n > 1) x[1] = 200;
      const y = new Float32Array(n);
      native.sigmoidForward(x, y);
      expect(maxRelativeError(y, Array.from(x, sigmoid), 1e-30)).toBeLessThan(1e-6);
      const dy = randomArray(rng, n), dx = new Float32Array(n);
      native.sigmoidBackward(y, dy, dx);
      expect(maxRelativeError(dx, Array.from(y, (v, i) => dy[i]! * v * (1 - v)), 1e-30)).toBeLessThan(1e-6);
      // in place
      native.sigmoidForward(x, x);
      expect(x).toEqual(y);
    }
  });

  it('relu forward and backward', () => {
    native.setIsa(isa);
    const rng = new Rng(22);
    for (const n of lengths) {
      const x = randomArray(rng, n), y = new Float32Array(n);
      native.reluForward(x, y);
      expect(y).toEqual(x.map((v) => Math.max(0, v)));
      const dy = randomArray(rng, n), dx = new Float32Array(n);
      native.reluBackward(y, dy, dx);
      expect(dx).toEqual(dy.map((v, i) => (y[i]! > 0 ? v : 0)));
    }
  });

  it('bias add and column sums', () => {
    native.setIsa(isa);
    const rng = new Rng(23);
    // With the empty shapes: no columns (nothing to sum) and no rows (sums of nothing).
    for (const [m, n] of [[1, 1], [3, 17], [2000, 256], [129, 10], [5000, 33], [0, 0], [4, 0], [0, 5]] as const) {
      const x = randomArray(rng, m * n), bias = randomArray(rng, n), y = new Float32Array(m * n);
      native.biasAdd(x, bias, m, n, y);
      expect(y).toEqual(x.map((v, i) => Math.fround(v + bias[i % n]!)));
      const out = randomArray(rng, n), before = out.slice();
      native.columnSums(x, m, n, out, 0.5, 2);
      const expected = new Float64Array(n);
      for (let i = 0; i < m * n; i++) expected[i % n]! += x[i]!;
      for (let j = 0; j < n; j++) expected[j] = 0.5 * expected[j]! + 2 * before[j]!;
      expect(maxRelativeError(out, expected, 1e-3)).toBeLessThan(1e-6);
      native.columnSums(x, m, n, out);
      for (let j = 0; j < n; j++) expect(out[j]).toBeCloseTo((expected[j]! - 2 * before[j]!) * 2, 3);
    }
  });

  it('standardizes chosen rows of bytes with one mean or per-pixel statistics', () => {
    native.setIsa(isa);
    const rng = new Rng(24);
    const rowLength = 37, rows = 50;
    const pixels = Uint8Array.from({ length: rows * rowLength }, () => rng.uniformInt(256));
    const indices = Int32Array.from([49, 0, 7, 7, 23]);
    const global = { mean: Float32Array.of(33.3), invStd: Float32Array.of(1 / 78.6) };
    const perPixel = { mean: randomArray(rng, rowLength, 0, 255), invStd: randomArray(rng, rowLength, 0.01, 1) };
    for (const { mean, invStd } of [global, perPixel]) {
      const out = new Float32Array(indices.length * rowLength);
      native.standardize({ pixels, rowLength, indices, mean, invStd, out });
      for (let r = 0; r < indices.length; r++) {
        for (let j = 0; j < rowLength; j++) {
          const q = mean.length === 1 ? 0 : j;
          const expected = (pixels[indices[r]! * rowLength + j]! - mean[q]!) * invStd[q]!;
          expect(Math.abs(out[r * rowLength + j]! - expected)).toBeLessThan(1e-5 * (1 + Math.abs(expected)));
        }
      }
    }
  });

  it('optimizer updates follow their formulas over several steps', () => {
    native.setIsa(isa);
    const rng = new Rng(25);
    const n = 40_001;
    const w0 = randomArray(rng, n);
    const grads = [randomArray(rng, n), randomArray(rng, n), randomArray(rng, n)];
    const lr = 0.05, decay = 1e-3, mu = 0.9;

    const sgd = w0.slice();
    const sgdRef = Float64Array.from(w0);
    for (const g of grads) {
      native.sgdUpdate(sgd, g, lr, decay);
      for (let i = 0; i < n; i++) sgdRef[i] = sgdRef[i]! - lr * (g[i]! + decay * sgdRef[i]!);
    }
    // Relative to max(|w|, 1): a few float32 roundings per step.
    expect(maxRelativeError(sgd, sgdRef, 1)).toBeLessThan(2e-6);

    for (const nesterov of [false, true]) {
      const w = w0.slice(), v = new Float32Array(n);
      const wRef = Float64Array.from(w0), vRef = new Float64Array(n);
      for (const g of grads) {
        native.momentumUpdate(w, g, v, lr, mu, decay, nesterov);
        for (let i = 0; i < n; i++) {
          const grad = g[i]! + decay * wRef[i]!;
          vRef[i] = mu * vRef[i]! + grad;
          wRef[i] = wRef[i]! - lr * (nesterov ? grad + mu * vRef[i]! : vRef[i]!);
        }
      }
      expect(maxRelativeError(w, wRef, 1)).toBeLessThan(2e-6);
    }

    const w = w0.slice(), m = new Float32Array(n), v = new Float32Array(n);
    const wRef = Float64Array.from(w0), mRef = new Float64Array(n), vRef = new Float64Array(n);
    const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-8];
    grads.forEach((g, s) => {
      const step = s + 1;
      native.adamUpdate(w, g, m, v, { lr: 1e-3, beta1, beta2, epsilon, step, weightDecay: decay });
      for (let i = 0; i < n; i++) {
        mRef[i] = beta1 * mRef[i]! + (1 - beta1) * g[i]!;
        vRef[i] = beta2 * vRef[i]! + (1 - beta2) * g[i]! * g[i]!;
        const update = mRef[i]! / (1 - beta1 ** step) / (Math.sqrt(vRef[i]! / (1 - beta2 ** step)) + epsilon);
        wRef[i] = wRef[i]! - 1e-3 * (update + decay * wRef[i]!);
      }
    });
    expect(maxRelativeError(w, wRef, 1)).toBeLessThan(2e-6);
  });
});

describe('gatherRows', () => {
  it('copies the chosen rows in order and checks every index first', () => {
    const rowLength = 5;
    const bytes = Uint8Array.from({ length: 40 }, (_, i) => i);
    const indices = Int32Array.of(7, 0, 3, 3);
    const out = new Uint8Array(indices.length * rowLength);
    native.gatherRows({ bytes, rowLength, indices, out });
    expect(Array.from(out)).toEqual([...indices].flatMap((r) => Array.from({ length: rowLength }, (_, j) => r * rowLength + j)));
    expect(() => native.gatherRows({ bytes, rowLength, indices: Int32Array.of(8), out })).toThrow(/indices\[0\] to be a row from 0 to 7 but received 8/);
    expect(() => native.gatherRows({ bytes, rowLength, indices, out: new Uint8Array(19) })).toThrow(/out to hold at least 20/);
    expect(() => native.gatherRows({ bytes, rowLength, indices, out: bytes.subarray(10, 30) })).toThrow(/out not to overlap bytes/);
    // Large enough to be split into parallel chunks.
    const big = Uint8Array.from({ length: 3000 * 784 }, (_, i) => (i * 31) % 251);
    const order = Int32Array.from({ length: 3000 }, (_, i) => (i * 1237) % 3000);
    const gathered = new Uint8Array(3000 * 784);
    native.gatherRows({ bytes: big, rowLength: 784, indices: order, out: gathered });
    for (const r of [0, 1, 1499, 2999]) expect(gathered.subarray(r * 784, (r + 1) * 784)).toEqual(big.subarray(order[r]! * 784, (order[r]! + 1) * 784));
  });
});

describe('softmax with cross-entropy', () => {
  function reference(z: Float32Array, labels: number[], m: number, n: number) {
    let loss = 0, correct = 0;
    const p = new Float64Array(m * n), grad = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      const row = Array.from(z.subarray(i * n, (i + 1) * n));
      const max = Math.max(...row);
      const e = row.map((v) => Math.exp(v - max));
      const s = e.reduce((x, y) => x + y, 0);
      loss -= Math.log(e[labels[i]!]! / s);
      if (row.indexOf(max) === labels[i]) correct++;
      for (let j = 0; j < n; j++) {
        p[i * n + j] = e[j]! / s;
        grad[i * n + j] = (e[j]! / s - (j === labels[i] ? 1 : 0)) / m;
      }
    }
    return { loss: loss / m, correct, p, grad };
  }

  it('returns the mean loss, the correct count, probabilities and the gradient (y − t)/m', () => {
    const rng = new Rng(26);
    for (const [m, n] of [[1, 1], [7, 3], [2000, 10], [33, 100]] as const) {
      const logits = randomArray(rng, m * n, -20, 20);
      const labels = Array.from({ length: m }, () => rng.uniformInt(n));
      const ref = reference(logits, labels, m, n);
      const probabilities = new Float32Array(m * n), gradient = new Float32Array(m * n);
      const r = native.softmaxCrossEntropy({ logits, targets: Int32Array.from(labels), m, n, probabilities, gradient });
      expect(r.loss).toBeCloseTo(ref.loss, 6);
      expect(r.correct).toBe(ref.correct);
      // Each probability the float nearest its double value, which is within a few ulp of double.
      expect(maxRelativeError(probabilities, ref.p, 1e-30)).toBeLessThan(2 ** -24 + 1e-14);
      expect(maxRelativeError(gradient, ref.grad, 1e-7 / m)).toBeLessThan(1e-5);

      // One-hot distributions give the same answer; the gradient may overwrite the logits.
      const oneHot = new Float32Array(m * n);
      labels.forEach((l, i) => (oneHot[i * n + l] = 1));
      const inPlace = logits.slice();
      const r2 = native.softmaxCrossEntropy({ logits: inPlace, targets: oneHot, m, n, gradient: inPlace });
      expect(r2.loss).toBeCloseTo(ref.loss, 6);
      expect(r2.correct).toBe(ref.correct);
      expect(inPlace).toEqual(gradient);
    }
  });

  it('sums the rows in order whatever the threads: the loss is the row-by-row sum, every bit the same', () => {
    const rng = new Rng(27);
    const m = 5003, n = 10;
    const logits = randomArray(rng, m * n, -15, 15);
    const targets = Int32Array.from({ length: m }, () => rng.uniformInt(n));
    let sum = 0;
    for (let i = 0; i < m; i++) sum += native.softmaxCrossEntropy({ logits: logits.subarray(i * n, (i + 1) * n), targets: targets.subarray(i, i + 1), m: 1, n }).loss;
    const runs = [1, 2].map((threads) => {
      native.setThreads(threads);
      const gradient = new Float32Array(m * n);
      return { ...native.softmaxCrossEntropy({ logits, targets, m, n, gradient }), gradient };
    });
    expect(runs[0]!.loss).toBe(sum / m);
    expect(runs[1]).toEqual(runs[0]);
  });

  it('gives the same bits on every instruction set, including scores whose exponentials underflow', () => {
    const rng = new Rng(28);
    const m = 300, n = 10;
    const logits = randomArray(rng, m * n, -30, 30);
    for (let i = 0; i < 40; i++) logits[rng.uniformInt(m * n)] = -800 + 100 * rng.nextFloat();
    const targets = Int32Array.from({ length: m }, () => rng.uniformInt(n));
    const runs = native.supportedIsas().map((isa) => {
      native.setIsa(isa);
      const probabilities = new Float32Array(m * n), gradient = new Float32Array(m * n);
      return { ...native.softmaxCrossEntropy({ logits, targets, m, n, probabilities, gradient }), probabilities, gradient };
    });
    for (const run of runs.slice(1)) expect(run).toEqual(runs[0]);
    // e^(−1000) is 0 in double: a probability of exactly 0 and a loss of the score's distance to the best.
    const far = native.softmaxCrossEntropy({ logits: Float32Array.of(0, -1000), targets: Int32Array.of(1), m: 1, n: 2, probabilities: new Float32Array(2) });
    expect(far.loss).toBe(1000);
    expect(Number.isNaN(native.softmaxCrossEntropy({ logits: Float32Array.of(0, Number.NaN), targets: Int32Array.of(0), m: 1, n: 2 }).loss)).toBe(true);
  });

  it('stays finite for extreme scores', () => {
    const logits = Float32Array.of(1e30, -1e30, 0, 88, -88, 3e38);
    const r = native.softmaxCrossEntropy({ logits, targets: Int32Array.of(1, 2), m: 2, n: 3 });
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.correct).toBe(1);
  });

  it('argmax and countCorrect take the first of equal scores', () => {
    const x = Float32Array.of(1, 3, 3, 0, -1, -1, -2, 5, 5);
    const out = new Int32Array(3);
    native.argmax(x, 3, 3, out);
    expect(Array.from(out)).toEqual([1, 0, 1]);
    expect(native.countCorrect(x, 3, 3, Int32Array.of(1, 2, 1))).toBe(2);
  });
});
