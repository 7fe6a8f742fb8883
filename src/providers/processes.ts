/**
 * Process checks and signals: whether a local task's supervisor, or the run that placed a cloud
 * function's bid, is still alive. A local task's command leads its own process group (it is
 * started detached), so signalling `-pid` reaches everything it started too.
 */
import { readFileSync } from "node:fs";

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else, which is not one of our supervisors.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether `pid` is still a task supervisor. Where /proc exists the command line is checked too,
 * so a pid the system reused for something else does not keep a dead task "running" forever.
 */
export function isSupervisorAlive(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("task-supervisor");
  } catch {
    return true;
  }
}

export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals every process in the group; a group that is already gone is fine. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
