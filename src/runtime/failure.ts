/**
 * Errors across the wire, in the spirit of Temporal's failure converter.
 *
 * `toFailure` (on the agent) turns anything thrown into a JSON-safe Failure: class name, message,
 * stack, own properties such as `code`, the `cause` chain and an AggregateError's `errors`.
 * `fromFailure` (on the client) rebuilds an Error: the same class for JavaScript's built-in error
 * classes, otherwise a RemoteError named after the remote class. Its stack is the remote frames,
 * each ending in ` [remote]` (or ` [remote: <label>]`), then the local frames of the call site.
 */
import { types } from "node:util";
import { RemoteError } from "../errors.ts";
import type { Failure } from "./protocol.ts";
import { isFrame } from "../stack-frames.ts";

const MAX_CAUSES = 32; // links of a cause chain; deeper ones are cut
const MAX_ERRORS = 100; // members of an AggregateError
const MAX_DEPTH = 6; // nesting of a property value
const MAX_ITEMS = 100; // members of one array or object inside a property value
const MAX_NODES = 1_000; // values in all the properties of one error
const MAX_STRING = 10_000; // characters of one string

// Own properties with a field of their own in a Failure.
const SENT_APART = new Set(["name", "message", "stack", "cause"]);

export function toFailure(error: unknown): Failure {
  return convert(error, new Set(), 0);
}

/** Converts `error`; `chain` holds the errors it is a cause or member of, to stop at cycles. */
function convert(error: unknown, chain: Set<unknown>, depth: number): Failure {
  try {
    if (!isError(error)) return fromThrownValue(error);
    chain.add(error);
    const name = typeof error.name === "string" && error.name !== "" ? error.name : "Error";
    const failure: Failure = { name, message: String(error.message) };
    if (typeof error.stack === "string") failure.stack = error.stack;
    const aggregate = error instanceof AggregateError && Array.isArray(error.errors);
    const own: Record<string, unknown> = {};
    for (const key of extraProperties(error)) own[key] = read(error, key);
    const props = jsonSafe(own);
    if (typeof props === "object" && props !== null && Object.keys(props).length > 0) {
      failure.props = props as Record<string, unknown>;
    }
    if ("cause" in error && error.cause !== undefined) {
      const cause = error.cause;
      if (chain.has(cause)) failure.cause = { value: "[Circular]" };
      else if (depth + 1 >= MAX_CAUSES) failure.cause = { value: "[cause chain truncated]" };
      else if (isError(cause)) failure.cause = convert(cause, chain, depth + 1);
      else failure.cause = { value: jsonSafe(cause) ?? null };
    }
    if (aggregate) {
      failure.errors = (error as AggregateError).errors
        .slice(0, MAX_ERRORS)
        .map((member: unknown) =>
          chain.has(member) ? { name: "Error", message: "[Circular]" } : convert(member, chain, depth + 1),
        );
    }
    return failure;
  } catch (problem) {
    // A getter or Proxy threw while we looked; report that rather than lose the failure.
    const reason = String((problem as Error)?.message ?? problem);
    return { name: "Error", message: `The error could not be converted: ${reason}` };
  } finally {
    chain.delete(error);
  }
}

/**
 * An error's own enumerable properties (`code`, `errno`, `meta`…) other than those sent in fields of
 * their own: name, message, stack, cause, and an AggregateError's errors. The codec sends the same
 * ones for an Error returned as a value.
 */
export function extraProperties(error: Error): string[] {
  const aggregate = error instanceof AggregateError && Array.isArray(error.errors);
  return Object.keys(error).filter((key) => !SENT_APART.has(key) && !(aggregate && key === "errors"));
}

/** Errors from this realm or another (vm contexts, worker-created errors). */
function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/** A thrown string, number or object: an "Error" with a readable message; `nonErrorThrow` says so. */
function fromThrownValue(value: unknown): Failure {
  if (typeof value !== "object" || value === null) {
    return { name: "Error", message: truncate(String(value), MAX_STRING), props: { nonErrorThrow: true } };
  }
  const { name: likeName, message: likeMessage } = value as { name?: unknown; message?: unknown };
  const errorLike = typeof likeMessage === "string";
  const message = errorLike ? likeMessage : truncate(JSON.stringify(jsonSafe(value)), 200);
  const name = errorLike && typeof likeName === "string" && likeName !== "" ? likeName : "Error";
  return { name, message, props: { nonErrorThrow: true, thrownValue: jsonSafe(value) ?? null } };
}

/** A property's value, or a note if its getter throws. */
function read(obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return "[unreadable]";
  }
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s;
}

/**
 * A JSON-safe copy: functions and symbols dropped, numbers JSON cannot hold and bigints as strings,
 * binary data summarised, cycles marked, and depth, width and total size capped.
 */
function jsonSafe(value: unknown): unknown {
  let nodes = 0;
  const path = new Set<object>();
  const copy = (v: unknown, depth: number): unknown => {
    if (++nodes > MAX_NODES) return "[truncated]";
    switch (typeof v) {
      case "string":
        return truncate(v, MAX_STRING);
      case "number":
        return Number.isFinite(v) ? v : String(v);
      case "bigint":
        return String(v);
      case "boolean":
        return v;
      case "undefined":
      case "function":
      case "symbol":
        return undefined;
    }
    if (v === null) return null;
    const obj = v as object;
    if (path.has(obj)) return "[Circular]";
    if (depth >= MAX_DEPTH) return "[truncated]";
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
    if (obj instanceof Error) return { name: String(obj.name), message: String(obj.message) };
    if (ArrayBuffer.isView(obj)) return `[${obj.constructor.name} of ${obj.byteLength} bytes]`;
    path.add(obj);
    let result: unknown;
    if (Array.isArray(obj) || obj instanceof Set || obj instanceof Map) {
      const items = [...(obj as Iterable<unknown>)];
      result = items.slice(0, MAX_ITEMS).map((item) => copy(item, depth + 1) ?? null);
      if (items.length > MAX_ITEMS) (result as unknown[]).push(`[${items.length - MAX_ITEMS} more]`);
    } else {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(obj).slice(0, MAX_ITEMS)) {
        const item = copy(read(obj, key), depth + 1);
        if (item !== undefined) out[key] = item;
      }
      result = out;
    }
    path.delete(obj);
    return result;
  };
  try {
    return copy(value, 0);
  } catch {
    return "[unreadable]";
  }
}

// ---- back to an Error --------------------------------------------------------------------------

const BUILT_IN: Record<string, new (message: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

export interface FromFailureOptions {
  /** Who threw, e.g. "agent pid 1234"; shown in each remote frame's marker. */
  remoteLabel?: string;
  /** Rewrites each path in the remote frames (an absolute path or a file:// URL, without :line:col). */
  mapPath?: (path: string) => string;
  /** The stack captured where the call was made (if known); its frames follow the remote ones. */
  localStack?: string | undefined;
}

/** A new error of JavaScript's built-in class called `name` (an AggregateError of `errors`), if there is one. */
export function builtInError(name: string, message: string, errors: unknown[] = []): Error | undefined {
  if (name === "AggregateError") return new AggregateError(errors, message);
  return Object.hasOwn(BUILT_IN, name) ? new BUILT_IN[name]!(message) : undefined;
}

export function fromFailure(failure: Failure, options: FromFailureOptions = {}): Error {
  // Nested errors (causes, members) are the remote error's own; the call site follows the outer one only.
  const { localStack: _callSite, ...nested } = options;
  const members = failure.name === "AggregateError" ? (failure.errors ?? []).map((f) => fromFailure(f, nested)) : undefined;
  const error = builtInError(failure.name, failure.message, members) ?? new RemoteError(failure.name, failure.message);

  for (const [key, value] of Object.entries(failure.props ?? {})) {
    // Never overwrite what the error already has (message, stack, name, methods, __proto__).
    if (!(key in error)) (error as unknown as Record<string, unknown>)[key] = value;
  }
  if (failure.cause !== undefined) {
    const cause = isFailure(failure.cause) ? fromFailure(failure.cause, nested) : failure.cause.value;
    Object.defineProperty(error, "cause", { value: cause, writable: true, configurable: true, enumerable: false });
  }
  if (failure.errors !== undefined && !(error instanceof AggregateError)) {
    // A user subclass of AggregateError arrives as a RemoteError; keep its members all the same.
    const errors = failure.errors.map((f) => fromFailure(f, nested));
    Object.defineProperty(error, "errors", { value: errors, writable: true, configurable: true, enumerable: false });
  }

  const marker = options.remoteLabel ? ` [remote: ${options.remoteLabel}]` : " [remote]";
  const mapPath = options.mapPath ?? ((path: string) => path);
  const remote = frames(failure.stack).map((line) => line.replace(PATH_IN_FRAME, (path) => mapPath(path)) + marker);
  const local = frames(options.localStack);
  const header = failure.message ? `${failure.name}: ${failure.message}` : failure.name;
  Object.defineProperty(error, "stack", {
    value: [header, ...remote, ...local].join("\n"),
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return error;
}

function isFailure(cause: Failure | { value: unknown }): cause is Failure {
  return typeof (cause as Failure).name === "string" && typeof (cause as Failure).message === "string";
}

/** The `    at ...` lines of a V8 stack (the header, which may span lines, is left out). */
function frames(stack: string | undefined): string[] {
  return stack === undefined ? [] : stack.split("\n").filter(isFrame);
}

// A file path or file:// URL in a frame line, up to the `:line:col` after it: it starts after a
// space or "(" (so `node:internal/...` is left alone) and may contain spaces but not parentheses.
const PATH_IN_FRAME = /(?<=[\s(])(?:file:\/\/|\/|[A-Za-z]:\\)[^()]*?(?=:\d+:\d+)/g;
