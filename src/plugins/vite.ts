/**
 * `flow-sdk/vite`: a Vite plugin (so also a Vitest one) that lets Vite's esbuild step read
 * `@app.function(...)` on class methods, so the files that define remote functions can be
 * imported in tests and apps built with Vite. It applies the same rewrite as `flow run` and
 * `flow-sdk/register` (bundler/decorator-syntax.ts) before any other plugin sees the file.
 *
 *   // vitest.config.ts
 *   import { defineConfig } from "vitest/config";
 *   import { flowDecorators } from "flow-sdk/vite";
 *   export default defineConfig({ plugins: [flowDecorators()] });
 */
import type { Plugin } from "vite";
import { isUserSourcePath, needsDecoratorRewrite, rewriteKeywordDecorators } from "../bundler/decorator-syntax.ts";

export function flowDecorators(): Plugin {
  return {
    name: "flow-sdk:decorators",
    enforce: "pre",
    transform(code, id) {
      // Vite ids may carry a query (`file.ts?v=123`); the file is what precedes it.
      if (!isUserSourcePath(id.split("?")[0]!) || !needsDecoratorRewrite(code)) return null;
      // Lines stay where they were, so no source map is needed: `map: null` keeps the existing one.
      return { code: rewriteKeywordDecorators(code), map: null };
    },
  };
}
