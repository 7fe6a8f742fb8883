/**
 * One simulated machine: a sandbox directory that plays the instance's disk, the startup script
 * really running under bash in its own process group, and an sshd on a loopback port.
 *
 * Layout of `<stateDir>/instances/<fid>/`:
 *   flow/               the instance root (FLOW_INSTANCE_ROOT, see instance-layout.ts)
 *   home/               HOME of the login user
 *   bin/                first on PATH: `shutdown`/`poweroff` shims that record a power-off,
 *                       disk shims (lsblk, mkfs.ext4, mount, …; see disk-shims.ts), a `docker`
 *                       that runs containers as chroots (docker-shim.ts), and
 *                       `python`/`python3`, which GPU images ship (here: this host's python3)
 *   startup-script.sh   exactly launch_specification.startup_script
 *   console.log         the script's stdout and stderr, like a cloud serial console
 *   powered-off         written by the shims; the simulator then ends the instance
 */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { INSTANCE_ROOT_ENV, INSTANCE_SSH_USER } from "../../src/providers/fcp/instance-layout.ts";
import { quote } from "../../src/providers/fcp/startup-script/bash.ts";
import { installDiskShims, removeSimulatedMounts, type SimDisk } from "./disk-shims.ts";
import { CONTAINER_MARKER_ENV, installDockerShim } from "./docker-shim.ts";
import { procStat } from "../../src/providers/processes.ts";
import { killMachineProcesses, type MachineProcesses } from "./process-reaper.ts";
import { startInstanceSshServer, type InstanceSshServer } from "./ssh-server.ts";

export interface SandboxLayout {
  dir: string;
  root: string;
  home: string;
  bin: string;
  startupScript: string;
  consoleLog: string;
  powerOffMarker: string;
}

export function sandboxLayout(stateDir: string, instanceFid: string): SandboxLayout {
  const dir = join(stateDir, "instances", instanceFid);
  return {
    dir,
    root: join(dir, "flow"),
    home: join(dir, "home"),
    bin: join(dir, "bin"),
    startupScript: join(dir, "startup-script.sh"),
    consoleLog: join(dir, "console.log"),
    powerOffMarker: join(dir, "powered-off"),
  };
}

/** The machine's whole environment: a minimal login env plus the instance root. */
export function sandboxEnv(layout: SandboxLayout): Record<string, string> {
  const systemPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  // A real image ships Node where the script looks for it; here that is wherever this Node lives.
  const nodeDir = dirname(process.execPath);
  const path = [layout.bin, ...systemPath, ...(systemPath.includes(nodeDir) ? [] : [nodeDir])];
  return { PATH: path.join(":"), HOME: layout.home, LANG: "C.UTF-8", [INSTANCE_ROOT_ENV]: layout.root };
}

export interface MachineOptions {
  layout: SandboxLayout;
  /** The submitted startup script; an absent one boots a machine that just idles. */
  startupScript: string;
  authorizedKeys: () => readonly string[];
  /** The bid's volumes, in its launch_specification order. */
  disks: readonly SimDisk[];
  /** Latency added to each SSH round trip (see SimulatorOptions.sshRoundTripMs). */
  sshRoundTripMs: number;
}

export class Machine {
  readonly #layout: SandboxLayout;
  readonly #ssh: InstanceSshServer;
  readonly #processes: MachineProcesses;
  readonly #mountTable: string;
  #killing: Promise<void> | undefined;

  private constructor(layout: SandboxLayout, ssh: InstanceSshServer, processes: MachineProcesses, mountTable: string) {
    this.#layout = layout;
    this.#ssh = ssh;
    this.#processes = processes;
    this.#mountTable = mountTable;
  }

  /** Prepares the sandbox, starts the startup script and the sshd. */
  static async boot(options: MachineOptions): Promise<Machine> {
    const { layout } = options;
    await prepareSandbox(layout, options.startupScript);
    const mountTable = await installDiskShims(layout.dir, layout.bin, options.disks);
    await installDockerShim(layout.dir, layout.bin, layout.root);
    const env = sandboxEnv(layout);
    // Containers do not inherit the machine's environment: they carry a marker of their own.
    const processes: MachineProcesses = { envMarkers: [`${INSTANCE_ROOT_ENV}=${layout.root}`, `${CONTAINER_MARKER_ENV}=${layout.root}`] };
    processes.processGroup = startScript(layout, env);
    const leaderStartTime = procStat(processes.processGroup)?.startTime;
    if (leaderStartTime !== undefined) processes.leaderStartTime = leaderStartTime;
    let ssh: InstanceSshServer;
    try {
      ssh = await startInstanceSshServer({ authorizedKeys: options.authorizedKeys, user: INSTANCE_SSH_USER, cwd: layout.dir, env, roundTripMs: options.sshRoundTripMs });
    } catch (error) {
      await killMachineProcesses(processes);
      throw error;
    }
    return new Machine(layout, ssh, processes, mountTable);
  }

  get sshPort(): number {
    return this.#ssh.port;
  }

  /** Whether something on the machine ran `shutdown` or `poweroff`. */
  poweredOff(): boolean {
    return existsSync(this.#layout.powerOffMarker);
  }

  dropSshConnections(): void {
    this.#ssh.dropConnections();
  }

  dropSshConnectionsAtExec(match: string): void {
    this.#ssh.dropConnectionsAtExec(match);
  }

  /** Pulls the plug: every process of the machine and its sshd, then its mounts. Idempotent. */
  kill(): Promise<void> {
    this.#killing ??= Promise.all([this.#ssh.close(), killMachineProcesses(this.#processes)]).then(() => removeSimulatedMounts(this.#mountTable));
    return this.#killing;
  }
}

async function prepareSandbox(layout: SandboxLayout, startupScript: string): Promise<void> {
  for (const dir of [layout.root, layout.home, layout.bin]) await mkdir(dir, { recursive: true });
  // A resumed (unpaused) machine keeps its disk, but not a power-off from its previous life.
  await rm(layout.powerOffMarker, { force: true });
  await writeFile(layout.startupScript, startupScript);
  for (const name of ["shutdown", "poweroff", "halt"]) {
    const shim = join(layout.bin, name);
    await writeFile(shim, powerOffShim(layout.powerOffMarker));
    await chmod(shim, 0o755);
  }
  const python = hostPython();
  for (const name of python === undefined ? [] : ["python", "python3"]) {
    const shim = join(layout.bin, name);
    await writeFile(shim, `#!/bin/sh\nexec ${quote(python!)} "$@"\n`);
    await chmod(shim, 0o755);
  }
}

let python: { path: string | undefined } | undefined;

/** This host's python3 by its real path (a pyenv shim would look for pyenv under the sandbox's HOME). */
function hostPython(): string | undefined {
  python ??= { path: findPython() };
  return python.path;
}

function findPython(): string | undefined {
  try {
    return execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * `poweroff`/`halt` act at once; `shutdown` honours `now` and `+N` minutes and, like systemd,
 * defaults to one minute. A delayed power-off sleeps in the machine's process group, so killing
 * the machine cancels it.
 */
function powerOffShim(marker: string): string {
  return `#!/bin/bash
# fcp-sim: records the power-off; the simulator then terminates this instance.
record() { printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" >> ${quote(marker)}; }
minutes=0
if [ "$(basename "$0")" = shutdown ]; then
  minutes=1
  for arg in "$@"; do
    case "$arg" in
      -c) exit 0 ;; # accepted; a pending delayed power-off is not cancelled
      now) minutes=0 ;;
      +[0-9]*) minutes="\${arg#+}" ;;
    esac
  done
fi
if [ "$minutes" -eq 0 ]; then
  record "$0 $*"
else
  (sleep $((minutes * 60)); record "$0 $*") </dev/null >/dev/null 2>&1 &
fi
`;
}

function startScript(layout: SandboxLayout, env: Record<string, string>): number {
  const consoleFd = openSync(layout.consoleLog, "a");
  try {
    const child = spawn("bash", [layout.startupScript], { cwd: layout.dir, env, detached: true, stdio: ["ignore", consoleFd, consoleFd] });
    if (child.pid === undefined) throw new Error("could not start bash for the startup script");
    child.on("error", () => {});
    // The machine outlives nobody's patience: close() kills it, but it must not keep Node alive.
    child.unref();
    return child.pid;
  } finally {
    closeSync(consoleFd);
  }
}
