/**
 * The unit of work of a K-fold run: one fold, trained epoch after epoch on its training part, keeping the
 * epoch with the best validation accuracy. It runs wherever its PreparedRun was made; its result and its
 * snapshots are plain data.
 */
import { Mlp } from '../nn/mlp.js';
import { createOptimizer, type Optimizer } from '../nn/optimizers.js';
import { Rng } from '../nn/rng.js';
import type { PreparedRun } from './prepare.js';
import { ResumeStateError, type FinishedFold, type TrainingState } from './resume.js';
import { evaluate, trainEpoch, type StopSignal } from './trainer.js';
import type { EpochMetrics, FoldSummary, TrainEvent } from './types.js';

/** A fold between two epochs: what a run's TrainingState holds of its current fold. */
export type FoldState = Omit<TrainingState, 'recipe' | 'trainSamples' | 'seconds' | 'completed'>;

export interface FoldOptions {
  /** Stops the fold within a batch (TrainingCancelled). */
  signal?: StopSignal;
  onEvent?: (event: TrainEvent) => void;
  /** Evaluate the test set after every epoch too (never used to choose). */
  testEveryEpoch?: boolean;
  /** Continue from this state of the same fold, to the same bits. */
  resume?: FoldState;
  /** After every finished epoch; the arrays are views of the live buffers, valid during the call only. */
  onSnapshot?: (state: FoldState) => void;
}

/** Trains fold `fold` (1-based) of the prepared run: its summary and the parameters of its best epoch. */
export function trainFold(run: PreparedRun, fold: number, options: FoldOptions = {}): FinishedFold {
  const { recipe, shape, trainLoader, testLoader, testIndices } = run;
  const plan = run.folds[fold - 1];
  if (plan === undefined) throw new RangeError(`Expected a fold from 1 to ${run.folds.length} but received ${fold}`);
  const { onEvent, signal } = options;
  const at = options.resume;
  const foldRng = new Rng(0).setState(plan.rng);
  const model = at ? new Mlp(shape) : Mlp.initialized(shape, recipe.init, foldRng);
  const optimizer = createOptimizer(recipe.optimizer, recipe.weightDecay);
  const order = plan.train.slice();
  const bestParams = model.params.slice();
  // Loss and accuracy do not depend on the order: the one that packs fastest, copied once so that every
  // epoch's evaluation reads it in sequence.
  const validPart = trainLoader.gather(trainLoader.packingOrder(plan.validation));
  const trainPart = validPart.indices.length > 0 ? trainLoader.gather(trainLoader.packingOrder(plan.train)) : undefined;
  const history: EpochMetrics[] = [];
  let bestIndex = -1;
  let batchesDone = plan.batchesBefore;
  if (at) {
    if (at.fold !== fold) throw new ResumeStateError('resume', `the state is of fold ${at.fold}, not ${fold}`);
    restoreFold(at, { model, optimizer, foldRng, order, bestParams, history });
    bestIndex = at.bestIndex;
    batchesDone += at.epoch * plan.batchesPerEpoch;
  }
  onEvent?.({
    type: 'fold-start',
    fold,
    folds: run.folds.length,
    epochs: recipe.epochs,
    trainSamples: order.length,
    validSamples: plan.validation.length,
    ...(at ? { resumedAfterEpoch: at.epoch } : {}),
  });

  for (let epoch = (at?.epoch ?? 0) + 1; epoch <= recipe.epochs; epoch++) {
    const epochStart = performance.now();
    const running = trainEpoch({
      recipe,
      model,
      optimizer,
      loader: trainLoader,
      order,
      random: foldRng,
      epoch,
      stepsBefore: (epoch - 1) * plan.batchesPerEpoch,
      totalSteps: plan.totalSteps,
      signal,
      onBatch: (batch, batches) => {
        batchesDone++;
        onEvent?.({ type: 'batch', fold, epoch, batch: batch + 1, batches, progress: batchesDone / run.totalBatches });
      },
    });
    const trainedSeconds = (performance.now() - epochStart) / 1000;
    // With a validation part, the training part is measured after the epoch as the report does; without
    // one (folds = 1), the epoch's running figures stand in and save a pass over the whole training set.
    const fit = trainPart ? evaluate(model, trainPart.loader, trainPart.indices) : running;
    const valid = evaluate(model, validPart.loader, validPart.indices);
    const metrics: EpochMetrics = {
      epoch,
      trainLoss: fit.loss,
      trainAccuracy: fit.accuracy,
      validLoss: valid.loss,
      validAccuracy: valid.accuracy,
      seconds: 0,
    };
    if (options.testEveryEpoch) {
      const t = evaluate(model, testLoader, testIndices);
      metrics.testLoss = t.loss;
      metrics.testAccuracy = t.accuracy;
    }
    metrics.seconds = (performance.now() - epochStart) / 1000;
    history.push(metrics);
    // The best validation accuracy, the first of equals; with no validation part, the latest epoch.
    const improved = plan.validation.length === 0 || bestIndex < 0 || valid.accuracy > history[bestIndex]!.validAccuracy;
    if (improved) {
      bestIndex = history.length - 1;
      bestParams.set(model.params);
    }
    onEvent?.({ type: 'epoch', fold, metrics, samplesPerSecond: order.length / trainedSeconds, progress: batchesDone / run.totalBatches });
    options.onSnapshot?.({ fold, epoch, params: model.params, optimizer: optimizer.exportState(), rng: foldRng.getState(), order, bestParams, bestIndex, history });
  }
  const chosen = history[bestIndex]!;
  const summary: FoldSummary = { fold, history, bestEpoch: chosen.epoch, trainAccuracy: chosen.trainAccuracy, validAccuracy: chosen.validAccuracy };
  onEvent?.({ type: 'fold-end', summary });
  return { summary, bestParams };
}

/** Puts a fold back as the state left it, after checking that the state fits the fold. */
function restoreFold(
  state: FoldState,
  fold: { model: Mlp; optimizer: Optimizer; foldRng: Rng; order: Int32Array; bestParams: Float32Array; history: EpochMetrics[] },
): void {
  const { model, order } = fold;
  // order still holds the fold's training part as split; sorted, it is what a shuffle of it sorts to.
  const trainPart = order.slice().sort();
  if (state.params.length !== model.params.length) {
    throw new ResumeStateError('resume', `the state holds ${state.params.length} parameters, the network ${model.params.length}`);
  }
  // The order must shuffle exactly the fold's training part: the splits were recomputed from the seed.
  const sorted = state.order.slice().sort();
  if (sorted.length !== trainPart.length || sorted.some((v, i) => v !== trainPart[i])) {
    throw new ResumeStateError('resume', `the order is not a shuffle of fold ${state.fold}'s training part`);
  }
  model.params.set(state.params);
  fold.optimizer.importState(model, state.optimizer);
  fold.foldRng.setState(state.rng);
  order.set(state.order);
  fold.bestParams.set(state.bestParams);
  fold.history.push(...state.history.map((m) => ({ ...m })));
}
