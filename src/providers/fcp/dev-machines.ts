/**
 * Dev machines (`flow dev`): one persistent spot instance for interactive work per project and SSH
 * key (so per laptop, unless laptops share a key). It is a task like any other (a bid named
 * `flow-dev-…`, listed by `flow status`) whose command is `sleep infinity`; `flow dev` syncs the
 * code directory to it and opens a shell or runs a command there over SSH, so a second run takes
 * seconds, not a new bid.
 *
 * It stops itself: its startup script powers it off once no session has touched it for the idle
 * time (autostop section), so a forgotten one stops billing even if the laptop is closed. Each
 * session touches the clock when it starts, every 15 seconds while it lasts, and when it ends.
 */
import { randomBytes } from "node:crypto";
import { ProviderError, ValidationError } from "../../errors.ts";
import type { CodePackage } from "../../task/code-package.ts";
import { parseTaskConfig } from "../../task/task-config.ts";
import type { TaskInfo } from "../../task/task-info.ts";
import { DEFAULT_DEV_IDLE_MINUTES, type DevMachine, type DevMachineOptions, type DevMachines, type DevSession } from "../cloud-account.ts";
import type { Bid, Instance } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import { InstanceConnection } from "./instance-connection.ts";
import { placeBid, waitForRunningInstances } from "./instance-launch.ts";
import { choosePlacement, placementNotes } from "./placement.ts";
import { quote } from "./startup-script/bash.ts";
import { buildStartupScript } from "./startup-script/index.ts";
import { TaskRecords } from "./task-records.ts";

/** Every dev machine's bid is named this, then a suffix: how any machine finds the project's. */
export const DEV_MACHINE_PREFIX = "flow-dev-";
const DEFAULT_DEV_INSTANCE_TYPE = "a100";
/** How often a session touches the clock while it lasts. */
const HEARTBEAT_SECONDS = 15;

/** What the dev machines need of the task provider they belong to. */
export interface DevMachineTasks {
  readonly context: FcpContext;
  getTask(taskId: string): Promise<TaskInfo>;
  cancel(taskId: string): Promise<TaskInfo>;
}

export class FcpDevMachines implements DevMachines {
  readonly #tasks: DevMachineTasks;
  readonly #records: TaskRecords;

  constructor(tasks: DevMachineTasks, flowHome: string) {
    this.#tasks = tasks;
    this.#records = new TaskRecords(flowHome);
  }

  async find(): Promise<DevMachine | undefined> {
    const bid = await this.#liveBid();
    if (bid === undefined) return undefined;
    const instance = (await this.#instances(bid)).find(isReachable);
    if (instance === undefined) return { task: await this.#tasks.getTask(bid.fid) };
    const connection = await InstanceConnection.open(instance, (await this.#context.sshKey()).pair, { timeoutMs: 20_000 });
    try {
      return { task: await this.#tasks.getTask(bid.fid), ...(await readClock(connection)) };
    } finally {
      connection.close();
    }
  }

  async start(options: DevMachineOptions): Promise<DevSession> {
    const existing = await this.#liveBid();
    if (existing !== undefined) await this.#refuseOtherMachine(existing, options);
    if (existing?.status === "Paused") {
      // Paused with `flow pause`: boot it again rather than wait on a bid that will not be allocated.
      await this.#context.client.updateBid(existing.fid, { paused: false });
      this.#context.progress(`resuming your paused dev machine ${existing.fid}`);
    }
    const bid = existing ?? (await this.#place(options, idleSecondsOf(options.idleMinutes ?? DEFAULT_DEV_IDLE_MINUTES)));
    // A machine that runs is used at once; a new (or resumed) one is waited for, however long its bid waits.
    const running = existing === undefined ? undefined : (await this.#instances(existing)).find(isReachable);
    const instance = running ?? (await waitForRunningInstances(this.#context, bid, { timeoutMs: Number.POSITIVE_INFINITY }))[0]!;
    const connection = await InstanceConnection.open(instance, (await this.#context.sshKey()).pair);
    try {
      if (running === undefined) await connection.waitUntilReady();
      // A session starts the clock; an idle time given now replaces the machine's.
      const idle = options.idleMinutes === undefined ? "" : `echo ${idleSecondsOf(options.idleMinutes)} > ${quote(connection.paths.devIdleSeconds)} && `;
      const set = await connection.ssh.exec(`${idle}touch ${quote(connection.paths.devLastActive)}`);
      if (set.code !== 0) throw new ProviderError(`Could not start a session on ${instance.fid}: ${set.stderr.trim()}`);
      const machine = { task: await this.#tasks.getTask(bid.fid), ...(await readClock(connection)) };
      return { machine, started: existing === undefined, attach: (work) => attach(connection, work), close: () => connection.close() };
    } catch (error) {
      connection.close();
      throw error;
    }
  }

  async stop(): Promise<TaskInfo | undefined> {
    const bid = await this.#liveBid();
    return bid === undefined ? undefined : this.#tasks.cancel(bid.fid);
  }

  get #context(): FcpContext {
    return this.#tasks.context;
  }

  /**
   * Your dev machine that is not over: a `flow-dev-…` bid this machine's SSH key can log into
   * (another laptop's is its own), the newest if there are several.
   */
  async #liveBid(): Promise<Bid | undefined> {
    const bids = await this.#context.client.listBids({ project: await this.#context.projectFid() });
    const live = bids.filter((bid) => bid.name.startsWith(DEV_MACHINE_PREFIX) && bid.status !== "Terminated");
    // Only now the key, which registers it on first use: `flow status` with no dev machine around registers nothing.
    if (live.length === 0) return undefined;
    const key = await this.#context.sshKey();
    return live.filter((bid) => bid.launch_specification.ssh_keys.includes(key.fid)).sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
  }

  /** A reused machine is the one there is: options that describe another are refused, not ignored. */
  async #refuseOtherMachine(bid: Bid, options: DevMachineOptions): Promise<void> {
    const different: string[] = [];
    if (options.instanceType !== undefined && (await this.#context.catalog()).resolve(options.instanceType).fid !== bid.instance_type) {
      different.push(`instance type ${await this.#context.instanceTypeName(bid.instance_type)}, not ${options.instanceType}`);
    }
    if (options.region !== undefined && options.region !== bid.region) different.push(`region ${bid.region}, not ${options.region}`);
    if (options.maxPricePerHour !== undefined) different.push(`a limit price of ${bid.limit_price}/h already (set another with \`flow reprice ${bid.fid} <price>\`)`);
    if (different.length === 0) return;
    throw new ValidationError(`Your dev machine ${bid.fid} is running with ${different.join("; ")}.`, {
      suggestions: ["leave those options out to use it as it is", "or stop it first to start another: flow dev --stop"],
      errorCode: "dev_machine_differs",
    });
  }

  async #place(options: DevMachineOptions, idleSeconds: number): Promise<Bid> {
    const config = parseTaskConfig({
      name: "flow-dev",
      instanceType: options.instanceType ?? DEFAULT_DEV_INSTANCE_TYPE,
      devVm: true,
      uploadCode: false,
      ...(options.region === undefined ? {} : { region: options.region }),
      ...(options.maxPricePerHour === undefined ? {} : { maxPricePerHour: options.maxPricePerHour }),
    });
    const context = this.#context;
    const [catalog, key] = await Promise.all([context.catalog(), context.sshKey()]);
    const region = config.region ?? context.preferredRegion;
    const request = { instanceType: config.instanceType!, quantity: 1 };
    const placement = choosePlacement(catalog, {
      ...request,
      ...(region === undefined ? {} : { region }),
      ...(config.maxPricePerHour === undefined ? {} : { maxPricePerHour: config.maxPricePerHour }),
      priority: config.priority,
    });
    for (const note of placementNotes(catalog, placement, request)) context.progress(note);
    const name = `${DEV_MACHINE_PREFIX}${randomBytes(3).toString("hex")}`;
    const { script } = buildStartupScript({
      workload: { kind: "command" },
      expectUploads: false,
      env: { FLOW_TASK_NAME: name, FLOW_NUM_NODES: "1", FLOW_NODE_RANK: "0", FLOW_MAIN_IP: "127.0.0.1" },
      gpus: true,
      volumes: [],
      poweroffGraceSeconds: 0,
      autostopIdleSeconds: idleSeconds,
    });
    const bid = await placeBid(context, { name, placement, startupScript: script, quantity: 1, sshKeyFids: [key.fid] });
    await this.#records.write({
      taskId: bid.fid,
      name,
      createdAt: new Date().toISOString(),
      config,
      instanceTypeName: placement.instanceTypeName,
      region: placement.region,
      limitPrice: bid.limit_price,
    });
    return bid;
  }

  async #instances(bid: Bid): Promise<Instance[]> {
    if (bid.instances.length === 0) return [];
    return this.#context.client.listInstances({ project: await this.#context.projectFid(), bidFids: [bid.fid] });
  }
}

/**
 * Syncs `code` into the machine's code directory, then runs the command (or a shell) there with
 * the session's clock ticking; closes the connection at the end.
 */
async function attach(connection: InstanceConnection, options: { code?: CodePackage; command?: string }): Promise<number> {
  try {
    const { paths } = connection;
    if (options.code !== undefined) {
      // Extracted over what is there: files made on the machine (outputs, checkpoints) stay.
      const archive = `${paths.root}/dev/code.tar.gz`;
      await connection.ssh.upload(options.code.archive, archive);
      const synced = await connection.ssh.exec(`mkdir -p ${quote(paths.codeDir)} && tar -xzf ${quote(archive)} -C ${quote(paths.codeDir)} --no-same-owner && rm -f ${quote(archive)}`);
      if (synced.code !== 0) throw new ProviderError(`Could not sync the code to ${connection.instance.fid}: ${synced.stderr.trim()}`);
    }
    const clock = quote(paths.devLastActive);
    const heartbeat = `touch ${clock}; ( while kill -0 $$ 2>/dev/null; do touch ${clock}; sleep ${HEARTBEAT_SECONDS}; done ) </dev/null >/dev/null 2>&1 &`;
    const work = options.command === undefined ? "exec bash -l" : `bash -c ${quote(options.command)}; code=$?; touch ${clock}; exit $code`;
    return await connection.ssh.shell({ command: `${heartbeat} cd ${quote(paths.codeDir)} && ${work}`, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  } finally {
    connection.close();
  }
}

function idleSecondsOf(minutes: number): number {
  return Math.max(1, Math.round(minutes * 60));
}

function isReachable(instance: Instance): boolean {
  return instance.status === "STATUS_RUNNING" && Boolean(instance.ssh_destination);
}

/** The machine's idle time and when it stops, from its autostop files. */
async function readClock(connection: InstanceConnection): Promise<{ idleMinutes?: number; stopsAt?: Date }> {
  const { paths } = connection;
  const { stdout } = await connection.ssh.exec(`printf '%s %s' "$(cat ${quote(paths.devIdleSeconds)} 2>/dev/null)" "$(stat -c %Y ${quote(paths.devLastActive)} 2>/dev/null)"`);
  const [idle = Number.NaN, last = Number.NaN] = stdout.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(idle) || !Number.isFinite(last)) return {};
  return { idleMinutes: idle / 60, stopsAt: new Date((last + idle) * 1000) };
}
