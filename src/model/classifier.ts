/**
 * A trained model ready to predict: a checkpoint made into the inference network (nn/inference.ts), with
 * loading from a file and evaluation on a labelled image set.
 */
import type { ImageSet } from '../data/dataset.js';
import { inverseStd } from '../data/normalize.js';
import { InferenceNetwork, type Images, type PixelScale, type PredictOptions, type Predictions } from '../nn/inference.js';
import type { Precision } from '../nn/spec.js';
import { exportOnnx } from '../onnx/export.js';
import { loadCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import { onnxCheckpoint, type OnnxImportOptions } from './import.js';

export type { Images, PixelScale, PredictOptions, Predictions } from '../nn/inference.js';

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy. */
  loss: number;
  /** confusion[actual][predicted] counts. */
  confusion: number[][];
  count: number;
}

export interface ClassifierOptions {
  /** Of the products of prediction; default: the precision the model was trained in (fp32 for imports). */
  precision?: Precision;
}

export class Classifier {
  readonly features: number;
  readonly classes: number;
  readonly network: InferenceNetwork;
  /** What each label stands for, when the training data named its classes; labels are indices into it. */
  readonly classNames: readonly string[] | undefined;

  constructor(
    readonly checkpoint: Checkpoint,
    options: ClassifierOptions = {},
  ) {
    const { architecture, layers, normalization } = checkpoint;
    this.network = new InferenceNetwork(
      architecture.layers.map((spec, l) => {
        if (spec.activation === 'softmax' && l !== architecture.layers.length - 1) throw new TypeError('only the output layer may be softmax');
        return { ...spec, weights: layers[l]!.weights, bias: layers[l]!.bias, activation: spec.activation === 'softmax' ? 'none' : spec.activation };
      }),
      { mean: normalization.mean, invStd: inverseStd(normalization) },
      options.precision ?? checkpoint.recipe?.precision ?? 'fp32',
    );
    this.features = architecture.inputRows * architecture.inputCols;
    this.classes = architecture.classes;
    this.classNames = checkpoint.classNames;
    if (this.network.inputs !== this.features || this.network.classes !== this.classes) {
      throw new RangeError(`the checkpoint's layers take ${this.network.inputs} inputs to ${this.network.classes} classes, its architecture says ${this.features} to ${this.classes}`);
    }
  }

  /** Loads and checks a checkpoint file. */
  static async load(path: string, options?: ClassifierOptions): Promise<Classifier> {
    return new Classifier(await loadCheckpoint(path), options);
  }

  /**
   * An ONNX model (model/import.ts), its input convention as given (default: pixels 0–255, mean 0, std 1).
   *
   * @throws OnnxImportError naming the node and the problem of a graph fastmlp does not import
   */
  static fromOnnx(bytes: Uint8Array, options?: OnnxImportOptions & ClassifierOptions): Classifier {
    return new Classifier(onnxCheckpoint(bytes, options).checkpoint, options);
  }

  /**
   * Predicts a batch of images, each `features` pixels, concatenated: bytes (0–255), or numbers on the
   * given scale. Throws a TypeError or RangeError naming what is wrong with the input.
   */
  predict(images: Images, scale: PixelScale = 'byte', options?: PredictOptions): Predictions {
    return this.network.predict(images, scale, options);
  }

  /** predict with every GEMM off the calling thread; calls may overlap. */
  predictAsync(images: Images, scale: PixelScale = 'byte'): Promise<Predictions> {
    return this.network.predictAsync(images, scale);
  }

  /**
   * The model as an ONNX file's bytes (onnx/export.ts): pixels 0–255 in, probabilities and label out, the
   * recipe and metrics (or, for an imported model, the file it came from) and normalization mode as metadata.
   */
  toOnnx(version?: string): Uint8Array {
    const { recipe, metrics, importedFrom, normalization } = this.checkpoint;
    return exportOnnx(this.network, {
      metadata: {
        ...(recipe ? { recipe: JSON.stringify(recipe) } : {}),
        ...(metrics ? { metrics: JSON.stringify(metrics) } : {}),
        ...(importedFrom ? { importedFrom: JSON.stringify(importedFrom) } : {}),
        normalization: normalization.mode,
        input: `pixels FLOAT [N, ${this.features}]: grayscale 0–255, white digit on black`,
        ...(this.classNames ? { classNames: JSON.stringify(this.classNames) } : {}),
      },
      ...(version ? { version } : {}),
      description: `A multilayer perceptron ${importedFrom ? `imported by fastmlp from ${importedFrom.producerName || 'ONNX'}` : 'trained by fastmlp'}; the standardization is folded into the first Gemm.`,
    });
  }

  /** Accuracy, loss and confusion matrix on a labelled image set of the model's input size. */
  evaluate(set: ImageSet): Evaluation {
    if (set.features !== this.features) {
      throw new RangeError(`Expected images of ${this.features} pixels but the set has ${set.features}`);
    }
    const { labels, probabilities } = this.predict(set.pixels);
    const confusion = Array.from({ length: this.classes }, () => new Array<number>(this.classes).fill(0));
    let correct = 0;
    let loss = 0;
    for (let i = 0; i < set.count; i++) {
      const actual = set.labels[i]!;
      if (actual >= this.classes) throw new RangeError(`label ${actual} of image ${i} is outside the model's ${this.classes} classes`);
      confusion[actual]![labels[i]!]!++;
      if (labels[i] === actual) correct++;
      loss -= Math.log(Math.max(probabilities[i * this.classes + actual]!, 1e-30));
    }
    return { accuracy: correct / set.count, loss: loss / set.count, confusion, count: set.count };
  }
}
