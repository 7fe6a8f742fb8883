/**
 * The environment a local task runs with: the machine's basics (machine-env.ts), the task's `env`,
 * and the FLOW_* variables a cloud instance sets.
 */
import type { TaskConfig } from "../../task/task-config.ts";
import { machineEnv } from "./machine-env.ts";

/** A local task is one node on this machine. */
export const LOCAL_MAIN_IP = "127.0.0.1";

export function localTaskEnv(
  task: { taskId: string; name: string; config: Pick<TaskConfig, "env"> },
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  return {
    ...machineEnv(from),
    ...task.config.env,
    FLOW_TASK_ID: task.taskId,
    FLOW_TASK_NAME: task.name,
    FLOW_NODE_RANK: "0",
    FLOW_NUM_NODES: "1",
    FLOW_MAIN_IP: LOCAL_MAIN_IP,
  };
}
