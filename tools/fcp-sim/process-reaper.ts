/**
 * Killing a simulated machine means killing everything that ran on it. Its processes are found two
 * ways: the startup script's process group, and any process whose environment names the
 * instance's root (which catches what escaped the group with setsid, what SSH sessions started,
 * and what runs in its simulated containers).
 * Linux /proc is the source of truth; zombies are already dead and do not count.
 *
 * A process group's id is its leader's pid, and once the group is empty the system may give that
 * number to a new process that leads a group of its own: with the suite's churn, pids wrap within
 * minutes, and a machine whose startup script ended before it is killed (one that failed early and
 * lingers, one that powered off a moment ago) would otherwise have its kill land on another test's
 * worker or SSH command. So the group counts as the machine's only while it demonstrably is: its
 * leader is the very process started (same pid and start time), or one of its members carries the
 * machine's marker.
 */
import { environHolds, procPids, procStat } from "../../src/providers/processes.ts";

const GRACE_MS = 1_000;
const POLL_MS = 25;
const GIVE_UP_MS = 5_000;

export interface MachineProcesses {
  /** Process group of the startup script (its bash is the leader). */
  processGroup?: number;
  /** When that leader started (procStat's startTime), to tell it from a later process given its pid. */
  leaderStartTime?: number;
  /** `NAME=value` entries: a process whose environment holds any of them is the machine's (its own, or its containers'). */
  envMarkers: readonly string[];
}

/** Live PIDs of the machine (never this process). */
export function machineProcessIds(machine: MachineProcesses): number[] {
  return scan(machine).pids;
}

/** The machine's live processes, and whether its process group is still its own (see the file comment). */
function scan(machine: MachineProcesses): { pids: number[]; ownGroup: boolean } {
  const marked: number[] = [];
  const grouped: number[] = [];
  let ownGroup = false;
  for (const pid of procPids()) {
    if (pid === process.pid) continue;
    const stat = procStat(pid);
    if (stat === undefined || stat.state === "Z" || stat.state === "X") continue;
    const inGroup = machine.processGroup !== undefined && stat.pgid === machine.processGroup;
    const isMarked = environHolds(pid, machine.envMarkers);
    if (isMarked) marked.push(pid);
    else if (inGroup) grouped.push(pid);
    if (inGroup && (isMarked || (pid === machine.processGroup && stat.startTime === machine.leaderStartTime))) ownGroup = true;
  }
  return { pids: ownGroup ? [...marked, ...grouped] : marked, ownGroup };
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
  const { pids, ownGroup } = scan(machine);
  if (ownGroup && machine.processGroup !== undefined) trySignal(-machine.processGroup, signal);
  for (const pid of pids) trySignal(pid, signal);
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone (ESRCH) or not ours (EPERM): nothing to do either way.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
