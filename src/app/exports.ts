/**
 * After a module is loaded, name its remote functions from its exports.
 *
 * `export const square = app.function({...}, async (x) => x * x)` passes an anonymous arrow, so the
 * function only gets its name ("square") from the export. The CLI and the agent both load the
 * module and then call this, so both sides agree on every id.
 */
import { registerClassMethods } from "./cls.ts";
import { addFunction, assignId, registry } from "./registry.ts";
import { REMOTE_FUNCTION, isRemoteFunction } from "./remote-function.ts";

export function nameFromExports(namespace: Record<string, unknown>, options: { exposeExports?: boolean } = {}): void {
  for (const [exportName, value] of Object.entries(namespace)) {
    if (isRemoteFunction(value)) {
      const record = value[REMOTE_FUNCTION];
      if (record.id === undefined) assignId(record, exportName);
    } else if (typeof value === "function" && isClass(value)) {
      registerClassMethods(value as abstract new () => unknown);
    }
  }
  if (!options.exposeExports) return;
  // Zero-import mode (invoke): plain exported functions become callable by their export name.
  for (const [exportName, value] of Object.entries(namespace)) {
    if (typeof value !== "function" || isClass(value) || registry().functions.some((f) => f.id === exportName)) continue;
    addFunction(
      { kind: "export", app: "invoke", options: {}, definedAt: exportName, implementation: value as () => unknown },
      exportName,
    );
  }
}

function isClass(value: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(value));
}
