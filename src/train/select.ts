/**
 * The last step of a K-fold run: the fold whose best epoch validates best (the first of equals), its
 * checkpoint tested once on the test set, every fold's checkpoint, and optionally the ensemble of them all.
 */
import { Mlp } from '../nn/mlp.js';
import type { TrainedCheckpoint } from './checkpoint.js';
import type { PreparedRun } from './prepare.js';
import type { FinishedFold } from './resume.js';
import { toCheckpoint } from './snapshot.js';
import { EVALUATION_ROWS, evaluate, type BatchLoader } from './trainer.js';
import type { TestResult } from './types.js';

export interface Selection {
  /** 1-based. */
  selectedFold: number;
  test: TestResult;
  ensembleTest?: TestResult;
  /** The selected fold's best epoch, with its test result. */
  checkpoint: TrainedCheckpoint;
  /** Every fold's best checkpoint, in fold order. */
  foldCheckpoints: TrainedCheckpoint[];
}

/** Chooses among the finished folds (in fold order) and tests the choice. */
export function selectFold(run: PreparedRun, folds: FinishedFold[], options: { ensemble?: boolean } = {}): Selection {
  const { recipe, shape, normalization, testLoader, testIndices } = run;
  const { train } = run.dataset;
  let selected = 0;
  folds.forEach((f, i) => {
    if (f.summary.validAccuracy > folds[selected]!.summary.validAccuracy) selected = i;
  });
  const model = new Mlp(shape);
  const foldCheckpoints = folds.map(({ summary, bestParams }) => {
    const chosen = summary.history[summary.bestEpoch - 1]!;
    return toCheckpoint(
      model,
      {
        inputRows: train.rows,
        inputCols: train.cols,
        normalization,
        recipe,
        ...(train.classNames ? { classNames: train.classNames } : {}),
        metrics: {
          fold: recipe.folds === 1 ? 0 : summary.fold,
          epoch: summary.bestEpoch,
          trainLoss: chosen.trainLoss,
          trainAccuracy: chosen.trainAccuracy,
          validLoss: chosen.validLoss,
          validAccuracy: chosen.validAccuracy,
        },
      },
      bestParams,
    );
  });
  model.params.set(folds[selected]!.bestParams);
  const test = evaluate(model, testLoader, testIndices);
  const checkpoint = foldCheckpoints[selected]!;
  checkpoint.metrics.testLoss = test.loss;
  checkpoint.metrics.testAccuracy = test.accuracy;
  const members = folds.map((f) => f.bestParams);
  const ensembleTest = options.ensemble && members.length > 1 ? evaluateEnsemble(model, members, testLoader, testIndices, shape.classes) : undefined;
  return { selectedFold: folds[selected]!.summary.fold, test, ...(ensembleTest ? { ensembleTest } : {}), checkpoint, foldCheckpoints };
}

/** Accuracy and loss of the averaged class probabilities of several parameter sets of one network. */
function evaluateEnsemble(model: Mlp, members: Float32Array[], loader: BatchLoader, indices: Int32Array, classes: number): TestResult {
  const sum = new Float64Array(indices.length * classes);
  const labels = new Int32Array(indices.length);
  for (const params of members) {
    model.params.set(params);
    for (let start = 0; start < indices.length; start += EVALUATION_ROWS) {
      const chunk = indices.subarray(start, Math.min(indices.length, start + EVALUATION_ROWS));
      const batch = loader.load(chunk);
      labels.set(batch.labels, start);
      const p = model.predict(batch.x).data;
      for (let i = 0; i < chunk.length * classes; i++) sum[start * classes + i]! += p[i]!;
    }
  }
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < indices.length; i++) {
    const row = sum.subarray(i * classes, (i + 1) * classes);
    let top = 0;
    for (let j = 1; j < classes; j++) if (row[j]! > row[top]!) top = j;
    if (top === labels[i]) correct++;
    loss -= Math.log(Math.max(row[labels[i]!]! / members.length, 1e-30));
  }
  return { accuracy: correct / indices.length, loss: loss / indices.length };
}
