/**
 * TaskProvider: what Flow needs from a place that runs tasks. The local provider runs them as
 * processes on this machine (providers/local/task-runner.ts), the cloud provider on spot
 * instances (providers/fcp/fcp-task-provider.ts). Everything is by task id, so a handle can be
 * rebuilt from a new process.
 *
 * Reads are reads: getTask and listTasks answer from what the provider's API and records say,
 * and change nothing. Learning more than that (asking an instance how its command ended) and
 * acting on it is reconcile(), which callers invoke where they need the task's fresh truth.
 */
import type { InstanceCatalog } from "../instance-types/catalog.ts";
import type { CloudAccount, DevMachines } from "./cloud-account.ts";
import type { CodePackage } from "../task/code-package.ts";
import type { Instance } from "../task/instance.ts";
import type { TaskConfig } from "../task/task-config.ts";
import type { TaskInfo } from "../task/task-info.ts";
import type { TaskStatus } from "../task/task-status.ts";
import type { User } from "../task/user.ts";
import type { CreateVolumeOptions, Volume } from "../task/volume.ts";

export type LogStream = "stdout" | "stderr";

export interface SubmitRequest {
  config: TaskConfig;
  /** The code root, packaged; absent when `uploadCode` is false. */
  code?: CodePackage;
}

export interface ReadLogsOptions {
  stream: LogStream;
  /** The last this many lines. */
  tail: number;
  /**
   * "task" (default): the command's output. "startup": how the machine was prepared (on the cloud
   * the startup script's log, which says why a task never started; locally the supervisor's);
   * it is one stream, so `stream` does not apply to it.
   */
  source?: LogSource;
  /** Which node of a multi-node task (0-based; default 0). */
  node?: number;
}

export type LogSource = "task" | "startup";

export interface ForwardPortsOptions {
  /** The task's ports to forward; all of its `ports` by default. */
  ports?: number[];
  /** The local port for each of `ports`, in order; free ones are picked by default. */
  localPorts?: number[];
  /** Which node of a multi-node task (0-based; default 0). */
  node?: number;
}

/** Open forwards: task port → local URL, held until closed (or the task's machine goes away). */
export interface PortForwards {
  /** `"8888"` → `"http://127.0.0.1:41234"`. */
  endpoints: Record<string, string>;
  close(): Promise<void>;
  /** Resolves when the forwards stop (closed, or the connection to the machine dropped). */
  closed: Promise<void>;
}

export interface FollowLogsOptions extends ReadLogsOptions {
  /** Stops following (the iterator ends) when it fires. */
  signal?: AbortSignal;
  /**
   * While the task has not started (a cloud bid waiting for an instance, an instance booting),
   * called with its state each time the provider checks; its `message` says what it waits for.
   */
  onWaiting?: (info: TaskInfo) => void;
}

export interface ShellOptions {
  /** Run this instead of an interactive shell. */
  command?: string;
  /** Which instance of a multi-node task (0-based). */
  node?: number;
}

export interface TaskProvider {
  readonly name: string;
  /** How often waiting callers should ask for a task's status. */
  readonly statusPollIntervalMs: number;
  submit(request: SubmitRequest): Promise<TaskInfo>;
  /** Throws TaskNotFoundError for an unknown id. */
  getTask(taskId: string): Promise<TaskInfo>;
  /** Newest first. */
  listTasks(filter: { status?: TaskStatus; limit: number }): Promise<TaskInfo[]>;
  /**
   * Brings what is known of the task up to date, acting on what it finds, then answers as
   * getTask. On the cloud: records the exit code a finished command left on its instance (the
   * instance outlives the command by minutes only), and stops a bid that can no longer run the
   * task. A provider whose reads are always current leaves it out.
   */
  reconcile?(taskId: string): Promise<TaskInfo>;
  /** Stops the task; a task that already ended is left as it is. */
  cancel(taskId: string): Promise<TaskInfo>;
  readLogs(taskId: string, options: ReadLogsOptions): Promise<string>;
  /**
   * The last `tail` lines, then new lines as they are written, until the task ends. A task that
   * has not started yet is waited for, however long that takes; one that ends without ever
   * starting (cancelled while its bid waited) yields nothing.
   */
  followLogs(taskId: string, options: FollowLogsOptions): AsyncIterable<string>;
  getInstances(taskId: string): Promise<Instance[]>;
  getUser(userId: string): Promise<User | undefined>;
  /** An interactive shell (or `command`) on the task's instance, attached to this terminal. */
  shell(taskId: string, options: ShellOptions): Promise<void>;
  /** Makes the task's `ports` reachable from this machine (see ForwardPortsOptions). */
  forwardPorts(taskId: string, options: ForwardPortsOptions): Promise<PortForwards>;
  createVolume(options: CreateVolumeOptions): Promise<Volume>;
  listVolumes(): Promise<Volume[]>;
  /** By id or name. Throws ResourceNotFoundError when there is no such volume. */
  deleteVolume(idOrName: string): Promise<void>;
  /** By id or name. A provider that cannot rename volumes leaves it out. */
  renameVolume?(idOrName: string, name: string): Promise<Volume>;
  catalog(): Promise<InstanceCatalog>;
  /** Stops a running task's instances, keeping their disks; billing stops. Cloud providers only. */
  pause?(taskId: string): Promise<TaskInfo>;
  /** Boots a paused task's instances again; the command starts over. */
  resume?(taskId: string): Promise<TaskInfo>;
  /** The most the task may cost per instance-hour, in dollars: a spot bid's limit price. */
  setMaxPrice?(taskId: string, dollarsPerHour: number): Promise<TaskInfo>;
  /** Reservations, prices, quotas, SSH keys and the account: a cloud provider's. */
  readonly account?: CloudAccount;
  /** A persistent instance for interactive work (`flow dev`). */
  readonly devMachines?: DevMachines;
}
