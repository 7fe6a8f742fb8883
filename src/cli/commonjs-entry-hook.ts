/**
 * A module loader hook registered after tsx's, so it runs first: a `.cts` file that reaches the
 * ES module loader as a whole module (`flow run app.cts`, `node --import flow-sdk/register
 * app.cts`) is handed to Node's require(), as tsx already does with a .ts file in a CommonJS
 * package. tsx would otherwise compile it in the loader from the file on disk, where the decorator
 * rewrite cannot reach (require() is where decorator-require-hook.ts applies it), and run it with
 * a require() that goes back through the ES module loader.
 *
 * When an ES module imports names from a .cts file, tsx's own path stays: it compiles the file to
 * find those names (Node would look for them in the uncompiled TypeScript and find none).
 */
import type { LoadHook } from "node:module";
import { fileURLToPath } from "node:url";
import { isUserSourcePath } from "../bundler/decorator-syntax.ts";

export const load: LoadHook = async (url, context, nextLoad) => {
  const parsed = new URL(url);
  if (parsed.protocol === "file:" && parsed.search === "" && url.endsWith(".cts") && isUserSourcePath(fileURLToPath(parsed))) {
    // No source: Node loads a CommonJS file: URL through require() then.
    return { format: "commonjs", shortCircuit: true };
  }
  return nextLoad(url, context);
};
