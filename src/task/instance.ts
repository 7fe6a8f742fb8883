/**
 * One compute instance of a task (a multi-node task has several), as `task.getInstances()` returns.
 */
export type InstanceStatus = "pending" | "running" | "stopped" | "terminated";

export interface Instance {
  instanceId: string;
  taskId: string;
  status: InstanceStatus;
  /** Public hostname or IP for SSH; undefined until the instance is reachable. */
  sshHost?: string;
  sshPort?: number;
  sshUser?: string;
  /** The VPC-internal address other nodes of the task reach it at. */
  privateIp?: string;
  instanceType: string;
  region: string;
  createdAt: Date;
  terminatedAt?: Date;
}
