/** Reading, splitting and standardizing labelled image data. */
export {
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  IDX_UBYTE,
  IdxFormatError,
  readIdx,
  readIdxImages,
  readIdxLabels,
  writeIdx,
} from './idx.js';
export type { IdxArray, IdxImages, WriteIdxOptions } from './idx.js';
export { loadDataset, loadImageSet, loadMnist, mnistPaths, subset } from './dataset.js';
export type { Dataset, DatasetFiles, ImageSet, ImageSetFiles } from './dataset.js';
export { MIN_STD, computeStandardization, inverseStd, standardizeRowsReference } from './normalize.js';
export type { NormalizationMode, Standardization } from './normalize.js';
export { oneHot } from './one-hot.js';
export { MAX_FOLDS, kFold, shuffleInPlace, shuffledIndices } from './split.js';
export type { Fold, RandomSource } from './split.js';
