/**
 * Flow: the entry point of the task API.
 *
 * ```ts
 * const flow = new Flow();                                         // config from env and files
 * const task = await flow.run("python train.py", { instanceType: "a100" });
 * for await (const line of task.logs({ follow: true })) console.log(line);
 * ```
 *
 * Flow turns what the user wrote into a validated TaskConfig (task-source.ts), packages the code
 * root (code-package.ts), and hands both to its TaskProvider; everything else is by task id, so
 * `flow.getTask(id)` in a new process gives the same handle back.
 */
import path from "node:path";
import { backendFor } from "../backends.ts";
import { DetachedCall, isDetachedCallId } from "../calls/detached-call.ts";
import type { FlowConfig } from "../config/flow-config.ts";
import { loadConfig } from "../config/load-config.ts";
import { ProviderError, ValidationError } from "../errors.ts";
import type { InstanceCatalog } from "../instance-types/catalog.ts";
import { resolveFlowHome } from "../providers/flow-home.ts";
import { providerName } from "../providers/provider-name.ts";
import type {
  AccountProject,
  AccountUser,
  CloudAccount,
  DevMachine,
  DevMachineOptions,
  DevMachines,
  Pricing,
  Quota,
  Reservations,
  SshKeys,
} from "../providers/cloud-account.ts";
import type { TaskProvider } from "../providers/task-provider.ts";
import { packageCode } from "../task/code-package.ts";
import type { MountSpec } from "../task/mount-spec.ts";
import { resolveTaskConfig, type TaskOverrides, type TaskSource } from "../task/task-source.ts";
import type { TaskInfo } from "../task/task-info.ts";
import { isTerminalStatus, type TaskStatus } from "../task/task-status.ts";
import type { CreateVolumeOptions, Volume } from "../task/volume.ts";
import { currentInfo, Task } from "./task.ts";

export interface FlowOptions {
  /**
   * "local" (this machine), "fcp" (the Mithril GPU cloud) or a provider of your own. By default:
   * FLOW_PROVIDER, else `provider:` in the project's `.flow/config.yaml`, else in
   * `~/.flow/config.yaml`, else "local".
   */
  provider?: "local" | "fcp" | TaskProvider;
  /**
   * Progress of a cloud provider: what a bid buys and may cost before it is placed ("bidding for
   * 8 × H100 at up to $30.00/h …"), then "bid placed", uploads. By default written to stderr as
   * `flow: …`; pass `() => {}` to silence it.
   */
  onProgress?: (message: string) => void;
  /** Settings that win over FLOW_* env and config files (e.g. from CLI flags). */
  config?: Partial<FlowConfig>;
  /** Flow's state directory (local tasks and volumes, what it knows of cloud tasks, SSH keys); FLOW_HOME, else ~/.flow. */
  flowHome?: string;
  /** Where relative paths (task files, codeRoot) and `./.flow/config.yaml` are found from. */
  cwd?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Defaults to os.homedir(). */
  homeDir?: string;
}

/** Tasks reconciled at once while listing: each may mean an SSH login to its instance. */
const RECONCILE_BATCH = 10;

/** Where data is mounted when `submit` is given a single source. */
export const DEFAULT_DATA_TARGET = "/data";

export interface SubmitOptions extends TaskOverrides {
  /** The instance type, e.g. "a100" or "a100:4" (TaskConfig's `instanceType`). */
  gpu?: string;
  /** A source mounted at /data, or mount target → source: `{ "/models": "volume://pretrained" }`. */
  data?: string | Record<string, string>;
}

export interface ListTasksOptions {
  status?: TaskStatus;
  /** Newest first; 100 by default. */
  limit?: number;
}

export interface Volumes {
  create(options?: CreateVolumeOptions): Promise<Volume>;
  list(): Promise<Volume[]>;
  /** By id or name; refused while a task uses it, naming the task. */
  delete(idOrName: string): Promise<void>;
  /** By id or name. */
  rename(idOrName: string, name: string): Promise<Volume>;
}

/** A persistent instance for interactive work: `flow dev`. */
export interface Dev {
  /** The live dev machine (and when it stops itself), if there is one. */
  status(): Promise<DevMachine | undefined>;
  /**
   * Reuses the live dev machine (applying `idleMinutes` when given) or starts one; resolves
   * once it accepts commands, with a session open to it: attach() to it, or close() it.
   */
  start(options?: DevMachineOptions): Promise<DevConnection>;
  /** Stops the live dev machine; undefined when there was none. */
  stop(): Promise<Task | undefined>;
}

export interface DevConnection {
  readonly machine: DevMachine;
  /** Whether start() started the machine (false: it was up already). */
  readonly started: boolean;
  /**
   * Syncs the code root (`codeRoot`, else the working directory; not with `uploadCode: false`)
   * to the machine, then runs `command` there — or, without one, an interactive shell — attached
   * to this terminal, and ends the session. Resolves with the exit code.
   */
  attach(options?: { command?: string; codeRoot?: string; uploadCode?: boolean }): Promise<number>;
  /** Ends the session without running anything. */
  close(): void;
}

export class Flow {
  readonly config: FlowConfig;
  readonly provider: TaskProvider;
  readonly volumes: Volumes;
  /** Reserved capacity: quote, create, list, get, extend, pause/resume, cancel, history, usage. */
  readonly reservations: Reservations;
  /** Spot and reserved prices, now and over time. */
  readonly pricing: Pricing;
  readonly sshKeys: SshKeys;
  readonly dev: Dev;
  readonly #cwd: string;
  /** Where detached calls' records are (getTask of a `call-…` id). */
  readonly #flowHome: string;

  constructor(options: FlowOptions = {}) {
    this.#cwd = options.cwd ?? process.cwd();
    this.#flowHome = options.flowHome ?? resolveFlowHome(undefined, options.env);
    const loaded = loadConfig({
      cwd: this.#cwd,
      ...(options.config === undefined ? {} : { explicit: options.config }),
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.homeDir === undefined ? {} : { homeDir: options.homeDir }),
    });
    this.config = loaded.config;
    this.provider =
      typeof options.provider === "object"
        ? options.provider
        : backendFor(options.provider === undefined ? loaded.config.provider : providerName(options.provider), {
            config: loaded,
            ...(options.flowHome === undefined ? {} : { flowHome: options.flowHome }),
            ...(options.env === undefined ? {} : { env: options.env }),
            ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
          }).tasks;
    const provider = this.provider;
    this.volumes = {
      create: (volume = {}) => provider.createVolume(volume),
      list: () => provider.listVolumes(),
      delete: (idOrName) => provider.deleteVolume(idOrName),
      rename: (idOrName, name) => {
        if (provider.renameVolume === undefined) throw new ProviderError(`The ${provider.name} provider cannot rename volumes.`);
        return provider.renameVolume(idOrName, name);
      },
    };
    // Resolved per call: the local provider has none of these, and says so only when asked.
    const reservations = () => this.#account("reservations").reservations;
    this.reservations = {
      quote: (window) => reservations().quote(window),
      create: (options) => reservations().create(options),
      list: (options) => reservations().list(options),
      get: (id) => reservations().get(id),
      extensionAvailability: (id) => reservations().extensionAvailability(id),
      extend: (id, options) => reservations().extend(id, options),
      update: (id, change) => reservations().update(id, change),
      cancel: (id) => reservations().cancel(id),
      terminateInstances: (id, instanceIds) => reservations().terminateInstances(id, instanceIds),
      history: (id) => reservations().history(id),
      usage: (id) => reservations().usage(id),
    };
    this.pricing = {
      current: (query) => this.#account("prices").pricing.current(query),
      history: (query) => this.#account("price history").pricing.history(query),
    };
    this.sshKeys = {
      list: () => this.#account("SSH keys").sshKeys.list(),
      add: (name, publicKey) => this.#account("SSH keys").sshKeys.add(name, publicKey),
      delete: (idOrName) => this.#account("SSH keys").sshKeys.delete(idOrName),
    };
    this.dev = {
      status: () => this.#devMachines().find(),
      start: async (options = {}) => {
        const session = await this.#devMachines().start(options);
        return {
          machine: session.machine,
          started: session.started,
          close: () => session.close(),
          attach: async (work = {}) => {
            const code = work.uploadCode === false ? undefined : await packageCode(path.resolve(this.#cwd, work.codeRoot ?? ".")).catch((error: unknown) => {
              session.close();
              throw error;
            });
            return session.attach({ ...(code === undefined ? {} : { code }), ...(work.command === undefined ? {} : { command: work.command }) });
          },
        };
      },
      stop: async () => {
        const info = await this.#devMachines().stop();
        return info === undefined ? undefined : new Task(info, this.provider);
      },
    };
  }

  /** The project's quotas: what is used of each limit. */
  quotas(): Promise<Quota[]> {
    return this.#account("quotas").quotas();
  }

  /** Who the API key belongs to. */
  user(): Promise<AccountUser> {
    return this.#account("the account").user();
  }

  /** The projects the API key can use. */
  projects(): Promise<AccountProject[]> {
    return this.#account("projects").projects();
  }

  #account(what: string): CloudAccount {
    const { account } = this.provider;
    if (account !== undefined) return account;
    throw new ProviderError(`The ${this.provider.name} provider has no ${what}: that is the cloud's.`, {
      suggestions: ['use the cloud: --provider fcp, FLOW_PROVIDER=fcp, or new Flow({ provider: "fcp" })'],
      errorCode: "not_a_cloud",
    });
  }

  #devMachines(): DevMachines {
    const { devMachines } = this.provider;
    if (devMachines !== undefined) return devMachines;
    throw new ProviderError(`The ${this.provider.name} provider has no dev machines: this machine is yours already.`, {
      suggestions: ["use the cloud: flow dev --provider fcp (or FLOW_PROVIDER=fcp)"],
      errorCode: "not_a_cloud",
    });
  }

  /**
   * Submits a task: a TaskConfig, a path to a YAML task file, or a command line (with the
   * overrides supplying at least the instance type). Returns once the task is submitted.
   */
  async run(task: TaskSource, overrides: TaskOverrides = {}): Promise<Task> {
    const config = resolveTaskConfig(task, overrides, { cwd: this.#cwd });
    const code = config.uploadCode ? await packageCode(path.resolve(this.#cwd, config.codeRoot ?? ".")) : undefined;
    const info = await this.provider.submit({ config, ...(code === undefined ? {} : { code }) });
    return new Task(info, this.provider);
  }

  /** The seed's `flow.submit`: a command with a GPU and data to mount. */
  async submit(command: string | string[], options: SubmitOptions = {}): Promise<Task> {
    const { gpu, data, ...overrides } = options;
    if (gpu !== undefined && overrides.instanceType !== undefined && gpu !== overrides.instanceType) {
      throw new ValidationError("`gpu` and `instanceType` name different instance types; give one.");
    }
    const mounts = dataMounts(data);
    return this.run({
      ...overrides,
      command,
      ...(gpu === undefined ? {} : { instanceType: gpu }),
      ...(mounts.length === 0 ? {} : { dataMounts: [...(overrides.dataMounts ?? []), ...mounts] }),
    });
  }

  /**
   * A task by id; or, by its `call-…` id, a detached call this machine started (spawnDetached,
   * `flow run --detach`), brought up to date (on the cloud: copied from its instance). Throws
   * TaskNotFoundError for an unknown id. An id typed `call-${string}` gets the DetachedCall type.
   */
  async getTask(taskId: `call-${string}`): Promise<DetachedCall>;
  async getTask(taskId: string): Promise<Task>;
  async getTask(taskId: string): Promise<Task | DetachedCall> {
    if (isDetachedCallId(taskId)) {
      const call = new DetachedCall(taskId, this.#flowHome);
      await call.refresh();
      return call;
    }
    return new Task(await currentInfo(this.provider, taskId), this.provider);
  }

  async status(taskId: string): Promise<TaskStatus> {
    return (await currentInfo(this.provider, taskId)).status;
  }

  async cancel(taskId: string): Promise<void> {
    await this.provider.cancel(taskId);
  }

  async listTasks(options: ListTasksOptions = {}): Promise<Task[]> {
    const infos = await this.#currentList(options.limit ?? 100, options.status);
    return infos.map((info) => new Task(info, this.provider));
  }

  /**
   * The provider's listing, with every task that has not ended reconciled (see currentInfo), a
   * batch at a time. Reconciling can end a task the listing shows as running, so a status filter
   * applies after it, to the whole listing.
   */
  async #currentList(limit: number, status: TaskStatus | undefined): Promise<TaskInfo[]> {
    const { provider } = this;
    if (provider.reconcile === undefined) return provider.listTasks({ limit, ...(status === undefined ? {} : { status }) });
    const listed = await provider.listTasks({ limit: status === undefined ? limit : Number.POSITIVE_INFINITY });
    const tasks: TaskInfo[] = [];
    for (let start = 0; start < listed.length && tasks.length < limit; start += RECONCILE_BATCH) {
      const batch = listed.slice(start, start + RECONCILE_BATCH);
      const current = await Promise.all(batch.map((info) => (isTerminalStatus(info.status) ? info : currentInfo(provider, info.taskId))));
      tasks.push(...current.filter((info) => status === undefined || info.status === status));
    }
    return tasks.slice(0, limit);
  }

  /** The instance types the provider offers, searchable by capability. */
  catalog(): Promise<InstanceCatalog> {
    return this.provider.catalog();
  }
}

function dataMounts(data: SubmitOptions["data"]): Pick<MountSpec, "source" | "target">[] {
  if (data === undefined) return [];
  if (typeof data === "string") return [{ source: data, target: DEFAULT_DATA_TARGET }];
  return Object.entries(data).map(([target, source]) => ({ source, target }));
}
