/**
 * Killing a simulated machine means killing everything that ran on it. Its processes are found two
 * ways: the startup script's process group, and any process whose environment names the
 * instance's root (which catches what escaped the group with setsid, what SSH sessions started,
 * and what runs in its simulated containers).
 * Linux /proc is the source of truth; zombies are already dead and do not count.
 */
import { readdirSync, readFileSync } from "node:fs";

const GRACE_MS = 1_000;
const POLL_MS = 25;
const GIVE_UP_MS = 5_000;

export interface MachineProcesses {
  /** Process group of the startup script (its bash is the leader). */
  processGroup?: number;
  /** `NAME=value` entries: a process whose environment holds any of them is the machine's (its own, or its containers'). */
  envMarkers: readonly string[];
}

/** Live PIDs of the machine (never this process). */
export function machineProcessIds(machine: MachineProcesses): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const needles = machine.envMarkers.map((marker) => Buffer.from(`\0${marker}\0`));
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const stat = readProcStat(pid);
    if (stat === undefined || stat.state === "Z" || stat.state === "X") continue;
    if (machine.processGroup !== undefined && stat.pgid === machine.processGroup) {
      pids.push(pid);
      continue;
    }
    const environ = readOrUndefined(`/proc/${pid}/environ`);
    // Entries are NUL-terminated; a leading NUL lets the first entry match like the others.
    if (environ === undefined) continue;
    const entries = Buffer.concat([Buffer.from("\0"), environ]);
    if (needles.some((needle) => entries.includes(needle))) pids.push(pid);
  }
  return pids;
}

/** SIGTERM everything, SIGKILL what is left after a grace period, and wait until it is all gone. */
export async function killMachineProcesses(machine: MachineProcesses): Promise<void> {
  signalAll(machine, "SIGTERM");
  const termDeadline = Date.now() + GRACE_MS;
  while (machineProcessIds(machine).length > 0 && Date.now() < termDeadline) await sleep(POLL_MS);
  const giveUp = Date.now() + GIVE_UP_MS;
  while (machineProcessIds(machine).length > 0 && Date.now() < giveUp) {
    signalAll(machine, "SIGKILL");
    await sleep(POLL_MS);
  }
}

function signalAll(machine: MachineProcesses, signal: NodeJS.Signals): void {
  if (machine.processGroup !== undefined) trySignal(-machine.processGroup, signal);
  for (const pid of machineProcessIds(machine)) trySignal(pid, signal);
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone (ESRCH) or not ours (EPERM): nothing to do either way.
  }
}

function readProcStat(pid: number): { state: string; pgid: number } | undefined {
  const text = readOrUndefined(`/proc/${pid}/stat`)?.toString("utf8");
  if (text === undefined) return undefined;
  // The command name (field 2) may contain spaces and parentheses; fields resume after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const pgid = Number(fields[2]);
  return state === undefined || !Number.isInteger(pgid) ? undefined : { state, pgid };
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
