/**
 * What the agent loads: the modules that define remote functions, and a way to see their exports.
 *
 * The bundle's entry is a small virtual module that imports each module defining functions, in
 * the order the client first saw them, the ones calling app.run() or app.localEntrypoint() last.
 * A module that only imports functions and runs them (a typical `main.ts`) is not loaded on the
 * agent at all, so its top-level code never runs there.
 *
 * Functions are named by their exports (`export const embed = app.function(...)` is "embed"), so the
 * agent needs each module's namespace. `import()` cannot give it while a module is held at
 * `await app.run(...)` (which never settles on the agent, see registry.ts), so every such module
 * publishes its own namespace as its first statement: one line-1 prefix and one self-import
 * appended at the end, leaving every other line where it was for stacks and source maps.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Loader, Plugin } from "esbuild";
import { needsDecoratorRewrite, rewriteKeywordDecorators } from "./decorator-syntax.ts";

/** `Symbol.for` key of the Map (file → namespace) the agent sets up before loading the bundle. */
export const MODULE_NAMESPACES_GLOBAL = "flow-sdk.module-namespaces.v1";

const ENTRY_NAMESPACE = "flow-agent-entry";
const ENTRY_PATH = "flow-agent-entry";
const SELF = "__flow_module_namespace__";
const LOADERS: Record<string, Loader> = { ts: "ts", mts: "ts", cts: "ts", tsx: "tsx", js: "js", mjs: "js", cjs: "js", jsx: "jsx" };
/** A module with ESM syntax; a CommonJS one (module.exports) must not gain an import. */
const ESM_SYNTAX = /^\s*(?:import|export)\b/m;

/** The entry point to give esbuild when bundling `modules` with agentEntryPlugin. */
export const AGENT_ENTRY = ENTRY_PATH;

export function agentEntryPlugin(modules: readonly string[], mainModule: string): Plugin {
  const files = new Set(modules.map((m) => path.resolve(m)));
  // Re-exported rather than imported for effect, so that `"sideEffects": false` cannot drop one;
  // the main module's exports are the bundle's own, as when it was the entry.
  const entry = [...files]
    .map((file, i) => `export * ${file === mainModule ? "" : `as m${i} `}from ${JSON.stringify(file)};`)
    .join("\n");
  return {
    name: "flow-agent-entry",
    setup(build) {
      build.onResolve({ filter: new RegExp(`^${ENTRY_PATH}$`) }, () => ({ path: ENTRY_PATH, namespace: ENTRY_NAMESPACE }));
      build.onLoad({ filter: /.*/, namespace: ENTRY_NAMESPACE }, () => ({ contents: entry, loader: "js", resolveDir: process.cwd() }));
      build.onLoad({ filter: /\.[mc]?[jt]sx?$/ }, async (args) => {
        if (args.namespace !== "file" || !files.has(args.path)) return undefined;
        let source = await readFile(args.path, "utf8");
        if (needsDecoratorRewrite(source)) source = rewriteKeywordDecorators(source);
        const loader = LOADERS[args.path.slice(args.path.lastIndexOf(".") + 1)];
        return { contents: ESM_SYNTAX.test(source) ? publishNamespace(source, args.path) : source, ...(loader === undefined ? {} : { loader }) };
      });
    },
  };
}

/** `source` with its namespace handed to the agent before anything else in it runs. */
export function publishNamespace(source: string, file: string): string {
  const publish = `globalThis[Symbol.for(${JSON.stringify(MODULE_NAMESPACES_GLOBAL)})]?.set(${JSON.stringify(file)}, ${SELF});`;
  const selfImport = `\n;import * as ${SELF} from ${JSON.stringify(`./${path.basename(file)}`)};\n`;
  // A shebang must stay first; the prefix then goes at the start of line 2.
  const at = source.startsWith("#!") ? source.indexOf("\n") + 1 : 0;
  if (source.startsWith("#!") && at === 0) return `${source}\n${publish}${selfImport}`;
  return `${source.slice(0, at)}${publish}${source.slice(at)}${selfImport}`;
}

/** The agent's modules in load order: entrypoint modules last, so none of them cuts another short. */
export function agentModules(modules: readonly string[], entrypointModules: ReadonlySet<string>): string[] {
  return [...modules.filter((m) => !entrypointModules.has(m)), ...modules.filter((m) => entrypointModules.has(m))];
}
