/**
 * Hyperparameter sweeps: a search space over recipe fields, the trials it gives (every combination of a
 * grid, or seeded random draws), and how trials compare: on validation accuracy, never on the test set.
 * A trial is a recipe; who trains it (the service's jobs, the CLI, the cluster) is not this module's concern.
 */
import { z } from 'zod';
import { Rng } from '../nn/rng.js';
import { recipeSchema, validateRecipe } from '../train/recipe.js';
import type { FoldSummary, TrainRecipe } from '../train/types.js';

/** Trials of one sweep at most: a grid larger than this, or more random trials, is refused. */
export const MAX_TRIALS = 64;

/** Choices of one field at most. */
export const MAX_CHOICES = 32;

/** The share of the training set a trial of a one-fold recipe holds out to validate on, unless its base sets one. */
export const DEFAULT_HOLDOUT = 0.1;

/** The recipe fields a space may vary. */
export const SWEEPABLE = ['hidden', 'init', 'optimizer', 'lr', 'schedule', 'weightDecay', 'batchSize', 'epochs', 'folds', 'holdout', 'seed', 'normalization'] as const;
export type SweepField = (typeof SWEEPABLE)[number];

/** Fields with a numeric range; the integer ones draw integers. */
const RANGED = { lr: false, weightDecay: false, batchSize: true, epochs: true, holdout: false } as const;
type RangedField = keyof typeof RANGED;

const rangeSchema = z
  .object({
    min: z.number().finite(),
    max: z.number().finite(),
    log: z.boolean().default(false).describe('draw uniformly in log space (min > 0)'),
  })
  .strict()
  .refine((r) => r.max >= r.min, { message: 'Expected max ≥ min', path: ['max'] })
  .refine((r) => !r.log || r.min > 0, { message: 'A log range needs min > 0', path: ['min'] });
export type Range = z.infer<typeof rangeSchema>;

/** A field's values: a list of choices, or (numeric fields, random strategy) a range. */
const dimensionSchema = z.union([z.array(z.unknown()).min(1).max(MAX_CHOICES), rangeSchema]);

export const sweepSpaceSchema = z
  .partialRecord(z.enum(SWEEPABLE), dimensionSchema)
  .refine((space) => Object.keys(space).length > 0, { message: 'Expected at least one field to vary' })
  .describe(`recipe fields (${SWEEPABLE.join(', ')}) to a list of values, or for ${Object.keys(RANGED).join(', ')} a range {min, max, log}`);
export type SweepSpace = z.infer<typeof sweepSpaceSchema>;

export const sweepStrategySchema = z.enum(['grid', 'random']);

/** A sweep's space and how to walk it. */
export interface SweepPlan {
  space: SweepSpace;
  strategy: 'grid' | 'random';
  /** Random: how many trials. Grid: at most this many (default: every combination). */
  trials?: number;
  /** Seeds the random draws; the trials' own seeds come from the base recipe or the space. */
  seed: number;
}

/** A field of a space that does not fit, with its path (e.g. `space.lr.1`). */
export class SweepSpaceError extends TypeError {
  override readonly name = 'SweepSpaceError';

  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

function isRange(d: unknown[] | Range): d is Range {
  return !Array.isArray(d);
}

/** Checks each choice and range against the recipe's own field schema. */
function checkDimension(field: SweepField, d: unknown[] | Range, strategy: SweepPlan['strategy']): void {
  const schema = (recipeSchema.shape as Record<SweepField, z.ZodType>)[field];
  if (isRange(d)) {
    if (!(field in RANGED)) throw new SweepSpaceError(`space.${field}`, `a range applies to ${Object.keys(RANGED).join(', ')} only; give a list of values`);
    if (strategy === 'grid') throw new SweepSpaceError(`space.${field}`, 'a range needs strategy "random"; a grid takes a list of values');
    for (const end of ['min', 'max'] as const) {
      const value = RANGED[field as RangedField] ? Math.round(d[end]) : d[end];
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw new SweepSpaceError(`space.${field}.${end}`, parsed.error.issues[0]!.message);
    }
    return;
  }
  d.forEach((value, i) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new SweepSpaceError([`space.${field}.${i}`, ...issue.path].join('.'), issue.message);
    }
  });
}

/** One draw from a range: uniform, or log-uniform; integers for the integer fields. */
function draw(field: SweepField, range: Range, rng: Rng): number {
  const u = rng.nextDouble();
  const value = range.log ? Math.exp(Math.log(range.min) + u * (Math.log(range.max) - Math.log(range.min))) : range.min + u * (range.max - range.min);
  return RANGED[field as RangedField] ? Math.min(Math.round(range.max), Math.max(Math.round(range.min), Math.round(value))) : value;
}

/** Grid size: the product of the choice counts. */
export function gridSize(space: SweepSpace): number {
  return Object.values(space).reduce((n, d) => n * (Array.isArray(d) ? d.length : 1), 1);
}

/**
 * The trials' parameters, in order: a grid's every combination (the last field varies fastest), or
 * `trials` random draws (each field a uniform choice or a draw from its range) from the plan's seed.
 *
 * @throws SweepSpaceError naming the field that does not fit
 */
export function trialParams(plan: SweepPlan): Record<string, unknown>[] {
  const fields = Object.keys(plan.space) as SweepField[];
  for (const field of fields) checkDimension(field, plan.space[field]!, plan.strategy);
  if (plan.strategy === 'grid') {
    const size = gridSize(plan.space);
    const limit = plan.trials ?? size;
    if (size > MAX_TRIALS && limit > MAX_TRIALS) throw new SweepSpaceError('space', `the grid has ${size} combinations, more than the ${MAX_TRIALS} trials a sweep may have; set trials or narrow it`);
    const out: Record<string, unknown>[] = [];
    for (let index = 0; index < Math.min(size, limit); index++) {
      let rest = index;
      const params: Record<string, unknown> = {};
      for (let f = fields.length - 1; f >= 0; f--) {
        const choices = plan.space[fields[f]!] as unknown[];
        params[fields[f]!] = choices[rest % choices.length];
        rest = Math.floor(rest / choices.length);
      }
      out.push(Object.fromEntries(fields.map((f) => [f, params[f]])));
    }
    return out;
  }
  const count = plan.trials;
  if (count === undefined) throw new SweepSpaceError('trials', 'a random sweep needs the number of trials');
  const rng = new Rng(plan.seed);
  return Array.from({ length: count }, () =>
    Object.fromEntries(
      fields.map((field) => {
        const d = plan.space[field]!;
        return [field, isRange(d) ? draw(field, d, rng) : d[Math.min(d.length - 1, Math.floor(rng.nextDouble() * d.length))]];
      }),
    ),
  );
}

/**
 * A trial's recipe: the base with its parameters laid over, a one-fold recipe given DEFAULT_HOLDOUT
 * unless it has a holdout (trials compare on validation, and a one-fold run has none without it), a
 * K-fold one without the base's holdout.
 *
 * @throws SweepSpaceError naming the trial when the combination is not a valid recipe
 */
export function trialRecipe(base: TrainRecipe, params: Record<string, unknown>, index: number): TrainRecipe {
  const merged = { ...base, ...params } as TrainRecipe;
  if (merged.folds === 1 && merged.holdout === undefined) merged.holdout = DEFAULT_HOLDOUT;
  // The base's holdout goes with trials the space gives folds; a holdout of the space's own stays, and is refused.
  if (merged.folds !== 1 && !('holdout' in params)) delete merged.holdout;
  try {
    return validateRecipe(merged);
  } catch (error) {
    throw new SweepSpaceError(`trial ${index + 1}`, `${(error as Error).message} (parameters ${JSON.stringify(params)})`);
  }
}

/** What a trial is compared on: the mean over its folds of each fold's best validation accuracy. */
export function trialScore(folds: Pick<FoldSummary, 'validAccuracy'>[]): number {
  return folds.reduce((sum, f) => sum + f.validAccuracy, 0) / folds.length;
}

/** The index of the best of the scored trials (the first of equals), or -1 if none has a score. */
export function bestTrial(scores: (number | null)[]): number {
  let best = -1;
  scores.forEach((s, i) => {
    if (s !== null && Number.isFinite(s) && (best < 0 || s > scores[best]!)) best = i;
  });
  return best;
}
