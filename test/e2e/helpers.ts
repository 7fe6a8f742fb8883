// Shared by the end-to-end tests: run the real `flow` CLI and watch real processes.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const flowBin = join(repoRoot, "bin", "flow.js");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  done: Promise<CliResult>;
  output: () => string;
}

export function startCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Started {
  return startNode([flowBin, ...args], options);
}

export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** `node <args>` (e.g. `--import tsx examples/script.ts`), as a user would start a script. */
export function startNode(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Started {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, NO_COLOR: "1", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d));
  child.stderr!.on("data", (d: Buffer) => (stderr += d));
  const done = new Promise<CliResult>((resolveDone) =>
    child.on("close", (code, signal) => resolveDone({ code, signal, stdout, stderr })),
  );
  return { child, done, output: () => stdout + stderr };
}

export function runNode(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return startNode(args, options).done;
}

/** What a `flow` CLI (or a Flow) needs to use the simulator: its API, key and project, with HOME and FLOW_HOME under `root`. */
export function simulatorEnv(sim: { url: string; apiKey: string; project: { name: string } }, root: string): NodeJS.ProcessEnv {
  return {
    FLOW_API_URL: sim.url,
    FLOW_API_KEY: sim.apiKey,
    FLOW_PROJECT: sim.project.name,
    FLOW_PROVIDER: "fcp",
    HOME: join(root, "home"),
    FLOW_HOME: join(root, "home", ".flow"),
  };
}

export function tempDir(prefix = "flow-e2e-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Poll until `check` holds; the test's own timeout bounds it. */
export async function until(check: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether `pid` is a process that still runs: a zombie (killed, not yet reaped by its parent) does not. */
export function isRunning(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

/**
 * A caller that spawns `slowSquare(x, ms)` of the durable fixture detached, prints the call's id
 * and hangs, then is SIGKILLed: the id, for a test to fetch the call from another process.
 */
export async function spawnDetachedThenKillCaller(options: { dir: string; entry: string; env: NodeJS.ProcessEnv; resultWindowMs: number; x: number; ms: number }): Promise<string> {
  const { dir, entry, env, resultWindowMs, x, ms } = options;
  const script = join(dir, "spawn-and-hang.ts");
  writeFileSync(
    script,
    `import { slowSquare, app } from ${JSON.stringify(entry)};\n` +
      `await app.run(async () => {\n` +
      `  const call = await slowSquare.with({ resultWindowMs: ${resultWindowMs} }).spawnDetached(${x}, ${ms});\n` +
      `  console.log(call.taskId);\n` +
      `  await new Promise(() => {});\n` +
      `}, { entry: ${JSON.stringify(entry)} });\n`,
  );
  const caller = startNode(["--import", "flow-sdk/register", script], { cwd: repoRoot, env });
  let out = "";
  caller.child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await until(() => /call-[0-9a-f]{12}/.test(out), "the call id", 60_000);
  caller.child.kill("SIGKILL");
  await caller.done;
  return /call-[0-9a-f]{12}/.exec(out)![0]!;
}
