/**
 * The value codec: turns call arguments and results into JSON plus out-of-band binary blobs.
 *
 * Structure goes through superjson (Date, Map, Set, BigInt, undefined, RegExp, NaN/±Infinity/-0,
 * URL, Errors with their own properties, registered classes, custom transformers and symbols; see
 * codec-registrations.ts). Shared objects and cycles arrive shared, Set members and Map keys in
 * their places (codec-references.ts), and holes in arrays as holes. Before encoding, one walk
 * (codec-inspection.ts) refuses what cannot arrive intact, naming its path, and plans the rest:
 *
 * - Binary values (Buffer, typed arrays, ArrayBuffer, DataView) never become JSON: each is replaced
 *   by a placeholder `{ i, t }` and its bytes travel as blob `i`. Decoding rebuilds the same type on
 *   the received blob's memory (copying only to fix alignment). Each binary value is its own blob,
 *   so two views of one buffer arrive as independent copies; a SharedArrayBuffer arrives as an
 *   ArrayBuffer, and a null-prototype object as a plain object.
 * - An array of numbers long enough travels the same way, as float64 bytes (`t: "Array"`), and
 *   arrives as a plain Array: exact for every number (-0, NaN), and no per-element JSON.
 * - A value JSON reproduces exactly is sent as it is, without superjson's walk.
 * - A value whose JSON text is big travels as a blob of that text (`t: "json"`), so it moves in
 *   chunks that other messages (heartbeats, logs, other calls) can pass between.
 */
import { createHash } from "node:crypto";
import { types } from "node:util";
import { SuperJSON, type SuperJSONResult, type SuperJSONValue } from "superjson";
import { SerializationError } from "../errors.ts";
import { binaryType, inspect, type BinaryType } from "./codec-inspection.ts";
import { punchHoles, restoreReferences } from "./codec-references.ts";
import { FORBIDDEN_KEYS, registrations, type JsonValue, type Registrations } from "./codec-registrations.ts";
import { builtInError, extraProperties } from "./failure.ts";
import { EncodedValue } from "./protocol.ts";

export { registerClass, registerCustom, registerSymbol } from "./codec-registrations.ts";
export type { ClassOptions, CustomTransformer, JsonValue } from "./codec-registrations.ts";

export interface Encoded {
  value: EncodedValue;
  blobs: Uint8Array[];
}

/** JSON text longer than this (estimated) travels as a blob rather than inside the message. */
const OUT_OF_BAND_JSON_CHARS = 256 << 10;

const VIEWS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};
type BlobType = BinaryType | "Array" | "json";
type BinaryValue = ArrayBufferView | ArrayBufferLike;
type Placeholder = { i: number; t: BlobType };

// superjson's transformers are synchronous and take no context, so encode/decode point this at the
// call in progress (saved and restored, in case a call happens inside another).
interface Context {
  blobs: Uint8Array[];
  /** Arrays of numbers to send as float64 bytes. */
  packed: ReadonlySet<unknown>;
  /** What each value a custom transformer applies to serialized to, during the inspection. */
  customOutputs: ReadonlyMap<unknown, JsonValue>;
  /** Decoding a value that arrived as JSON text, which may not hold another. */
  inText: boolean;
}
const NONE_PACKED: ReadonlySet<unknown> = new Set();
const NO_CUSTOM_OUTPUTS: ReadonlyMap<unknown, JsonValue> = new Map();
let active: Context = { blobs: [], packed: NONE_PACKED, customOutputs: NO_CUSTOM_OUTPUTS, inText: false };

function within<T>(context: Context, run: () => T): T {
  const outer = active;
  active = context;
  try {
    return run();
  } finally {
    active = outer;
  }
}

// ---- the SuperJSON instance ----------------------------------------------------------------

let built: { version: number; sj: SuperJSON } | undefined;

/** This copy's SuperJSON instance, rebuilt whenever any copy of the SDK registered something. */
function superjson(): SuperJSON {
  const r = registrations();
  if (built?.version !== r.version) built = { version: r.version, sj: build(r) };
  return built.sj;
}

function build(r: Registrations): SuperJSON {
  const sj = new SuperJSON();
  // superjson tries custom transformers in registration order: bytes first, then the user's, so
  // that one of theirs can claim an Error subclass before the generic Error transformer does.
  sj.registerCustom<BinaryValue | number[], Placeholder>(
    {
      isApplicable: (v): v is BinaryValue | number[] => binaryType(v) !== undefined || active.packed.has(v),
      serialize: toBlob,
      deserialize: (p) => fromBlob(p) as BinaryValue | number[],
    },
    "blob",
  );
  for (const { name, transformer } of r.customs.values()) {
    sj.registerCustom<unknown, JsonValue>(
      {
        isApplicable: transformer.isApplicable,
        serialize: (v) => (active.customOutputs.has(v) ? active.customOutputs.get(v)! : transformer.serialize(v)),
        deserialize: transformer.deserialize,
      },
      `user:${name}`,
    );
  }
  sj.registerCustom<Error, Record<string, JsonValue>>(
    { isApplicable: (v): v is Error => v instanceof Error, serialize: errorToObject, deserialize: errorFromObject },
    "error",
  );
  for (const { cls, name, allowProps } of r.classes.values()) {
    sj.registerClass(cls, allowProps === undefined ? name : { identifier: name, allowProps: [...allowProps] });
  }
  for (const [name, symbol] of r.symbols) sj.registerSymbol(symbol, name);
  return sj;
}

// ---- blobs -------------------------------------------------------------------------------------

function toBlob(v: BinaryValue | number[]): Placeholder {
  if (Array.isArray(v)) {
    const floats = new Float64Array(v.length);
    floats.set(v); // faster than Float64Array.from for a plain array
    return { i: active.blobs.push(new Uint8Array(floats.buffer)) - 1, t: "Array" };
  }
  const t = binaryType(v) as BinaryType;
  // A view of exactly this value's bytes, not a copy.
  const bytes = ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
  return { i: active.blobs.push(bytes) - 1, t };
}

function fromBlob(placeholder: unknown): unknown {
  const { i, t } = (placeholder ?? {}) as Partial<Placeholder>;
  const blob = typeof i === "number" ? active.blobs[i] : undefined;
  if (blob === undefined) {
    throw new SerializationError(`Blob ${i} is missing: the message carried ${active.blobs.length}.`, { path: "value" });
  }
  switch (t) {
    case "Buffer":
      return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    case "DataView":
      return new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    case "ArrayBuffer":
      // The blob's buffer is the value only if the blob spans all of it.
      return types.isArrayBuffer(blob.buffer) && blob.byteOffset === 0 && blob.byteLength === blob.buffer.byteLength
        ? blob.buffer
        : blob.slice().buffer;
    case "Array": {
      const floats = view(Float64Array, blob, i!);
      const array = new Array<number>(floats.length);
      for (let k = 0; k < floats.length; k++) array[k] = floats[k]!;
      return array;
    }
    case "json":
      return fromJsonText(blob);
  }
  // `t` comes off the wire: look it up as an own key only.
  const View = typeof t === "string" && Object.hasOwn(VIEWS, t) ? VIEWS[t as keyof typeof VIEWS] : undefined;
  if (View === undefined) throw new SerializationError(`Blob ${i} (${blob.byteLength} bytes) cannot be a ${String(t)}.`, { path: "value" });
  return view(View, blob, i!);
}

type View = (typeof VIEWS)[keyof typeof VIEWS];

function view<V extends View>(View: V, blob: Uint8Array, i: number): InstanceType<V> {
  if (blob.byteLength % View.BYTES_PER_ELEMENT !== 0) {
    throw new SerializationError(`Blob ${i} (${blob.byteLength} bytes) cannot be a ${View.name}.`, { path: "value" });
  }
  // A typed array must start at a multiple of its element size; copy the bytes if this one does not.
  const bytes = blob.byteOffset % View.BYTES_PER_ELEMENT === 0 ? blob : blob.slice();
  return new View(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / View.BYTES_PER_ELEMENT) as InstanceType<V>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function fromJsonText(blob: Uint8Array): unknown {
  if (active.inText) throw new SerializationError("A value could not be decoded: its JSON text holds more JSON text.", { path: "value" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(blob));
  } catch (error) {
    throw new SerializationError(`A value could not be decoded: its JSON text is malformed (${(error as Error).message}).`, {
      path: "value",
      cause: error,
    });
  }
  const encoded = EncodedValue.safeParse(parsed);
  if (!encoded.success) throw new SerializationError("A value could not be decoded: its JSON text is not an encoded value.", { path: "value" });
  active.inText = true;
  try {
    return decodeValue(encoded.data, true);
  } finally {
    active.inText = false;
  }
}

// ---- Errors ------------------------------------------------------------------------------------

// An Error crosses as its name, message, stack, cause, an AggregateError's errors and its own
// enumerable properties, all side by side so that superjson's paths into it are property names.
function errorToObject(error: Error): Record<string, JsonValue> {
  const out: Record<string, unknown> = { name: String(error.name), message: String(error.message) };
  if (typeof error.stack === "string") out.stack = error.stack;
  if ("cause" in error) out.cause = error.cause;
  if (error instanceof AggregateError && Array.isArray(error.errors)) out.errors = error.errors;
  for (const key of extraProperties(error)) out[key] = (error as unknown as Record<string, unknown>)[key];
  return out as Record<string, JsonValue>;
}

function errorFromObject(fields: Record<string, JsonValue>): Error {
  if (typeof fields !== "object" || fields === null) throw new SerializationError("A value could not be decoded: an Error arrived without its fields.", { path: "value" });
  const { name, message, stack, cause, errors, ...own } = fields as Record<string, unknown>;
  if (typeof name !== "string" || typeof message !== "string") {
    throw new SerializationError("A value could not be decoded: an Error arrived without a name and message.", { path: "value" });
  }
  const aggregate = name === "AggregateError" && Array.isArray(errors);
  const error = builtInError(name, message, aggregate ? errors : undefined) ?? new Error(message);
  if (error.name !== name) error.name = name; // an own property, as `this.name = ...` makes it
  const hidden = (key: string, value: unknown) =>
    Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: false });
  if (typeof stack === "string") hidden("stack", stack);
  if (Object.hasOwn(fields, "cause")) hidden("cause", cause);
  if (!aggregate && Object.hasOwn(fields, "errors")) own.errors = errors;
  for (const [key, value] of Object.entries(own)) {
    if (FORBIDDEN_KEYS.has(key)) throw new SerializationError(`A value could not be decoded: an Error arrived with the property "${key}".`, { path: "value" });
    Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: true });
  }
  return error;
}

// ---- encode / decode ---------------------------------------------------------------------------

/**
 * Encodes `value`, or throws a SerializationError naming the first part of it that cannot cross.
 * `value.json` may be `value` itself: serialize it before anything can change `value`.
 */
export function encode(value: unknown, rootPath = "value"): Encoded {
  const inspection = inspect(value, rootPath);
  const context: Context = { blobs: [], packed: inspection.packed, customOutputs: inspection.customOutputs, inText: false };
  return within(context, () => {
    let encoded: EncodedValue;
    if (inspection.plain) encoded = { json: value };
    else {
      const { json, meta } = superjson().serialize(value as SuperJSONValue);
      const full = inspection.holes.length === 0 ? meta : { ...meta, holes: inspection.holes };
      encoded = full === undefined ? { json } : { json, meta: full };
    }
    if (inspection.jsonChars > OUT_OF_BAND_JSON_CHARS) {
      const text = Buffer.from(JSON.stringify(encoded));
      encoded = { json: { i: context.blobs.push(text) - 1, t: "json" }, meta: { values: [["custom", "blob"]], v: 1 } };
    }
    return { value: encoded, blobs: context.blobs };
  });
}

export function decode(value: EncodedValue, blobs: Uint8Array[]): unknown {
  return within({ blobs, packed: NONE_PACKED, customOutputs: NO_CUSTOM_OUTPUTS, inText: false }, () => {
    try {
      return decodeValue(value, false);
    } catch (error) {
      if (error instanceof SerializationError) throw error;
      throw new SerializationError(`A value could not be decoded: ${(error as Error).message}`, {
        path: "value",
        cause: error,
        suggestions: [
          "Register the same classes, custom transformers and symbols (registerClass, registerCustom, registerSymbol) " +
            "on both sides: at the top level of the module that defines your functions.",
        ],
      });
    }
  });
}

/** `fresh`: the JSON was parsed just now for this call, so superjson may rebuild it in place. */
function decodeValue({ json, meta }: EncodedValue, fresh: boolean): unknown {
  if (meta === undefined) return json; // plain JSON, nothing to rebuild
  if (typeof meta !== "object" || meta === null) throw new SerializationError("A value could not be decoded: its metadata is not an object.", { path: "value" });
  const { referentialEqualities, holes, ...rest } = meta as Record<string, unknown>;
  const result = superjson().deserialize({ json, meta: rest } as SuperJSONResult, { inPlace: fresh });
  if (referentialEqualities !== undefined) restoreReferences(result, referentialEqualities);
  if (holes !== undefined) punchHoles(result, holes);
  return result;
}

/**
 * A string that tells encoded values apart, blobs included: equal values (sent the same way) give
 * equal keys. The JSON alone would not do: every binary value, packed array and big value is a
 * placeholder like `{ i: 0, t: "json" }` there.
 */
export function encodedKey(value: EncodedValue | undefined, blobs: readonly Uint8Array[]): string {
  const hash = createHash("sha256").update(JSON.stringify(value ?? null));
  for (const blob of blobs) hash.update(`\n${blob.byteLength}\n`).update(blob);
  return hash.digest("base64");
}
