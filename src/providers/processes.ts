/**
 * Process checks and signals: whether a local task's supervisor, or the run that placed a cloud
 * function's bid, is still alive. A local task's command leads its own process group (it is
 * started detached), so signalling `-pid` reaches everything it started too.
 */
import { readdirSync, readFileSync } from "node:fs";

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

/**
 * Whether process group `pgid` still holds a process whose environment has `variable` exactly
 * (e.g. "FLOW_TASK_ID=task-…"). A group id is a pid: once the group has emptied, the number may
 * lead someone else's group (after a reboot, almost surely), and a kill sent to it would land there.
 * Where there is no /proc (not Linux), only whether the group exists.
 */
export function groupHolds(pgid: number, variable: string): boolean {
  if (process.platform !== "linux") {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return procPids().some((pid) => procStat(pid)?.pgid === pgid && environHolds(pid, [variable]));
}

/** The pids /proc lists (none where there is no /proc). */
export function procPids(): number[] {
  try {
    return readdirSync("/proc").flatMap((name) => (/^\d+$/.test(name) ? [Number(name)] : []));
  } catch {
    return [];
  }
}

/** Fields 3 (state), 5 (pgrp) and 22 (starttime) of proc(5)'s /proc/<pid>/stat; undefined once it is gone. */
export function procStat(pid: number): { state: string; pgid: number; startTime: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; fields resume after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const pgid = Number(fields[2]);
  return state === undefined || !Number.isInteger(pgid) ? undefined : { state, pgid, startTime: Number(fields[19]) };
}

/** Whether the environment `pid` started with holds one of `entries` ("NAME=value") exactly. */
export function environHolds(pid: number, entries: readonly string[]): boolean {
  let environ: Buffer;
  try {
    environ = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return false; // gone, or someone else's
  }
  // Entries are NUL-terminated; a leading NUL lets the first entry match like the others.
  const text = Buffer.concat([Buffer.from("\0"), environ]);
  return entries.some((entry) => text.includes(`\0${entry}\0`));
}

/** Signals every process in the group; a group that is already gone is fine. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/**
 * Signals every process of this user whose environment holds `variable` (e.g. "FLOW_AGENT_TAG=ab12",
 * or a prefix of one such as "FLOW_AGENT_TAG=ab12."), except this process; returns how many. This
 * finds what a process group does not hold: detached children (setsid) and daemons re-parented to
 * init, which keep their environment wherever they go.
 *
 * Linux only (it reads /proc/<pid>/environ, the environment each process started with); elsewhere
 * it finds nothing. Scans until a pass finds nothing left, so a process that forked between the scan
 * and the signal is caught by the next pass.
 */
export function killTagged(variable: string, signal: NodeJS.Signals): number {
  if (process.platform !== "linux") return 0;
  const needle = Buffer.from(`\0${variable}`);
  const atStart = Buffer.from(variable);
  let killed = 0;
  for (let pass = 0; pass < 5; pass++) {
    let found = 0;
    for (const pid of procPids()) {
      if (pid === process.pid) continue;
      let environ: Buffer;
      try {
        environ = readFileSync(`/proc/${pid}/environ`);
      } catch {
        continue; // gone, or someone else's
      }
      if (environ.indexOf(needle) === -1 && !environ.subarray(0, atStart.length).equals(atStart)) continue;
      try {
        process.kill(pid, signal);
        found++;
      } catch {
        // It ended meanwhile.
      }
    }
    killed += found;
    if (found === 0) break;
  }
  return killed;
}
