/**
 * Task: a handle on one submitted task, as `flow.run()` returns it: the seed's fields (camelCase)
 * and its methods (refresh, wait, logs, stop/cancel, ssh, getInstances, getUser, result).
 *
 * Fields are a snapshot: they change when a method talks to the provider (refresh, wait, cancel,
 * the end of a followed log), never behind the caller's back.
 */
import { CancelledError, FlowError, FlowTimeoutError, ProviderError } from "../errors.ts";
import type { FollowLogsOptions, ForwardPortsOptions, LogSource, LogStream, PortForwards, ShellOptions, TaskProvider } from "../providers/task-provider.ts";
import { sleep } from "../sleep.ts";
import type { Instance } from "../task/instance.ts";
import type { TaskConfig } from "../task/task-config.ts";
import type { TaskHandle, WaitOptions } from "../task/task-handle.ts";
import type { TaskAttempt, TaskInfo } from "../task/task-info.ts";
import { isTerminalStatus, type TaskStatus } from "../task/task-status.ts";
import type { User } from "../task/user.ts";

export const DEFAULT_LOG_TAIL_LINES = 100;
/** How much of stderr a failed task's error carries. */
const FAILURE_STDERR_LINES = 20;

export interface LogsOptions {
  /** The last this many lines (default 100); with `follow`, what is printed before new lines. */
  tail?: number;
  /** Keep reading new lines until the task ends: an async iterable instead of one string. */
  follow?: boolean;
  /** Read stderr instead of stdout. */
  stderr?: boolean;
  /**
   * "startup": how the machine was prepared (on the cloud, the boot log that says why a task
   * never started) instead of the command's output; one stream, so `stderr` does not apply.
   */
  source?: LogSource;
  /** Which node of a multi-node task (0-based; default 0). */
  node?: number;
  /** Stops a followed stream early. */
  signal?: AbortSignal;
  /**
   * With `follow`: a task that has not started yet (on the cloud: its bid waits for an instance,
   * the instance boots) is waited for, however long that takes. This is called each time its
   * state is checked meanwhile, with the task refreshed: `task.message` says what it waits for.
   */
  onWaiting?: (task: Task) => void;
}

export class Task implements TaskHandle<void> {
  readonly #provider: TaskProvider;
  #info: TaskInfo;
  /** Port forwards this handle opened (forwardPorts), by task port. */
  readonly #forwarded = new Map<string, string>();

  constructor(info: TaskInfo, provider: TaskProvider) {
    this.#info = info;
    this.#provider = provider;
  }

  get taskId(): string { return this.#info.taskId; }
  get name(): string { return this.#info.name; }
  get status(): TaskStatus { return this.#info.status; }
  get config(): TaskConfig | undefined { return this.#info.config; }
  get createdAt(): Date { return this.#info.createdAt; }
  get startedAt(): Date | undefined { return this.#info.startedAt; }
  get completedAt(): Date | undefined { return this.#info.completedAt; }
  get instanceCreatedAt(): Date | undefined { return this.#info.instanceCreatedAt; }
  get instanceType(): string { return this.#info.instanceType; }
  get numInstances(): number { return this.#info.numInstances; }
  get region(): string { return this.#info.region; }
  get costPerHour(): string { return this.#info.costPerHour; }
  get totalCost(): string | undefined { return this.#info.totalCost; }
  get createdBy(): string | undefined { return this.#info.createdBy; }
  get sshHost(): string | undefined { return this.#info.sshHost; }
  get sshPort(): number | undefined { return this.#info.sshPort; }
  get sshUser(): string | undefined { return this.#info.sshUser; }
  get shellCommand(): string | undefined { return this.#info.shellCommand; }
  /** Task port → URL on this machine: what the provider exposes, and the forwards forwardPorts() holds open. */
  get endpoints(): Readonly<Record<string, string>> { return { ...this.#info.endpoints, ...Object.fromEntries(this.#forwarded) }; }
  /** Which attempt runs now, when the task is retried on failures of its machine (`retries`). */
  get attempt(): number | undefined { return this.#info.attempt; }
  /** Every attempt so far, oldest first, once there was more than one. */
  get attempts(): readonly TaskAttempt[] | undefined { return this.#info.attempts; }
  get instances(): readonly string[] { return this.#info.instances; }
  get message(): string | undefined { return this.#info.message; }
  get exitCode(): number | undefined { return this.#info.exitCode; }
  get providerMetadata(): Readonly<Record<string, unknown>> { return this.#info.providerMetadata; }

  get isRunning(): boolean {
    return this.#info.status === "running";
  }

  get isTerminal(): boolean {
    return isTerminalStatus(this.#info.status);
  }

  /** Fetch the task's current state from the provider (on the cloud, a finished command's exit code from its instance). */
  async refresh(): Promise<void> {
    this.#learn(await currentInfo(this.#provider, this.taskId));
  }

  /** Resolves once the task has ended (completed, failed or cancelled). */
  async wait(options: WaitOptions = {}): Promise<void> {
    const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
    await this.refresh();
    while (!this.isTerminal) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new FlowTimeoutError(`Task ${this.taskId} did not finish within ${options.timeoutMs} ms (it is ${this.status}).`, {
          suggestions: [`It keeps running: wait again, follow it with \`flow logs ${this.taskId} -f\`, or stop it with \`flow cancel ${this.taskId}\`.`],
          errorCode: "task_wait_timeout",
        });
      }
      await sleep(Math.min(this.#provider.statusPollIntervalMs, left));
      await this.refresh();
    }
  }

  /**
   * The last `tail` lines of stdout (or stderr), or with `follow: true` an async iterable of
   * lines that ends when the task does. Following a task that has not started waits for it to
   * start; one that ends without starting (cancelled while it waited) yields no lines, and its
   * `status` and `message` say why.
   */
  logs(options: LogsOptions & { follow: true }): AsyncIterable<string>;
  logs(options?: LogsOptions & { follow?: false }): Promise<string>;
  logs(options: LogsOptions): Promise<string> | AsyncIterable<string>;
  logs(options: LogsOptions = {}): Promise<string> | AsyncIterable<string> {
    const stream: LogStream = options.stderr ? "stderr" : "stdout";
    const tail = options.tail ?? DEFAULT_LOG_TAIL_LINES;
    const where = { ...(options.source === undefined ? {} : { source: options.source }), ...(options.node === undefined ? {} : { node: options.node }) };
    if (!options.follow) return this.#provider.readLogs(this.taskId, { stream, tail, ...where });
    const { onWaiting } = options;
    return this.#follow({
      stream,
      tail,
      ...where,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onWaiting: (info) => {
        this.#learn(info);
        onWaiting?.(this);
      },
    });
  }

  /**
   * Takes a newer snapshot, except that a task seen ended stays ended: answers asked for at the
   * same time (`flow run --wait` refreshes from its status poll and from both followed streams) can
   * arrive out of order, and one taken before the end must not undo it.
   */
  #learn(info: TaskInfo): void {
    if (this.isTerminal && !isTerminalStatus(info.status)) return;
    this.#info = info;
  }

  /**
   * Until the task ends: a follow that ends before it (the machine was lost and the task is
   * retried on a new one) is taken up again, with the new attempt's output from its start.
   */
  async *#follow(options: FollowLogsOptions): AsyncIterable<string> {
    for (let tail = options.tail; ; ) {
      const attempt = this.attempt;
      yield* this.#provider.followLogs(this.taskId, { ...options, tail });
      await this.refresh();
      if (this.isTerminal || options.signal?.aborted) return;
      // The same attempt again (a dropped connection): only what is new; a new attempt: all of it.
      tail = this.attempt === attempt ? 0 : Number.MAX_SAFE_INTEGER;
    }
  }

  /**
   * Makes the task's `ports` reachable from this machine while it runs: on the cloud through an
   * SSH port-forward to its node (node 0 unless given), held open until the returned forwards
   * are closed (or the machine goes). Its URLs are in `endpoints` meanwhile.
   */
  async forwardPorts(options: ForwardPortsOptions = {}): Promise<PortForwards> {
    const forwards = await this.#provider.forwardPorts(this.taskId, options);
    for (const [port, url] of Object.entries(forwards.endpoints)) this.#forwarded.set(port, url);
    const forget = () => {
      for (const port of Object.keys(forwards.endpoints)) this.#forwarded.delete(port);
    };
    void forwards.closed.then(forget);
    return {
      endpoints: forwards.endpoints,
      closed: forwards.closed,
      close: async () => {
        forget();
        await forwards.close();
      },
    };
  }

  /** Stop the task. Resolves once it is cancelled (or had already ended). */
  async stop(): Promise<void> {
    this.#learn(await this.#provider.cancel(this.taskId));
  }

  /** Alias of stop(). */
  cancel(): Promise<void> {
    return this.stop();
  }

  /**
   * Stops a running task's instances, keeping their disks; they stop billing. On the cloud,
   * resume() boots the same instances again and the command starts over.
   */
  async pause(): Promise<void> {
    const { pause } = this.#provider;
    if (pause === undefined) throw this.#cannot("pause");
    this.#learn(await pause.call(this.#provider, this.taskId));
  }

  async resume(): Promise<void> {
    const { resume } = this.#provider;
    if (resume === undefined) throw this.#cannot("resume");
    this.#learn(await resume.call(this.#provider, this.taskId));
  }

  /** The most it may cost per instance-hour, in dollars (a spot bid's limit price): raise it when outbid. */
  async setMaxPrice(dollarsPerHour: number): Promise<void> {
    const { setMaxPrice } = this.#provider;
    if (setMaxPrice === undefined) throw this.#cannot("reprice");
    this.#learn(await setMaxPrice.call(this.#provider, this.taskId, dollarsPerHour));
  }

  #cannot(what: string): ProviderError {
    return new ProviderError(`The ${this.#provider.name} provider cannot ${what} tasks.`, {
      suggestions: ["pause, resume and repricing are for cloud tasks (--provider fcp)"],
      errorCode: "not_supported",
    });
  }

  /** An interactive shell on the task's instance (`node` for multi-node), or one `command` there. */
  ssh(options: ShellOptions = {}): Promise<void> {
    return this.#provider.shell(this.taskId, options);
  }

  getInstances(): Promise<Instance[]> {
    return this.#provider.getInstances(this.taskId);
  }

  async getUser(): Promise<User | undefined> {
    return this.createdBy === undefined ? undefined : this.#provider.getUser(this.createdBy);
  }

  /**
   * Waits for the task; resolves if it completed. A failed task rejects with a FlowError
   * carrying its exit code and the end of its stderr, a cancelled one with CancelledError.
   * (A command has no value to return; a spawned function call's result() resolves with one.)
   */
  async result(): Promise<void> {
    await this.wait();
    if (this.status === "completed") return;
    if (this.status === "cancelled") throw new CancelledError(`Task ${this.taskId} was cancelled.`);
    const stderr = (await this.#provider.readLogs(this.taskId, { stream: "stderr", tail: FAILURE_STDERR_LINES })).trimEnd();
    throw new FlowError(`Task ${this.taskId} failed: ${this.message ?? "no reason given"}${stderr === "" ? "" : `\n${stderr}`}`, {
      suggestions: [`See its output with \`flow logs ${this.taskId}\` (and --stderr).`],
      errorCode: "task_failed",
    });
  }

  /** The snapshot as plain JSON (dates as ISO strings), for `--json` output and logs. */
  toJSON(): Record<string, unknown> {
    return JSON.parse(JSON.stringify(this.#info)) as Record<string, unknown>;
  }
}

/**
 * The task's fresh state: reconciled where the provider can learn more than its reads say (see
 * TaskProvider.reconcile). Everything a user asks of a task — its status, a wait, the end of a
 * followed log — needs the truth, not the last thing recorded.
 */
export function currentInfo(provider: TaskProvider, taskId: string): Promise<TaskInfo> {
  return provider.reconcile === undefined ? provider.getTask(taskId) : provider.reconcile(taskId);
}
