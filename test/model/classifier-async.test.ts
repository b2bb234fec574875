import { describe, expect, it } from 'vitest';
import { loadMnist, subset } from '../../src/data/dataset.js';
import { Classifier } from '../../src/model/classifier.js';
import { trainKFold } from '../../src/train/kfold.js';
import { accurateRecipe } from '../../src/train/recipe.js';

describe('Classifier.predictAsync', () => {
  it('predicts exactly what predict does, for bytes, numbers and unit scale, with overlapping calls', async () => {
    const { train, test } = await loadMnist();
    const small = subset(train, Int32Array.from({ length: 3000 }, (_, i) => i));
    const recipe = { ...accurateRecipe, hidden: [{ width: 64, activation: 'relu' as const }, { width: 32, activation: 'sigmoid' as const }], epochs: 1 };
    const result = trainKFold({ recipe, dataset: { train: small, test: subset(test, Int32Array.from({ length: 500 }, (_, i) => i)) } });
    const classifier = new Classifier(result.checkpoint);
    const bytes = test.pixels.subarray(0, 784 * 300);
    const sync = classifier.predict(bytes);
    const [fromBytes, fromNumbers, fromUnit] = await Promise.all([
      classifier.predictAsync(bytes),
      classifier.predictAsync(Float32Array.from(bytes)),
      classifier.predictAsync(Float32Array.from(bytes, (v) => v / 255), 'unit'),
    ]);
    expect(fromBytes.probabilities).toEqual(sync.probabilities);
    expect(fromBytes.labels).toEqual(sync.labels);
    expect(fromNumbers.labels).toEqual(sync.labels);
    for (let i = 0; i < sync.probabilities.length; i++) {
      expect(Math.abs(fromUnit.probabilities[i]! - sync.probabilities[i]!)).toBeLessThan(1e-5);
    }
    await expect(classifier.predictAsync(new Uint8Array(100))).rejects.toThrow(RangeError);
  });
});
