/**
 * The value codec: turns call arguments and results into JSON plus out-of-band binary blobs.
 *
 * Structure goes through superjson (Date, Map, Set, BigInt, undefined, RegExp, NaN/±Infinity/-0,
 * URL, Errors, registered classes). Binary values (Buffer, typed arrays, ArrayBuffer, DataView)
 * never become JSON: each is replaced by a placeholder `{ i, t }` and its bytes travel as blob `i`.
 * Decoding rebuilds the same type on the received blob's memory (copying only to fix alignment).
 * Each binary value is its own blob, so two views of one buffer arrive as independent copies; a
 * SharedArrayBuffer arrives as an ArrayBuffer, and a null-prototype object as a plain object.
 *
 * Before encoding, a walk over the value rejects what cannot arrive intact, with a SerializationError
 * whose `path` is a JavaScript expression that evaluates to the bad value from the root, e.g.
 * `args[0].model.forward`, `value.items[3]`, `args[1]["weird key"]`. Map and Set members use real
 * JS too: `args[0].get("k")` (a Map value under a primitive key), `[...args[0].values()][2]` (under
 * an object key), `[...args[0].keys()][2]` (a Map key) and `[...args[0]][2]` (a Set member).
 *
 * Cycles: superjson restores back-references by patching paths after decoding, which works through
 * plain objects, arrays, Maps and Sets but not through registered class instances or Errors (there
 * the reference silently decodes as null). So a cycle is allowed unless it runs through one of those.
 * Known superjson quirk: an object that is a Set member (or Map key) and is also referenced elsewhere
 * moves to the end of that Set (or Map) when decoded.
 */
import { types } from "node:util";
import { SuperJSON, type SuperJSONResult, type SuperJSONValue } from "superjson";
import { FlowError, SerializationError } from "../errors.ts";
import type { EncodedValue } from "./protocol.ts";

export interface Encoded {
  value: EncodedValue;
  blobs: Uint8Array[];
}

// Our own instance, so that class registrations and the blob transformer are not global.
const sj = new SuperJSON();

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
type BlobType = keyof typeof VIEWS | "Buffer" | "DataView" | "ArrayBuffer";
type BinaryValue = ArrayBufferView | ArrayBufferLike;
interface Placeholder {
  i: number;
  t: BlobType;
}

function blobType(v: unknown): BlobType | undefined {
  if (types.isAnyArrayBuffer(v)) return "ArrayBuffer";
  if (!ArrayBuffer.isView(v)) return undefined;
  if (Buffer.isBuffer(v)) return "Buffer";
  if (types.isDataView(v)) return "DataView";
  // The TypedArray toStringTag getter names the element type even for subclasses.
  const name = (v as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag];
  return Object.hasOwn(VIEWS, name) ? (name as keyof typeof VIEWS) : undefined;
}

// superjson's transformers are synchronous and take no context, so encode/decode point this at the
// blob list of the call in progress (saved and restored, in case a call happens inside another).
let activeBlobs: Uint8Array[] = [];

sj.registerCustom<BinaryValue, { i: number; t: string }>(
  {
    isApplicable: (v): v is BinaryValue => blobType(v) !== undefined,
    serialize: (v) => {
      const t = blobType(v) as BlobType;
      // A view of exactly this value's bytes, not a copy.
      const bytes = ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
      return { i: activeBlobs.push(bytes) - 1, t };
    },
    deserialize: (p) => fromBlob(p as Placeholder),
  },
  "blob",
);

function fromBlob({ i, t }: Placeholder): BinaryValue {
  const blob = activeBlobs[i];
  if (blob === undefined) {
    throw new SerializationError(`Blob ${i} is missing: the message carried ${activeBlobs.length}.`, { path: "value" });
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
  }
  // `t` comes off the wire: look it up as an own key only.
  const View = Object.hasOwn(VIEWS, t) ? VIEWS[t] : undefined;
  if (View === undefined || blob.byteLength % View.BYTES_PER_ELEMENT !== 0) {
    throw new SerializationError(`Blob ${i} (${blob.byteLength} bytes) cannot be a ${String(t)}.`, { path: "value" });
  }
  // A typed array must start at a multiple of its element size; copy the bytes if this one does not.
  const bytes = blob.byteOffset % View.BYTES_PER_ELEMENT === 0 ? blob : blob.slice();
  return new View(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / View.BYTES_PER_ELEMENT);
}

/** Lets instances of `cls` cross: their own enumerable properties are sent, the prototype is restored. */
export function registerClass(cls: new (...a: any[]) => unknown, name: string = cls.name): void {
  if (!name) {
    throw new FlowError("registerClass() needs a name for an anonymous class.", {
      suggestions: ["Pass one: registerClass(MyClass, \"MyClass\")."],
    });
  }
  const existing = sj.classRegistry.getValue(name);
  if (existing !== undefined && existing !== cls) {
    throw new FlowError(`Another class is already registered as "${name}".`, {
      suggestions: [`Give this one a distinct name: registerClass(${name}, "${name}2").`],
    });
  }
  sj.registerClass(cls, name);
}

export function encode(value: unknown, rootPath = "value"): Encoded {
  validate(value, rootPath);
  const outer = activeBlobs;
  const blobs: Uint8Array[] = (activeBlobs = []);
  try {
    const { json, meta } = sj.serialize(value as SuperJSONValue);
    return { value: meta === undefined ? { json } : { json, meta }, blobs };
  } finally {
    activeBlobs = outer;
  }
}

export function decode(value: EncodedValue, blobs: Uint8Array[]): unknown {
  const outer = activeBlobs;
  activeBlobs = blobs;
  try {
    return sj.deserialize(value as SuperJSONResult);
  } catch (error) {
    if (error instanceof SerializationError) throw error;
    throw new SerializationError(`A value could not be decoded: ${(error as Error).message}`, {
      path: "value",
      cause: error,
      suggestions: ["Register the same classes with registerClass() on both sides (your code and the remote)."],
    });
  } finally {
    activeBlobs = outer;
  }
}

// ---- validation ------------------------------------------------------------------------------

/** One step from a value to a child; strings and numbers are property keys and array indexes. */
type Step =
  | string
  | number
  | { kind: "set"; i: number }
  | { kind: "mapKey"; i: number }
  | { kind: "mapValue"; i: number; key: unknown };

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
// superjson refuses these keys (a prototype-pollution guard) by throwing mid-encode.
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

function renderPath(root: string, steps: readonly Step[]): string {
  let path = root;
  for (const step of steps) {
    if (typeof step === "number") path += `[${step}]`;
    else if (typeof step === "string") path += IDENTIFIER.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
    else if (step.kind === "set") path = `[...${path}][${step.i}]`;
    else if (step.kind === "mapKey") path = `[...${path}.keys()][${step.i}]`;
    else {
      const key = literal(step.key);
      path = key === undefined ? `[...${path}.values()][${step.i}]` : `${path}.get(${key})`;
    }
  }
  return path;
}

function literal(key: unknown): string | undefined {
  switch (typeof key) {
    case "string":
      return JSON.stringify(key);
    case "bigint":
      return `${key}n`;
    case "number":
    case "boolean":
    case "undefined":
      return String(key);
    default:
      return key === null ? "null" : undefined;
  }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

/** Primitives other than symbols: always encodable, and (think number arrays) the common case. */
function isData(v: unknown): boolean {
  return typeof v === "object" ? v === null : typeof v !== "function" && typeof v !== "symbol";
}

/** The name of the class `v` is a direct instance of, if it has one. */
function nameOfClass(v: object): string | undefined {
  const proto = Object.getPrototypeOf(v) as { constructor?: unknown } | null;
  const ctor = proto?.constructor;
  return typeof ctor === "function" && ctor.prototype === proto && ctor.name ? ctor.name : undefined;
}

/** Throws a SerializationError for the first part of `root` that cannot be encoded faithfully. */
function validate(root: unknown, rootPath: string): void {
  const steps: Step[] = [];
  // The objects on the current path (stack[d] is reached by steps[0..d)), for naming cycle targets.
  const stack: object[] = [];
  // "visiting" while on the current path; afterwards whether the object's encoding holds a
  // back-reference (a null superjson patches on decode).
  const state = new Map<object, "visiting" | "cyclic" | "acyclic">();
  // How many registered class instances / Errors enclose the current value: superjson cannot patch
  // back-references beneath them.
  let opaque = 0;

  function fail(problem: string): never {
    const path = renderPath(rootPath, steps);
    throw new SerializationError(`Cannot send ${path}: ${problem}`, { path });
  }

  /** Visits `v` as child `step`; returns whether its encoding holds a back-reference. */
  function child(step: Step, v: unknown): boolean {
    if (isData(v)) return false;
    steps.push(step);
    const cyclic = visit(v);
    steps.pop();
    return cyclic;
  }

  function visit(v: unknown): boolean {
    if (typeof v === "function") {
      fail(
        `it is a function${v.name ? ` (${v.name})` : ""}. ` +
          "Functions cannot be sent to a remote function; pass data and rebuild it remotely.",
      );
    }
    if (typeof v === "symbol") fail("it is a symbol. Symbols cannot be sent; use a string instead.");
    const obj = v as object;
    const seen = state.get(obj);
    if (seen === "visiting") {
      if (opaque > 0) {
        const target = renderPath(rootPath, steps.slice(0, stack.indexOf(obj)));
        fail(
          `it refers back to ${target}, a circular reference through a class instance or Error, which would ` +
            "arrive as null. Remove the back-reference, or build the cycle from plain objects, arrays, Maps and Sets.",
        );
      }
      return true;
    }
    if (seen !== undefined) {
      // A second reference to an object whose encoding holds a back-reference: beneath a class
      // instance or Error it stays a copy with that reference missing.
      if (seen === "cyclic" && opaque > 0) {
        fail(
          "it holds a circular reference and is also referenced from inside a class instance or Error, " +
            "where the cycle cannot be restored. Remove the back-reference, or keep cyclic data out of " +
            "class instances and Errors.",
        );
      }
      return seen === "cyclic";
    }
    state.set(obj, "visiting");
    stack.push(obj);
    const cyclic = visitChildren(obj);
    stack.pop();
    state.set(obj, cyclic ? "cyclic" : "acyclic");
    return cyclic;
  }

  function visitProperties(obj: object): boolean {
    let cyclic = false;
    for (const key of Object.keys(obj)) {
      if (FORBIDDEN_KEYS.has(key)) {
        steps.push(key);
        fail(`the key "${key}" is refused as a prototype-pollution risk. Rename the key, or use a Map.`);
      }
      if (child(key, (obj as Record<string, unknown>)[key])) cyclic = true;
    }
    return cyclic;
  }

  // Mirrors what superjson walks into: the members of arrays, plain objects, Maps and Sets, the
  // own enumerable properties of registered class instances, and the `cause` of Errors.
  function visitChildren(obj: object): boolean {
    if (sj.classRegistry.getIdentifier((obj as { constructor: new () => unknown }).constructor) !== undefined) {
      opaque++;
      const cyclic = visitProperties(obj);
      opaque--;
      return cyclic;
    }
    if (blobType(obj) !== undefined) return false; // sent as bytes; never walk elements
    let cyclic = false;
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) if (child(i, obj[i])) cyclic = true;
      return cyclic;
    }
    if (isPlainObject(obj)) return visitProperties(obj);
    if (obj instanceof Map) {
      let i = 0;
      for (const [key, value] of obj) {
        if (child({ kind: "mapKey", i }, key)) cyclic = true;
        if (child({ kind: "mapValue", i, key }, value)) cyclic = true;
        i++;
      }
      return cyclic;
    }
    if (obj instanceof Set) {
      let i = 0;
      for (const member of obj) if (child({ kind: "set", i: i++ }, member)) cyclic = true;
      return cyclic;
    }
    if (obj instanceof Error) {
      // superjson sends name, message and cause (not the stack or other properties).
      if (!("cause" in obj)) return false;
      opaque++;
      cyclic = child("cause", obj.cause);
      opaque--;
      return cyclic;
    }
    if (obj instanceof Date || obj instanceof RegExp || obj instanceof URL) return false;
    if (types.isPromise(obj)) fail("it is a Promise. Await it before the call and pass the resolved value.");
    if (obj instanceof WeakMap) fail("it is a WeakMap, whose entries cannot be listed. Use a Map instead.");
    if (obj instanceof WeakSet) fail("it is a WeakSet, whose members cannot be listed. Use a Set instead.");
    const className = nameOfClass(obj);
    if (className === undefined) {
      fail("it is an object with a custom prototype, which cannot be sent. Pass a plain object instead.");
    }
    fail(
      `it is an instance of class ${className}, which cannot be sent. Call registerClass(${className}) on both ` +
        "sides (your code and the remote), or pass a plain object instead.",
    );
  }

  if (!isData(root)) visit(root);
}
