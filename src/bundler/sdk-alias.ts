/**
 * Inside a bundle, `import ... from "flow-sdk"` resolves to the agent's own copy of the SDK.
 *
 * The agent already carries the SDK (App, the registry, the codec); it publishes its exports on a
 * global before importing the bundle, and this plugin turns the bare specifier into a small
 * virtual module that re-exports them. Bundles stay small, and the code that registers functions
 * is always the code that dispatches them: no second copy, no version skew.
 */
import type { Plugin } from "esbuild";

/** `Symbol.for` key of the global where the agent publishes the SDK's exports. */
export const AGENT_SDK_GLOBAL = "flow-sdk.agent-sdk.v1";

const NAMESPACE = "flow-sdk-agent";

/** Resolves exactly `flow-sdk` (no subpaths) to a module re-exporting `exportNames` from the agent. */
export function sdkAliasPlugin(exportNames: readonly string[]): Plugin {
  const contents = [
    `const sdk = globalThis[Symbol.for(${JSON.stringify(AGENT_SDK_GLOBAL)})];`,
    `if (!sdk) throw new Error("This bundle imports flow-sdk and must be loaded by the flow agent.");`,
    ...exportNames.map((name) => `export const ${name} = sdk.${name};`),
  ].join("\n");
  return {
    name: "flow-sdk-alias",
    setup(build) {
      build.onResolve({ filter: /^flow-sdk$/ }, () => ({ path: "flow-sdk", namespace: NAMESPACE }));
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, () => ({ contents, loader: "js" }));
    },
  };
}
