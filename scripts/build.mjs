// Builds the package: the library and CLI (sharing chunks, so both see the same module state),
// CommonJS builds of the library and the toolchain plugins (for `require`), the agent and the S3
// helper as self-contained files, and type declarations.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";

const common = { bundle: true, platform: "node", target: "node20", sourcemap: "linked", keepNames: true, logLevel: "warning" };
const esm = { ...common, format: "esm" };
// ESM bundles of CommonJS dependencies (ws) still call require() for builtins.
const requireShim = "import { createRequire as __flowCreateRequire } from 'node:module'; const require = __flowCreateRequire(import.meta.url);";
// CommonJS has no import.meta; the SDK uses import.meta.url to find its own files and frames.
const importMetaUrlShim = "const __flowImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";

/**
 * Inside an agent app.run() never starts a run (it holds the module where it stands, see
 * src/app/registry.ts): the agent gets a stand-in for app/run.ts, which keeps the providers, the
 * cloud client and the task API, all reached only from there, out of agent.mjs.
 */
const noAppRunsInAgents = {
  name: "no-app-runs-in-agents",
  setup(build) {
    build.onResolve({ filter: /^\.\/run\.ts$/ }, (args) =>
      args.importer.endsWith("/src/app/app.ts") ? { path: "app-run", namespace: "agent-stand-in" } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "agent-stand-in" }, () => ({
      contents: 'export function runWithHost() { throw new Error("app.run() cannot start a run inside an agent"); }',
      loader: "js",
    }));
  },
};

rmSync("dist", { recursive: true, force: true });
await Promise.all([
  build({
    ...esm,
    entryPoints: {
      index: "src/index.ts",
      cli: "src/cli/main.ts",
      "decorator-hook": "src/cli/decorator-hook.ts",
      "commonjs-entry-hook": "src/cli/commonjs-entry-hook.ts",
      "sdk-copy-hook": "src/cli/sdk-copy-hook.ts",
      register: "src/register.ts",
      "task-supervisor": "src/providers/local/task-supervisor.ts",
      esbuild: "src/plugins/esbuild.ts",
      vite: "src/plugins/vite.ts",
    },
    outdir: "dist",
    splitting: true,
    // The pure-JS packages a start loads are bundled into the chunks: Node 20 resolves and loads
    // each of their files on its own (ws and commander through the CommonJS lexer, zod's ESM as
    // ~100 modules), which cost `flow run` ~0.1 s before its first call. The rest stay packages:
    // native or platform code (esbuild, ssh2), tsx (its hooks load from its own files), and what
    // only some commands load (undici, the AWS SDK) or the user brings (vite).
    banner: { js: requireShim },
    external: ["esbuild", "tsx", "ssh2", "undici", "@aws-sdk/*", "vite"],
  }),
  // `require("flow-sdk")` (dist/index.cjs, see require-entry.cts) and the plugins for CommonJS
  // build scripts and configs. No splitting in CommonJS: each file is whole.
  build({
    ...common,
    format: "cjs",
    entryPoints: { index: "src/index.ts", esbuild: "src/plugins/esbuild.ts", vite: "src/plugins/vite.ts" },
    outdir: "dist/cjs",
    outExtension: { ".js": ".cjs" },
    packages: "external",
    banner: { js: importMetaUrlShim },
    define: { "import.meta.url": "__flowImportMetaUrl" },
  }),
  build({
    ...common,
    format: "cjs",
    entryPoints: { index: "src/require-entry.cts" },
    outdir: "dist",
    outExtension: { ".js": ".cjs" },
    bundle: false,
  }),
  build({
    ...esm,
    entryPoints: { agent: "remote-agent/main.ts" },
    outdir: "dist",
    outExtension: { ".js": ".mjs" },
    banner: { js: requireShim },
    // Client-only packages, reached through dynamic imports that never run inside an agent.
    external: ["esbuild", "tsx", "ssh2", "undici"],
    plugins: [noAppRunsInAgents],
  }),
  // The S3 helper, self-contained with the AWS SDK's S3 client: it runs on instances (and for
  // local tasks) with nothing but Node.
  build({
    ...esm,
    entryPoints: { "s3-copy": "src/providers/s3/s3-copy.ts" },
    outdir: "dist",
    outExtension: { ".js": ".mjs" },
    banner: { js: requireShim },
    minify: true,
  }),
]);
if (!process.argv.includes("--no-types")) {
  execFileSync("node_modules/.bin/tsc", ["-p", "tsconfig.build.json"], { stdio: "inherit" });
}
