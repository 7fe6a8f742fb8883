/**
 * One walk over a value before it is encoded: it refuses what cannot arrive intact, and plans how
 * the rest travels.
 *
 * Refusals are SerializationErrors whose `path` is a JavaScript expression that evaluates to the
 * bad value from the root, e.g. `args[0].model.forward`, `value.items[3]`, `args[1]["weird key"]`.
 * Map and Set members use real JS too: `args[0].get("k")` (a Map value under a primitive key),
 * `[...args[0].values()][2]` (under an object key), `[...args[0].keys()][2]` (a Map key) and
 * `[...args[0]][2]` (a Set member).
 *
 * The plan, for speed: a value that JSON reproduces exactly (no sharing, no special numbers, no
 * undefined or holes, only plain objects and arrays) skips superjson, whose walk costs microseconds
 * per element; an array of numbers of PACK_MIN_LENGTH elements or more travels as float64 bytes;
 * and `jsonChars` estimates the size of the JSON text, so that a big one can go out of band.
 *
 * Cycles: superjson restores back-references by patching paths after decoding, which works through
 * plain objects, arrays, Maps and Sets but not through registered class instances or Errors (there
 * the reference silently decodes as null). So a cycle is allowed unless it runs through one of those.
 */
import { types } from "node:util";
import { SerializationError } from "../errors.ts";
import type { Holes } from "./codec-references.ts";
import { FORBIDDEN_KEYS, registrations, type ClassRegistration, type CustomRegistration, type JsonValue } from "./codec-registrations.ts";
import { extraProperties } from "./failure.ts";

/** Shorter arrays of numbers stay JSON: below this, a blob's frame and placeholder cost more than they save. */
export const PACK_MIN_LENGTH = 256;

export interface Inspection {
  /** JSON.stringify and JSON.parse give back an equal value: no superjson, no metadata. */
  plain: boolean;
  /** Arrays of numbers to send as float64 bytes. */
  packed: Set<unknown>;
  holes: Holes;
  /** What each value a custom transformer applies to serialized to (called once, here). */
  customOutputs: Map<unknown, JsonValue>;
  /** Roughly how long the value's JSON text is. */
  jsonChars: number;
}

export type BinaryType =
  | "Int8Array"
  | "Uint8Array"
  | "Uint8ClampedArray"
  | "Int16Array"
  | "Uint16Array"
  | "Int32Array"
  | "Uint32Array"
  | "Float32Array"
  | "Float64Array"
  | "BigInt64Array"
  | "BigUint64Array"
  | "Buffer"
  | "DataView"
  | "ArrayBuffer";

const TYPED_ARRAY_NAMES: ReadonlySet<string> = new Set([
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
]);

/** The kind of binary value `v` is, if it is one: these travel as raw bytes. */
export function binaryType(v: unknown): BinaryType | undefined {
  if (types.isAnyArrayBuffer(v)) return "ArrayBuffer";
  if (!ArrayBuffer.isView(v)) return undefined;
  if (Buffer.isBuffer(v)) return "Buffer";
  if (types.isDataView(v)) return "DataView";
  // The TypedArray toStringTag getter names the element type even for subclasses.
  const name = (v as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag];
  return TYPED_ARRAY_NAMES.has(name) ? (name as BinaryType) : undefined;
}

/** The registration of the class `v` is a direct instance of, as superjson looks it up. */
function classRegistration(v: unknown): ClassRegistration | undefined {
  const ctor = (v as { constructor?: unknown } | null | undefined)?.constructor;
  return ctor === undefined ? undefined : registrations().classByConstructor.get(ctor);
}

/** One step from a value to a child; strings and numbers are property keys and array indexes. */
type Step =
  | string
  | number
  | { kind: "set"; i: number }
  | { kind: "mapKey"; i: number }
  | { kind: "mapValue"; i: number; key: unknown };

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

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

/** The same steps in superjson's path layout (a Map entry is its row, then 0 for the key or 1 for the value). */
function segments(steps: readonly Step[]): string[] {
  return steps.flatMap((step) => {
    if (typeof step !== "object") return [String(step)];
    if (step.kind === "set") return [String(step.i)];
    return [String(step.i), step.kind === "mapKey" ? "0" : "1"];
  });
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

/** The name of the class `v` is a direct instance of, if it has one. */
function nameOfClass(v: object): string | undefined {
  const proto = Object.getPrototypeOf(v) as { constructor?: unknown } | null;
  const ctor = proto?.constructor;
  return typeof ctor === "function" && ctor.prototype === proto && ctor.name ? ctor.name : undefined;
}

/** Most primitives and containers a value may have for the small-value path of inspect(). */
const SMALL_NODES = 64;
/** How deep: `[{ n: 1 }]` (the arguments of a call with one small object) is 2 levels. */
const SMALL_DEPTH = 3;
const NOTHING_PACKED: Set<unknown> = new Set();
const NO_OUTPUTS: Map<unknown, JsonValue> = new Map();

/**
 * The JSON size of a small value that JSON reproduces exactly: finite numbers (not -0), strings,
 * booleans and null, in arrays and plain objects a few levels deep, no container twice, no holes.
 * -1 for anything else, which the full walk then plans (and refuses, if need be). Most arguments
 * and results are like this (a map over ids, a config object), and the full walk costs more than
 * the call around it.
 */
function smallPlainChars(v: unknown, depth: number, containers: object[]): number {
  switch (typeof v) {
    case "string":
      return v.length + 3;
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0) ? 8 : -1;
    case "boolean":
      return 6;
    case "object":
      break;
    default:
      return -1;
  }
  if (v === null) return 5;
  if (depth === SMALL_DEPTH || containers.length === SMALL_NODES || containers.includes(v)) return -1;
  containers.push(v);
  const proto = Object.getPrototypeOf(v);
  let chars = 2;
  if (proto === Array.prototype) {
    const array = v as unknown[];
    if (array.length > SMALL_NODES) return -1;
    for (let i = 0; i < array.length; i++) {
      const size = smallPlainChars(array[i], depth + 1, containers);
      if (size < 0) return -1;
      chars += size + 1;
    }
    return chars;
  }
  if (proto !== Object.prototype && proto !== null) return -1;
  const keys = Object.keys(v);
  if (keys.length > SMALL_NODES) return -1;
  for (const key of keys) {
    if (FORBIDDEN_KEYS.has(key)) return -1;
    const size = smallPlainChars((v as Record<string, unknown>)[key], depth + 1, containers);
    if (size < 0) return -1;
    chars += key.length + 4 + size;
  }
  return chars;
}

/** Refuses the first part of `root` that cannot be encoded faithfully, and plans the encoding of the rest. */
export function inspect(root: unknown, rootPath: string): Inspection {
  const r = registrations();
  // Custom transformers may claim any value, even a string: with any registered, walk it all.
  if (r.customs.size === 0) {
    const jsonChars = smallPlainChars(root, 0, []);
    if (jsonChars >= 0) return { plain: true, packed: NOTHING_PACKED, holes: [], customOutputs: NO_OUTPUTS, jsonChars };
  }
  const customs = [...r.customs.values()];
  const result: Inspection = { plain: true, packed: new Set(), holes: [], customOutputs: new Map(), jsonChars: 0 };
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

  function customFor(v: unknown): CustomRegistration | undefined {
    for (const custom of customs) if (custom.transformer.isApplicable(v)) return custom;
    return undefined;
  }

  /** Serializes `v` with its custom transformer now, refusing output that is not JSON data. */
  function serializeCustom(v: unknown, { name, transformer }: CustomRegistration): void {
    result.plain = false;
    if (result.customOutputs.has(v)) return;
    let output: unknown;
    try {
      output = transformer.serialize(v);
    } catch (error) {
      fail(`the serialize() of registerCustom("${name}") threw: ${(error as Error)?.message ?? String(error)}`);
    }
    const problem = notJson(output);
    if (problem !== undefined) {
      fail(`the serialize() of registerCustom("${name}") returned ${problem}; it must return JSON data (strings, finite numbers, booleans, null, arrays and plain objects).`);
    }
    result.customOutputs.set(v, output as JsonValue);
    result.jsonChars += JSON.stringify(output)?.length ?? 4;
  }

  /** Accounts for a primitive other than a symbol: its size, and whether JSON keeps it. */
  function primitive(v: unknown): void {
    switch (typeof v) {
      case "string":
        result.jsonChars += v.length + 3;
        break;
      case "number":
        result.jsonChars += 8;
        if (!Number.isFinite(v) || Object.is(v, -0)) result.plain = false;
        break;
      case "boolean":
        result.jsonChars += 6;
        break;
      default: // null, undefined, bigint
        result.jsonChars += typeof v === "bigint" ? 24 : 5;
        if (v !== null) result.plain = false;
    }
  }

  /** Visits `v` as child `step`; returns whether its encoding holds a back-reference. */
  function child(step: Step, v: unknown): boolean {
    steps.push(step);
    const cyclic = value(v);
    steps.pop();
    return cyclic;
  }

  function value(v: unknown): boolean {
    if (typeof v === "object" && v !== null) return visit(v);
    if (typeof v === "symbol" && r.symbolNames.has(v)) {
      result.plain = false;
      result.jsonChars += 16;
      return false;
    }
    const custom = customs.length > 0 ? customFor(v) : undefined;
    if (custom !== undefined) serializeCustom(v, custom);
    else if (typeof v === "symbol") {
      fail(
        "it is a symbol. Symbols cannot be sent; use a string instead. A symbol your code shares crosses " +
          'once registered on both sides: registerSymbol(symbol, "name").',
      );
    } else if (typeof v === "function") {
      fail(
        `it is a function${v.name ? ` (${v.name})` : ""}. ` +
          "Functions cannot be sent to a remote function; pass data and rebuild it remotely.",
      );
    } else primitive(v);
    return false;
  }

  function visit(obj: object): boolean {
    const seen = state.get(obj);
    if (seen !== undefined) result.plain = false; // JSON would send a second copy
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

  function visitKeys(obj: object, keys: Iterable<string>): boolean {
    let cyclic = false;
    for (const key of keys) {
      if (FORBIDDEN_KEYS.has(key)) {
        steps.push(key);
        fail(`the key "${key}" is refused as a prototype-pollution risk. Rename the key, or use a Map.`);
      }
      result.jsonChars += key.length + 4;
      if (child(key, (obj as Record<string, unknown>)[key])) cyclic = true;
    }
    return cyclic;
  }

  /** Members of an instance or Error are sent, but back-references beneath it cannot be restored. */
  function visitOpaque(visitMembers: () => boolean): boolean {
    result.plain = false;
    opaque++;
    const cyclic = visitMembers();
    opaque--;
    return cyclic;
  }

  function visitArray(array: unknown[]): boolean {
    if (Object.getPrototypeOf(array) !== Array.prototype) result.plain = false; // a subclass's toJSON would run
    // Still a candidate for packing while every element so far is a number no custom transformer takes.
    let numbers = array.length >= PACK_MIN_LENGTH;
    let special = false;
    let cyclic = false;
    let runs: number[] | undefined;
    let count = 0; // numbers, which the loop skips
    for (let i = 0; i < array.length; i++) {
      const v = array[i];
      if (typeof v === "number" && (customs.length === 0 || customFor(v) === undefined)) {
        if (!Number.isFinite(v) || Object.is(v, -0)) special = true;
        count++;
        continue;
      }
      numbers = false;
      if (v === undefined && !(i in array)) {
        runs ??= [];
        if (runs.length > 0 && runs[runs.length - 1] === i) runs[runs.length - 1] = i + 1;
        else runs.push(i, i + 1);
        result.jsonChars += 5;
        continue;
      }
      if (child(i, v)) cyclic = true;
    }
    if (numbers) {
      result.packed.add(array);
      result.plain = false;
      result.jsonChars += 32;
      return false;
    }
    result.jsonChars += 8 * count;
    if (special) result.plain = false;
    if (runs !== undefined) {
      result.plain = false;
      result.holes.push([segments(steps), runs]);
    }
    return cyclic;
  }

  // Mirrors the order superjson tries: registered classes, binary values (our "blob" transformer),
  // the user's custom transformers, then arrays, plain objects and the built-in types.
  function visitChildren(obj: object): boolean {
    const registration = classRegistration(obj);
    if (registration !== undefined) {
      return visitOpaque(() => visitKeys(obj, registration.allowProps ?? Object.keys(obj)));
    }
    if (binaryType(obj) !== undefined) {
      result.plain = false;
      result.jsonChars += 32;
      return false; // sent as bytes; never walk elements
    }
    const custom = customs.length > 0 ? customFor(obj) : undefined;
    if (custom !== undefined) {
      serializeCustom(obj, custom);
      return false;
    }
    if (Array.isArray(obj)) return visitArray(obj);
    if (isPlainObject(obj)) {
      result.jsonChars += 2;
      return visitKeys(obj, Object.keys(obj));
    }
    result.plain = false;
    let cyclic = false;
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
      // Sent: name, message, stack, cause, an AggregateError's errors and own enumerable properties.
      return visitOpaque(() => {
        let inner = visitKeys(obj, extraProperties(obj));
        if ("cause" in obj && child("cause", obj.cause)) inner = true;
        if (obj instanceof AggregateError && Array.isArray(obj.errors)) {
          steps.push("errors");
          obj.errors.forEach((member: unknown, i: number) => {
            if (child(i, member)) inner = true;
          });
          steps.pop();
        }
        return inner;
      });
    }
    if (obj instanceof Date || obj instanceof RegExp || obj instanceof URL) {
      result.jsonChars += 32;
      return false;
    }
    if (types.isPromise(obj)) fail("it is a Promise. Await it before the call and pass the resolved value.");
    if (obj instanceof WeakMap) fail("it is a WeakMap, whose entries cannot be listed. Use a Map instead.");
    if (obj instanceof WeakSet) fail("it is a WeakSet, whose members cannot be listed. Use a Set instead.");
    const className = nameOfClass(obj);
    if (className === undefined) {
      fail("it is an object with a custom prototype, which cannot be sent. Pass a plain object instead.");
    }
    fail(
      `it is an instance of class ${className}, which cannot be sent. Call registerClass(${className}) on both ` +
        "sides (your code and the remote), or pass a plain object instead. A class with #private fields needs registerCustom().",
    );
  }

  value(root);
  return result;
}

/** Why `v` is not JSON data (for a custom transformer's output), or undefined if it is. */
function notJson(v: unknown, path = "", seen = new Set<object>()): string | undefined {
  const where = path === "" ? "" : ` at ${path}`;
  switch (typeof v) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(v) ? undefined : `${v}${where}`;
    case "object":
      break;
    default:
      return `${typeof v === "function" ? "a function" : typeof v === "undefined" ? "undefined" : `a ${typeof v}`}${where}`;
  }
  if (v === null) return undefined;
  if (seen.has(v)) return `the same object twice${where}`;
  seen.add(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const problem = notJson(v[i], `${path}[${i}]`, seen);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (!isPlainObject(v)) return `${nameOfClass(v) ? `an instance of ${nameOfClass(v)}` : "an object with a custom prototype"}${where}`;
  for (const [key, value] of Object.entries(v)) {
    if (FORBIDDEN_KEYS.has(key)) return `the key "${key}"${where}`;
    const problem = notJson(value, `${path}.${key}`, seen);
    if (problem !== undefined) return problem;
  }
  return undefined;
}
