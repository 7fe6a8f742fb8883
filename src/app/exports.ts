/**
 * After a module is loaded, name its remote functions from its exports.
 *
 * `export const square = app.function({...}, async (x) => x * x)` passes an anonymous arrow, so the
 * function only gets its name ("square") from the export. The CLI and the agent both load the
 * module and then call this, so both sides agree on every id.
 */
import { pathToFileURL } from "node:url";
import { registerClassMethods } from "./cls.ts";
import { addFunction, assignId, registry } from "./registry.ts";
import { REMOTE_FUNCTION, isRemoteFunction } from "./remote-function.ts";

export function nameFromExports(namespace: Record<string, unknown>, options: { exposeExports?: boolean } = {}): void {
  const exports = initializedExports(namespace);
  for (const [exportName, value] of exports) {
    if (isRemoteFunction(value)) {
      const record = value[REMOTE_FUNCTION];
      if (record.id === undefined) assignId(record, exportName);
    } else if (typeof value === "function" && isClass(value)) {
      registerClassMethods(value as abstract new () => unknown);
    }
  }
  if (!options.exposeExports) return;
  // Zero-import mode (invoke): plain exported functions become callable by their export name.
  for (const [exportName, value] of exports) {
    if (typeof value !== "function" || isClass(value) || registry().functions.some((f) => f.id === exportName)) continue;
    addFunction(
      { kind: "export", app: "invoke", options: {}, definedAt: exportName, site: undefined, implementation: value as () => unknown },
      exportName,
    );
  }
}

/**
 * Name the functions of every module that defined some, not only the entry's: in a multi-file
 * app they live in modules the entry imports. Those modules are loaded already; import() only
 * hands back their namespaces.
 */
export async function nameFromModules(): Promise<void> {
  for (const file of registry().modules) nameFromExports(moduleExports((await import(pathToFileURL(file).href)) as Record<string, unknown>));
}

/**
 * The exports of a module as import() hands it back. A CommonJS module (a .ts file in a CommonJS
 * package, which tsx compiles to CommonJS) arrives as `{ default: module.exports }`; `__esModule`
 * marks one compiled from `export` syntax, whose exports are that object (tsx's own interop for
 * import() reads it so).
 */
export function moduleExports(namespace: Record<string, unknown>): Record<string, unknown> {
  const commonJs = namespace["default"];
  return typeof commonJs === "object" && commonJs !== null && "__esModule" in commonJs ? (commonJs as Record<string, unknown>) : namespace;
}

/**
 * The exports that have a value. On the agent a module may be held at `await app.run(...)`, and
 * reading an export declared below that line throws (it is still in its temporal dead zone).
 */
function initializedExports(namespace: Record<string, unknown>): [string, unknown][] {
  const exports: [string, unknown][] = [];
  for (const key of Object.keys(namespace)) {
    try {
      exports.push([key, namespace[key]]);
    } catch {
      // Declared after the point where the module stopped: it defines nothing the agent can run.
    }
  }
  return exports;
}

function isClass(value: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(value));
}
