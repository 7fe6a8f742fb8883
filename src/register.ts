/**
 * `node --import flow-sdk/register app.ts`: run TypeScript files that use flow-sdk directly,
 * without the CLI. It registers tsx, plus our hooks that let esbuild parse `@app.function(...)`
 * (see bundler/decorator-syntax.ts) in ES modules and CommonJS files alike, and let a script use
 * top-level await in a CommonJS package (cli/decorator-hook.ts). The CLI loads user files the
 * same way.
 */
import { register } from "node:module";
import { register as registerTsxCommonJs } from "tsx/cjs/api";
import { register as registerTsxEsm } from "tsx/esm/api";
import { installDecoratorRequireHook } from "./cli/decorator-require-hook.ts";

// Hooks registered later run earlier: ours first, so tsx receives the rewritten source...
register(new URL("./decorator-hook.js", import.meta.url));
registerTsxEsm();
// ...and this one last, so it can send .cts files to require() before tsx compiles them.
register(new URL("./commonjs-entry-hook.js", import.meta.url));
// Files in a CommonJS package (no "type", or "type": "commonjs") load through require(), where
// tsx compiles them; ours wraps tsx's handlers, so it is installed after them.
registerTsxCommonJs();
installDecoratorRequireHook();
