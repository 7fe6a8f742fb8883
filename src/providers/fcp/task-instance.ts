import type { Instance as TaskInstance } from "../../task/instance.ts";
import type { Instance } from "./api/schemas.ts";
import { INSTANCE_SSH_USER } from "./instance-layout.ts";
import { parseSshDestination } from "./instance-launch.ts";
import { ENDED_INSTANCE_STATUSES } from "./task-status-from-api.ts";

/** One of a task's instances as the task API shows it, whether the task is a bid or runs on a reservation. */
export function taskInstance(instance: Instance, task: { taskId: string; instanceType: string; region: string }): TaskInstance {
  const ssh = instance.ssh_destination ? parseSshDestination(instance.ssh_destination) : undefined;
  const status =
    instance.status === "STATUS_RUNNING"
      ? "running"
      : ENDED_INSTANCE_STATUSES.has(instance.status)
        ? "terminated"
        : instance.status === "STATUS_PAUSED" || instance.status === "STATUS_STOPPING"
          ? "stopped"
          : "pending";
  return {
    instanceId: instance.fid,
    taskId: task.taskId,
    status,
    ...(ssh === undefined ? {} : { sshHost: ssh.host, sshPort: ssh.port, sshUser: INSTANCE_SSH_USER }),
    ...(instance.private_ip ? { privateIp: instance.private_ip } : {}),
    instanceType: task.instanceType,
    region: instance.region ?? task.region,
    createdAt: new Date(instance.created_at),
  };
}
