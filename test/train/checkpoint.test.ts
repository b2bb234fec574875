import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytesToFloats, floatsToBytes, protoPath, schemaType, wireSchema } from '../../src/proto/schema.js';
import {
  CHECKPOINT_FORMAT_VERSION,
  CHECKPOINT_MAGIC,
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type Checkpoint,
  type TrainedCheckpoint,
} from '../../src/train/checkpoint.js';
import { referenceRecipe } from '../../src/train/recipe.js';

/** Deterministic floats with the awkward values a round trip must keep: −0, subnormals, extremes. */
function floats(count: number, salt: number): Float32Array {
  const values = new Float32Array(count);
  let state = salt >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = (state / 2 ** 32 - 0.5) * 2 ** ((state & 15) - 8);
  }
  values[0] = -0;
  if (count > 1) values[1] = 1e-45; // smallest subnormal
  if (count > 2) values[2] = 3.4028234663852886e38; // largest float
  return values;
}

/** 4×4 images → 5 relu → 3 sigmoid → 2 classes, per-pixel statistics. */
function sample(): TrainedCheckpoint {
  return {
    architecture: {
      inputRows: 4,
      inputCols: 4,
      classes: 2,
      layers: [
        { inputs: 16, outputs: 5, activation: 'relu' },
        { inputs: 5, outputs: 3, activation: 'sigmoid' },
        { inputs: 3, outputs: 2, activation: 'softmax' },
      ],
    },
    layers: [
      { inputs: 16, outputs: 5, weights: floats(80, 1), bias: floats(5, 2) },
      { inputs: 5, outputs: 3, weights: floats(15, 3), bias: floats(3, 4) },
      { inputs: 3, outputs: 2, weights: floats(6, 5), bias: floats(2, 6) },
    ],
    normalization: { mode: 'per-pixel', mean: floats(16, 7).map(Math.abs), std: floats(16, 8).map((s) => 1 + Math.abs(s)) },
    recipe: {
      ...referenceRecipe,
      hidden: [
        { width: 5, activation: 'relu' },
        { width: 3, activation: 'sigmoid' },
      ],
      init: 'he',
      optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      schedule: { kind: 'step', everyEpochs: 10, gamma: 0.5 },
      weightDecay: 1e-4,
      seed: 2 ** 53 - 1,
      normalization: 'per-pixel',
    },
    metrics: {
      fold: 2,
      epoch: 17,
      trainLoss: 0.125,
      trainAccuracy: 0.96875,
      validLoss: 0.2,
      validAccuracy: 0.94,
      testLoss: 0.21,
      testAccuracy: 0.9375,
    },
  };
}

/** The same network imported: no recipe, no metrics, the file it came from. */
function imported(): Checkpoint {
  const { recipe: _recipe, metrics: _metrics, ...network } = sample();
  return {
    ...network,
    normalization: { mode: 'global', mean: Float32Array.of(0.1307 * 255), std: Float32Array.of(0.3081 * 255) },
    importedFrom: {
      format: 'onnx',
      producerName: 'pytorch',
      producerVersion: '2.13.0',
      graphName: 'main_graph',
      sha256: 'ab'.repeat(32),
      input: { scale: 'unit', mean: 0.1307, std: 0.3081 },
    },
  };
}

function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function expectSameCheckpoint(actual: Checkpoint, expected: Checkpoint): void {
  expect(actual.architecture).toEqual(expected.architecture);
  expect(actual.recipe).toEqual(expected.recipe);
  expect(actual.metrics).toEqual(expected.metrics);
  expect(actual.importedFrom).toEqual(expected.importedFrom);
  expect(actual.normalization.mode).toBe(expected.normalization.mode);
  expect(bits(actual.normalization.mean)).toEqual(bits(expected.normalization.mean));
  expect(bits(actual.normalization.std)).toEqual(bits(expected.normalization.std));
  expect(actual.layers).toHaveLength(expected.layers.length);
  actual.layers.forEach((layer, i) => {
    const want = expected.layers[i]!;
    expect([layer.inputs, layer.outputs]).toEqual([want.inputs, want.outputs]);
    expect(layer.weights).toBeInstanceOf(Float32Array);
    expect(bits(layer.weights)).toEqual(bits(want.weights));
    expect(bits(layer.bias)).toEqual(bits(want.bias));
  });
}

// Damaged files are made through the schema as written, the way another protobuf library would.
const fileType = () => wireSchema().lookupType('fastmlp.v1.CheckpointFile');
const payloadType = () => wireSchema().lookupType('fastmlp.v1.Checkpoint');

function envelope(payload: Uint8Array, fields: { magic?: number; formatVersion?: number; crc32?: number } = {}): Uint8Array {
  const type = fileType();
  const file = { magic: CHECKPOINT_MAGIC, formatVersion: CHECKPOINT_FORMAT_VERSION, crc32: crc32(payload), payload, ...fields };
  return new Uint8Array(type.encode(type.fromObject(file)).finish()); // a Buffer would not equal a Uint8Array
}

/** Re-encodes `c` with `edit` applied to its payload as plain protobuf objects (floats as number[]). */
function withPayloadEdit(c: Checkpoint, edit: (payload: { [k: string]: any }) => void): Uint8Array {
  const file = fileType().toObject(fileType().decode(encodeCheckpoint(c)));
  const payload = payloadType().toObject(payloadType().decode(file['payload'] as Uint8Array), { defaults: true, arrays: true });
  edit(payload);
  return envelope(payloadType().encode(payloadType().fromObject(payload)).finish());
}

function decodeError(bytes: Uint8Array): CheckpointError {
  try {
    decodeCheckpoint(bytes, 'model.fmlp');
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error('decodeCheckpoint accepted damaged bytes');
}

describe('schema', () => {
  it('finds proto/fastmlp.proto from the package root', () => {
    expect(existsSync(protoPath())).toBe(true);
    expect(protoPath()).toMatch(/proto[\\/]fastmlp\.proto$/);
  });

  it('moves packed floats as raw little-endian bytes that any protobuf reader decodes', () => {
    const pixels = floats(784 * 2, 9);
    const codec = schemaType('PredictRequest');
    const bytes = codec.encode(codec.fromObject({ pixels: floatsToBytes(pixels), count: 2, scale: 'SCALE_UNIT' })).finish();
    const wire = wireSchema().lookupType('fastmlp.v1.PredictRequest');
    const decoded = wire.toObject(wire.decode(bytes), { enums: String });
    expect(decoded['count']).toBe(2);
    expect(decoded['scale']).toBe('SCALE_UNIT');
    expect(bits(Float32Array.from(decoded['pixels'] as number[]))).toEqual(bits(pixels));
    // And back: the schema as written encodes the same bytes from number[].
    expect(wire.encode(wire.fromObject({ pixels: Array.from(pixels), count: 2, scale: 'SCALE_UNIT' })).finish()).toEqual(bytes);
    expect(bits(bytesToFloats(floatsToBytes(pixels)))).toEqual(bits(pixels));
  });
});

describe('encodeCheckpoint / decodeCheckpoint', () => {
  it('round-trips every field, floats bit for bit', () => {
    const c = sample();
    expectSameCheckpoint(decodeCheckpoint(encodeCheckpoint(c)), c);
  });

  it('keeps optional test metrics absent', () => {
    const c = sample();
    delete c.metrics.testLoss;
    delete c.metrics.testAccuracy;
    const metrics = decodeCheckpoint(encodeCheckpoint(c)).metrics;
    expect(metrics).not.toHaveProperty('testLoss');
    expect(metrics).not.toHaveProperty('testAccuracy');
  });

  it('keeps a one-fold recipe\'s holdout, and its absence', () => {
    const c = sample();
    c.recipe = { ...c.recipe, folds: 1, holdout: 0.1 };
    expect(decodeCheckpoint(encodeCheckpoint(c)).recipe).toEqual(c.recipe);
    const { holdout: _, ...without } = c.recipe;
    c.recipe = without;
    expect(decodeCheckpoint(encodeCheckpoint(c)).recipe).not.toHaveProperty('holdout');
  });

  it('keeps the recipe\'s precision and input dropout, and their absence', () => {
    const c = sample();
    for (const precision of ['fp32', 'bf16'] as const) {
      c.recipe = { ...c.recipe, precision, inputDropout: 0.2 };
      expect(decodeCheckpoint(encodeCheckpoint(c)).recipe).toEqual(c.recipe);
    }
    const { precision: _p, inputDropout: _d, ...without } = c.recipe;
    c.recipe = without;
    const decoded = decodeCheckpoint(encodeCheckpoint(c)).recipe;
    expect(decoded).not.toHaveProperty('precision');
    expect(decoded).not.toHaveProperty('inputDropout');
  });

  it('round-trips every optimizer and schedule', () => {
    const c = sample();
    for (const [optimizer, schedule] of [
      [{ kind: 'sgd' }, { kind: 'constant' }],
      [{ kind: 'momentum', momentum: 0.9, nesterov: true }, { kind: 'cosine', minLr: 1e-4 }],
    ] as const) {
      c.recipe = { ...c.recipe, optimizer, schedule };
      expect(decodeCheckpoint(encodeCheckpoint(c)).recipe).toEqual(c.recipe);
    }
  });

  it('gives the same bytes twice, and the bytes of the schema as written', () => {
    const c = sample();
    const bytes = encodeCheckpoint(c);
    expect(encodeCheckpoint(sample())).toEqual(bytes);
    // Re-encoding through the schema as written (floats as number[]) reproduces the file exactly.
    expect(withPayloadEdit(c, () => undefined)).toEqual(bytes);
  });

  it('writes a trained checkpoint byte for byte as before imported networks had fields of their own', () => {
    // The sha256 of sample()'s file as the format was before field 6 (ImportedFrom) existed.
    expect(createHash('sha256').update(encodeCheckpoint(sample())).digest('hex')).toBe('92931c58bdb0b3aba5b58fa3f20453e8839c8a534b14d1f112fe4954487d0d78');
  });

  it('round-trips an imported network: no recipe, no metrics, where it came from', () => {
    const c = imported();
    const back = decodeCheckpoint(encodeCheckpoint(c));
    expectSameCheckpoint(back, c);
    expect(back).not.toHaveProperty('recipe');
    expect(back).not.toHaveProperty('metrics');
  });

  it('needs the recipe and metrics of a network that was not imported', () => {
    const { recipe: _, ...noRecipe } = sample();
    expect(() => encodeCheckpoint(noRecipe)).toThrow('checkpoint: a trained network needs its recipe and metrics (only an imported one goes without)');
    const noMetrics = withPayloadEdit(sample(), (p) => {
      p['metrics'] = null;
    });
    expect(decodeError(noMetrics).problem).toBe('no metrics');
    const badInput = imported();
    badInput.importedFrom!.input.std = 0;
    expect(() => encodeCheckpoint(badInput)).toThrow('the input convention needs a finite mean and a positive std, not 0.1307 and 0');
  });

  it('starts with the FMLP magic', () => {
    expect(Array.from(encodeCheckpoint(sample()).subarray(0, 5))).toEqual([0x0d, 0x46, 0x4d, 0x4c, 0x50]);
  });

  it('names the source and a flipped payload byte (CRC-32)', () => {
    const bytes = encodeCheckpoint(sample());
    bytes[bytes.length - 40]! ^= 0x10;
    const error = decodeError(bytes);
    expect(error.source).toBe('model.fmlp');
    expect(error.message).toMatch(/^model\.fmlp: checksum mismatch/);
  });

  it('rejects a truncated file', () => {
    const bytes = encodeCheckpoint(sample());
    expect(decodeError(bytes.subarray(0, bytes.length - 7)).problem).toMatch(/truncated/);
    expect(decodeError(bytes.subarray(0, 3)).problem).toMatch(/truncated/);
    expect(decodeError(new Uint8Array(0)).problem).toMatch(/empty/);
  });

  it('rejects a wrong magic and bytes that are not a checkpoint', () => {
    const bytes = encodeCheckpoint(sample());
    bytes[1] = 0x58;
    expect(decodeError(bytes).problem).toMatch(/not a fastmlp checkpoint: magic 0x504C4D58/);
    expect(decodeError(new TextEncoder().encode('{"weights": [1, 2, 3]}')).problem).toMatch(/not a fastmlp checkpoint/);
  });

  it('rejects a newer format version with its own message', () => {
    const payload = payloadType().encode(payloadType().fromObject({})).finish();
    expect(decodeError(envelope(payload, { formatVersion: 2 })).problem).toMatch(
      /format version 2 is newer than this fastmlp reads \(1\)/,
    );
    expect(decodeError(envelope(payload, { formatVersion: 0 })).problem).toMatch(/format version 0 is unknown/);
  });

  it('rejects weights whose length is not inputs × outputs', () => {
    const bytes = withPayloadEdit(sample(), (p) => {
      p['layers'][1].weights.pop();
    });
    expect(decodeError(bytes).problem).toBe('layer 2 weights has 14 values, expected 15');
  });

  it('rejects a bias of the wrong length', () => {
    const bytes = withPayloadEdit(sample(), (p) => {
      p['layers'][0].bias.push(1);
    });
    expect(decodeError(bytes).problem).toBe('layer 1 bias has 6 values, expected 5');
  });

  it('rejects a layer chain that does not connect', () => {
    const bytes = withPayloadEdit(sample(), (p) => {
      p['architecture'].layers[1].inputs = 6;
    });
    expect(decodeError(bytes).problem).toBe('architecture layer 2 takes 6 inputs but layer 1 gives 5');
  });

  it('rejects inner products that disagree with the architecture', () => {
    const bytes = withPayloadEdit(sample(), (p) => {
      p['layers'].pop();
    });
    expect(decodeError(bytes).problem).toBe('2 inner products for 3 architecture layers');
    const wide = withPayloadEdit(sample(), (p) => {
      p['layers'][2].outputs = 3;
    });
    expect(decodeError(wide).problem).toBe('layer 3 is 3×3 but the architecture says 3×2');
  });

  it('rejects an input layer that does not match the image, and a misplaced softmax', () => {
    const first = withPayloadEdit(sample(), (p) => {
      p['architecture'].inputRows = 5;
    });
    expect(decodeError(first).problem).toBe('architecture layer 1 takes 16 inputs but the image has 20');
    const softmax = withPayloadEdit(sample(), (p) => {
      p['architecture'].layers[0].activation = 3;
    });
    expect(decodeError(softmax).problem).toMatch(/architecture layer 1 has activation softmax/);
  });

  it('rejects a non-finite weight, naming where it is', () => {
    const bytes = withPayloadEdit(sample(), (p) => {
      p['layers'][0].weights[42] = Number.POSITIVE_INFINITY;
    });
    expect(decodeError(bytes).problem).toBe('layer 1 weights[42] is Infinity, not a finite number');
    const nan = withPayloadEdit(sample(), (p) => {
      p['normalization'].mean[3] = Number.NaN;
    });
    expect(decodeError(nan).problem).toBe('normalization mean (per-pixel)[3] is NaN, not a finite number');
  });

  it('rejects statistics whose length does not fit the mode', () => {
    const bytes = withPayloadEdit(sample(), (p) => {
      p['normalization'].mode = 1; // global, with 16 statistics
    });
    expect(decodeError(bytes).problem).toBe('normalization mean (global) has 16 values, expected 1');
  });

  it('refuses to encode what it could not decode', () => {
    const c = sample();
    c.layers[0]!.weights[3] = Number.NaN;
    expect(() => encodeCheckpoint(c)).toThrow(CheckpointError);
    expect(() => encodeCheckpoint(c)).toThrow('checkpoint: layer 1 weights[3] is NaN, not a finite number');
  });
});

describe('saveCheckpoint / loadCheckpoint', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fastmlp-checkpoint-'));
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('writes the encoded bytes and reads them back', async () => {
    const path = join(folder, 'model.fmlp');
    const c = sample();
    await saveCheckpoint(path, c);
    expect(new Uint8Array(await readFile(path))).toEqual(encodeCheckpoint(c));
    expectSameCheckpoint(await loadCheckpoint(path), c);
  });

  it('writes and reads back an imported network without recipe or metrics', async () => {
    const path = join(folder, 'imported.fmlp');
    const c = imported();
    await saveCheckpoint(path, c);
    expectSameCheckpoint(await loadCheckpoint(path), c);
  });

  it('replaces an existing file and leaves no temporary file behind', async () => {
    const path = join(folder, 'model.fmlp');
    await writeFile(path, 'an older file');
    const c = sample();
    await saveCheckpoint(path, c);
    c.metrics.epoch = 18;
    await saveCheckpoint(path, c);
    expect(await readdir(folder)).toEqual(['model.fmlp']);
    expect((await loadCheckpoint(path)).metrics!.epoch).toBe(18);
  });

  it('keeps the previous file when the new checkpoint is invalid', async () => {
    const path = join(folder, 'model.fmlp');
    const c = sample();
    await saveCheckpoint(path, c);
    const broken = sample();
    broken.layers[2]!.bias = new Float32Array(5);
    await expect(saveCheckpoint(path, broken)).rejects.toThrow(`${path}: layer 3 bias has 5 values, expected 2`);
    expect(await readdir(folder)).toEqual(['model.fmlp']);
    expectSameCheckpoint(await loadCheckpoint(path), c);
  });

  it('names the file of a damaged checkpoint', async () => {
    const path = join(folder, 'damaged.fmlp');
    const bytes = encodeCheckpoint(sample());
    await writeFile(path, bytes.subarray(0, bytes.length >> 1));
    await expect(loadCheckpoint(path)).rejects.toThrow(CheckpointError);
    await expect(loadCheckpoint(path)).rejects.toThrow(new RegExp(`^${path.replace(/[.\\]/g, '\\$&')}: truncated`));
  });
});
