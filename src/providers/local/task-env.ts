/**
 * The environment a local task runs with: what any machine has (PATH, HOME, locale…), the task's
 * `env`, and the FLOW_* variables a cloud instance sets. Nothing else from the submitting shell,
 * so that FLOW_API_KEY and other credentials there do not leak into tasks (and their logs), and
 * so that a task that works here does not secretly depend on this shell.
 */
import type { TaskConfig } from "../../task/task-config.ts";

const PASSED_ENV = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "LANG", "LC_ALL", "TZ", "TERM"];

/** A local task is one node on this machine. */
export const LOCAL_MAIN_IP = "127.0.0.1";

export function localTaskEnv(
  task: { taskId: string; name: string; config: Pick<TaskConfig, "env"> },
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  return {
    ...env,
    ...task.config.env,
    FLOW_TASK_ID: task.taskId,
    FLOW_TASK_NAME: task.name,
    FLOW_NODE_RANK: "0",
    FLOW_NUM_NODES: "1",
    FLOW_MAIN_IP: LOCAL_MAIN_IP,
  };
}
