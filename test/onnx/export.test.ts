/**
 * ONNX export against ONNX Runtime (onnxruntime-node, which .ci/run installs: 288 MB, so not a dev
 * dependency of a fresh clone). Without it, these tests are skipped with a warning, except under CI.
 */
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import type { Dataset } from '../../src/data/dataset.js';
import { Classifier } from '../../src/model/classifier.js';
import { exportOnnx, ONNX_OPSET } from '../../src/onnx/export.js';
import { trainKFold } from '../../src/train/kfold.js';
import { accurateRecipe, validateRecipe } from '../../src/train/recipe.js';
import { smallMnist } from '../helpers/datasets.js';

interface OrtTensor {
  data: Float32Array | BigInt64Array;
  dims: readonly number[];
}
interface Ort {
  InferenceSession: { create(bytes: Uint8Array): Promise<{ inputNames: readonly string[]; outputNames: readonly string[]; run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>> }> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

function loadOrt(): Ort | undefined {
  try {
    return createRequire(import.meta.url)('onnxruntime-node') as Ort;
  } catch {
    return undefined;
  }
}
const ort = loadOrt();
if (!ort && !process.env.CI) console.warn('ONNX Runtime tests skipped: no onnxruntime-node (ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node@1.30.0)');

const { onnx } = onnxProto;

describe('exportOnnx', () => {
  let dataset: Dataset;
  let classifiers: { name: string; classifier: Classifier }[];

  beforeAll(async () => {
    dataset = await smallMnist(3000, 1000);
    const train = (recipe: Parameters<typeof validateRecipe>[0]) => new Classifier(trainKFold({ recipe: validateRecipe(recipe), dataset }).checkpoint);
    classifiers = [
      { name: 'one ReLU layer, global standardization', classifier: train({ ...accurateRecipe, hidden: [{ width: 64, activation: 'relu' }], epochs: 2 }) },
      { name: 'sigmoid then ReLU, per-pixel standardization', classifier: train({ ...accurateRecipe, hidden: [{ width: 48, activation: 'sigmoid' }, { width: 32, activation: 'relu' }], epochs: 2, normalization: 'per-pixel' }) },
      { name: 'no hidden layer', classifier: train({ ...accurateRecipe, hidden: [], epochs: 1 }) },
    ];
  });

  it('writes an opset-13 graph of Gemm and activations, a dynamic batch, and the metadata given', () => {
    const { classifier } = classifiers[1]!;
    const model = onnx.ModelProto.decode(exportOnnx(classifier.network, { metadata: { recipe: '{"a":1}' }, version: '0.1.0' }));
    const graph = model.graph!;
    expect(model.opsetImport).toEqual([expect.objectContaining({ domain: '', version: expect.anything() })]);
    expect(Number(model.opsetImport[0]!.version)).toBe(ONNX_OPSET);
    expect(model.producerName).toBe('fastmlp');
    expect(graph.node!.map((n) => n.opType)).toEqual(['Gemm', 'Sigmoid', 'Gemm', 'Relu', 'Gemm', 'Softmax', 'ArgMax']);
    expect(graph.input![0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['N', 784]);
    expect(graph.output!.map((o) => o.name)).toEqual(['probabilities', 'label']);
    expect(model.metadataProps).toEqual([expect.objectContaining({ key: 'recipe', value: '{"a":1}' })]);
  });

  describe.skipIf(!ort && !process.env.CI)('in ONNX Runtime', () => {
    it.for([0, 1, 2])('gives fastmlp’s probabilities within 1e-5 and its labels on 1000 test digits (network %i)', async (index) => {
      const { classifier } = classifiers[index]!;
      const session = await ort!.InferenceSession.create(exportOnnx(classifier.network));
      expect(session.inputNames).toEqual(['pixels']);
      const count = 1000;
      const pixels = Float32Array.from(dataset.test.pixels.subarray(0, count * 784));
      const out = await session.run({ pixels: new ort!.Tensor('float32', pixels, [count, 784]) });
      const expected = classifier.predict(dataset.test.pixels.subarray(0, count * 784));
      expect(out.probabilities!.dims).toEqual([count, 10]);
      const probabilities = out.probabilities!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < probabilities.length; i++) worst = Math.max(worst, Math.abs(probabilities[i]! - expected.probabilities[i]!));
      expect(worst).toBeLessThan(1e-5);
      expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(Array.from(expected.labels));
      // The batch dimension is free: one image alone answers the same.
      const one = await session.run({ pixels: new ort!.Tensor('float32', pixels.slice(0, 784), [1, 784]) });
      expect(Number((one.label!.data as BigInt64Array)[0])).toBe(expected.labels[0]);
    });
  });
});
