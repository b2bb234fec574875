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

/**
 * What an optimizer carries from one step to the next, as plain data: the steps taken and its buffers over
 * the parameter block (momentum: the velocity; Adam: the first and second moments).
 */
export interface OptimizerState {
  kind: OptimizerSpec['kind'];
  /** Steps taken (Adam's bias correction counts them). */
  step: number;
  /** Each as long as the parameter block; empty before the first step, and always for plain descent. */
  buffers: Float32Array[];
}

export interface Optimizer {
  step(block: ParameterBlock, lr: number): void;
  /**
   * The optimizer's state. The buffers are views of the live ones, not copies: read or copy them before the
   * next step.
   */
  exportState(): OptimizerState;
  /**
   * Continues from an exported state on the given block (copying the buffers), before the first step: the
   * steps that follow are bit for bit those of the optimizer that exported it.
   *
   * @throws TypeError if the state is of another kind; RangeError if a buffer's length is not the block's.
   */
  importState(block: ParameterBlock, state: OptimizerState): void;
}

/** The buffers of a state, checked against the optimizer's kind and the block. */
function checkState(kind: OptimizerSpec['kind'], buffers: number, block: ParameterBlock, state: OptimizerState): void {
  if (state.kind !== kind) throw new TypeError(`Expected a ${kind} optimizer state but received a ${String(state.kind)} one`);
  if (!Number.isSafeInteger(state.step) || state.step < 0) throw new RangeError(`Expected a non-negative integer for step but received ${String(state.step)}`);
  if (state.buffers.length !== 0 && state.buffers.length !== buffers) {
    throw new RangeError(`Expected ${buffers} buffers in a ${kind} optimizer state but received ${state.buffers.length}`);
  }
  state.buffers.forEach((buffer, i) => {
    if (!(buffer instanceof Float32Array) || buffer.length !== block.params.length) {
      throw new RangeError(`Expected buffer ${i} of the ${kind} optimizer state to hold ${block.params.length} floats but received ${String(buffer?.length)}`);
    }
  });
}

/** Optimizer state belongs to one block; stepping another with it would corrupt both. */
function checkBlock(bound: ParameterBlock | undefined, block: ParameterBlock): void {
  if (bound && bound.params !== block.params) throw new Error('an optimizer steps the parameter block it was first given');
}

/**
 * The weights' and the biases' views of a block: weight decay applies to the weights only, so with decay an
 * optimizer makes one native call for each; without, one over the whole block (elementwise: the same bits).
 */
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
    if (this.weightDecay === 0) return native.sgdUpdate(block.params, block.grads, lr, 0);
    native.sgdUpdate(v.weights[0], v.weights[1], lr, this.weightDecay);
    native.sgdUpdate(v.biases[0], v.biases[1], lr, 0);
  }

  /** Plain descent keeps nothing between steps. */
  exportState(): OptimizerState {
    return { kind: 'sgd', step: 0, buffers: [] };
  }

  importState(block: ParameterBlock, state: OptimizerState): void {
    checkBlock(this.block, block);
    checkState('sgd', 0, block, state);
    this.block = block;
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
  private steps = 0;

  private bind(block: ParameterBlock, velocity: Float32Array): NonNullable<typeof this.views> {
    this.block = block;
    this.velocity = velocity;
    const w = block.weightCount;
    const s = split(block);
    return (this.views = { weights: [...s.weights, velocity.subarray(0, w)], biases: [...s.biases, velocity.subarray(w)] });
  }

  step(block: ParameterBlock, lr: number): void {
    checkBlock(this.block, block);
    const views = this.views ?? this.bind(block, new Float32Array(block.params.length));
    this.steps++;
    if (this.weightDecay === 0) return native.momentumUpdate(block.params, block.grads, this.velocity!, lr, this.momentum, 0, this.nesterov);
    const [w, gw, vw] = views.weights as [Float32Array, Float32Array, Float32Array];
    const [b, gb, vb] = views.biases as [Float32Array, Float32Array, Float32Array];
    native.momentumUpdate(w, gw, vw, lr, this.momentum, this.weightDecay, this.nesterov);
    native.momentumUpdate(b, gb, vb, lr, this.momentum, 0, this.nesterov);
  }

  exportState(): OptimizerState {
    return { kind: 'momentum', step: this.steps, buffers: this.velocity ? [this.velocity] : [] };
  }

  importState(block: ParameterBlock, state: OptimizerState): void {
    checkBlock(this.block, block);
    checkState('momentum', 1, block, state);
    this.bind(block, state.buffers[0]?.slice() ?? new Float32Array(block.params.length));
    this.steps = state.step;
  }
}

/** Adam with bias correction; weight decay is decoupled (AdamW). */
export class Adam implements Optimizer {
  private t = 0;
  private moments: [Float32Array, Float32Array] | undefined;
  private views: { weights: Float32Array[]; biases: Float32Array[] } | undefined;

  constructor(
    private readonly beta1: number,
    private readonly beta2: number,
    private readonly epsilon: number,
    private readonly weightDecay = 0,
  ) {}

  private block: ParameterBlock | undefined;

  private bind(block: ParameterBlock, m: Float32Array, v: Float32Array): NonNullable<typeof this.views> {
    this.block = block;
    this.moments = [m, v];
    const w = block.weightCount;
    const s = split(block);
    return (this.views = { weights: [...s.weights, m.subarray(0, w), v.subarray(0, w)], biases: [...s.biases, m.subarray(w), v.subarray(w)] });
  }

  step(block: ParameterBlock, lr: number): void {
    checkBlock(this.block, block);
    const views = this.views ?? this.bind(block, new Float32Array(block.params.length), new Float32Array(block.params.length));
    this.t++;
    const settings = { lr, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, step: this.t };
    if (this.weightDecay === 0) return native.adamUpdate(block.params, block.grads, this.moments![0], this.moments![1], { ...settings, weightDecay: 0 });
    const [w, gw, mw, vw] = views.weights as [Float32Array, Float32Array, Float32Array, Float32Array];
    const [b, gb, mb, vb] = views.biases as [Float32Array, Float32Array, Float32Array, Float32Array];
    native.adamUpdate(w, gw, mw, vw, { ...settings, weightDecay: this.weightDecay });
    native.adamUpdate(b, gb, mb, vb, { ...settings, weightDecay: 0 });
  }

  exportState(): OptimizerState {
    return { kind: 'adam', step: this.t, buffers: this.moments ? [...this.moments] : [] };
  }

  importState(block: ParameterBlock, state: OptimizerState): void {
    checkBlock(this.block, block);
    checkState('adam', 2, block, state);
    const n = block.params.length;
    const [m, v] = state.buffers;
    this.bind(block, m?.slice() ?? new Float32Array(n), v?.slice() ?? new Float32Array(n));
    this.t = state.step;
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
