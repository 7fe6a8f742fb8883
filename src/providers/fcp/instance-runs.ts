/**
 * Workloads delivered to an instance that is already up — a reservation's, which outlives any one
 * task — instead of booted with it. Each gets a directory of its own under the instance root
 * (`runs/<id>/`, with the same layout as the root: code, logs, completion marker), and the same
 * script a bid's instance would boot, built with that directory as its root and no power-off:
 * the machine is not the workload's to stop.
 *
 *   1. the client uploads the run's files and its script over SFTP, then the `uploaded` marker;
 *   2. it starts the script detached (setsid, so it outlives the SSH session and the whole run
 *      can be stopped as one process group), and records the pid;
 *   3. the script writes the exit code, as at boot; `runState` reads it, `stopRun` stops the group.
 */
import { posix } from "node:path";
import { ProviderError } from "../../errors.ts";
import type { InstanceConnection, Upload } from "./instance-connection.ts";
import { instancePaths, markUploadedCommand, type InstancePaths } from "./instance-layout.ts";
import { quote } from "./startup-script/bash.ts";
import { buildStartupScript } from "./startup-script/index.ts";
import type { StartupScriptSpec } from "./startup-script/spec.ts";

/** The run's directory on the instance whose root is `instanceRoot`. */
export function runPaths(instanceRoot: string, runId: string): InstancePaths {
  return instancePaths(`${instanceRoot}/runs/${runId}`);
}

export type RunSpec = Omit<StartupScriptSpec, "root" | "poweroffGraceSeconds" | "expectUploads" | "autostopIdleSeconds">;

/**
 * Uploads `files(paths)` and the run's script, then starts it; returns the run's paths. The
 * script waits for the `uploaded` marker, so it never starts on half the files.
 */
export async function startRun(connection: InstanceConnection, runId: string, spec: RunSpec, files: (paths: InstancePaths) => Upload[]): Promise<InstancePaths> {
  const paths = runPaths(connection.paths.root, runId);
  const { script } = buildStartupScript({ ...spec, root: paths.root, poweroffGraceSeconds: "never", expectUploads: true });
  const made = await connection.ssh.exec(`mkdir -p ${quote(posix.dirname(paths.taskStdout))} ${quote(posix.dirname(paths.agentFile))} && chmod 700 ${quote(paths.root)}`);
  if (made.code !== 0) {
    throw new ProviderError(`Could not make ${paths.root} on ${connection.instance.fid}: ${made.stderr.trim()}`, {
      suggestions: ["the instance was not set up by Flow: use reservations made with `flow reserve create` (or `flow.reservations.create`)"],
    });
  }
  await connection.uploadFiles([...files(paths), { data: new TextEncoder().encode(script), remotePath: paths.runScript, mode: 0o700 }]);
  // The marker in the same exec that starts the script.
  const started = await connection.ssh.exec(
    `${markUploadedCommand(paths)} && cd ${quote(paths.root)} && { setsid bash ${quote(paths.runScript)} </dev/null >/dev/null 2>&1 & echo $! > ${quote(paths.runPid)}; }`,
  );
  if (started.code !== 0) throw new ProviderError(`Could not start the run on ${connection.instance.fid}: ${started.stderr.trim()}`);
  return paths;
}

export interface RunState {
  /** The workload's exit code, once it has ended. */
  exitCode?: number;
  /** Whether the run's script is still running. */
  alive: boolean;
}

export async function runState(connection: InstanceConnection, paths: InstancePaths): Promise<RunState> {
  const { stdout } = await connection.ssh.exec(
    `alive=no; if kill -0 "$(cat ${quote(paths.runPid)} 2>/dev/null)" 2>/dev/null; then alive=yes; fi; printf '%s %s' "$alive" "$(cat ${quote(paths.exitCode)} 2>/dev/null)"`,
  );
  const [alive, code = ""] = stdout.trim().split(/\s+/);
  const exitCode = Number.parseInt(code, 10);
  return { ...(Number.isInteger(exitCode) ? { exitCode } : {}), alive: alive === "yes" };
}

/** SIGTERM to the run's process group: the script records exit code 143 and ends. */
export async function stopRun(connection: InstanceConnection, paths: InstancePaths): Promise<void> {
  await connection.ssh.exec(`pid="$(cat ${quote(paths.runPid)} 2>/dev/null)" && kill -TERM -- "-$pid" 2>/dev/null; true`);
}
