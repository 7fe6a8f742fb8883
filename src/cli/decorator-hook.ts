/**
 * The module loader hook behind `flow-sdk/register` and the CLI (registered before tsx, so tsx
 * receives its output). For the user's own files, it:
 *
 * - applies decorator-syntax.ts, so `@app.function(...)` loads locally exactly as it bundles for
 *   the agent (files that load through require() get the same from decorator-require-hook.ts);
 * - loads a file with top-level await as an ES module even in a CommonJS package. tsx compiles a
 *   .ts file there to CommonJS, which cannot hold top-level await ("Top-level await is currently
 *   not supported with the "cjs" output format"), yet `await app.run(...)` at the top of a script
 *   is how the README runs one. Node 22 decides the same way for .js files (module syntax
 *   detection). A `.cts`/`.cjs` file is CommonJS by its name and stays so: top-level await there
 *   is the user's error, reported by the CLI with what to do;
 * - loads a .ts file that needs the rewrite as an ES module when, in a CommonJS package, an ES
 *   module (such a script) imports names from it. tsx compiles such a file to CommonJS right in
 *   the loader, from the file on disk (its "export preparse"), where no hook can change the
 *   source; as an ES module, which its import/export syntax says it is, it gets the rewrite.
 *
 * commonjs-entry-hook.ts sends `.cts` files to require(), where decorator-require-hook.ts applies.
 */
import { readFile } from "node:fs/promises";
import type { LoadHook } from "node:module";
import { fileURLToPath } from "node:url";
import { isUserSourcePath, needsDecoratorRewrite, rewriteKeywordDecorators } from "../bundler/decorator-syntax.ts";
import { hasTopLevelAwait } from "./top-level-await.ts";

/** The query tsx adds to a CommonJS file's URL when an ES module imports names from it. */
const TSX_EXPORT_PREPARSE = "tsx-commonjs-export-preparse";

export const load: LoadHook = async (url, context, nextLoad) => {
  const result = await nextLoad(url, context);
  if (!url.startsWith("file:")) return result;
  const path = fileURLToPath(url);
  if (!isUserSourcePath(path)) return result;
  // ("commonjs-typescript": what Node 22's own TypeScript support calls a .ts file there.)
  if (result.format === "commonjs" || result.format === "commonjs-typescript") {
    // CommonJS sources come without text (Node's require() reads them); look at the file itself.
    if (/\.c[jt]s$/.test(path)) return result;
    const original = await readFile(path, "utf8");
    const source = rewrite(original);
    const importedByName = new URL(url).searchParams.has(TSX_EXPORT_PREPARSE);
    if ((importedByName && source !== original) || (await hasTopLevelAwait(source, path))) {
      // "module-typescript" (Node 22's name for TypeScript to strip) makes tsx compile the source
      // as an ES module whatever the URL looks like; tsx hands Node plain "module" code.
      return { format: /\.[cm]?tsx?$/.test(path) ? "module-typescript" : "module", source };
    }
    return result;
  }
  if (result.source === undefined || result.source === null) return result;
  const source = typeof result.source === "string" ? result.source : Buffer.from(result.source as Uint8Array).toString("utf8");
  const rewritten = rewrite(source);
  return rewritten === source ? result : { ...result, source: rewritten };
};

function rewrite(source: string): string {
  return needsDecoratorRewrite(source) ? rewriteKeywordDecorators(source) : source;
}
