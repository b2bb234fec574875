/**
 * The protobuf schema, proto/fastmlp.proto, loaded by reflection at run time (no generated code to keep in
 * step). Codecs use a variant in which every packed `repeated float` field is read and written as its raw
 * little-endian bytes: the same bytes on the wire, moved with one copy into or out of a Float32Array
 * instead of one JavaScript number per element.
 */
import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Field, Namespace, Type, parse, type Root } from 'protobufjs';

/** The protobuf package every fastmlp message lives in. */
export const PROTO_PACKAGE = 'fastmlp.v1';

const hostIsLittleEndian = endianness() === 'LE';

/**
 * The folder of fastmlp's package.json: the nearest one above this module, which is the same folder whether
 * the module runs from src/ (tsx, vitest) or from dist/ (compiled).
 */
export function packageRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error(`No package.json above ${fileURLToPath(import.meta.url)}`);
    folder = parent;
  }
  return folder;
}

/** Absolute path of the schema file, proto/fastmlp.proto in the package. */
export function protoPath(): string {
  return join(packageRoot(), 'proto', 'fastmlp.proto');
}

function parseSchema(): Root {
  return parse(readFileSync(protoPath(), 'utf8')).root;
}

function* typesIn(namespace: Namespace): Generator<Type> {
  for (const object of namespace.nestedArray) {
    if (object instanceof Type) yield object;
    if (object instanceof Namespace) yield* typesIn(object);
  }
}

/** Retypes each packed float field as bytes; a packed field and a bytes field share wire type 2. */
function packedFloatsAsBytes(root: Root): Root {
  root.resolveAll(); // settles which fields are packed
  for (const type of typesIn(root)) {
    for (const field of [...type.fieldsArray]) {
      if (field.type !== 'float' || !field.repeated || !field.packed) continue;
      type.remove(field);
      type.add(new Field(field.name, field.id, 'bytes'));
    }
  }
  root.resolveAll();
  return root;
}

let wireRoot: Root | undefined;
let codecRoot: Root | undefined;

/** The schema exactly as written: packed floats decode to number[]. For compatibility checks and tools. */
export function wireSchema(): Root {
  if (wireRoot === undefined) {
    wireRoot = parseSchema();
    wireRoot.resolveAll();
  }
  return wireRoot;
}

/** The schema the codecs use: packed `repeated float` fields are `bytes` holding little-endian floats. */
export function codecSchema(): Root {
  codecRoot ??= packedFloatsAsBytes(parseSchema());
  return codecRoot;
}

/**
 * A message type of the codec schema.
 *
 * @param name - the name inside the fastmlp.v1 package, e.g. 'Checkpoint' or 'PredictRequest.Scale'
 */
export function schemaType(name: string): Type {
  return codecSchema().lookupType(`${PROTO_PACKAGE}.${name}`);
}

/** The bytes of a packed float field holding `values`: a view, not a copy, on little-endian hosts. */
export function floatsToBytes(values: Float32Array): Uint8Array {
  if (hostIsLittleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const bytes = new Uint8Array(values.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return bytes;
}

/**
 * The floats of a packed float field, copied into a new (aligned) Float32Array.
 *
 * @throws RangeError if the byte count is not a multiple of 4
 */
export function bytesToFloats(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) {
    throw new RangeError(`Expected a multiple of 4 bytes of packed floats but received ${bytes.length}`);
  }
  const values = new Float32Array(bytes.length / 4);
  if (hostIsLittleEndian) {
    new Uint8Array(values.buffer).set(bytes);
    return values;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
  return values;
}
