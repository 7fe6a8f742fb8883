// Fresh projects of a user's own, with flow-sdk installed from its `npm pack` tarball exactly as
// the registry would deliver it: what a new user meets, not this repository's setup.
//
// The package is packed from the current build (run `npm run build` first, as for every e2e test)
// and installed once, into a template project made by `npm init -y`; each consumerProject() copies
// that template (its package.json and node_modules) into a new temp dir and sets the package type.
import { execFile, spawn } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, tempDir, type CliResult } from "./helpers.ts";

/** `"type"` in the project's package.json: what `npm init -y` writes, none at all, or ESM. */
export type PackageType = "commonjs" | "none" | "module";

export interface ConsumerProject {
  dir: string;
  type: PackageType;
  /** Write a file into the project (directories are created). */
  write(path: string, text: string): void;
  /** Copy a file of this repository (e.g. `examples/hello.ts`) into the project, by default to the same path. */
  copy(repoPath: string, projectPath?: string): void;
  /** `npx <args>` in the project, e.g. `npx flow run examples/hello.ts`. */
  npx(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** `node <args>` in the project, e.g. `node --import flow-sdk/register examples/script.ts`. */
  node(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
}

const run = promisify(execFile);
let template: Promise<string> | undefined;

// Each project holds a copy of node_modules (about 40 MB): removed when the test process ends.
const created: string[] = [];
process.on("exit", () => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

export async function consumerProject(type: PackageType): Promise<ConsumerProject> {
  const source = await (template ??= installTemplate());
  const dir = tempDir(`flow-consumer-${type}-`);
  created.push(dir);
  cpSync(join(source, "node_modules"), join(dir, "node_modules"), { recursive: true, verbatimSymlinks: true });
  const manifest = JSON.parse(readFileSync(join(source, "package.json"), "utf8")) as { type?: string };
  if (type === "none") delete manifest.type;
  else manifest.type = type;
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  return {
    dir,
    type,
    write,
    copy: (repoPath, projectPath = repoPath) => write(projectPath, readFileSync(join(repoRoot, repoPath), "utf8")),
    npx: (args, env) => spawnIn(dir, "npx", args, env),
    node: (args, env) => spawnIn(dir, process.execPath, args, env),
  };
}

async function installTemplate(): Promise<string> {
  const root = tempDir("flow-consumer-template-");
  created.push(root);
  // Not `prepack` (a whole build): it would replace dist/ under the tests running beside this one.
  await run("npm", ["pack", "--ignore-scripts", "--pack-destination", root], { cwd: repoRoot, env: npmEnv() });
  const tarball = join(root, readdirSync(root).find((name) => name.endsWith(".tgz"))!);
  const dir = join(root, "project");
  mkdirSync(dir);
  await run("npm", ["init", "-y"], { cwd: dir, env: npmEnv() });
  // Dependencies come from npm's cache when they are there (this repository's own install put
  // them there), so the install is quick and works offline.
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: dir, env: npmEnv() });
  return dir;
}

/**
 * Without the npm_* variables `npm test` sets for its scripts: they would make the inner npm
 * act on this repository (its prefix, its package) instead of the consumer project.
 */
function npmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return { ...env, NO_COLOR: "1", ...extra };
}

function spawnIn(cwd: string, command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(command, args, { cwd, env: npmEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}
