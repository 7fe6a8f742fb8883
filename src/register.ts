/**
 * `node --import flow-sdk/register app.ts`: run TypeScript files that use flow-sdk directly,
 * without the CLI. It registers tsx, plus our hook that lets esbuild parse `@app.function(...)`
 * (see bundler/decorator-syntax.ts). The CLI loads user files the same way.
 */
import { register } from "node:module";
import { register as registerTsxCommonJs } from "tsx/cjs/api";
import { register as registerTsxEsm } from "tsx/esm/api";

// Ours first: hooks registered later run earlier, so tsx receives the rewritten source.
register(new URL("./decorator-hook.js", import.meta.url));
registerTsxEsm();
// Files outside a `"type": "module"` package load as CommonJS; tsx handles those through require.
registerTsxCommonJs();
