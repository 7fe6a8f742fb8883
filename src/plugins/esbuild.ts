/**
 * `flow-sdk/esbuild`: an esbuild plugin that lets esbuild read `@app.function(...)` on class
 * methods, for your own bundles and esbuild-based tools. Without it esbuild stops at
 * `Expected identifier but found "function"` (see bundler/decorator-syntax.ts); with it, files
 * compile exactly as `flow run` and `flow-sdk/register` compile them.
 *
 *   import { build } from "esbuild";
 *   import { flowDecorators } from "flow-sdk/esbuild";
 *   await build({ entryPoints: ["app.ts"], bundle: true, platform: "node", plugins: [flowDecorators()] });
 */
import type { Plugin } from "esbuild";
import { keywordDecoratorsPlugin } from "../bundler/decorator-syntax-plugin.ts";

export function flowDecorators(): Plugin {
  return keywordDecoratorsPlugin();
}
