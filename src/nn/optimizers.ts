/**
 * Parameter updates over the network's parameter block, which holds every weight first and every bias
 * after: weight decay applies to the weights only.
 */
import { native } from '../native.js';
import type { OptimizerSpec, ScheduleSpec } from './spec.js';

export interface ParameterBlock {
  params: Float32Array;
  grads: Float32Array;
  /** params[0, weightCount) are weights, the rest biases. */
  weightCount: number;
}

export interface Optimizer {
  step(block: ParameterBlock, lr: number): void;
}

/** Optimizer state belongs to one block; stepping another with it would corrupt both. */
function checkBlock(bound: ParameterBlock | undefined, block: ParameterBlock): void {
  if (bound && bound.params !== block.params) throw new Error('an optimizer steps the parameter block it was first given');
}

function split(block: ParameterBlock) {
  const w = block.weightCount;
  return {
    weights: [block.params.subarray(0, w), block.grads.subarray(0, w)] as const,
    biases: [block.params.subarray(w), block.grads.subarray(w)] as const,
  };
}

/** w ← w − lr·(g + λw): the report's plain gradient descent when λ = 0. */
export class GradientDescent implements Optimizer {
  constructor(private readonly weightDecay = 0) {}

  private views: ReturnType<typeof split> | undefined;
  private block: ParameterBlock | undefined;

  step(block: ParameterBlock, lr: number): void {
    checkBlock(this.block, block);
    this.block = block;
    const v = (this.views ??= split(block));
    native.sgdUpdate(v.weights[0], v.weights[1], lr, this.weightDecay);
    native.sgdUpdate(v.biases[0], v.biases[1], lr, 0);
  }
}

export class Momentum implements Optimizer {
  private velocity: Float32Array | undefined;
  private views: { weights: Float32Array[]; biases: Float32Array[] } | undefined;

  constructor(
    private readonly momentum: number,
    private readonly nesterov: boolean,
    private readonly weightDecay = 0,
  ) {}

  private block: ParameterBlock | undefined;

  step(block: ParameterBlock, lr: number): void {
    checkBlock(this.block, block);
    this.block = block;
    if (!this.views) {
      this.velocity = new Float32Array(block.params.length);
      const w = block.weightCount;
      const s = split(block);
      this.views = { weights: [...s.weights, this.velocity.subarray(0, w)], biases: [...s.biases, this.velocity.subarray(w)] };
    }
    const [w, gw, vw] = this.views.weights as [Float32Array, Float32Array, Float32Array];
    const [b, gb, vb] = this.views.biases as [Float32Array, Float32Array, Float32Array];
    native.momentumUpdate(w, gw, vw, lr, this.momentum, this.weightDecay, this.nesterov);
    native.momentumUpdate(b, gb, vb, lr, this.momentum, 0, this.nesterov);
  }
}

/** Adam with bias correction; weight decay is decoupled (AdamW). */
export class Adam implements Optimizer {
  private t = 0;
  private views: { weights: Float32Array[]; biases: Float32Array[] } | undefined;

  constructor(
    private readonly beta1: number,
    private readonly beta2: number,
    private readonly epsilon: number,
    private readonly weightDecay = 0,
  ) {}

  private block: ParameterBlock | undefined;

  step(block: ParameterBlock, lr: number): void {
    checkBlock(this.block, block);
    this.block = block;
    if (!this.views) {
      const n = block.params.length, w = block.weightCount;
      const m = new Float32Array(n), v = new Float32Array(n);
      const s = split(block);
      this.views = { weights: [...s.weights, m.subarray(0, w), v.subarray(0, w)], biases: [...s.biases, m.subarray(w), v.subarray(w)] };
    }
    this.t++;
    const settings = { lr, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, step: this.t };
    const [w, gw, mw, vw] = this.views.weights as [Float32Array, Float32Array, Float32Array, Float32Array];
    const [b, gb, mb, vb] = this.views.biases as [Float32Array, Float32Array, Float32Array, Float32Array];
    native.adamUpdate(w, gw, mw, vw, { ...settings, weightDecay: this.weightDecay });
    native.adamUpdate(b, gb, mb, vb, { ...settings, weightDecay: 0 });
  }
}

export function createOptimizer(spec: OptimizerSpec, weightDecay: number): Optimizer {
  switch (spec.kind) {
    case 'sgd':
      return new GradientDescent(weightDecay);
    case 'momentum':
      return new Momentum(spec.momentum, spec.nesterov, weightDecay);
    case 'adam':
      return new Adam(spec.beta1, spec.beta2, spec.epsilon, weightDecay);
  }
}

/** Learning rate at a step (0-based) of a run of totalSteps, from the base rate and the schedule. */
export function learningRate(base: number, schedule: ScheduleSpec, step: number, totalSteps: number, stepsPerEpoch: number): number {
  switch (schedule.kind) {
    case 'constant':
      return base;
    case 'step':
      return base * schedule.gamma ** Math.floor(step / stepsPerEpoch / schedule.everyEpochs);
    case 'cosine': {
      const progress = totalSteps > 1 ? step / (totalSteps - 1) : 1;
      return schedule.minLr + 0.5 * (base - schedule.minLr) * (1 + Math.cos(Math.PI * progress));
    }
  }
}
