/**
 * An agent's workspace: a temporary directory for the unpacked code archive (and the npm install
 * of its externals, see install.ts), created by the agent, removed when it exits. An agent that
 * could not clean up (it was SIGKILLed) leaves its workspace behind; the next agent on the machine
 * removes it.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "../src/providers/processes.ts";
const PREFIX = "flow-agent-";
/** Who made the workspace: `{"pid": N}`. */
const OWNER_FILE = ".flow-agent-owner.json";
/** A workspace without an owner file (from an older agent) is left alone until it is this old. */
const UNOWNED_STALE_MS = 60 * 60_000;

/** A new workspace in the temp dir, marked as this process's. */
export async function createWorkspace(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  await writeFile(join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid }));
  return dir;
}

export function removeWorkspace(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 2 });
}

/**
 * Remove the workspaces of agents that are no longer running, one at a time (it runs beside the
 * first calls, and should not compete with them). Best effort: a failure is only logged.
 */
export async function sweepStaleWorkspaces(log: (line: string) => void): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(tmpdir())).filter((name) => name.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    try {
      if (await isStale(dir)) await removeWorkspace(dir);
    } catch (error) {
      log(`flow-agent: could not remove the stale workspace ${dir}: ${(error as Error).message}\n`);
    }
  }
}

async function isStale(dir: string): Promise<boolean> {
  let owner: { pid?: unknown };
  try {
    owner = JSON.parse(await readFile(join(dir, OWNER_FILE), "utf8")) as { pid?: unknown };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return false;
    // No owner file: an older agent's, or one being created this instant.
    const info = await stat(dir);
    return info.isDirectory() && Date.now() - info.mtimeMs > UNOWNED_STALE_MS;
  }
  return typeof owner.pid === "number" && owner.pid !== process.pid && !isAlive(owner.pid);
}
