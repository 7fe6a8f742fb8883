/**
 * What a provider knows about a task at one moment: the seed's Task fields, camelCase. A Task
 * (task.ts) holds one of these and replaces it on every refresh.
 */
import type { TaskConfig } from "./task-config.ts";
import type { TaskStatus } from "./task-status.ts";

/** One try at running a task: on the cloud, one spot bid. A retried task has several. */
export interface TaskAttempt {
  /** 1-based. */
  attempt: number;
  /** What ran it: the bid's FID on the cloud. */
  id: string;
  startedAt: Date;
  endedAt?: Date;
  /** How it ended, in words, when it ended without the task ending (preempted, instance lost). */
  outcome?: string;
}

export interface TaskInfo {
  taskId: string;
  /** The name the task runs under (with its unique suffix when `uniqueName` was set). */
  name: string;
  status: TaskStatus;
  /** The submitted config. Secret-looking env values are redacted (see secret-env.ts). */
  config?: TaskConfig;
  createdAt: Date;
  startedAt?: Date;
  completedAt?: Date;
  /** When the current instance was created: later than startedAt after a preemption restart. */
  instanceCreatedAt?: Date;
  /** The provider's name for the type it runs on, e.g. `"a100-80gb.sxm.1x"`. */
  instanceType: string;
  numInstances: number;
  region: string;
  /** Dollar string, as the API writes prices: `"$2.00"`. */
  costPerHour: string;
  totalCost?: string;
  /** User id of the creator. */
  createdBy?: string;
  sshHost?: string;
  sshPort?: number;
  sshUser?: string;
  /** The full command that opens a shell on the task, e.g. `ssh -p 22 ubuntu@54.1.2.3`. */
  shellCommand?: string;
  /** Service name → URL, for the task's exposed ports. */
  endpoints: Record<string, string>;
  /** Instance ids. */
  instances: string[];
  /** Why the task is in its state, in words: "exited with code 3", "cancelled by the user". */
  message?: string;
  /** The main process's exit code, once it has exited (128 + n when killed by signal n). */
  exitCode?: number;
  /** Which attempt runs now (1-based), when the provider retries tasks (`retries`). */
  attempt?: number;
  /** Every attempt so far, oldest first; absent when there was only ever one. */
  attempts?: TaskAttempt[];
  /** Provider-specific details (local: pid, workspace; cloud: bid status, preemption reasons). */
  providerMetadata: Record<string, unknown>;
}
