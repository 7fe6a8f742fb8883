/**
 * What the codec has been taught to send: classes, custom transformers and symbols.
 *
 * Registrations live on one process-wide object keyed by `Symbol.for`, like the function registry
 * (src/app/registry.ts): a user's module may load a different copy of flow-sdk than the CLI does
 * (a CommonJS project next to the CLI's ESM copy), and a class registered through either copy must
 * cross through both. Each copy rebuilds its own SuperJSON instance when `version` changes. Its
 * shape is versioned: change it only together with REGISTRATIONS_KEY.
 */
import { FlowError } from "../errors.ts";

const REGISTRATIONS_KEY = Symbol.for("flow-sdk.codec-registrations.v1");

/** A value JSON can hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

type Class = new (...args: any[]) => unknown;

export interface ClassOptions {
  /** The name both sides know the class by; defaults to `cls.name`. */
  name?: string;
  /** Send only these properties (read with `instance[prop]`, so getters count) instead of the own enumerable ones. */
  allowProps?: readonly string[];
}

/** How values of one type of yours cross: `serialize` on the sending side, `deserialize` on the receiving one. */
export interface CustomTransformer<T, J extends JsonValue> {
  /** Whether `value` is one of yours. Called for every value sent, so keep it cheap (`instanceof`). */
  isApplicable: (value: unknown) => value is T;
  /** JSON data that `deserialize` turns back into an equal value. */
  serialize: (value: T) => J;
  deserialize: (json: J) => T;
}

export interface ClassRegistration {
  cls: Class;
  name: string;
  allowProps: readonly string[] | undefined;
}

export interface CustomRegistration {
  name: string;
  transformer: CustomTransformer<unknown, JsonValue>;
}

export interface Registrations {
  /** Bumped by every registration, so each SDK copy knows when to rebuild its SuperJSON instance. */
  version: number;
  classes: Map<string, ClassRegistration>;
  classByConstructor: Map<unknown, ClassRegistration>;
  /** In registration order, which is the order they are tried in. */
  customs: Map<string, CustomRegistration>;
  symbols: Map<string, symbol>;
  symbolNames: Map<symbol, string>;
}

export function registrations(): Registrations {
  const g = globalThis as { [REGISTRATIONS_KEY]?: Registrations };
  g[REGISTRATIONS_KEY] ??= {
    version: 0,
    classes: new Map(),
    classByConstructor: new Map(),
    customs: new Map(),
    symbols: new Map(),
    symbolNames: new Map(),
  };
  return g[REGISTRATIONS_KEY];
}

// superjson refuses these as property names (a prototype-pollution guard).
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Lets instances of `cls` cross: their own enumerable properties (or `allowProps`) are sent, and
 * the receiver gives them `cls.prototype` without running the constructor, so `#private` fields
 * do not exist there. Register on both sides: at the top level of the module that defines your
 * functions does that, since the agent imports it too.
 */
export function registerClass(cls: Class, options: string | ClassOptions = {}): void {
  const { name = cls.name, allowProps } = typeof options === "string" ? { name: options } : options;
  if (!name) {
    throw new FlowError("registerClass() needs a name for an anonymous class.", {
      suggestions: ["Pass one: registerClass(MyClass, \"MyClass\")."],
    });
  }
  const forbidden = allowProps?.find((prop) => FORBIDDEN_KEYS.has(prop));
  if (forbidden !== undefined) {
    throw new FlowError(`registerClass(${name}): allowProps cannot include "${forbidden}" (a prototype-pollution risk).`);
  }
  const r = registrations();
  const existing = r.classes.get(name);
  if (existing !== undefined && existing.cls !== cls) {
    throw new FlowError(`Another class is already registered as "${name}".`, {
      suggestions: [`Give this one a distinct name: registerClass(${name}, "${name}2").`],
    });
  }
  const previous = r.classByConstructor.get(cls);
  if (previous !== undefined) r.classes.delete(previous.name);
  const registration = { cls, name, allowProps: allowProps && [...allowProps] };
  r.classes.set(name, registration);
  r.classByConstructor.set(cls, registration);
  r.version++;
}

/**
 * Teaches the codec a type of yours that `registerClass` cannot carry (a `#private` field, a
 * constructor that must run, a library type like Decimal or ObjectId). Register it under the same
 * name on both sides; module top level does both, since the agent imports your module.
 */
export function registerCustom<T, J extends JsonValue>(name: string, transformer: CustomTransformer<T, J>): void {
  if (typeof name !== "string" || name === "") {
    throw new FlowError("registerCustom() needs a name, the same on both sides: registerCustom(\"Decimal\", { ... }).");
  }
  for (const method of ["isApplicable", "serialize", "deserialize"] as const) {
    if (typeof transformer?.[method] !== "function") {
      throw new FlowError(`registerCustom("${name}"): \`${method}\` must be a function.`);
    }
  }
  const r = registrations();
  const existing = r.customs.get(name);
  if (existing !== undefined && existing.transformer !== (transformer as object)) {
    throw new FlowError(`Another custom transformer is already registered as "${name}".`, {
      suggestions: [`Give this one a distinct name: registerCustom("${name}2", { ... }).`],
    });
  }
  r.customs.set(name, { name, transformer: transformer as unknown as CustomTransformer<unknown, JsonValue> });
  r.version++;
}

/**
 * Lets `symbol` cross: it arrives as the symbol registered under the same name on the other side.
 * The name defaults to the symbol's description.
 */
export function registerSymbol(symbol: symbol, name: string | undefined = symbol.description): void {
  if (typeof symbol !== "symbol") throw new FlowError("registerSymbol() takes a symbol.");
  if (!name) {
    throw new FlowError("registerSymbol() needs a name for a symbol without a description.", {
      suggestions: ['Pass one: registerSymbol(mySymbol, "mySymbol").'],
    });
  }
  const r = registrations();
  const existing = r.symbols.get(name);
  if (existing !== undefined && existing !== symbol) {
    throw new FlowError(`Another symbol is already registered as "${name}".`, {
      suggestions: [`Give this one a distinct name: registerSymbol(symbol, "${name}2").`],
    });
  }
  const previous = r.symbolNames.get(symbol);
  if (previous !== undefined) r.symbols.delete(previous);
  r.symbols.set(name, symbol);
  r.symbolNames.set(symbol, name);
  r.version++;
}
