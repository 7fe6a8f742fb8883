/**
 * Flow's state directory: `~/.flow`, or FLOW_HOME, or an explicit option (tests use a temp dir).
 * Only this machine's user can read it (0700): task records hold the task's config, and its logs
 * whatever the task printed. Both providers keep their state here:
 *
 * ```
 * <home>/tasks/<taskId>/state.json      a local task's record (LocalTaskState), replaced atomically
 *                       stdout.log       the command's output, as written
 *                       stderr.log
 *                       code.tar.gz      the code package, unpacked into workspace/ at start
 *                       workspace/       the command's working directory
 *                       script           a multi-line command, written out to run
 *                       cancel-requested a cancel that arrived before the supervisor could act
 *                       supervisor.log   the supervisor's own errors, if it has any
 *                       reserve          space the supervisor holds, while the task runs, for its final record
 * <home>/volumes/<volumeId>/volume.json, data/    local volumes
 * <home>/fcp/tasks/<bid>.json           what this machine knows of a cloud task (fcp/task-records.ts)
 * <home>/fcp/open-bids/<name>.json      bids placed and not yet settled, with their process (fcp/bid-ledger.ts)
 * <home>/keys/flow-<project>            the generated SSH key per project (fcp/ssh/ssh-keys.ts)
 * ```
 *
 * The config file is not here: it stays in `~/.flow/config.yaml` whatever FLOW_HOME says.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export function resolveFlowHome(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined) return explicit;
  const fromEnv = env["FLOW_HOME"];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : join(homedir(), ".flow");
}

export function taskPaths(home: string, taskId: string) {
  return taskPathsIn(join(home, "tasks", taskId));
}

/** The files of the task whose directory is `dir`. */
export function taskPathsIn(dir: string) {
  return {
    dir,
    state: join(dir, "state.json"),
    stdout: join(dir, "stdout.log"),
    stderr: join(dir, "stderr.log"),
    code: join(dir, "code.tar.gz"),
    workspace: join(dir, "workspace"),
    script: join(dir, "script"),
    cancelRequested: join(dir, "cancel-requested"),
    supervisorLog: join(dir, "supervisor.log"),
    reserve: join(dir, "reserve"),
  };
}

export type TaskPaths = ReturnType<typeof taskPaths>;

export function tasksDir(home: string): string {
  return join(home, "tasks");
}

export function volumesDir(home: string): string {
  return join(home, "volumes");
}
