/**
 * Classes with decorated methods. Each decorated method becomes a function with id `Class.method`;
 * `app.cls(Class)` hands back a typed object of RemoteFunctions, one per method.
 *
 * TC39 method decorators do not see their finished class, so such methods wait in
 * `pendingMethods` until the class is seen: by `app.cls(Class)` here, or by the CLI and the agent
 * scanning the module's exports (which is why classes with remote methods must be exported).
 */
import { FlowError } from "../errors.ts";
import { parseAppDefaults, type FunctionOptions } from "./options.ts";
import { addFunction, findFunction, registry, type FunctionRecord, type PendingMethod } from "./registry.ts";
import { RemoteFunction } from "./remote-function.ts";

type Methods<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (
    ...args: infer A
  ) => infer R
    ? RemoteFunction<A, R>
    : never;
};

/** Remote handles for a class's static methods and instance methods. */
export type ClsHandle<C extends abstract new (...args: never[]) => unknown> = Methods<Omit<C, "prototype">> &
  Methods<InstanceType<C>>;

const PROBED = new Set(["then", "toJSON", "constructor", "$$typeof", "asymmetricMatch", "nodeType", "@@__IMMUTABLE_ITERABLE__@@"]);

type AnyClass = abstract new (...args: never[]) => unknown;

export function registerMethod(
  owner: AnyClass,
  method: (...args: never[]) => unknown,
  pending: PendingMethod,
): FunctionRecord {
  const id = `${owner.name}.${pending.name}`;
  const existing = findFunction(id);
  if (existing?.implementation === method) return existing;
  return addFunction(
    {
      kind: pending.isStatic ? "static-method" : "method",
      app: pending.app,
      options: pending.options,
      definedAt: pending.definedAt,
      site: pending.site,
      implementation: method,
      owner,
    },
    id,
  );
}

/** Register the decorated methods of `cls` that are still waiting for their class. */
export function registerClassMethods(cls: AnyClass): FunctionRecord[] {
  const { pendingMethods } = registry();
  const records: FunctionRecord[] = [];
  const scan = (target: object) => {
    for (const key of Object.getOwnPropertyNames(target)) {
      const value = Object.getOwnPropertyDescriptor(target, key)?.value as unknown;
      if (typeof value !== "function") continue;
      const pending = pendingMethods.get(value);
      if (pending) records.push(registerMethod(cls, value as (...args: never[]) => unknown, pending));
    }
  };
  scan(cls);
  if (cls.prototype) scan(cls.prototype as object);
  return records;
}

/** `app.cls(Model, { gpu: "a100", args: ["bert-base"] })`: options for every method, and constructor arguments. */
export type ClsOptions<C extends AnyClass> = Omit<FunctionOptions, "name"> & {
  /** Constructor arguments: each distinct list is its own warm instance on the agent. */
  args?: ConstructorParameters<C>;
};

export function classHandle<C extends AnyClass>(cls: C, options: ClsOptions<C> = {}): ClsHandle<C> {
  if (typeof cls !== "function") throw new FlowError("app.cls(Class): pass the class itself.");
  const { args, ...rest } = options;
  const overrides = { ...parseAppDefaults(rest, `app.cls(${cls.name})`), ...(args ? { init: [...args] } : {}) };
  registerClassMethods(cls);
  const handle: Record<string, RemoteFunction<unknown[], unknown>> = {};
  for (const record of registry().functions) {
    if (record.owner !== cls || record.id === undefined) continue;
    handle[record.id.slice(cls.name.length + 1)] = new RemoteFunction(record, overrides);
  }
  return new Proxy(handle, {
    get(target, key) {
      // Only method-like names are trapped: `await` probes `then`, JSON.stringify `toJSON`, test
      // libraries `$$typeof` and `asymmetricMatch`; those must read as plainly absent.
      if (typeof key === "string" && !PROBED.has(key) && !(key in target)) {
        throw new FlowError(`${cls.name}.${key} is not a remote function.`, {
          suggestions: [`Decorate it with @app.function() in class ${cls.name}.`],
        });
      }
      return target[key as string];
    },
  }) as unknown as ClsHandle<C>;
}
