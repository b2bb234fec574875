/**
 * ONNX import: the PyTorch fixtures of test/fixtures/onnx (made by make-torch-mlp.py beside them) against
 * PyTorch's own probabilities, the same MLP written every way an exporter may, export → import of a trained
 * model, and every refusal, through the library and `fastmlp import`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Classifier } from '../../src/model/classifier.js';
import { onnxCheckpoint } from '../../src/model/import.js';
import { importOnnx, OnnxImportError } from '../../src/onnx/import.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { mnistOnce } from '../helpers/datasets.js';
import { tinyCheckpoints } from '../helpers/models.js';
import { encode, fixturePath, mlpModel, refusals, seededLayers, torchFixture, type GraphStyle } from '../helpers/onnx-graphs.js';
import { runCli } from '../helpers/processes.js';

/** The largest absolute difference between two arrays of the same length. */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function importError(bytes: Uint8Array): OnnxImportError {
  try {
    importOnnx(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(OnnxImportError);
    return error as OnnxImportError;
  }
  throw new Error('importOnnx accepted the graph');
}

let digits: Uint8Array;

beforeAll(async () => {
  digits = (await mnistOnce()).test.pixels.subarray(0, 100 * 784);
});

describe('importOnnx of a PyTorch model', () => {
  it.for(['torch-gemm', 'torch-matmul'] as const)('%s: PyTorch’s probabilities within 1e-5 and its labels, on the first 100 test digits', (name) => {
    const fixture = torchFixture(name);
    const classifier = Classifier.fromOnnx(fixture.bytes, { inputScale: fixture.inputScale, mean: fixture.mean, std: fixture.std });
    const count = fixture.labels.length;
    const predicted = classifier.predict(digits.subarray(0, count * 784));
    const difference = worst(predicted.probabilities, fixture.probabilities.flat());
    console.log(`${name}: largest difference from PyTorch ${difference.toExponential(2)}`);
    expect(difference).toBeLessThan(1e-5);
    expect(Array.from(predicted.labels)).toEqual(fixture.labels);
    // Pixels 0–1 with scale 'unit', as for every other model.
    const unit = classifier.predict(Float32Array.from(digits.subarray(0, count * 784), (v) => v / 255), 'unit');
    expect(worst(unit.probabilities, predicted.probabilities)).toBeLessThan(1e-6);
  });

  it('reads the graph torch writes for nn.Sequential: Flatten, Gemm (transB = 1), Relu, Sigmoid, Softmax', () => {
    const network = importOnnx(torchFixture('torch-gemm').bytes);
    expect(network).toMatchObject({ output: 'softmax', input: { name: 'input', dims: ['batch', 1, 28, 28], flattened: true }, producerName: 'pytorch', graphName: 'main_graph', irVersion: 7, opset: 13 });
    expect(network.layers.map((l) => [l.inputs, l.outputs, l.activation])).toEqual([
      [784, 32, 'relu'],
      [32, 16, 'sigmoid'],
      [16, 10, 'none'],
    ]);
    expect(importOnnx(torchFixture('torch-matmul').bytes)).toMatchObject({ output: 'logits', input: { dims: ['batch', 784], flattened: false } });
  });

  it('stores the input convention as the standardization of pixels 0–255, and where the model came from', () => {
    const fixture = torchFixture('torch-gemm');
    const { checkpoint } = onnxCheckpoint(fixture.bytes, { inputScale: 'unit', mean: 0.1307, std: 0.3081 });
    expect(checkpoint.normalization).toEqual({ mode: 'global', mean: Float32Array.of(0.1307 * 255), std: Float32Array.of(0.3081 * 255) });
    expect(checkpoint.importedFrom).toEqual({
      format: 'onnx',
      producerName: 'pytorch',
      producerVersion: expect.stringMatching(/^\d+\.\d+/),
      graphName: 'main_graph',
      sha256: createHash('sha256').update(fixture.bytes).digest('hex'),
      input: { scale: 'unit', mean: 0.1307, std: 0.3081 },
    });
    expect(checkpoint).not.toHaveProperty('recipe');
    expect(checkpoint.architecture).toMatchObject({ inputRows: 28, inputCols: 28, classes: 10 });
    expect(checkpoint.architecture.layers.map((l) => l.activation)).toEqual(['relu', 'sigmoid', 'softmax']);
    // The defaults: raw pixels 0–255.
    expect(onnxCheckpoint(fixture.bytes).checkpoint.normalization).toEqual({ mode: 'global', mean: Float32Array.of(0), std: Float32Array.of(1) });
    expect(() => onnxCheckpoint(fixture.bytes, { std: 0 })).toThrow('Expected a positive std but received 0');
  });
});

describe('importOnnx of the ways an exporter writes an MLP', () => {
  const layers = seededLayers(784, [32, 16, 10]);
  const reference = () => Classifier.fromOnnx(encode(mlpModel(layers))).predict(digits);
  const styles: [string, GraphStyle][] = [
    ['Gemm with transB = 0 and float_data', { product: 'gemm', weights: 'floats' }],
    ['MatMul + Add', { product: 'matmul' }],
    ['MatMul + Add with the bias first', { product: 'matmul-bias-first' }],
    ['weights in Constant nodes', { product: 'matmul', weights: 'constant' }],
    ['initializers listed as inputs', { product: 'gemm-t', initializersAsInputs: true }],
    ['Flatten at the input, Softmax at the end', { product: 'gemm-t', flatten: 'Flatten', last: 'Softmax' }],
    ['Reshape to [-1, 784] at the input, LogSoftmax at the end', { product: 'matmul', flatten: 'Reshape', last: 'LogSoftmax' }],
  ];

  it.for(styles)('%s: the same network', ([, style]) => {
    const predicted = Classifier.fromOnnx(encode(mlpModel(layers, style))).predict(digits);
    const expected = reference();
    // The same float32 parameters: the same bits, but for the one exp and sum a graph's Softmax or LogSoftmax adds before ours.
    expect(worst(predicted.probabilities, expected.probabilities)).toBeLessThan(style.last ? 1e-6 : Number.MIN_VALUE);
    expect(predicted.labels).toEqual(expected.labels);
  });

  it('reads a MatMul without Add as a layer without bias, and ignores an ArgMax of the output', () => {
    const model = mlpModel(layers, { product: 'matmul', last: 'Softmax' });
    const graph = model.graph!;
    graph.node = graph.node!.filter((n) => n.name !== 'layer0.bias');
    graph.node.find((n) => n.name === 'layer0.act')!.input = ['layer0'];
    graph.node.push({ name: 'argmax', opType: 'ArgMax', input: ['y'], output: ['label'], attribute: [] });
    graph.output!.push({ name: 'label' });
    const network = importOnnx(encode(model));
    expect(Array.from(network.layers[0]!.bias)).toEqual(new Array(32).fill(0));
    expect(Array.from(network.layers[1]!.bias)).toEqual(Array.from(layers[1]!.bias));
  });
});

describe('export → import', () => {
  it('a trained model exported to ONNX and imported again predicts the same within 1e-6', async () => {
    const [checkpoint] = await tinyCheckpoints([3]);
    const trained = new Classifier(checkpoint!);
    const imported = Classifier.fromOnnx(trained.toOnnx('0.0.0'));
    expect(imported.checkpoint.importedFrom).toMatchObject({ producerName: 'fastmlp', producerVersion: '0.0.0', graphName: 'fastmlp' });
    for (const count of [1, 100]) {
      const expected = trained.predict(digits.subarray(0, count * 784));
      const predicted = imported.predict(digits.subarray(0, count * 784));
      expect(worst(predicted.probabilities, expected.probabilities)).toBeLessThan(1e-6);
      expect(predicted.labels).toEqual(expected.labels);
    }
  });
});

describe('importOnnx refuses', () => {
  it.for(refusals)('$name, naming the node and the problem', ({ bytes, message, node }) => {
    const error = importError(bytes());
    expect(error.message.startsWith(`model: ${message}`), error.message).toBe(true);
    expect(error.node).toEqual(node);
  });
});

describe('fastmlp import', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fastmlp-import-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the checkpoint of a PyTorch model with its input convention and prints what it read', async () => {
    const out = join(dir, 'torch.fmlp');
    const run = await runCli(['import', fixturePath('torch-gemm.onnx'), '--out', out, '--input-scale', 'unit', '--mean', '0.1307', '--std', '0.3081']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('from pytorch');
    expect(run.stdout).toContain('input "input" FLOAT [batch, 1, 28, 28], flattened to 784');
    expect(run.stdout).toMatch(/layer 1: 784 → 32 relu\n {2}layer 2: 32 → 16 sigmoid\n {2}layer 3: 16 → 10 softmax/);
    const fixture = torchFixture('torch-gemm');
    const saved = new Classifier(await loadCheckpoint(out));
    expect(saved.checkpoint.importedFrom?.input).toEqual({ scale: 'unit', mean: 0.1307, std: 0.3081 });
    expect(worst(saved.predict(digits).probabilities.subarray(0, 1000), fixture.probabilities.flat())).toBeLessThan(1e-5);
  });

  it('takes the flags at the edge: a std that is not positive is a usage error (code 2)', async () => {
    const run = await runCli(['import', fixturePath('torch-gemm.onnx'), '--out', join(dir, 'never.fmlp'), '--std', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('fastmlp: --std takes a positive number, not 0.');
    expect(existsSync(join(dir, 'never.fmlp'))).toBe(false);
  });

  it('refuses every graph the library refuses with its message and code 1, writing nothing', async () => {
    for (const [i, refusal] of refusals.entries()) {
      const file = join(dir, `refused-${i}.onnx`);
      await writeFile(file, refusal.bytes());
      const run = await runCli(['import', file, '--out', join(dir, `refused-${i}.fmlp`)]);
      expect(run.code, refusal.name).toBe(1);
      expect(run.stderr.startsWith(`fastmlp: ${file}: ${refusal.message}`), `${refusal.name}: ${run.stderr}`).toBe(true);
      expect(existsSync(join(dir, `refused-${i}.fmlp`))).toBe(false);
    }
  }, 120_000);
});
