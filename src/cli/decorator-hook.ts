/**
 * A module loader hook for the CLI (registered before tsx, so tsx receives its output): applies
 * decorator-syntax.ts to the user's own files, so `@app.function(...)` loads locally exactly as
 * it bundles for the agent.
 */
import type { LoadHook } from "node:module";
import { needsDecoratorRewrite, rewriteKeywordDecorators } from "../bundler/decorator-syntax.ts";

export const load: LoadHook = async (url, context, nextLoad) => {
  const result = await nextLoad(url, context);
  if (!url.startsWith("file:") || url.includes("/node_modules/") || !/\.[mc]?[jt]sx?$/.test(new URL(url).pathname)) return result;
  if (result.source === undefined || result.source === null) return result;
  const source = typeof result.source === "string" ? result.source : Buffer.from(result.source as Uint8Array).toString("utf8");
  return needsDecoratorRewrite(source) ? { ...result, source: rewriteKeywordDecorators(source) } : result;
};
