/**
 * The local provider's task side: command tasks run as processes on this machine, each under a
 * detached supervisor (task-supervisor.ts) that outlives the submitting process, with state and
 * logs under the flow home (flow-home.ts), so any later process (`flow status/logs/cancel` from
 * a new shell) can find, follow and stop them.
 *
 * What the local provider does not do (each refused with a ProviderError rather than ignored):
 * more than one instance, SSH (and so `sshKeys`), reserved capacity, interconnect choices. It
 * runs commands on this machine directly: `image` is not used, and the code is unpacked into the
 * task's workspace, which stands in for `workingDir` — and for the container's filesystem, where
 * volumes and data mounts appear (local-mounts.ts). Nor does it pretend to be a cloud: the
 * instance type (or GPU memory) a task asks for is checked for spelling but not applied, and the
 * task reports "local" as its instance type and region, with no catalog of types or prices.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, open, readdir, rm, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { ProviderError } from "../../errors.ts";
import { InstanceCatalog } from "../../instance-types/catalog.ts";
import { taskSupervisorPath } from "../../sdk-paths.ts";
import { sleep } from "../../sleep.ts";
import type { Instance } from "../../task/instance.ts";
import { redactEnv } from "../../task/secret-env.ts";
import { commandKind, DEFAULT_COMMAND, MAX_TASK_NAME_LENGTH, type TaskConfig } from "../../task/task-config.ts";
import type { TaskInfo } from "../../task/task-info.ts";
import { isTerminalStatus, type TaskStatus } from "../../task/task-status.ts";
import type { User } from "../../task/user.ts";
import type { CreateVolumeOptions, Volume } from "../../task/volume.ts";
import type { FollowLogsOptions, ForwardPortsOptions, PortForwards, ReadLogsOptions, SubmitRequest, TaskProvider } from "../task-provider.ts";
import { planLocalMounts, type LocalMounts } from "./local-mounts.ts";
import { resolveFlowHome, taskPaths, tasksDir, type TaskPaths } from "../flow-home.ts";
import { followLines, tailLines } from "./log-files.ts";
import { LocalVolumes } from "./local-volumes.ts";
import { groupHolds, isSupervisorAlive, killGroup } from "../processes.ts";
import { localTaskEnv, LOCAL_MAIN_IP } from "./task-env.ts";
import { DISK_FULL, diskFullError, freeBytes, isDiskFull } from "../record-files.ts";
import {
  keepTaskState,
  newTaskId,
  notFound,
  readTaskState,
  RECORD_RESERVE_BYTES,
  taskInfoFromState,
  TASK_ID,
  TASK_STATE_INVALID,
  writeTaskState,
  type LocalTaskState,
} from "./task-state.ts";

/** Local tasks cost nothing. */
const LOCAL_PRICE = "$0.00";
/** Where a local task runs, as its instance type and region: this machine, whatever it has. */
const LOCAL_INSTANCE_TYPE = "local";
const LOCAL_REGION = "local";
/** A supervisor that has not shown up by then (it records its pid within milliseconds) never will. */
const SUPERVISOR_START_LIMIT_MS = 60_000;
/** How long cancel waits for the supervisor to record the end before doing it itself. */
const CANCEL_LIMIT_MS = 10_000;
const POLL_INTERVAL_MS = 100;

export interface LocalTaskRunnerOptions {
  /** Where tasks and volumes live; FLOW_HOME, else ~/.flow. */
  flowHome?: string;
  /** The environment tasks take PATH, HOME and the like from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /**
   * Told about what is skipped rather than failing the whole command (a damaged task record in
   * a listing); each at most once per runner. Written to stderr as `flow: warning: …` by default.
   */
  onWarning?: (message: string) => void;
}

export class LocalTaskRunner implements TaskProvider {
  readonly name = "local";
  readonly statusPollIntervalMs = POLL_INTERVAL_MS;
  readonly home: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #volumes: LocalVolumes;
  readonly #warn: (message: string) => void;
  /** Damaged records already warned about. */
  readonly #skipped = new Set<string>();

  constructor(options: LocalTaskRunnerOptions = {}) {
    this.#env = options.env ?? process.env;
    this.#warn = options.onWarning ?? ((message) => process.stderr.write(`flow: warning: ${message}\n`));
    this.home = resolveFlowHome(options.flowHome, this.#env);
    this.#volumes = new LocalVolumes(this.home);
  }

  async submit({ config, code: packaged }: SubmitRequest): Promise<TaskInfo> {
    refuseUnsupported(config);
    // A developer VM and `uploadStrategy: none` upload no code (as on the cloud).
    const devVm = config.devVm ?? /^(1|true|yes|on)$/i.test(this.#env["FLOW_DEV_VM"]?.trim() ?? "");
    const code = devVm || config.uploadStrategy === "none" ? undefined : packaged;
    const mounts = await planLocalMounts(config, this.#volumes, this.#env, process.cwd());
    const taskId = newTaskId();
    const name = config.uniqueName ? uniqueName(config.name, taskId) : config.name;
    const paths = taskPaths(this.home, taskId);
    await mkdir(tasksDir(this.home), { recursive: true, mode: 0o700 });
    // The code package, the record and the supervisor's reserve for the final record, at least.
    const neededBytes = (code?.archive.byteLength ?? 0) + 2 * RECORD_RESERVE_BYTES;
    const free = await freeBytes(this.home);
    if (free !== undefined && free < neededBytes) throw await diskFullError(this.home, { neededBytes, what: "the task was not submitted" });
    let state: LocalTaskState;
    try {
      state = await this.#prepare(taskId, name, config, code, paths);
    } catch (error) {
      // Nothing half-made is left for listings to trip over.
      await rm(paths.dir, { recursive: true, force: true });
      if (isDiskFull(error) || (error instanceof ProviderError && error.errorCode === DISK_FULL)) {
        throw await diskFullError(this.home, { neededBytes, what: "the task was not submitted", cause: error });
      }
      throw error;
    }
    await this.#startSupervisor(paths, localTaskEnv({ taskId, name, config }, this.#env), mounts);
    return taskInfoFromState(state, paths.workspace);
  }

  /** The task's directory: code package, empty logs, and its first record (pending). */
  async #prepare(taskId: string, name: string, config: TaskConfig, code: SubmitRequest["code"], paths: TaskPaths): Promise<LocalTaskState> {
    await mkdir(paths.dir, { mode: 0o700 });
    if (code !== undefined) await writeFile(paths.code, code.archive, { mode: 0o600 });
    await writeFile(paths.stdout, "", { mode: 0o600 });
    await writeFile(paths.stderr, "", { mode: 0o600 });

    const state: LocalTaskState = {
      version: 1,
      taskId,
      name,
      status: "pending",
      config: { ...config, env: redactEnv(config.env) },
      argv: await commandArgv(config, paths),
      ...(config.maxRunTimeHours ? { maxRunTimeMs: config.maxRunTimeHours * 3_600_000 } : {}),
      ...(config.deadlineHours === undefined ? {} : { deadline: new Date(Date.now() + config.deadlineHours * 3_600_000).toISOString() }),
      instanceType: LOCAL_INSTANCE_TYPE,
      region: LOCAL_REGION,
      costPerHour: LOCAL_PRICE,
      createdBy: currentUser(),
      createdAt: new Date().toISOString(),
    };
    await writeTaskState(paths.state, state, this.home);
    return state;
  }

  /**
   * Detached and unref'd: the supervisor lives on when this process exits. Its environment (with
   * the task's secret values) and its mounts (with S3 credentials) go through its stdin, so they
   * are never written to disk and do not configure the supervisor's own Node (NODE_OPTIONS in a
   * task's env is the task's).
   */
  async #startSupervisor(paths: TaskPaths, env: Record<string, string>, mounts: LocalMounts): Promise<void> {
    const script = taskSupervisorPath();
    if (!existsSync(script)) throw new ProviderError(`The local task supervisor ${script} is missing.`, { suggestions: ["Build flow-sdk: npm run build."] });
    const log = await open(paths.supervisorLog, "a", 0o600);
    try {
      const supervisor = spawn(process.execPath, [script, paths.dir], {
        detached: true,
        stdio: ["pipe", "ignore", log.fd],
        env: { PATH: this.#env["PATH"] ?? "" },
      });
      await once(supervisor, "spawn");
      // Resolves once the handover is in the pipe, so exiting right after submit loses nothing.
      await new Promise<void>((resolve, reject) => supervisor.stdin!.end(JSON.stringify({ env, mounts }), (error?: Error | null) => (error ? reject(error) : resolve())));
      supervisor.unref();
    } finally {
      await log.close();
    }
  }

  /** What the task's record says: a read, with nothing written or stopped. */
  async getTask(idOrName: string): Promise<TaskInfo> {
    const state = await this.#state(idOrName);
    return taskInfoFromState(state, taskPaths(this.home, state.taskId).workspace);
  }

  /** Brings the record up to date, then answers as getTask: a task whose supervisor died is recorded as failed. */
  async reconcile(idOrName: string): Promise<TaskInfo> {
    const state = await this.#checkSupervisor(await this.#state(idOrName));
    return taskInfoFromState(state, taskPaths(this.home, state.taskId).workspace);
  }

  async listTasks(filter: { status?: TaskStatus; limit: number }): Promise<TaskInfo[]> {
    const states = await Promise.all((await this.#taskIds()).map((id) => this.#readIfPresent(id)));
    const newestFirst = states.filter((s) => s !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return newestFirst
      .filter((state) => filter.status === undefined || state.status === filter.status)
      .slice(0, filter.limit)
      .map((state) => taskInfoFromState(state, taskPaths(this.home, state.taskId).workspace));
  }

  /**
   * Asks the supervisor to stop the task (SIGTERM; it kills the command's process group and
   * records "cancelled"). A marker file covers a supervisor that has not recorded its pid yet;
   * a supervisor that is gone, or does not answer in time, is done without.
   */
  async cancel(idOrName: string): Promise<TaskInfo> {
    let state = await this.#state(idOrName);
    const paths = taskPaths(this.home, state.taskId);
    if (isTerminalStatus(state.status)) return taskInfoFromState(state, paths.workspace);
    // Empty: it takes no space, so a cancel works on a full disk too.
    await writeFile(paths.cancelRequested, "", { mode: 0o600 });
    const deadline = Date.now() + CANCEL_LIMIT_MS;
    let signalled = false;
    while (!isTerminalStatus(state.status) && Date.now() < deadline) {
      const pid = state.supervisorPid;
      if (pid !== undefined && !isSupervisorAlive(pid)) break;
      if (pid !== undefined && !signalled) {
        signalled = true;
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // It exited just now; the next read shows how.
        }
      }
      await sleep(POLL_INTERVAL_MS);
      state = await readTaskState(paths.state, state.taskId);
    }
    if (!isTerminalStatus(state.status)) {
      killCommandGroup(state);
      state = { ...state, status: "cancelled", completedAt: new Date().toISOString(), message: "cancelled (its supervisor did not answer)" };
      await keepTaskState(paths.state, state, this.home);
    }
    return taskInfoFromState(state, paths.workspace);
  }

  async readLogs(idOrName: string, options: ReadLogsOptions): Promise<string> {
    const { taskId } = await this.#state(idOrName);
    refuseOtherNodes(options.node);
    const lines = await tailLines(logPath(taskPaths(this.home, taskId), options), options.tail).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
  }

  async *followLogs(idOrName: string, options: FollowLogsOptions): AsyncIterable<string> {
    const { taskId } = await this.#state(idOrName);
    refuseOtherNodes(options.node);
    yield* followLines(logPath(taskPaths(this.home, taskId), options), {
      tail: options.tail,
      pollIntervalMs: POLL_INTERVAL_MS,
      isDone: async () => isTerminalStatus((await this.getTask(taskId)).status),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  async getInstances(idOrName: string): Promise<Instance[]> {
    const task = await this.getTask(idOrName);
    const status = task.status === "running" ? "running" : isTerminalStatus(task.status) ? "terminated" : "pending";
    return [
      {
        instanceId: `${task.taskId}-0`,
        taskId: task.taskId,
        status,
        privateIp: LOCAL_MAIN_IP,
        instanceType: task.instanceType,
        region: task.region,
        createdAt: task.startedAt ?? task.createdAt,
        ...(task.completedAt === undefined ? {} : { terminatedAt: task.completedAt }),
      },
    ];
  }

  async getUser(userId: string): Promise<User | undefined> {
    return userId === currentUser() ? { userId, username: userInfo().username, email: "" } : undefined;
  }

  async shell(idOrName: string): Promise<void> {
    const task = await this.getTask(idOrName);
    throw new ProviderError("SSH is not available on the local provider: the task runs on this machine.", {
      suggestions: [
        `Follow its output with \`flow logs ${task.taskId} -f\`.`,
        `Its files are in ${String(task.providerMetadata["workspace"])}.`,
      ],
      errorCode: "ssh_unavailable",
    });
  }

  /** A local task's ports are this machine's already: the endpoints name them, nothing is forwarded. */
  async forwardPorts(idOrName: string, options: ForwardPortsOptions): Promise<PortForwards> {
    const task = await this.getTask(idOrName);
    const declared = task.config?.ports ?? [];
    const ports = options.ports ?? declared;
    const undeclared = ports.filter((port) => !declared.includes(port));
    if (ports.length === 0 || undeclared.length > 0) {
      throw new ProviderError(ports.length === 0 ? `Task ${task.taskId} exposes no ports.` : `Task ${task.taskId} does not expose port ${undeclared.join(", ")} (its ports: ${declared.join(", ") || "none"}).`, {
        suggestions: ["list the ports the task serves on, e.g. `ports: [8888]`"],
      });
    }
    refuseOtherNodes(options.node);
    if (options.localPorts !== undefined && options.localPorts.some((local, i) => local !== ports[i])) {
      throw new ProviderError("A local task's ports are this machine's own: they cannot be moved to other local ports.", {
        suggestions: ["leave out the local ports (--local-port); the task serves on its ports here"],
        errorCode: "unsupported_on_local",
      });
    }
    return {
      endpoints: Object.fromEntries(ports.map((port) => [String(port), `http://127.0.0.1:${port}`])),
      close: async () => {},
      closed: new Promise<void>(() => {}),
    };
  }

  createVolume(options: CreateVolumeOptions): Promise<Volume> {
    return this.#volumes.create(options);
  }

  listVolumes(): Promise<Volume[]> {
    return this.#volumes.list();
  }

  deleteVolume(idOrName: string): Promise<void> {
    return this.#volumes.delete(idOrName);
  }

  /** None: tasks run on this machine, whatever it has, and cost nothing. */
  async catalog(): Promise<InstanceCatalog> {
    return new InstanceCatalog([]);
  }

  /** By id, else the newest task with that name. */
  async #state(idOrName: string): Promise<LocalTaskState> {
    if (TASK_ID.test(idOrName)) return readTaskState(taskPaths(this.home, idOrName).state, idOrName);
    const states = await Promise.all((await this.#taskIds()).map((id) => this.#readIfPresent(id)));
    const named = states.filter((s) => s?.name === idOrName).sort((a, b) => b!.createdAt.localeCompare(a!.createdAt))[0];
    if (named === undefined) throw notFound(idOrName);
    return named;
  }

  async #taskIds(): Promise<string[]> {
    return (await readdir(tasksDir(this.home)).catch(() => [] as string[])).filter((id) => TASK_ID.test(id));
  }

  /**
   * For listings and name lookups. A directory whose record is not written yet is a task being
   * submitted right now: skipped. A damaged record is skipped too, with a warning naming it: one
   * bad file must not hide every other task.
   */
  async #readIfPresent(taskId: string): Promise<LocalTaskState | undefined> {
    const file = taskPaths(this.home, taskId).state;
    if (!existsSync(file)) return undefined;
    try {
      return await readTaskState(file, taskId);
    } catch (error) {
      if (!(error instanceof ProviderError && error.errorCode === TASK_STATE_INVALID)) throw error;
      if (!this.#skipped.has(file)) {
        this.#skipped.add(file);
        this.#warn(`${error.message}; skipped it (delete ${taskPaths(this.home, taskId).dir} if you no longer need it)`);
      }
      return undefined;
    }
  }

  /**
   * A task whose supervisor died (killed, machine rebooted) would otherwise stay "running"
   * forever. Its loss is recorded, and whatever it left running is stopped.
   */
  async #checkSupervisor(state: LocalTaskState): Promise<LocalTaskState> {
    if (isTerminalStatus(state.status)) return state;
    const { supervisorPid } = state;
    const stale =
      supervisorPid === undefined
        ? Date.now() - Date.parse(state.createdAt) > SUPERVISOR_START_LIMIT_MS
        : !isSupervisorAlive(supervisorPid);
    if (!stale) return state;
    const paths = taskPaths(this.home, state.taskId);
    // The supervisor writes the final state before it exits: read again before calling it lost.
    const latest = await readTaskState(paths.state, state.taskId);
    if (isTerminalStatus(latest.status)) return latest;
    killCommandGroup(latest);
    const lost: LocalTaskState = {
      ...latest,
      status: "failed",
      completedAt: new Date().toISOString(),
      message:
        supervisorPid === undefined
          ? "the task never started: its supervisor did not come up (see supervisor.log in its directory)"
          : `its supervisor (pid ${supervisorPid}) exited unexpectedly, so its exit status is unknown`,
    };
    await keepTaskState(paths.state, lost, this.home);
    return lost;
  }
}

/**
 * Kills what is left of a task whose supervisor is gone: its command's process group, but only
 * while the group is still the task's, as the supervisor may have died long ago (a reboot).
 */
function killCommandGroup(state: LocalTaskState): void {
  if (state.pid !== undefined && groupHolds(state.pid, `FLOW_TASK_ID=${state.taskId}`)) killGroup(state.pid, "SIGKILL");
}

function refuseUnsupported(config: TaskConfig): void {
  const unsupported = [
    ...(config.numInstances > 1 ? [`numInstances: ${config.numInstances} (it runs one instance)`] : []),
    ...(config.sshKeys.length > 0 ? ["sshKeys (there is no SSH: the task runs on this machine)"] : []),
    ...(config.allocationMode !== "spot" ? [`allocationMode: ${config.allocationMode} (reserved capacity is the cloud's)`] : []),
    ...(config.internodeInterconnect === undefined ? [] : ["internodeInterconnect (there is one node, this machine)"]),
    ...(config.intranodeInterconnect === undefined ? [] : ["intranodeInterconnect (the GPUs are this machine's)"]),
  ];
  if (unsupported.length === 0) return;
  throw new ProviderError(`The local provider does not support ${unsupported.join(", ")}.`, {
    suggestions: ["Remove them to try the task locally, or run it on the cloud provider."],
    errorCode: "unsupported_on_local",
  });
}

/** One node: node 0 is the task itself. */
function refuseOtherNodes(node: number | undefined): void {
  if (node !== undefined && node !== 0) {
    throw new ProviderError(`A local task has one node (0), not node ${node}.`, { errorCode: "unsupported_on_local" });
  }
}

/** The command's output, or for `source: "startup"` the supervisor's log: how the task was started. */
function logPath(paths: TaskPaths, options: ReadLogsOptions): string {
  return options.source === "startup" ? paths.supervisorLog : paths[options.stream];
}

/**
 * What the supervisor executes: an argv as it is; a one-line command through the shell; a
 * script written to a file and run by its shebang (or bash without one).
 */
async function commandArgv(config: TaskConfig, paths: TaskPaths): Promise<string[]> {
  const { command } = config;
  const kind = commandKind(config);
  if (command === undefined) return [...DEFAULT_COMMAND];
  if (Array.isArray(command)) return command;
  if (kind === "shell") return [shell(), "-c", command];
  const script = command.trimStart();
  await writeFile(paths.script, script.endsWith("\n") ? script : `${script}\n`, { mode: 0o700 });
  return script.startsWith("#!") ? [paths.script] : [shell(), paths.script];
}

/** bash, as on the cloud's images, where there is one; POSIX sh otherwise. */
function shell(): string {
  return existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";
}

function uniqueName(name: string, taskId: string): string {
  const suffix = taskId.slice(-6);
  return `${name.slice(0, MAX_TASK_NAME_LENGTH - suffix.length - 1)}-${suffix}`;
}

function currentUser(): string {
  return `local:${userInfo().username}`;
}
