/**
 * Every request and response of the service as zod schemas: the single source of validation, of the
 * handlers' types and of the OpenAPI document at /docs. The body of POST /predict, which has faster
 * readings beside its schema, is in predict-body.ts.
 */
import { z } from 'zod';
import { MODEL_NAME } from './model-registry.js';
import { MAX_TRIALS, sweepSpaceSchema, sweepStrategySchema } from '../sweep/space.js';
import { recipeSchema } from '../train/recipe.js';
import { JOB_STATUSES } from './store.js';

/** Pixels per image: 28 × 28, as in MNIST. */
export const IMAGE_PIXELS = 784;
/** Images per /predict or /v2 infer request. */
export const MAX_BATCH = 1000;

export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    /** What went wrong, in a sentence; the Open Inference Protocol reads this field too. */
    error: z.string(),
    /** The offending field's path, e.g. body.pixels.3. */
    field: z.string().optional(),
  })
  .meta({ id: 'Error' });

export const idParams = z.object({ id: z.string().min(1).max(64) });

const modelName = z.string().regex(MODEL_NAME, 'Expected a name of lower-case letters, digits, - and _, starting with a letter (and not model-…)');

// ---------------------------------------------------------------------------------------------------
// Jobs

const path = z.string().min(1).max(4096);
export const imageOptionsSchema = z
  .object({
    size: z.number().int().min(4).max(256).optional().describe('images are made size×size pixels (default 28)'),
    centre: z.boolean().optional().describe('centred as MNIST digits: the ink fitted into 20×20, its centre of mass at the centre'),
    invert: z.boolean().optional().describe('dark ink on a light background'),
  })
  .strict()
  .describe('how image files become the model’s input');
const datasetBody = z
  .union([
    z.object({ trainImages: path, trainLabels: path, testImages: path, testLabels: path }).strict(),
    z
      .object({ train: path, test: path, images: imageOptionsSchema.optional() })
      .strict()
      .describe('each a CSV (label,pixel0,…, plain or .gz), a folder of class folders of images, or a zip or tar of either'),
    z.object({ id: z.string().regex(/^[0-9a-f]{64}$/, 'Expected the id of an uploaded dataset (GET /datasets)') }).strict().describe('an uploaded dataset (POST /datasets)'),
  ])
  .describe('four idx files (plain or .gz), a training and a test part, or an uploaded dataset; paths relative to the data directory or absolute inside it; absent: MNIST');

const r = recipeSchema.shape;
export const createJobBody = z
  .object({
    recipe: z.enum(['reference', 'accurate', 'best']).default('reference').describe('the settings every other field overrides'),
    name: modelName.optional().describe('the model’s name: it becomes the next version of that name (`digits` → `digits@1`, `digits@2`, …)'),
    hidden: r.hidden.optional(),
    init: r.init.optional(),
    optimizer: r.optimizer.optional(),
    lr: r.lr.optional(),
    schedule: r.schedule.optional(),
    weightDecay: r.weightDecay.optional(),
    batchSize: r.batchSize.optional(),
    epochs: r.epochs.optional(),
    folds: r.folds.optional(),
    holdout: r.holdout.optional().describe('with folds = 1: the share of the training set held out to validate (and pick) epochs'),
    seed: r.seed.optional(),
    normalization: r.normalization.optional(),
    inputDropout: r.inputDropout,
    labelSmoothing: r.labelSmoothing,
    maxNorm: r.maxNorm,
    precision: r.precision,
    augment: r.augment.describe('random transforms of the training images each epoch ({} for none); absent: the recipe’s'),
    dataset: datasetBody.optional(),
    testEveryEpoch: z.boolean().default(false).describe('also measure the test set after every epoch (never used to choose)'),
  })
  .strict();
export type CreateJobBody = z.infer<typeof createJobBody>;

export const jobStatus = z.enum(JOB_STATUSES);

/** NaN (no validation part) travels as null. */
const figure = z.number().nullable();

const epochSchema = z.object({
  epoch: z.number().int(),
  trainLoss: figure,
  trainAccuracy: figure,
  validLoss: figure,
  validAccuracy: figure,
  seconds: z.number(),
  testLoss: figure.optional(),
  testAccuracy: figure.optional(),
});
export type EpochView = z.infer<typeof epochSchema>;

const progressSchema = z.object({
  fold: z.number().int(),
  folds: z.number().int(),
  epoch: z.number().int().describe('epochs finished in the current fold'),
  epochs: z.number().int(),
  fraction: z.number().min(0).max(1).describe('of every batch of every fold'),
  samplesPerSecond: z.number().nullable(),
  etaSeconds: z.number().nullable(),
});

const foldRow = z.object({
  fold: z.number().int(),
  bestEpoch: z.number().int(),
  trainAccuracy: figure,
  validAccuracy: figure,
  worker: z.string().optional().describe('the worker that trained the fold (host:pid), when the job trained on a cluster'),
});

const testSchema = z.object({ accuracy: z.number(), loss: z.number() });

export const jobSummarySchema = z
  .object({
    id: z.string(),
    status: jobStatus,
    name: z.string().nullable().describe('the name its model gets a version of'),
    recipe: recipeSchema,
    dataset: datasetBody.nullable(),
    testEveryEpoch: z.boolean(),
    progress: progressSchema.nullable(),
    folds: z.array(foldRow).nullable().describe('the fold table, once the job succeeded'),
    selectedFold: z.number().int().nullable(),
    test: testSchema.nullable().describe('the selected fold’s model on the test set'),
    modelId: z.string().nullable(),
    error: z.object({ reason: z.enum(['interrupted', 'error']), message: z.string() }).nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    resumedFromFold: z.number().int().nullable().describe('the fold the job last resumed in after the service stopped during it; null if it never did'),
    resumedFromEpoch: z.number().int().nullable().describe('the epochs of that fold finished before the stop; null if it never resumed'),
    resumes: z.number().int().describe('times the job resumed after the service stopped during it'),
  })
  .meta({ id: 'JobSummary' });

export const jobSchema = jobSummarySchema
  .extend({
    history: z.array(z.object({ fold: z.number().int(), epochs: z.array(epochSchema) })).describe('every finished epoch of each fold'),
  })
  .meta({ id: 'Job' });
export type JobView = z.infer<typeof jobSchema>;

export const jobListQuery = z
  .object({
    status: jobStatus.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

export const jobListSchema = z.object({
  jobs: z.array(jobSummarySchema),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
});

export const jobAccepted = z.object({ id: z.string(), status: jobStatus });

export const reportSchema = z.object({
  jobId: z.string(),
  selectedFold: z.number().int(),
  test: testSchema,
  seconds: z.number(),
  folds: z.array(foldRow),
  markdown: z.string().describe('report.md: the fold table, the recipe and the test result'),
});

// ---------------------------------------------------------------------------------------------------
// Models

const importedFromSchema = z.object({
  format: z.literal('onnx'),
  producerName: z.string().describe('e.g. pytorch'),
  producerVersion: z.string(),
  graphName: z.string(),
  sha256: z.string().describe('of the imported file'),
  input: z.object({ scale: z.enum(['byte', 'unit']), mean: z.number(), std: z.number() }).describe('the input convention stated on import'),
});

export const modelSchema = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    version: z.number().int().nullable().describe('its version of the name, from 1'),
    aliases: z.array(z.string()).describe('the aliases of its name that point at it'),
    jobId: z.string().nullable(),
    createdAt: z.string(),
    architecture: z.object({
      inputRows: z.number().int(),
      inputCols: z.number().int(),
      classes: z.number().int(),
      layers: z.array(z.object({ inputs: z.number().int(), outputs: z.number().int(), activation: z.enum(['sigmoid', 'relu', 'softmax']) })),
    }),
    recipe: recipeSchema.nullable().describe('how it was trained; null for an imported model'),
    metrics: z
      .object({
        fold: z.number().int(),
        epoch: z.number().int(),
        trainLoss: figure,
        trainAccuracy: figure,
        validLoss: figure,
        validAccuracy: figure,
        testLoss: figure.optional(),
        testAccuracy: figure.optional(),
      })
      .nullable()
      .describe('where training took it; null for an imported model'),
    importedFrom: importedFromSchema.nullable().describe('the file an imported model came from; null for a trained one'),
    testAccuracy: z.number().nullable().describe('on its job’s test set; null for an imported model'),
  })
  .meta({ id: 'Model' });
export type ModelView = z.infer<typeof modelSchema>;

export const modelListSchema = z.object({
  models: z.array(modelSchema),
  defaultModel: z.string().nullable(),
  names: z
    .array(z.object({ name: z.string(), versions: z.array(z.object({ version: z.number().int(), id: z.string(), testAccuracy: z.number().nullable() })), aliases: z.record(z.string(), z.number().int()), resolves: z.number().int().describe('the version the bare name predicts with') }))
    .describe('the named models, each with its versions (oldest first) and aliases'),
});

export { DEFAULT_MODEL_BODY_LIMIT } from './limits.js';

export const importModelQuery = z
  .object({
    name: modelName.optional().describe('the model’s name: it becomes the next version of that name'),
    inputScale: z.enum(['byte', 'unit']).optional().describe('ONNX: the pixels the model was trained on, 0–255 (byte, the default) or 0–1 (unit, as ToTensor gives them)'),
    mean: z.coerce.number().optional().describe('ONNX: the mean subtracted from those pixels, as Normalize((mean,), (std,)) (default 0)'),
    std: z.coerce.number().positive().optional().describe('ONNX: the std they are divided by after (default 1)'),
  })
  .strict();

export const aliasParams = z.object({ name: modelName, alias: modelName });
export const aliasBody = z.object({ version: z.number().int().min(1) }).strict();
export const aliasSchema = z.object({ name: z.string(), alias: z.string(), version: z.number().int() });

// ---------------------------------------------------------------------------------------------------
// Predictions

/** The first value outside 0..max, as one issue with its path. */
export function checkRange(values: readonly number[], max: number, path: (string | number)[], ctx: z.RefinementCtx): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v <= max)) {
      ctx.addIssue({ code: 'custom', path: [...path, i], message: `Expected a pixel value from 0 to ${max} but received ${v}` });
      return false;
    }
  }
  return true;
}

const prediction = z.object({
  label: z.number().int(),
  className: z.string().optional().describe('what the label stands for, when the model’s training data named its classes (image folders)'),
  probabilities: z.array(z.number()),
});
export const predictResponse = z.union([
  prediction.extend({ model: z.string() }),
  z.object({ model: z.string(), predictions: z.array(prediction) }),
]);

// ---------------------------------------------------------------------------------------------------
// Open Inference Protocol (KServe v2)

export const v2ModelParams = z.object({ name: z.string().min(1).max(64) });
export const v2VersionParams = z.object({ name: modelName, version: z.string().regex(/^[1-9]\d{0,8}$/, 'Expected a version number') });

const tensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number().int()) });

export const v2ModelMetadata = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(tensorMetadata),
  outputs: z.array(tensorMetadata),
});

export const v2InferBody = z
  .object({
    id: z.string().max(256).optional(),
    parameters: z.object({ scale: z.enum(['byte', 'unit']).optional() }).catchall(z.unknown()).optional(),
    inputs: z
      .array(
        z.object({
          name: z.string().max(256),
          shape: z.tuple([z.number().int().min(1).max(MAX_BATCH), z.literal(IMAGE_PIXELS)]),
          datatype: z.enum(['FP32', 'UINT8']),
          parameters: z.record(z.string(), z.unknown()).optional(),
          data: z.union([z.array(z.number()), z.array(z.array(z.number()))]),
        }),
      )
      .length(1),
    outputs: z.array(z.object({ name: z.enum(['probabilities', 'label', 'class_name']), parameters: z.record(z.string(), z.unknown()).optional() })).optional(),
  })
  .superRefine((body, ctx) => {
    const input = body.inputs[0]!;
    const flat = input.data.flat();
    const [n, features] = input.shape;
    if (flat.length !== n * features) {
      ctx.addIssue({ code: 'custom', path: ['inputs', 0, 'data'], message: `Expected ${n * features} values for shape [${n}, ${features}] but received ${flat.length}` });
      return;
    }
    const max = input.datatype === 'FP32' && body.parameters?.scale === 'unit' ? 1 : 255;
    if (checkRange(flat, max, ['inputs', 0, 'data'], ctx) && input.datatype === 'UINT8') {
      const i = flat.findIndex((v) => !Number.isInteger(v));
      if (i >= 0) ctx.addIssue({ code: 'custom', path: ['inputs', 0, 'data', i], message: `Expected an integer for UINT8 but received ${flat[i]}` });
    }
  });

export const v2InferResponse = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string().optional(),
  outputs: z.array(z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number().int()), data: z.union([z.array(z.number()), z.array(z.string())]) })),
});

// ---------------------------------------------------------------------------------------------------
// Sweeps

export const createSweepBody = z
  .object({
    base: createJobBody.prefault({}).describe('the job body every trial starts from; the space’s fields override it'),
    space: sweepSpaceSchema,
    strategy: sweepStrategySchema.default('grid').describe('grid: every combination; random: `trials` seeded draws'),
    trials: z.number().int().min(1).max(MAX_TRIALS).optional().describe(`random: how many trials; grid: at most this many (default every combination, ${MAX_TRIALS} at most)`),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(1).describe('seeds the random draws'),
    metric: z.enum(['validAccuracy']).default('validAccuracy').describe('trials compare on the mean of their folds’ best validation accuracy, never on the test set'),
  })
  .strict();
export type CreateSweepBody = z.infer<typeof createSweepBody>;

const trialSchema = z.object({
  index: z.number().int(),
  jobId: z.string(),
  params: z.record(z.string(), z.unknown()).describe('the fields this trial sets'),
  status: jobStatus,
  validAccuracy: z.number().nullable().describe('mean over the folds of each fold’s best validation accuracy, once the trial succeeded'),
  testAccuracy: z.number().nullable(),
  seconds: z.number().nullable(),
  modelId: z.string().nullable(),
});

export const sweepSchema = z
  .object({
    id: z.string(),
    status: jobStatus.describe('queued until a trial runs; running; then succeeded (a trial at least succeeded), failed or cancelled'),
    strategy: sweepStrategySchema,
    metric: z.literal('validAccuracy'),
    space: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    trials: z.array(trialSchema),
    best: z
      .object({ index: z.number().int(), jobId: z.string(), modelId: z.string().nullable(), params: z.record(z.string(), z.unknown()), validAccuracy: z.number() })
      .nullable()
      .describe('the trial of the best validation accuracy so far (the first of equals)'),
  })
  .meta({ id: 'Sweep' });
export type SweepView = z.infer<typeof sweepSchema>;

export const sweepListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

export const sweepListSchema = z.object({ sweeps: z.array(sweepSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

export const sweepAccepted = z.object({ id: z.string(), status: jobStatus, trials: z.number().int() });

// ---------------------------------------------------------------------------------------------------
// Datasets

const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
export const datasetUploadQuery = z
  .object({
    name: z.string().min(1).max(200).optional().describe('a name to show for it'),
    size: z.coerce.number().int().min(4).max(256).optional().describe('image files are made size×size pixels (default 28)'),
    centre: flag.optional().describe('image files are centred as MNIST digits'),
    invert: flag.optional().describe('image files hold dark ink on a light background'),
  })
  .strict();
export const datasetParams = z.object({ id: z.string().regex(/^[0-9a-f]{64}$/, 'Expected a dataset id (64 hex digits)') });

const datasetPart = z.object({ count: z.number().int(), perClass: z.array(z.number().int()).describe('images per label') });
export const datasetSchema = z
  .object({
    id: z.string().describe('the SHA-256 of the uploaded bytes'),
    name: z.string().nullable(),
    createdAt: z.string(),
    bytes: z.number().int(),
    format: z.enum(['zip', 'tar', 'tar.gz']),
    images: imageOptionsSchema.nullable(),
    rows: z.number().int(),
    cols: z.number().int(),
    classes: z.number().int(),
    classNames: z.array(z.string()).nullable(),
    train: datasetPart,
    test: datasetPart,
    preview: z.string().describe('a PNG grid of three training images of each class'),
    usedBy: z.array(z.string()).describe('jobs not yet finished that train on it'),
  })
  .meta({ id: 'Dataset' });
export const datasetListSchema = z.object({ datasets: z.array(datasetSchema) });
