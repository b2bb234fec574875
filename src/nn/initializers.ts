/** Weight initializers; biases start at zero. */
import type { Rng } from './rng.js';
import type { Initializer } from './spec.js';

/** Fills W (inputs × outputs) from the generator, in row order. */
export function initializeWeights(name: Initializer, weights: Float32Array, inputs: number, outputs: number, rng: Rng): void {
  switch (name) {
    case 'normal-fan-in': // the report's N(0, 1/n_in)
      rng.fillNormal(weights, 0, Math.sqrt(1 / inputs));
      return;
    case 'he': // N(0, 2/n_in), for ReLU
      rng.fillNormal(weights, 0, Math.sqrt(2 / inputs));
      return;
    case 'glorot-uniform': {
      const limit = Math.sqrt(6 / (inputs + outputs));
      rng.fillUniform(weights, -limit, limit);
      return;
    }
    default:
      throw new TypeError(`unknown initializer '${String(name)}'`);
  }
}
