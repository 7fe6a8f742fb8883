/**
 * Tasks on reserved capacity. The API has no way to run a spot bid on a reservation: a
 * reservation has its own launch specification and boots its own instances. So a task gets
 * reserved capacity in one of two ways:
 *
 * - **It reserves capacity for itself** (`allocationMode: "reserved"` with `reservedDurationHours`,
 *   and `scheduledStartTime` for later): the reservation is created with the task's own startup
 *   script, exactly as a bid would carry it, so it runs unattended at the start time. The task's
 *   id is the reservation's (`res_…`); cancelling the task gives the reservation back.
 * - **It runs on a reservation that exists** (`reservationId`, or `allocationMode: "auto"` finding
 *   an active one of the right type): the client delivers it over SSH to the reservation's running
 *   instances (instance-runs.ts), as a run in a directory of its own, so several tasks can use one
 *   reservation in turn. Its id is `rtask_…`; cancelling it stops its processes and leaves the
 *   reservation running.
 *
 * Either way the API cannot say how the task is doing, so this machine keeps a record of it
 * (reservation-task-records.ts) and its status comes from that record, the reservation and its
 * instances, and — when reconciled — the exit code on the instance.
 */
import { randomBytes } from "node:crypto";
import { cleanUpBeforeExit } from "../../clean-up-before-exit.ts";
import { ResourceNotFoundError, TaskNotFoundError, ValidationError } from "../../errors.ts";
import { sleep } from "../../sleep.ts";
import type { CodePackage } from "../../task/code-package.ts";
import type { Instance as TaskInstance } from "../../task/instance.ts";
import { isSecretEnvName, redactEnv } from "../../task/secret-env.ts";
import { MAX_TASK_NAME_LENGTH, type TaskConfig } from "../../task/task-config.ts";
import type { TaskInfo } from "../../task/task-info.ts";
import { isTerminalStatus, TaskStatus } from "../../task/task-status.ts";
import type { FollowLogsOptions, ReadLogsOptions, ShellOptions, SubmitRequest } from "../task-provider.ts";
import type { Instance, Reservation as ApiReservation } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import { INLINE_ARCHIVE_LIMIT_BYTES } from "./fcp-provider.ts";
import { inReservationOrder, type FcpReservations } from "./fcp-reservations.ts";
import { InstanceConnection, type Upload } from "./instance-connection.ts";
import { INSTANCE_SSH_USER, type InstancePaths } from "./instance-layout.ts";
import { parseSshDestination } from "./instance-launch.ts";
import { runPaths, runState, startRun, stopRun } from "./instance-runs.ts";
import { ReservationTaskRecords, type ReservationTaskRecord } from "./reservation-task-records.ts";
import { sharedConnection } from "./shared-connection.ts";
import { quote } from "./startup-script/bash.ts";
import { buildStartupScript } from "./startup-script/index.ts";
import type { StartupScriptSpec } from "./startup-script/spec.ts";
import { taskInstance } from "./task-instance.ts";
import { ENDED_INSTANCE_STATUSES } from "./task-status-from-api.ts";

/** As for a bid: a finished task's instance stays up this long, so logs and the exit code can be read. */
const LINGER_SECONDS = 10 * 60;
const TERMINATE_ON_EXIT_GRACE_SECONDS = 30;
const PROBE_LOGIN_TIMEOUT_MS = 20_000;

/** What a task's workload needs wherever it runs: its script's parts and what goes over SSH. */
interface Workload {
  name: string;
  spec: Pick<StartupScriptSpec, "workload" | "env" | "image" | "gpus" | "maxRunTimeHours">;
  /** Rides inside the startup script (a task that reserves for itself). */
  inlineArchive?: Buffer;
  /** Goes over SFTP. */
  uploadedArchive?: Buffer;
  secretEnv: [string, string][];
  /** Several nodes whose ranks and leader address go in the uploaded env file. */
  assignRanks: boolean;
}

/** Where one observed task stands: the reservation and its instances, in order, when there is one. */
interface Observed {
  reservation?: ApiReservation;
  instances: Instance[];
}

export class ReservationTasks {
  readonly #context: FcpContext;
  readonly #reservations: FcpReservations;
  readonly #records: ReservationTaskRecords;
  readonly #connections = new Map<string, Promise<InstanceConnection>>();

  constructor(context: FcpContext, reservations: FcpReservations, flowHome: string) {
    this.#context = context;
    this.#reservations = reservations;
    this.#records = new ReservationTaskRecords(flowHome);
  }

  /** A reservation's id (a task that reserved for itself) or a delivered task's. */
  static owns(taskId: string): boolean {
    return /^(res|rtask)_[A-Za-z0-9]+$/.test(taskId);
  }

  /**
   * Runs the task on reserved capacity when its config asks for it, or (`allocationMode:
   * "auto"`) when an active reservation fits; undefined means: bid on the spot market. Says which
   * it chose.
   */
  async submit({ config, code }: SubmitRequest): Promise<TaskInfo | undefined> {
    if (config.allocationMode === "spot") return undefined;
    if (config.reservationId !== undefined) return this.#deliver(config, code, await this.#reservations.raw(config.reservationId));
    if (config.allocationMode === "reserved") return this.#reserveFor(config, code);
    const match = await this.#matching(config);
    if (match === undefined) {
      this.#context.progress(`allocation auto: no active reservation has ${config.numInstances} × ${config.instanceType ?? "the type"} for this task; bidding on the spot market`);
      return undefined;
    }
    this.#context.progress(`allocation auto: using reservation ${match.fid} (${match.name}, until ${match.end_time})`);
    return this.#deliver(config, code, match);
  }

  async getTask(taskId: string): Promise<TaskInfo> {
    const record = await this.#record(taskId);
    return this.#info(record, await this.#observe(record));
  }

  /** Reads the exit code from the task's first instance while it is undecided and that instance runs. */
  async reconcile(taskId: string): Promise<TaskInfo> {
    let record = await this.#record(taskId);
    const observed = await this.#observe(record);
    const leader = this.#leader(record, observed);
    if (!isDecided(record) && leader?.status === "STATUS_RUNNING") {
      const learned = await this.#probe(record, leader);
      if (learned !== undefined) {
        await this.#records.update(taskId, learned);
        record = { ...record, ...learned };
      }
    }
    return this.#info(record, observed);
  }

  /** This machine's tasks on reserved capacity, newest first, at most `limit`: one listing of reservations and one of instances for all. */
  async list(limit: number): Promise<TaskInfo[]> {
    const records = (await this.#records.all()).sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
    if (records.length === 0) return [];
    const project = await this.#context.projectFid();
    const reservations = (await this.#context.client.listReservations({ project })).filter((r) => records.some((record) => record.reservation === r.fid));
    const instances = await this.#context.client.listInstances({ project, reservationFids: reservations.filter((r) => r.instances.length > 0).map((r) => r.fid) });
    return records.map((record) => {
      const reservation = reservations.find((r) => r.fid === record.reservation);
      return this.#info(record, reservation === undefined ? { instances: [] } : { reservation, instances: inReservationOrder(reservation, instances) });
    });
  }

  /**
   * A delivered task's processes are stopped (the reservation runs on); a task that reserved for
   * itself gives its reservation back, even once it has ended (its instance lingers).
   */
  async cancel(taskId: string): Promise<TaskInfo> {
    const before = await this.reconcile(taskId);
    const record = await this.#record(taskId);
    const running = !isTerminalStatus(before.status);
    // Recorded before anything is stopped: a follower that sees the end first reads it as this cancel.
    if (running) await this.#records.update(taskId, { cancelRequestedAt: new Date().toISOString() });
    try {
      if (record.kind === "reservation") {
        await this.#reservations.cancel(record.reservation);
      } else if (running) {
        const { instances } = await this.#observe(record);
        for (const instance of instances.filter((i) => record.instances.includes(i.fid) && i.status === "STATUS_RUNNING")) {
          const connection = await this.#connection(record, instance);
          await stopRun(connection, this.#paths(record, connection));
        }
      }
    } catch (error) {
      if (running) await this.#records.update(taskId, { cancelRequestedAt: undefined });
      throw error;
    }
    if (running) await this.#records.update(taskId, { cancelled: true, endedAt: new Date().toISOString() });
    this.#forget(taskId);
    return this.getTask(taskId);
  }

  async readLogs(taskId: string, options: ReadLogsOptions): Promise<string> {
    const record = await this.#record(taskId);
    const observed = await this.#observe(record);
    const leader = this.#leader(record, observed);
    if (leader?.status !== "STATUS_RUNNING") {
      const info = this.#info(record, observed);
      throw new ValidationError(`Task ${taskId} has no running instance to read its logs from: ${info.message ?? info.status}.`, {
        suggestions: isTerminalStatus(info.status) ? ["a task's logs live on its instance and end with it"] : [`follow it with \`flow logs ${taskId} -f\`: that waits for it to start`],
        errorCode: "task_not_started",
      });
    }
    const connection = await this.#connection(record, leader);
    const paths = this.#paths(record, connection);
    const file = options.stream === "stdout" ? paths.taskStdout : paths.taskStderr;
    return (await connection.ssh.exec(`tail -n ${options.tail} ${quote(file)} 2>/dev/null; true`)).stdout;
  }

  async *followLogs(taskId: string, options: FollowLogsOptions): AsyncIterable<string> {
    const started = await this.#untilStarted(taskId, options);
    if (started === undefined) return;
    const connection = await this.#connection(started.record, started.leader);
    const paths = this.#paths(started.record, connection);
    const file = options.stream === "stdout" ? paths.taskStdout : paths.taskStderr;
    // A delivered run also ends when its process is gone without a marker (killed).
    const running = started.record.kind === "delivered" ? ` && kill -0 "$(cat ${quote(paths.runPid)} 2>/dev/null)" 2>/dev/null` : "";
    const command =
      `touch ${quote(file)} 2>/dev/null; tail -n ${options.tail} -F ${quote(file)} 2>/dev/null & t=$!; ` +
      `while [ ! -e ${quote(paths.exitCode)} ]${running}; do sleep 0.5; done; sleep 1; kill $t`;
    for await (const line of connection.ssh.lines(command, options.signal === undefined ? {} : { signal: options.signal })) yield line;
  }

  async getInstances(taskId: string): Promise<TaskInstance[]> {
    const record = await this.#record(taskId);
    const { instances } = await this.#observe(record);
    return this.#own(record, instances).map((instance) => taskInstance(instance, { taskId: record.taskId, instanceType: record.instanceTypeName, region: record.region }));
  }

  async shell(taskId: string, options: ShellOptions): Promise<void> {
    const record = await this.#record(taskId);
    const instance = this.#own(record, (await this.#observe(record)).instances)[options.node ?? 0];
    if (instance?.status !== "STATUS_RUNNING") {
      throw new ValidationError(`Task ${taskId} has no running instance${options.node ? ` ${options.node}` : ""} to open a shell on.`, {
        suggestions: [`check it with \`flow status ${taskId}\``],
      });
    }
    const connection = await InstanceConnection.open(instance, (await this.#context.sshKey()).pair);
    try {
      // A delivered task's shell starts where its code is.
      const cd = record.kind === "delivered" ? `cd ${quote(this.#paths(record, connection).codeDir)} 2>/dev/null; ` : "";
      const command = options.command !== undefined ? `${cd}${options.command}` : cd === "" ? undefined : `${cd}exec bash -l`;
      const code = await connection.ssh.shell({
        ...(command === undefined ? {} : { command }),
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      });
      if (code !== 0) process.exitCode = code;
    } finally {
      connection.close();
    }
  }

  close(): void {
    for (const taskId of [...this.#connections.keys()]) this.#forget(taskId);
  }

  // ---- submitting ----------------------------------------------------------------------------

  /** Reserves capacity for the task, booting with the task's own startup script. */
  async #reserveFor(config: TaskConfig, code: CodePackage | undefined): Promise<TaskInfo> {
    if (config.reservedDurationHours === undefined) {
      throw new ValidationError('allocationMode "reserved" needs a reservation: `reservationId` for one you have, or `reservedDurationHours` to reserve capacity for this task.', {
        issues: [{ path: "reservedDurationHours", message: "required with allocationMode reserved and no reservationId" }],
        suggestions: ["flow run … --reservation <id>", "flow run … --reserved-hours 3 [--start-time 2030-07-01T09:00:00Z]", "`flow reserve list` shows your reservations"],
      });
    }
    this.#refuseVolumes(config, "A task that reserves capacity for itself");
    const workload = this.#workload(config, code, { inline: true });
    const expectUploads = workload.uploadedArchive !== undefined || workload.secretEnv.length > 0 || workload.assignRanks;
    const later = config.scheduledStartTime !== undefined && Date.parse(config.scheduledStartTime) > Date.now() + 60_000;
    if (expectUploads && later) {
      throw new ValidationError(`A task scheduled for ${config.scheduledStartTime} must start without this machine, but ${uploadReasons(workload).join(" and ")} would have to be uploaded over SSH once it starts.`, {
        issues: [{ path: "scheduledStartTime", message: "a task that needs uploads starts now" }],
        suggestions: ["keep the code under 4 KiB (a .flowignore helps), pass secrets another way, or run a single node", "or reserve now: leave scheduledStartTime out"],
      });
    }
    const catalog = await this.#context.catalog();
    const type = config.instanceType ?? catalog.search({ ...(config.minGpuMemoryGb === undefined ? {} : { minGpuMemoryGb: config.minGpuMemoryGb }) })[0]?.name;
    if (type === undefined) throw new ResourceNotFoundError(`No instance type has ${config.minGpuMemoryGb} GB of GPU memory per GPU.`);
    const { script } = buildStartupScript({
      ...workload.spec,
      ...(workload.inlineArchive === undefined ? {} : { inlineArchive: workload.inlineArchive }),
      expectUploads,
      volumes: [],
      poweroffGraceSeconds: config.terminateOnExit ? TERMINATE_ON_EXIT_GRACE_SECONDS : LINGER_SECONDS,
    });
    const reservation = await this.#reservations.reserve(
      {
        instanceType: type,
        ...(config.region === undefined ? {} : { region: config.region }),
        ...(config.scheduledStartTime === undefined ? {} : { startTime: config.scheduledStartTime }),
        durationHours: config.reservedDurationHours,
        quantity: config.numInstances,
        name: workload.name,
      },
      async () => ({ startupScript: script, sshKeyFids: [(await this.#context.sshKey()).fid, ...(await this.#extraKeys(config))], volumeFids: [] }),
    );
    const record: ReservationTaskRecord = {
      taskId: reservation.reservationId,
      name: workload.name,
      createdAt: new Date().toISOString(),
      config: { ...config, env: redactEnv(config.env) },
      kind: "reservation",
      reservation: reservation.reservationId,
      instanceTypeName: reservation.instanceType,
      region: reservation.region,
      unitPrice: `$${reservation.unitPrice.toFixed(2)}`,
      instances: [],
    };
    await this.#records.write(record);
    if (expectUploads) {
      // Like a bid's: the instances cannot run the task without the client, so a failure (or
      // Ctrl-C) while waiting for them gives the reservation back.
      const removeExitHandler = cleanUpBeforeExit(() => this.#reservations.cancel(record.reservation));
      try {
        await this.#uploadToBooted(record, workload);
      } catch (error) {
        await this.#reservations.cancel(record.reservation).catch(() => {});
        throw error;
      } finally {
        await removeExitHandler();
      }
    }
    return this.getTask(record.taskId);
  }

  /** Delivers the task to the reservation's running instances, one run each. */
  async #deliver(config: TaskConfig, code: CodePackage | undefined, reservation: ApiReservation): Promise<TaskInfo> {
    this.#refuseVolumes(config, `A task on reservation ${reservation.fid}`);
    const catalog = await this.#context.catalog();
    const reservedType = await this.#context.instanceTypeName(reservation.instance_type);
    if (config.instanceType !== undefined && catalog.resolve(config.instanceType).fid !== reservation.instance_type) {
      throw new ValidationError(`Reservation ${reservation.fid} holds ${reservedType} instances, not ${config.instanceType}.`, {
        issues: [{ path: "instanceType", message: `must be ${reservedType} (or left out) on reservation ${reservation.fid}` }],
      });
    }
    if (config.region !== undefined && config.region !== reservation.region) {
      throw new ValidationError(`Reservation ${reservation.fid} is in ${reservation.region}, not ${config.region}.`, { issues: [{ path: "region", message: `must be ${reservation.region} (or left out)` }] });
    }
    if (config.numInstances > reservation.instance_quantity) {
      throw new ValidationError(`Reservation ${reservation.fid} has ${reservation.instance_quantity} instance(s); the task asks for ${config.numInstances}.`, {
        issues: [{ path: "numInstances", message: `must be at most ${reservation.instance_quantity}` }],
      });
    }
    const workload = this.#workload(config, code, { inline: false });
    const instances = await this.#reservations.runningInstances(reservation.fid, config.numInstances);
    const taskId = `rtask_${randomBytes(8).toString("hex")}`;
    const record: ReservationTaskRecord = {
      taskId,
      name: workload.name,
      createdAt: new Date().toISOString(),
      config: { ...config, env: redactEnv(config.env) },
      kind: "delivered",
      reservation: reservation.fid,
      instanceTypeName: reservedType,
      region: reservation.region ?? "",
      unitPrice: reservation.unit_price,
      instances: instances.map((i) => i.fid),
    };
    const started: { connection: InstanceConnection; paths: InstancePaths }[] = [];
    const stopStarted = async () => {
      for (const { connection, paths } of started) await stopRun(connection, paths).catch(() => {});
    };
    const removeExitHandler = cleanUpBeforeExit(stopStarted);
    try {
      const leaderIp = instances[0]!.private_ip || parseSshDestination(instances[0]!.ssh_destination ?? "").host;
      for (const [rank, instance] of instances.entries()) {
        const connection = await this.#connection(record, instance);
        const paths = await startRun(connection, taskId, { ...workload.spec, volumes: [] }, (run) => this.#uploads(workload, run, taskId, rank, leaderIp));
        started.push({ connection, paths });
      }
      await this.#records.write(record);
    } catch (error) {
      await stopStarted();
      throw error;
    } finally {
      await removeExitHandler();
    }
    this.#context.progress(`task ${taskId} started on reservation ${reservation.fid} (${instances.map((i) => i.fid).join(", ")})`);
    return this.getTask(taskId);
  }

  /** The active reservation that fits the task (type, region, size), the one with the most time left. */
  async #matching(config: TaskConfig): Promise<ApiReservation | undefined> {
    const all = await this.#context.client.listReservations({ project: await this.#context.projectFid(), status: "Active" });
    if (all.length === 0) return undefined;
    const catalog = await this.#context.catalog();
    const wanted = config.instanceType === undefined ? undefined : catalog.resolve(config.instanceType).fid;
    const fits = all.filter((r) => {
      if (r.instance_quantity < config.numInstances) return false;
      if (config.region !== undefined && r.region !== config.region) return false;
      if (wanted !== undefined) return r.instance_type === wanted;
      const type = catalog.entries.find((e) => e.fid === r.instance_type);
      return config.minGpuMemoryGb === undefined || (type !== undefined && type.gpuMemoryGb >= config.minGpuMemoryGb);
    });
    return fits.sort((a, b) => b.end_time.localeCompare(a.end_time))[0];
  }

  /** The startup script's parts, and what must go over SSH (see the bid's submit in fcp-task-provider.ts). */
  #workload(config: TaskConfig, code: CodePackage | undefined, options: { inline: boolean }): Workload {
    const plainEnv = Object.fromEntries(Object.entries(config.env).filter(([name]) => !isSecretEnvName(name)));
    const secretEnv = Object.entries(config.env).filter(([name]) => isSecretEnvName(name));
    const inline =
      options.inline && code !== undefined && (config.uploadStrategy === "embedded" || (config.uploadStrategy !== "scp" && code.archive.byteLength <= INLINE_ARCHIVE_LIMIT_BYTES));
    const suffix = randomBytes(3).toString("hex");
    const name = config.uniqueName ? `${config.name.slice(0, MAX_TASK_NAME_LENGTH - suffix.length - 1)}-${suffix}` : config.name;
    const nodeEnv: Record<string, string> = config.numInstances === 1 ? { FLOW_NODE_RANK: "0", FLOW_MAIN_IP: "127.0.0.1" } : {};
    return {
      name,
      spec: {
        workload: { kind: "command", command: config.command, workingDir: config.workingDir },
        env: { ...plainEnv, FLOW_TASK_NAME: name, FLOW_NUM_NODES: String(config.numInstances), ...nodeEnv },
        image: config.image,
        gpus: true,
        ...(config.maxRunTimeHours === undefined || config.maxRunTimeHours === 0 ? {} : { maxRunTimeHours: config.maxRunTimeHours }),
      },
      ...(code === undefined ? {} : inline ? { inlineArchive: code.archive } : { uploadedArchive: code.archive }),
      secretEnv,
      assignRanks: config.numInstances > 1 && config.distributedMode !== "manual",
    };
  }

  /** The env file (secret env, the task id, the node's rank) and the code archive, into `paths`. */
  #uploads(workload: Workload, paths: InstancePaths, taskId: string, rank: number, leaderIp: string): Upload[] {
    const env: [string, string][] = [
      ...workload.secretEnv,
      ["FLOW_TASK_ID", taskId],
      ...(workload.assignRanks ? ([["FLOW_NODE_RANK", String(rank)], ["FLOW_MAIN_IP", leaderIp]] as [string, string][]) : []),
    ];
    const envFile = env.map(([name, value]) => `${name}=${quote(value)}\n`).join("");
    return [
      { data: new TextEncoder().encode(envFile), remotePath: paths.secretEnv, mode: 0o600 },
      ...(workload.uploadedArchive === undefined ? [] : [{ data: workload.uploadedArchive, remotePath: paths.archive }]),
    ];
  }

  /** A task that reserved for itself and needs uploads: waits for its instances, then uploads to each. */
  async #uploadToBooted(record: ReservationTaskRecord, workload: Workload): Promise<void> {
    const instances = await this.#reservations.runningInstances(record.reservation, record.config["numInstances"] as number);
    const leaderIp = instances[0]!.private_ip || parseSshDestination(instances[0]!.ssh_destination ?? "").host;
    const key = (await this.#context.sshKey()).pair;
    for (const [rank, instance] of instances.entries()) {
      const connection = await InstanceConnection.open(instance, key);
      try {
        await connection.waitUntilReady();
        await connection.upload(this.#uploads(workload, connection.paths, record.taskId, rank, leaderIp));
        this.#context.progress(`uploaded the task's files to ${instance.fid}`);
      } finally {
        connection.close();
      }
    }
  }

  #refuseVolumes(config: TaskConfig, what: string): void {
    if (config.volumes.length === 0) return;
    throw new ValidationError(`${what} cannot mount volumes yet: a reservation's volumes are fixed when it is created.`, {
      issues: [{ path: "volumes", message: "not supported with reserved capacity" }],
      suggestions: ["run the task on the spot market to mount volumes (allocationMode spot)"],
    });
  }

  async #extraKeys(config: TaskConfig): Promise<string[]> {
    if (config.sshKeys.length === 0) return [];
    const known = await this.#context.client.listSshKeys(await this.#context.projectFid());
    return config.sshKeys.map((wanted) => {
      const key = known.find((k) => k.fid === wanted || k.name === wanted);
      if (key === undefined) {
        throw new ValidationError(`SSH key ${JSON.stringify(wanted)} is not registered with project ${this.#context.config.project}.`, {
          issues: [{ path: "sshKeys", message: `unknown key ${JSON.stringify(wanted)}`, suggestion: `registered keys: ${known.map((k) => k.name).join(", ") || "none"}` }],
        });
      }
      return key.fid;
    });
  }

  // ---- observing -----------------------------------------------------------------------------

  async #record(taskId: string): Promise<ReservationTaskRecord> {
    const record = await this.#records.read(taskId);
    if (record !== undefined) return record;
    if (taskId.startsWith("res_")) {
      throw new TaskNotFoundError(`${taskId} is a reservation, not a task this machine started on one.`, {
        suggestions: [`see it with \`flow reserve show ${taskId}\``],
      });
    }
    throw new TaskNotFoundError(`No task ${taskId} on this machine: tasks on reservations are known to the machine that started them.`, {
      suggestions: ["list them with `flow list`"],
    });
  }

  async #observe(record: ReservationTaskRecord): Promise<Observed> {
    try {
      const reservation = await this.#context.client.getReservation(await this.#context.projectFid(), record.reservation);
      return { reservation, instances: await this.#reservations.instances(reservation) };
    } catch (error) {
      if (error instanceof ResourceNotFoundError) return { instances: [] };
      throw error;
    }
  }

  /** The task's own instances: those it was delivered to, or all of its reservation's. */
  #own(record: ReservationTaskRecord, instances: readonly Instance[]): Instance[] {
    if (record.kind === "reservation") return [...instances];
    return record.instances.flatMap((fid) => instances.filter((i) => i.fid === fid));
  }

  #leader(record: ReservationTaskRecord, observed: Observed): Instance | undefined {
    return this.#own(record, observed.instances)[0];
  }

  /** What the leader's files say: the exit code, or (a delivered run) that its process died without one. */
  async #probe(record: ReservationTaskRecord, leader: Instance): Promise<Partial<ReservationTaskRecord> | undefined> {
    try {
      const connection = await this.#connection(record, leader, PROBE_LOGIN_TIMEOUT_MS);
      const paths = this.#paths(record, connection);
      if (record.kind === "reservation") {
        const code = Number.parseInt((await connection.read(paths.exitCode))?.trim() ?? "", 10);
        return Number.isInteger(code) ? { exitCode: code, endedAt: new Date().toISOString() } : undefined;
      }
      const state = await runState(connection, paths);
      if (state.exitCode !== undefined) return { exitCode: state.exitCode, endedAt: new Date().toISOString() };
      if (!state.alive) return { failure: `its process on ${leader.fid} ended without an exit code (the instance stopped or was restarted)`, endedAt: new Date().toISOString() };
      return undefined;
    } catch {
      this.#forget(record.taskId);
      return undefined;
    }
  }

  #info(record: ReservationTaskRecord, observed: Observed): TaskInfo {
    const { reservation } = observed;
    const own = this.#own(record, observed.instances);
    const { status, message } = statusOf(record, reservation, own);
    const leader = own[0];
    const ssh = leader?.ssh_destination ? parseSshDestination(leader.ssh_destination) : undefined;
    const config = record.config as TaskConfig;
    const started = record.kind === "delivered" ? record.createdAt : reservation?.status === "Pending" ? undefined : reservation?.start_time;
    const ended = record.endedAt ?? (isTerminalStatus(status) ? (reservation?.deactivated_at ?? undefined) : undefined);
    return {
      taskId: record.taskId,
      name: record.name,
      status,
      config,
      createdAt: new Date(record.createdAt),
      ...(started === undefined ? {} : { startedAt: new Date(started) }),
      ...(ended ? { completedAt: new Date(ended) } : {}),
      instanceType: record.instanceTypeName,
      numInstances: config.numInstances,
      region: record.region,
      costPerHour: record.unitPrice,
      ...(reservation === undefined ? {} : { createdBy: reservation.created_by }),
      ...(ssh === undefined ? {} : { sshHost: ssh.host, sshPort: ssh.port, sshUser: INSTANCE_SSH_USER, shellCommand: `flow ssh ${record.taskId}` }),
      endpoints: {},
      instances: own.map((i) => i.fid),
      message,
      ...(record.exitCode === undefined ? {} : { exitCode: record.exitCode }),
      providerMetadata: {
        allocation: "reserved",
        reservation: record.reservation,
        reservationStatus: reservation?.status ?? "unknown",
        instanceStatuses: own.map((i) => i.status),
        unitPrice: record.unitPrice,
      },
    };
  }

  /**
   * Waits until the task's first instance runs, and answers it — also once the task has ended, as
   * long as the instance (and so its output) is there. Undefined when it ended without one (or
   * `signal` fired).
   */
  async #untilStarted(taskId: string, options: FollowLogsOptions): Promise<{ record: ReservationTaskRecord; leader: Instance } | undefined> {
    for (;;) {
      if (options.signal?.aborted) return undefined;
      const record = await this.#record(taskId);
      const observed = await this.#observe(record);
      const leader = this.#leader(record, observed);
      if (leader?.status === "STATUS_RUNNING" && leader.ssh_destination) return { record, leader };
      const info = this.#info(record, observed);
      if (isTerminalStatus(info.status)) return undefined;
      options.onWaiting?.(info);
      await sleep(2_000, options.signal).catch(() => {});
    }
  }

  /** The task's files on the instance: a delivered run's directory, or the instance root. */
  #paths(record: ReservationTaskRecord, connection: InstanceConnection): InstancePaths {
    return record.kind === "delivered" ? runPaths(connection.paths.root, record.taskId) : connection.paths;
  }

  /** One SSH connection per task (to `instance`) for probes and logs, reopened if it dropped. */
  #connection(record: ReservationTaskRecord, instance: Instance, timeoutMs?: number): Promise<InstanceConnection> {
    return sharedConnection(this.#connections, `${record.taskId}/${instance.fid}`, async () =>
      InstanceConnection.open(instance, (await this.#context.sshKey()).pair, timeoutMs === undefined ? {} : { timeoutMs }),
    );
  }

  #forget(taskId: string): void {
    for (const [key, pending] of [...this.#connections]) {
      if (!key.startsWith(`${taskId}/`)) continue;
      this.#connections.delete(key);
      void pending.then((c) => c.close()).catch(() => {});
    }
  }
}

function isDecided(record: ReservationTaskRecord): boolean {
  return record.cancelled === true || record.exitCode !== undefined || record.failure !== undefined;
}

/** The task's status from its record (what the client learned), its reservation and its instances. */
function statusOf(record: ReservationTaskRecord, reservation: ApiReservation | undefined, own: readonly Instance[]): { status: TaskStatus; message: string } {
  const cancelledByUser = { status: TaskStatus.CANCELLED, message: "cancelled by the user" };
  if (record.cancelled) return cancelledByUser;
  const derived = observedStatus(record, reservation, own);
  // However it ended once the user began to cancel it (killed, its reservation canceled), that was the cancel.
  return record.cancelRequestedAt !== undefined && isTerminalStatus(derived.status) ? cancelledByUser : derived;
}

function observedStatus(record: ReservationTaskRecord, reservation: ApiReservation | undefined, own: readonly Instance[]): { status: TaskStatus; message: string } {
  if (record.failure !== undefined) return { status: TaskStatus.FAILED, message: record.failure };
  if (record.exitCode !== undefined) {
    return record.exitCode === 0 ? { status: TaskStatus.COMPLETED, message: "exited with code 0" } : { status: TaskStatus.FAILED, message: `exited with code ${record.exitCode}` };
  }
  const where = `reservation ${record.reservation}`;
  if (reservation === undefined) return { status: TaskStatus.FAILED, message: `${where} no longer exists` };
  switch (reservation.status) {
    case "Canceled":
      return { status: TaskStatus.CANCELLED, message: `${where} was canceled before the task reported an exit code` };
    case "Ended":
      return { status: TaskStatus.FAILED, message: `${where} ended before the task reported an exit code` };
    case "Paused":
      return { status: TaskStatus.PAUSED, message: `${where} is paused (its instances are stopped)` };
    case "Pending":
      return { status: TaskStatus.PENDING, message: `waiting for ${where} to start at ${reservation.start_time}` };
    case "Active":
      break;
  }
  const errored = own.find((i) => i.status === "STATUS_ERROR");
  if (errored !== undefined) return { status: TaskStatus.FAILED, message: `instance ${errored.fid} failed (STATUS_ERROR)` };
  const gone = own.find((i) => ENDED_INSTANCE_STATUSES.has(i.status));
  if (gone !== undefined) return { status: TaskStatus.FAILED, message: `instance ${gone.fid} ended (${gone.status}) before the task reported an exit code` };
  if (own.length > 0 && own.every((i) => i.status === "STATUS_RUNNING")) return { status: TaskStatus.RUNNING, message: `running on ${where}` };
  if (own.some((i) => i.status === "STATUS_PAUSED")) {
    return { status: TaskStatus.PAUSED, message: `an instance of ${where} is stopped (STATUS_PAUSED)` };
  }
  const steps = [...new Set(own.map((i) => i.status))].join(", ");
  return { status: TaskStatus.PENDING, message: `reserved instances booting${steps === "" ? "" : ` (${steps})`}` };
}

function uploadReasons(workload: Workload): string[] {
  return [
    ...(workload.uploadedArchive === undefined ? [] : ["its code (over 4 KiB)"]),
    ...(workload.secretEnv.length === 0 ? [] : ["its secret env"]),
    ...(workload.assignRanks ? ["its nodes' ranks"] : []),
  ];
}

