/**
 * Where the SDK's own built files are, wherever it is installed (a project's node_modules, a
 * global install, or this repository), found from this module's location.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

export function sdkRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "flow-sdk") {
      root = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("flow-sdk: cannot find the SDK's package.json above " + import.meta.url);
    dir = parent;
  }
}

/** The agent, bundled into one file by `npm run build`. */
export function agentPath(): string {
  return join(sdkRoot(), "dist", "agent.mjs");
}

/** The local task supervisor (providers/local/task-supervisor.ts), built by `npm run build`. */
export function taskSupervisorPath(): string {
  return join(sdkRoot(), "dist", "task-supervisor.js");
}

/** The S3 helper (providers/s3/s3-copy.ts) with its S3 client, bundled by `npm run build`. */
export function s3HelperPath(): string {
  return join(sdkRoot(), "dist", "s3-copy.mjs");
}
