/**
 * A module loader hook the CLI registers (after tsx's, so it runs first) before it loads the
 * user's file: `import "flow-sdk"` there gets the copy of the SDK the CLI has already loaded
 * whenever it would otherwise load another copy of the same installation. That happens where a
 * tsconfig `paths` entry maps "flow-sdk" to the SDK's TypeScript sources (this repository's
 * examples and tests do, for type checking): tsx honours it and compiled the whole SDK a second
 * time through the loader thread, about half of `flow run`'s start, for a copy that only works
 * alongside the first one because the registry is shared (app/registry.ts).
 *
 * Another installation (a project's own flow-sdk under a global `flow`) is left alone: it may be
 * another version, and it is what that project asked for.
 */
import type { InitializeHook, ResolveHook } from "node:module";

export interface SdkCopyHookData {
  /** The ES module entry the CLI loaded (dist/index.js). */
  sdkEntryUrl: string;
  /** The installation's directory, as a file: URL ending in "/". */
  sdkRootUrl: string;
}

let data: SdkCopyHookData | undefined;

export const initialize: InitializeHook<SdkCopyHookData> = (given) => {
  data = given;
};

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  const result = await nextResolve(specifier, context);
  if (specifier !== "flow-sdk" || data === undefined) return result;
  const sameInstallation = result.url.startsWith(data.sdkRootUrl);
  return sameInstallation && result.url !== data.sdkEntryUrl ? { url: data.sdkEntryUrl, format: "module", shortCircuit: true } : result;
};
