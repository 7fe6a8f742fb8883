// Builds the package: the library and CLI (sharing chunks, so both see the same module state),
// the agent as one self-contained file, and type declarations.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";

const common = { bundle: true, platform: "node", target: "node20", format: "esm", sourcemap: "linked", keepNames: true, logLevel: "warning" };
// ESM bundles of CommonJS dependencies (ws) still call require() for builtins.
const requireShim = "import { createRequire as __flowCreateRequire } from 'node:module'; const require = __flowCreateRequire(import.meta.url);";

rmSync("dist", { recursive: true, force: true });
await Promise.all([
  build({
    ...common,
    entryPoints: {
      index: "src/index.ts",
      cli: "src/cli/main.ts",
      "decorator-hook": "src/cli/decorator-hook.ts",
      register: "src/register.ts",
      "task-supervisor": "src/providers/local/task-supervisor.ts",
    },
    outdir: "dist",
    splitting: true,
    packages: "external",
  }),
  build({
    ...common,
    entryPoints: { agent: "remote-agent/main.ts" },
    outdir: "dist",
    outExtension: { ".js": ".mjs" },
    banner: { js: requireShim },
    // Client-only packages, reached through dynamic imports that never run inside an agent.
    external: ["esbuild", "tsx", "ssh2", "undici"],
  }),
]);
if (!process.argv.includes("--no-types")) {
  execFileSync("node_modules/.bin/tsc", ["-p", "tsconfig.build.json"], { stdio: "inherit" });
}
