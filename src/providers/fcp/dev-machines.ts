/**
 * Dev machines (`flow dev`): one persistent spot instance per project for interactive work. It is
 * a task like any other (a bid named `flow-dev-…`, listed by `flow status`) whose command is
 * `sleep infinity`; `flow dev` syncs the code directory to it and opens a shell or runs a command
 * there over SSH, so a second run takes seconds, not a new bid.
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
import { DEFAULT_DEV_IDLE_MINUTES, type DevMachine, type DevMachineOptions, type DevMachines } from "../cloud-account.ts";
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
    return bid === undefined ? undefined : this.#machine(bid);
  }

  async start(options: DevMachineOptions): Promise<{ machine: DevMachine; started: boolean }> {
    const idleSeconds = idleSecondsOf(options.idleMinutes);
    const existing = await this.#liveBid();
    if (existing !== undefined) await this.#refuseOtherMachine(existing, options);
    const bid = existing ?? (await this.#place(options, idleSeconds));
    const [instance] = await waitForRunningInstances(this.#context, bid, { timeoutMs: Number.POSITIVE_INFINITY });
    const connection = await InstanceConnection.open(instance!, (await this.#context.sshKey()).pair);
    try {
      await connection.waitUntilReady();
      // A reused machine takes the idle time asked for now; a session starts its clock.
      const set = await connection.ssh.exec(`echo ${idleSeconds} > ${quote(connection.paths.devIdleSeconds)} && touch ${quote(connection.paths.devLastActive)}`);
      if (set.code !== 0) throw new ProviderError(`Could not set the idle time on ${instance!.fid}: ${set.stderr.trim()}`);
    } finally {
      connection.close();
    }
    return { machine: await this.#machine(bid), started: existing === undefined };
  }

  async attach(taskId: string, options: { code?: CodePackage; command?: string }): Promise<number> {
    const instance = await this.#runningInstance(taskId);
    const connection = await InstanceConnection.open(instance, (await this.#context.sshKey()).pair);
    try {
      const { paths } = connection;
      if (options.code !== undefined) {
        // Extracted over what is there: files made on the machine (outputs, checkpoints) stay.
        const archive = `${paths.root}/dev/code.tar.gz`;
        await connection.ssh.upload(options.code.archive, archive);
        const synced = await connection.ssh.exec(`mkdir -p ${quote(paths.codeDir)} && tar -xzf ${quote(archive)} -C ${quote(paths.codeDir)} --no-same-owner && rm -f ${quote(archive)}`);
        if (synced.code !== 0) throw new ProviderError(`Could not sync the code to ${instance.fid}: ${synced.stderr.trim()}`);
      }
      const clock = quote(paths.devLastActive);
      const heartbeat = `touch ${clock}; ( while kill -0 $$ 2>/dev/null; do touch ${clock}; sleep ${HEARTBEAT_SECONDS}; done ) </dev/null >/dev/null 2>&1 &`;
      const work = options.command === undefined ? "exec bash -l" : `bash -c ${quote(options.command)}; code=$?; touch ${clock}; exit $code`;
      return await connection.ssh.shell({
        command: `${heartbeat} cd ${quote(paths.codeDir)} && ${work}`,
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      });
    } finally {
      connection.close();
    }
  }

  async stop(): Promise<TaskInfo | undefined> {
    const bid = await this.#liveBid();
    return bid === undefined ? undefined : this.#tasks.cancel(bid.fid);
  }

  get #context(): FcpContext {
    return this.#tasks.context;
  }

  /** The project's dev machine that is not over: its bid, the newest if there are several. */
  async #liveBid(): Promise<Bid | undefined> {
    const bids = await this.#context.client.listBids({ project: await this.#context.projectFid() });
    return bids
      .filter((bid) => bid.name.startsWith(DEV_MACHINE_PREFIX) && bid.status !== "Terminated")
      .sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
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

  async #machine(bid: Bid): Promise<DevMachine> {
    const task = await this.#tasks.getTask(bid.fid);
    const instance = (await this.#context.client.listInstances({ project: await this.#context.projectFid(), bidFids: [bid.fid] })).find(
      (i) => i.status === "STATUS_RUNNING" && i.ssh_destination,
    );
    if (instance === undefined) return { task };
    const connection = await InstanceConnection.open(instance, (await this.#context.sshKey()).pair, { timeoutMs: 20_000 });
    try {
      const { paths } = connection;
      const { stdout } = await connection.ssh.exec(`printf '%s %s' "$(cat ${quote(paths.devIdleSeconds)} 2>/dev/null)" "$(stat -c %Y ${quote(paths.devLastActive)} 2>/dev/null)"`);
      const [idle = Number.NaN, last = Number.NaN] = stdout.trim().split(/\s+/).map(Number);
      if (!Number.isFinite(idle) || !Number.isFinite(last)) return { task };
      return { task, idleMinutes: idle / 60, stopsAt: new Date((last + idle) * 1000) };
    } finally {
      connection.close();
    }
  }

  async #runningInstance(taskId: string): Promise<Instance> {
    const bid = await this.#context.client.getBid(taskId);
    const instances = bid.instances.length === 0 ? [] : await this.#context.client.listInstances({ project: await this.#context.projectFid(), bidFids: [bid.fid] });
    const running = instances.find((i) => i.status === "STATUS_RUNNING" && i.ssh_destination);
    if (running === undefined) {
      throw new ProviderError(`Dev machine ${taskId} has no running instance (${bid.status}).`, { suggestions: ["start it again with `flow dev`"] });
    }
    return running;
  }
}

function idleSecondsOf(minutes = DEFAULT_DEV_IDLE_MINUTES): number {
  return Math.max(1, Math.round(minutes * 60));
}
