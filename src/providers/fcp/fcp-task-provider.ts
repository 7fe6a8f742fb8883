/**
 * Tasks on the FCP cloud: one spot bid per attempt (the first bid's FID is the task id), its
 * instances booted by a startup script that runs the command, logs and shells over SSH. Tasks on
 * reserved capacity (`allocationMode` reserved or auto) are handed to ReservationTasks
 * (reservation-tasks.ts).
 *
 * Secret env values never enter the startup script (which the API stores): when a task has any,
 * or its code is too big to ride in the script, or it reads S3 data, submit() waits for the
 * instance and uploads them over SFTP before the command starts.
 *
 * When the task ends (a client sees it in reconcile), its exit code and final logs are copied
 * into the local record and its instances released at once, unless `keepAliveMinutes` keeps
 * them up. A preempted or lost attempt is retried on a new bid (`retries`), uploads and all.
 */
import { randomBytes } from "node:crypto";
import { open as openFile, writeFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import { AuthenticationError, ResourceNotFoundError, TaskNotFoundError, ValidationError } from "../../errors.ts";
import { cleanUpBeforeExit } from "../../clean-up-before-exit.ts";
import { sleep } from "../../sleep.ts";
import type { InstanceCatalog } from "../../instance-types/catalog.ts";
import type { Instance as TaskInstance } from "../../task/instance.ts";
import { retryDelayMs, type Retries } from "../../task/retries.ts";
import { isSecretEnvName, redactEnv } from "../../task/secret-env.ts";
import { MAX_TASK_NAME_LENGTH, type TaskConfig } from "../../task/task-config.ts";
import type { TaskAttempt, TaskInfo } from "../../task/task-info.ts";
import { isTerminalStatus, type TaskStatus } from "../../task/task-status.ts";
import type { User } from "../../task/user.ts";
import type { CreateVolumeOptions, Volume } from "../../task/volume.ts";
import { resolveFlowHome } from "../flow-home.ts";
import { s3HelperPath } from "../../sdk-paths.ts";
import { decodingSplitter, lastLines, READ_CHUNK_BYTES, tailStart, type ByteSource } from "../log-lines.ts";
import { resolveS3Access, type S3Access } from "../s3/s3-access.ts";
import type { FollowLogsOptions, ForwardPortsOptions, PortForwards, ReadLogsOptions, ShellOptions, SubmitRequest, TaskProvider } from "../task-provider.ts";
import type { Bid, Instance, InstancePricingHistory } from "./api/schemas.ts";
import { BidLedger, cancelOrphanBids } from "./bid-ledger.ts";
import { FcpAccount } from "./fcp-account.ts";
import { FcpContext, type FcpContextOptions } from "./fcp-context.ts";
import { FcpDevMachines } from "./dev-machines.ts";
import { checkInterconnect, planDataMounts, refuseUnsupportedOnFcp } from "./fcp-task-fields.ts";
import { FcpVolumes, regionOfVolumes } from "./fcp-volumes.ts";
import { InstanceConnection, type Upload } from "./instance-connection.ts";
import { INSTANCE_SSH_USER } from "./instance-layout.ts";
import { inBidOrder, parseSshDestination, placeBid, waitForRunningInstances } from "./instance-launch.ts";
import { agentBidKind, INLINE_ARCHIVE_LIMIT_BYTES, type AgentBidKind } from "./fcp-provider.ts";
import { choosePlacement, dollars, placementNotes, suggestedLimit } from "./placement.ts";
import { ReservationTasks } from "./reservation-tasks.ts";
import { sharedConnection } from "./shared-connection.ts";
import { quote } from "./startup-script/bash.ts";
import { buildStartupScript } from "./startup-script/index.ts";
import { taskCost, dollarString } from "./task-cost.ts";
import { collectLogs, localLogPath, logFileName } from "./task-logs.ts";
import { TaskRecords, type AttemptRecord, type TaskRecord, type UploadsRecord } from "./task-records.ts";
import { taskInstance } from "./task-instance.ts";
import { ENDED_INSTANCE_STATUSES, taskStatusFromApi, type ObservedOutcome } from "./task-status-from-api.ts";

/**
 * After the command exits, an instance no client has seen end waits this long for one to collect
 * its exit code and logs (a client that sees the end releases it at once).
 */
const LINGER_SECONDS = 10 * 60;
const TERMINATE_ON_EXIT_GRACE_SECONDS = 30;
const PROBE_LOGIN_TIMEOUT_MS = 20_000;
const LIST_BATCH = 10;
/** The line a followed log's remote command prints once it sent the file to its end. */
const FOLLOW_END = "[flow-sdk: end of log]";

export interface FcpTaskProviderOptions extends FcpContextOptions {
  context?: FcpContext;
}

/** A task as the provider sees it: its id (the first bid's FID), its record, and the bid of its current attempt. */
interface CloudTask {
  taskId: string;
  record: TaskRecord | undefined;
  bid: Bid;
}

/** What the submitting process keeps in memory (never on disk) so a retry can upload it again. */
interface HeldSecrets {
  secretEnv: [string, string][];
}

/** What an attempt's instances get over SFTP before the command starts. */
interface Delivery {
  archive?: Uint8Array | { localPath: string };
  secretEnv: [string, string][];
  assignRanks: boolean;
  s3: S3Access[];
}

export class FcpTaskProvider implements TaskProvider {
  readonly name = "fcp";
  readonly statusPollIntervalMs = 2_000;
  readonly context: FcpContext;
  readonly account: FcpAccount;
  readonly devMachines: FcpDevMachines;
  readonly #records: TaskRecords;
  readonly #volumes: FcpVolumes;
  /** Tasks on reserved capacity (`res_…`, `rtask_…`): every method hands them over. */
  readonly #reserved: ReservationTasks;
  readonly #connections = new Map<string, Promise<InstanceConnection>>();
  readonly #bids: BidLedger;
  readonly #held = new Map<string, HeldSecrets>();
  /** Per task, the reconcile in flight: concurrent callers (a status poll, two log followers) share it. */
  readonly #reconciling = new Map<string, Promise<TaskInfo>>();
  #swept: Promise<void> | undefined;

  constructor(options: FcpTaskProviderOptions = {}) {
    this.context = options.context ?? new FcpContext(options);
    this.#records = new TaskRecords(options.flowHome, (message) => this.context.progress(`warning: ${message}`));
    this.#bids = new BidLedger(options.flowHome);
    this.#volumes = new FcpVolumes(this.context);
    this.account = new FcpAccount(this.context);
    const flowHome = options.flowHome ?? resolveFlowHome();
    this.#reserved = new ReservationTasks(this.context, this.account.reservations, flowHome);
    this.devMachines = new FcpDevMachines(this, flowHome);
  }

  async submit(request: SubmitRequest): Promise<TaskInfo> {
    const { config, code: packaged } = request;
    const context = this.context;
    refuseUnsupportedOnFcp(config);
    const reserved = await this.#reserved.submit(request);
    if (reserved !== undefined) return reserved;
    const devVm = config.devVm ?? isTruthy(context.env["FLOW_DEV_VM"]);
    // A developer VM and `uploadStrategy: none` upload no code.
    const code = devVm || config.uploadStrategy === "none" ? undefined : packaged;
    const data = planDataMounts(config);
    const taskVolumes = [...config.volumes, ...data.volumes];
    // Credentials first: a task that could not read its data must not be bid for.
    const s3 = await Promise.all(data.s3.map((mount) => s3AccessFor(context.env, mount)));
    const [catalog, key, existingVolumes, types] = await Promise.all([context.catalog(), context.sshKey(), this.#volumes.existing(taskVolumes), context.instanceTypes()]);
    const volumesRegion = regionOfVolumes(existingVolumes, config.region);
    const configuredRegion = volumesRegion === undefined && config.region === undefined ? context.configuredRegion : undefined;
    const region = volumesRegion ?? config.region ?? configuredRegion?.region;
    const placement = choosePlacement(catalog, {
      ...(config.instanceType === undefined ? {} : { instanceType: config.instanceType }),
      ...(config.minGpuMemoryGb === undefined ? {} : { minGpuMemoryGb: config.minGpuMemoryGb }),
      ...(region === undefined ? {} : { region }),
      ...(config.maxPricePerHour === undefined ? {} : { maxPricePerHour: config.maxPricePerHour }),
      priority: config.priority,
      quantity: config.numInstances,
    });
    checkInterconnect(config, placement, types);
    const notes = placementNotes(catalog, placement, {
      ...(config.instanceType === undefined ? {} : { instanceType: config.instanceType }),
      quantity: config.numInstances,
      ...(configuredRegion === undefined ? {} : { configuredRegion }),
    });
    for (const note of notes) context.progress(note);

    const plainEnv = Object.fromEntries(Object.entries(config.env).filter(([name]) => !isSecretEnvName(name)));
    const secretEnv = Object.entries(config.env).filter(([name]) => isSecretEnvName(name));
    const inline = code !== undefined && chooseInline(config, code.archive.byteLength);
    const uploadedArchive = code !== undefined && !inline ? code.archive : undefined;
    // One script serves every instance of the bid, so a node's rank (and the leader's address)
    // can only reach it in the env file the client uploads; a single node needs none of that.
    const assignRanks = config.numInstances > 1 && config.distributedMode !== "manual";
    const nodeEnv: Record<string, string> = config.numInstances === 1 ? { FLOW_NODE_RANK: "0", FLOW_MAIN_IP: "127.0.0.1" } : {};
    const expectUploads = uploadedArchive !== undefined || secretEnv.length > 0 || assignRanks || s3.length > 0;
    const volumes = await this.#volumes.mounts(taskVolumes, existingVolumes, placement.region);
    const suffix = randomBytes(3).toString("hex");
    const name = config.uniqueName ? `${config.name.slice(0, MAX_TASK_NAME_LENGTH - suffix.length - 1)}-${suffix}` : config.name;
    const keepAliveSeconds = Math.round(config.keepAliveMinutes * 60);

    const { script } = buildStartupScript({
      workload: { kind: "command", command: config.command, workingDir: config.workingDir },
      ...(inline ? { inlineArchive: code.archive } : {}),
      expectUploads,
      env: { ...plainEnv, FLOW_TASK_NAME: name, FLOW_NUM_NODES: String(config.numInstances), ...nodeEnv },
      image: config.image,
      gpus: true,
      volumes,
      ...(config.maxRunTimeHours ? { maxRunTimeHours: config.maxRunTimeHours } : {}),
      ...(config.deadlineHours === undefined ? {} : { deadline: new Date(Date.now() + config.deadlineHours * 3_600_000).toISOString() }),
      ...(data.s3.length === 0 ? {} : { s3Mounts: data.s3.map(({ source, target }) => ({ source, target })) }),
      uploadWaitSeconds: Math.round(config.uploadTimeoutMs / 1000),
      ...(devVm ? { onHost: true } : {}),
      poweroffGraceSeconds: keepAliveSeconds > 0 ? keepAliveSeconds : config.terminateOnExit ? TERMINATE_ON_EXIT_GRACE_SECONDS : LINGER_SECONDS,
    });
    // Until the uploads are in, the instance cannot run the task: interrupted (from the moment the
    // bid may exist), crashed or failed, the bid goes rather than idle until the script's upload
    // deadline. Killed outright (SIGKILL, power), this process leaves the bid in the ledger for
    // the next run to cancel: under its unique name from before the POST, or by FID once placed
    // when the name is the user's own (another bid may share it).
    const project = await context.projectFid();
    const ledgerKey = (fid: string) => (config.uniqueName ? name : fid);
    let placing: Promise<Bid> | undefined;
    const removeExitHandlers = expectUploads
      ? cleanUpBeforeExit(async () => {
          const placed = await placing?.catch(() => undefined);
          if (placed === undefined) return;
          await context.client.cancelBid(placed.fid);
          await this.#bids.remove(ledgerKey(placed.fid));
        })
      : async () => {};
    try {
      await (this.#swept ??= cancelOrphanBids(context, this.#bids));
      if (expectUploads && config.uniqueName) await this.#bids.intend(name, project);
      placing = placeBid(context, {
        name,
        placement,
        startupScript: script,
        quantity: config.numInstances,
        sshKeyFids: [key.fid, ...(await this.#extraKeys(config))],
        volumeFids: volumes.map((v) => v.volumeFid),
      });
      const bid = await placing;
      if (expectUploads) await this.#keepRecord(bid.fid, () => (config.uniqueName ? this.#bids.placed(name, bid.fid) : this.#bids.record(bid.fid, name, project)));
      // A retry uploads the archive again: it is kept beside the record while the task may need it.
      const archivePath = uploadedArchive !== undefined && config.retries !== undefined ? await this.#keepArchive(bid.fid, uploadedArchive) : undefined;
      const uploads: UploadsRecord = {
        ...(archivePath === undefined ? {} : { archivePath }),
        secretEnvNames: secretEnv.map(([n]) => n),
        ranks: assignRanks,
        s3: data.s3.map(({ field, profile }) => ({ field, ...(profile === undefined ? {} : { profile }) })),
      };
      await this.#keepRecord(bid.fid, () =>
        this.#records.write({
          taskId: bid.fid,
          name,
          createdAt: new Date().toISOString(),
          config: { ...config, env: redactEnv(config.env) },
          instanceTypeName: placement.instanceTypeName,
          region: placement.region,
          limitPrice: bid.limit_price,
          attempts: [{ bid: bid.fid, placedAt: new Date().toISOString() }],
          ...(expectUploads ? { uploads } : {}),
        }),
      );
      if (secretEnv.length > 0) this.#held.set(bid.fid, { secretEnv });
      if (expectUploads) {
        let deliveredTo: string[];
        try {
          deliveredTo = await this.#deliver(bid, bid.fid, { ...(uploadedArchive === undefined ? {} : { archive: uploadedArchive }), secretEnv, assignRanks, s3 });
        } catch (error) {
          // Not cancelled, it stays in the ledger for the next run to cancel.
          await context.client
            .cancelBid(bid.fid)
            .then(() => this.#bids.remove(ledgerKey(bid.fid)))
            .catch(() => {});
          throw error;
        }
        await this.#bids.remove(ledgerKey(bid.fid));
        await this.#keepRecord(bid.fid, () => this.#updateAttempt(bid.fid, bid.fid, { deliveredTo }));
      }
      return await this.getTask(bid.fid);
    } finally {
      // After Ctrl-C this waits for the exit: the cancelled bid fails the wait for its instance,
      // and that error must not exit 1 before the cancel is answered.
      await removeExitHandlers();
    }
  }

  /**
   * Local bookkeeping for a bid that is placed: if it cannot be written (a full disk), the task
   * still runs, so that is said rather than failing the submit (a user who saw it fail would
   * submit it again, and pay twice).
   */
  async #keepRecord(fid: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.context.progress(`warning: task ${fid} is placed and runs, but its local record could not be written: ${(error as Error).message}`);
    }
  }

  async #keepArchive(taskId: string, archive: Uint8Array): Promise<string> {
    const dir = this.#records.logsDir(taskId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = `${dir}/code.tar.gz`;
    await writeFile(path, archive, { mode: 0o600 });
    return path;
  }

  /** What the API and this machine's records say: a read, with no SSH and nothing written or cancelled. */
  async getTask(taskId: string): Promise<TaskInfo> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.getTask(taskId);
    return this.#info(await this.#task(taskId));
  }

  /**
   * Brings the records up to date, then answers as getTask. Only the instance knows a command's
   * exit code: so while the task is undecided and its instance runs, its completion marker (and
   * why setup failed, if it did) is read over SSH; once the task has ended, its final logs are
   * copied here and its instances released (unless `keepAliveMinutes` keeps them). A preempted or
   * lost attempt is retried on a new bid when the task has `retries`; without them, a bid whose
   * replacement instance can never get the task's uploads is cancelled.
   */
  async reconcile(taskId: string): Promise<TaskInfo> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.reconcile(taskId);
    let pending = this.#reconciling.get(taskId);
    if (pending === undefined) {
      pending = this.#task(taskId).then((task) => this.#reconciled(task));
      this.#reconciling.set(taskId, pending);
      void pending.catch(() => {}).finally(() => this.#reconciling.delete(taskId));
    }
    return pending;
  }

  async listTasks(filter: { status?: TaskStatus; limit: number }): Promise<TaskInfo[]> {
    const project = await this.context.projectFid();
    const [bids, records] = await Promise.all([this.context.client.listBids({ project }), this.#records.list()]);
    const byFid = new Map(bids.map((bid) => [bid.fid, bid]));
    const recordOf = new Map(records.map((record) => [record.taskId, record]));
    // A retried task is listed once, by its first bid; its later attempts' bids are its own.
    const laterAttempts = new Set(records.flatMap((record) => (record.attempts ?? []).slice(1).map((a) => a.bid)));
    const tasks: CloudTask[] = [...bids]
      .filter((bid) => !laterAttempts.has(bid.fid))
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .map((first) => {
        const record = recordOf.get(first.fid);
        const current = record?.attempts?.at(-1)?.bid;
        return { taskId: first.fid, record, bid: (current === undefined ? undefined : byFid.get(current)) ?? first };
      });
    // The instances of every live bid, and what every instance was billed, in one listing each.
    const live = tasks.map((t) => t.bid).filter((bid) => bid.status !== "Terminated" && bid.instances.length > 0);
    const [instances, pricing] = await Promise.all([
      this.context.client.listInstances({ project, bidFids: live.map((bid) => bid.fid) }),
      this.context.client.listInstancePricingHistory({ project }).catch(() => [] as InstancePricingHistory[]),
    ]);
    const result: TaskInfo[] = [];
    for (let start = 0; start < tasks.length && result.length < filter.limit; start += LIST_BATCH) {
      const batch = tasks.slice(start, start + LIST_BATCH);
      const infos = await Promise.all(
        batch.map((task) => this.#info(task, { instances: inBidOrder(task.bid, instances.filter((i) => i.bid === task.bid.fid)), pricing })),
      );
      result.push(...infos.filter((info) => filter.status === undefined || info.status === filter.status));
    }
    const reserved = (await this.#reserved.list(filter.status === undefined ? filter.limit : Number.POSITIVE_INFINITY)).filter((info) => filter.status === undefined || info.status === filter.status);
    return [...result, ...reserved].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()).slice(0, filter.limit);
  }

  async cancel(taskId: string): Promise<TaskInfo> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.cancel(taskId);
    const task = await this.#task(taskId);
    // A command that already ended keeps its outcome: ask its instance before cancelling (which,
    // for an ended task, copies its logs and releases it).
    const before = await this.reconcile(task.taskId);
    const { bid, record } = await this.#task(task.taskId);
    if (bid.status !== "Terminated") {
      const instances = await this.#instances(bid);
      // Its logs outlive it: copied first, as far as the instance lets us.
      if (record?.logs === undefined) await this.#collect({ ...task, bid, record }, instances).catch(() => undefined);
      // Recorded before the API ends the bid: a follower that sees it end in between (or after
      // this process died) reads it as cancelled by the user, not as a bid that vanished; and
      // when it ran, which the ended bid no longer tells.
      const ran = instances.find((instance) => instance.status === "STATUS_RUNNING");
      await this.#records.update(task.taskId, {
        cancelRequestedAt: new Date().toISOString(),
        ...(ran === undefined || record?.startedAt !== undefined ? {} : { startedAt: ran.created_at }),
      });
      await this.context.client.cancelBid(bid.fid).catch(async (error: unknown) => {
        await this.#records.update(task.taskId, { cancelRequestedAt: undefined });
        throw error;
      });
    }
    if (!isTerminalStatus(before.status)) await this.#records.update(task.taskId, { cancelled: true, endedAt: new Date().toISOString() });
    this.#forget(task.taskId);
    await this.#settleCost(task.taskId);
    return this.getTask(task.taskId);
  }

  async readLogs(taskId: string, options: ReadLogsOptions): Promise<string> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.readLogs(taskId, options);
    const task = await this.#task(taskId);
    const node = options.node ?? 0;
    const name = logFileName(options.source ?? "task", options.stream);
    if (task.record?.logs !== undefined) return joinLines(await this.#localLines(task, node, name, options.tail));
    const { bid } = task;
    const instances = bid.status === "Terminated" ? [] : await this.#instances(bid);
    const instance = instances[node];
    // The startup log is there from the moment the machine answers SSH; the command's once it runs.
    const reachable = name === "startup" ? instance?.ssh_destination : instance?.status === "STATUS_RUNNING";
    if (!reachable) {
      const info = await this.#info(task, { instances });
      if (node >= bid.instance_quantity) throw new ValidationError(`Task ${task.taskId} has ${bid.instance_quantity} node(s); there is no node ${node}.`);
      if (!isTerminalStatus(info.status)) {
        throw new ValidationError(`Task ${task.taskId} has not started yet: ${info.message ?? info.status}.`, {
          suggestions: [
            `follow it with \`flow logs ${task.taskId} -f\`: that waits for it to start, then streams its output`,
            ...(name === "startup" ? [] : [`its machine's boot log: \`flow logs ${task.taskId} --startup\``]),
          ],
          errorCode: "task_not_started",
        });
      }
      throw new ValidationError(`Task ${task.taskId} has ended (${info.status}) and its logs were not kept: its instance is gone.`, {
        suggestions: ["logs are kept once a client sees a task end (`flow status`, `flow logs`, `task.wait()`) while its instance is still up"],
      });
    }
    let connection: InstanceConnection;
    try {
      connection = await InstanceConnection.open(instance!, (await this.context.sshKey()).pair, { timeoutMs: PROBE_LOGIN_TIMEOUT_MS });
    } catch (error) {
      // Released just now by a client that saw the task end: its logs are kept here then.
      const again = await this.#task(taskId);
      if (again.record?.logs !== undefined) return joinLines(await this.#localLines(again, node, name, options.tail));
      throw error;
    }
    try {
      const file = await connection.ssh.openFile(remoteLogPath(connection, name));
      if (file === undefined) return "";
      try {
        return joinLines(await lastLines(file, options.tail));
      } finally {
        await file.close();
      }
    } finally {
      connection.close();
    }
  }

  async *followLogs(taskId: string, options: FollowLogsOptions): AsyncIterable<string> {
    if (ReservationTasks.owns(taskId)) {
      yield* this.#reserved.followLogs(taskId, options);
      return;
    }
    const node = options.node ?? 0;
    const name = logFileName(options.source ?? "task", options.stream);
    const reached = await this.#reachLogs(taskId, options, node, name);
    if (reached === undefined) return;
    if ("kept" in reached) {
      yield* await this.#localLines(reached.kept, node, name, options.tail);
      return;
    }
    const { connection } = reached;
    try {
      const { paths } = connection;
      const file = remoteLogPath(connection, name);
      // Where the last `tail` lines start is found over SFTP, reading back from the end; the remote
      // tail then sends the bytes from there on, however the task writes (it has no notion of \r).
      const remote = await connection.ssh.openFile(file);
      const start = remote === undefined ? 0 : await tailStart(remote, options.tail, await remote.size()).finally(() => remote.close());
      // tail -F until the completion marker appears: --pid makes tail end once the waiter does, and
      // only after it has sent the file to its end, however far behind a slow reader has held it.
      // The end line says the file was sent to its end; without it the connection was cut (another
      // client saw the task end and released the instance, after keeping its logs).
      const command =
        `touch ${quote(file)} 2>/dev/null; (while [ ! -e ${quote(paths.exitCode)} ]; do sleep 0.5; done) & w=$!; ` +
        `tail -c +${start + 1} -F --pid=$w ${quote(file)} 2>/dev/null; kill $w 2>/dev/null; ` +
        // An unfinished last line is ended first, so the end line is a line of its own.
        `if [ -n "$(tail -c 1 ${quote(file)})" ]; then echo; fi; printf '%s\\n' ${quote(FOLLOW_END)}`;
      let yielded = 0;
      let ended = false;
      for await (const line of connection.ssh.lines(command, options.signal === undefined ? {} : { signal: options.signal })) {
        if (line === FOLLOW_END) {
          ended = true;
          break;
        }
        yield line;
        yielded++;
      }
      if (ended || options.signal?.aborted) return;
      const kept = await this.#task(taskId);
      if (kept.record?.logs !== undefined) yield* this.#keptLinesFrom(kept, node, name, start, yielded);
    } finally {
      connection.close();
    }
  }

  /** The kept log's lines from byte `offset`, after skipping the first `skip` (already followed). */
  async *#keptLinesFrom(task: CloudTask, node: number, name: ReturnType<typeof logFileName>, offset: number, skip: number): AsyncIterable<string> {
    const handle = await openFile(localLogPath(this.#records.logsDir(task.taskId), node, name), "r").catch(() => undefined);
    if (handle === undefined) return;
    try {
      const lines: string[] = [];
      const splitter = decodingSplitter(lines, offset);
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      let seen = 0;
      for (let position = offset; ; ) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) splitter.end();
        else splitter.push(buffer.subarray(0, bytesRead));
        for (const line of lines) if (seen++ >= skip) yield line;
        lines.length = 0;
        if (bytesRead === 0) return;
        position += bytesRead;
      }
    } finally {
      await handle.close();
    }
  }

  /**
   * The node's log, once there is one to read: kept in the record (the task ended and another
   * client released its instance, maybe just now), or on the instance over a connection of the
   * caller's own. An instance that stops answering is not waited on for long: the task is looked
   * at again instead.
   */
  async #reachLogs(taskId: string, options: FollowLogsOptions, node: number, name: string): Promise<{ kept: CloudTask } | { connection: InstanceConnection } | undefined> {
    for (;;) {
      const task = await this.#untilStarted(taskId, options, node, name);
      if (task === undefined) return undefined;
      if (task.record?.logs !== undefined) return { kept: task };
      const instance = (await this.#instances(task.bid))[node];
      if (instance?.ssh_destination) {
        try {
          return { connection: await InstanceConnection.open(instance, (await this.context.sshKey()).pair, { timeoutMs: PROBE_LOGIN_TIMEOUT_MS }) };
        } catch (error) {
          if (error instanceof AuthenticationError) throw error;
        }
      }
      if (options.signal?.aborted) return undefined;
      await sleep(this.statusPollIntervalMs, options.signal).catch(() => {});
    }
  }

  /**
   * Waits, with no time limit (a spot bid can wait hours for capacity, and a booting instance
   * minutes), until the node's instance runs (or, for the startup log, answers SSH): the task then.
   * Undefined when `signal` fired or the task ended with nothing to show (cancelled or failed
   * before anything ran; its status says how). A task that ended with its logs kept is returned
   * too: they are read from the record.
   */
  async #untilStarted(taskId: string, options: FollowLogsOptions, node: number, name: string): Promise<CloudTask | undefined> {
    for (;;) {
      if (options.signal?.aborted) return undefined;
      const task = await this.#task(taskId);
      if (task.record?.logs !== undefined) return task;
      const { bid } = task;
      const instances = bid.status === "Terminated" ? [] : await this.#instances(bid);
      const instance = instances[node];
      if (instance?.ssh_destination && (name === "startup" || instance.status === "STATUS_RUNNING")) return task;
      const info = await this.#info(task, { instances });
      if (isTerminalStatus(info.status)) {
        if (info.exitCode === undefined) return undefined;
        throw new ValidationError(`Task ${task.taskId} has ended (${info.status}) and its logs were not kept: its instance is gone.`, {
          suggestions: ["logs are kept once a client sees a task end (`flow status`, `flow logs`, `task.wait()`) while its instance is still up"],
        });
      }
      options.onWaiting?.(info);
      await sleep(this.statusPollIntervalMs, options.signal).catch(() => {});
    }
  }

  async getInstances(taskId: string): Promise<TaskInstance[]> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.getInstances(taskId);
    const { bid, record } = await this.#task(taskId);
    const instanceType = record?.instanceTypeName ?? (await this.context.instanceTypeName(bid.instance_type));
    return (await this.#instances(bid)).map((i) => taskInstance(i, { taskId: bid.fid, instanceType, region: bid.region ?? "" }));
  }

  async getUser(userId: string): Promise<User | undefined> {
    const me = await this.context.client.me();
    if (userId !== me.fid && userId !== me.id) return undefined;
    return { userId: me.fid, username: me.user_name ?? me.email, email: me.email };
  }

  async shell(taskId: string, options: ShellOptions): Promise<void> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.shell(taskId, options);
    const { bid } = await this.#task(taskId);
    const instances = await this.#instances(bid);
    const instance = instances[options.node ?? 0];
    if (instance === undefined || instance.status !== "STATUS_RUNNING") {
      throw new ValidationError(`Task ${taskId} has no running instance${options.node ? ` ${options.node}` : ""} to open a shell on.`, {
        suggestions: [`check it with \`flow status ${taskId} --provider fcp\``, "a finished task's instance is released at once: set `keepAliveMinutes` to keep it up for `flow ssh`"],
      });
    }
    const connection = await InstanceConnection.open(instance, (await this.context.sshKey()).pair);
    try {
      const code = await connection.ssh.shell({
        ...(options.command === undefined ? {} : { command: options.command }),
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      });
      if (code !== 0) process.exitCode = code;
    } finally {
      connection.close();
    }
  }

  /**
   * The task's ports on the node's instance (where the container shares the machine's network),
   * each through an SSH port-forward to a port on this machine's loopback, held until closed.
   */
  async forwardPorts(taskId: string, options: ForwardPortsOptions): Promise<PortForwards> {
    const task = await this.#task(taskId);
    const declared = (task.record?.config as TaskConfig | undefined)?.ports ?? [];
    const ports = options.ports ?? declared;
    const node = options.node ?? 0;
    const undeclared = ports.filter((port) => !declared.includes(port));
    if (ports.length === 0 || undeclared.length > 0) {
      throw new ValidationError(
        ports.length === 0 ? `Task ${task.taskId} exposes no ports.` : `Task ${task.taskId} does not expose port ${undeclared.join(", ")} (its ports: ${declared.join(", ") || "none"}).`,
        { issues: [{ path: "ports", message: "list the ports the task serves on, e.g. `ports: [8888]`" }] },
      );
    }
    if (options.localPorts !== undefined && options.localPorts.length !== ports.length) {
      throw new ValidationError(`Give one local port for each of the ports ${ports.join(", ")} (${options.localPorts.length} given).`);
    }
    const instance = (await this.#instances(task.bid))[node];
    if (instance?.status !== "STATUS_RUNNING") {
      throw new ValidationError(`Task ${task.taskId} has no running instance${node === 0 ? "" : ` on node ${node}`} to forward ports from.`, {
        suggestions: [`wait for it to run: \`flow status ${task.taskId}\``],
      });
    }
    const connection = await InstanceConnection.open(instance, (await this.context.sshKey()).pair);
    try {
      const forwards: { port: number; forward: { localPort: number; close(): Promise<void> } }[] = [];
      for (const [index, port] of ports.entries()) forwards.push({ port, forward: await connection.ssh.forward("127.0.0.1", port, options.localPorts?.[index] ?? 0) });
      let closing: Promise<void> | undefined;
      return {
        endpoints: Object.fromEntries(forwards.map(({ port, forward }) => [String(port), `http://127.0.0.1:${forward.localPort}`])),
        close: () =>
          (closing ??= (async () => {
            await Promise.all(forwards.map(({ forward }) => forward.close()));
            connection.close();
          })()),
        closed: connection.ssh.closed,
      };
    } catch (error) {
      connection.close();
      throw error;
    }
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

  renameVolume(idOrName: string, name: string): Promise<Volume> {
    return this.#volumes.rename(idOrName, name);
  }

  /** PATCH the bid paused: its instances stop (disk kept) and billing stops. Only a running task. */
  async pause(taskId: string): Promise<TaskInfo> {
    const task = await this.#spotBid(taskId, "paused");
    const { bid } = task;
    const info = await this.#reconciled(task);
    if (info.status !== "running") {
      throw new ValidationError(`Task ${task.taskId} is ${info.status} (${info.message ?? info.status}): only a running task can be paused.`, {
        issues: [{ path: "status", message: `is ${info.status}, not running` }],
        suggestions: [
          info.status === "paused" ? `it is paused already; boot it again with \`flow resume ${bid.fid}\`` : isTerminalStatus(info.status) ? "it has ended" : `it has no instance running yet; stop bidding with \`flow cancel ${bid.fid}\``,
        ],
        errorCode: "task_not_running",
      });
    }
    await this.context.client.updateBid(bid.fid, { paused: true });
    this.#forget(task.taskId);
    return this.getTask(task.taskId);
  }

  /** PATCH the bid unpaused: it bids again and, once allocated, the same instances boot and rerun the command. */
  async resume(taskId: string): Promise<TaskInfo> {
    const task = await this.#spotBid(taskId, "resumed");
    const { bid } = task;
    if (bid.status !== "Paused") {
      const info = await this.#reconciled(task);
      throw new ValidationError(`Task ${task.taskId} is ${info.status}: only a paused task can be resumed.`, {
        issues: [{ path: "status", message: `is ${info.status}, not paused` }],
        errorCode: "task_not_paused",
      });
    }
    await this.context.client.updateBid(bid.fid, { paused: false });
    return this.getTask(task.taskId);
  }

  /** A new limit price; one below the market is refused (the bid would be outbid at once). */
  async setMaxPrice(taskId: string, dollarsPerHour: number): Promise<TaskInfo> {
    if (!Number.isFinite(dollarsPerHour) || dollarsPerHour <= 0) {
      throw new ValidationError(`${dollarsPerHour} is not a price.`, { issues: [{ path: "maxPricePerHour", message: "must be a positive number of dollars per hour" }] });
    }
    const task = await this.#spotBid(taskId, "repriced");
    const { bid } = task;
    const info = await this.#reconciled(task);
    if (isTerminalStatus(info.status)) {
      throw new ValidationError(`Task ${task.taskId} has ended (${info.status}); there is no bid to reprice.`, { errorCode: "task_ended" });
    }
    const market = await this.#marketPrice(bid);
    if (market !== undefined && dollarsPerHour < market) {
      const type = await this.context.instanceTypeName(bid.instance_type);
      throw new ValidationError(
        `${dollars(dollarsPerHour)}/h is below the spot price of ${type} in ${bid.region}, ${dollars(market)}/h: the bid would ${bid.status === "Allocated" ? "lose its instances at once" : "stay outbid"}.`,
        {
          issues: [{ path: "maxPricePerHour", message: `must be at least ${dollars(market)}` }],
          suggestions: [`flow reprice ${task.taskId} ${suggestedLimit(market)}`],
          errorCode: "price_too_low",
        },
      );
    }
    const updated = await this.context.client.updateBid(bid.fid, { limit_price: dollars(dollarsPerHour) });
    await this.#records.update(task.taskId, { limitPrice: updated.limit_price });
    return this.getTask(task.taskId);
  }

  catalog(): Promise<InstanceCatalog> {
    return this.context.catalog();
  }

  /** Close SSH connections kept for status checks and logs, so the process can exit. */
  close(): void {
    for (const fid of [...this.#connections.keys()]) this.#forget(fid);
    this.#reserved.close();
  }

  /**
   * Uploads to every instance of the bid: the code archive, the S3 helper and credentials, and an
   * env file with the secret env, the task id and, with `assignRanks`, each node's rank and the
   * leader's address. Returns the instances' FIDs.
   */
  async #deliver(bid: Bid, taskId: string, delivery: Delivery): Promise<string[]> {
    // As long as it takes: the bid keeps its place in the auction, and Ctrl-C cancels it.
    const instances = await waitForRunningInstances(this.context, bid, { timeoutMs: Number.POSITIVE_INFINITY });
    const leader = instances[0]!;
    const leaderIp = leader.private_ip || parseSshDestination(leader.ssh_destination ?? "").host;
    const key = (await this.context.sshKey()).pair;
    for (const [rank, target] of instances.entries()) {
      const connection = await InstanceConnection.open(target, key);
      try {
        await connection.waitUntilReady();
        const env: [string, string][] = [
          ...delivery.secretEnv,
          ["FLOW_TASK_ID", taskId],
          ...(delivery.assignRanks ? ([["FLOW_NODE_RANK", String(rank)], ["FLOW_MAIN_IP", leaderIp]] as [string, string][]) : []),
        ];
        const files: Upload[] = [{ data: new TextEncoder().encode(envFile(env)), remotePath: connection.paths.secretEnv, mode: 0o600 }];
        if (delivery.archive !== undefined) files.push({ data: delivery.archive, remotePath: connection.paths.archive });
        if (delivery.s3.length > 0) files.push({ data: { localPath: s3HelperPath() }, remotePath: connection.paths.s3Helper });
        delivery.s3.forEach((access, index) =>
          files.push({ data: new TextEncoder().encode(JSON.stringify(access)), remotePath: `${connection.paths.s3Credentials}-${index}.json`, mode: 0o600 }),
        );
        await connection.upload(files);
        this.context.progress(`uploaded ${files.map((f) => f.remotePath.split("/").pop()).join(", ")} to ${target.fid}`);
      } finally {
        connection.close();
      }
    }
    return instances.map((i) => i.fid);
  }

  /** The spot price of the bid's auction now, in dollars per instance-hour. */
  async #marketPrice(bid: Bid): Promise<number | undefined> {
    if (!bid.region) return undefined;
    const prices = await this.context.client.getCurrentPrices({ instanceType: bid.instance_type, region: bid.region });
    return prices.spot_price_cents === null || prices.spot_price_cents === undefined ? undefined : prices.spot_price_cents / 100;
  }

  /** A spot task, with the bid of its current attempt; a task on reserved capacity has none to pause or reprice. */
  async #spotBid(taskId: string, what: string): Promise<CloudTask> {
    if (ReservationTasks.owns(taskId)) {
      throw new ValidationError(`Task ${taskId} runs on reserved capacity, which cannot be ${what} per task.`, {
        suggestions: ["a reservation's price is fixed; pause or resume the whole reservation with flow.reservations.update(id, { paused })", `or stop the task: flow cancel ${taskId}`],
        errorCode: "reserved_task",
      });
    }
    return this.#task(taskId);
  }

  /** The task by id (its first bid's FID) or name, with its record and the bid of its current attempt. */
  async #task(taskId: string): Promise<CloudTask> {
    const first = await this.#bid(taskId);
    const record = await this.#records.read(first.fid);
    const current = record?.attempts?.at(-1)?.bid;
    const bid = current === undefined || current === first.fid ? first : await this.context.client.getBid(current);
    return { taskId: first.fid, record, bid };
  }

  async #bid(taskId: string): Promise<Bid> {
    try {
      if (taskId.startsWith("bid_")) return await this.context.client.getBid(taskId);
    } catch (error) {
      if (!(error instanceof ResourceNotFoundError)) throw error;
    }
    const byName = await this.context.client.listBids({ project: await this.context.projectFid(), name: taskId });
    const bid = byName[0];
    if (bid === undefined) {
      throw new TaskNotFoundError(`No task ${JSON.stringify(taskId)} in project ${this.context.config.project}.`, {
        suggestions: ["list tasks with `flow list --provider fcp`"],
      });
    }
    return bid;
  }

  async #instances(bid: Bid): Promise<Instance[]> {
    if (bid.instances.length === 0) return [];
    return inBidOrder(bid, await this.context.client.listInstances({ project: await this.context.projectFid(), bidFids: [bid.fid] }));
  }

  /** See reconcile(). */
  async #reconciled(task: CloudTask): Promise<TaskInfo> {
    const { record, bid } = task;
    let instances = bid.status === "Terminated" ? [] : await this.#instances(bid);
    const observed = observedIn(record);
    const retries = (record?.config as TaskConfig | undefined)?.retries;
    if (!isDecided(observed) && record !== undefined) {
      const lost = lostInstance(instances);
      if (retries !== undefined && (lost !== undefined || record.retryAt !== undefined)) {
        await this.#retry(task, lost, retries);
        return this.getTask(task.taskId);
      }
      const deliveredTo = record.attempts?.at(-1)?.deliveredTo ?? record.deliveredTo;
      const stranded = deliveredTo === undefined ? undefined : strandedReplacement(instances, deliveredTo);
      if (stranded !== undefined) {
        // The spot bid restarted the task on a new machine after a preemption; that machine waits
        // for code or secrets that went over SSH and are not kept here, so it would idle until its
        // upload deadline. Release it and say so.
        const failure = `preempted; the replacement instance ${stranded.fid} cannot get the code archive or secret env that were uploaded over SSH, so the task was stopped (set \`retries\` to restart it on a new bid). Run it again.`;
        await this.context.client.cancelBid(bid.fid);
        await this.#records.update(task.taskId, { failure, endedAt: new Date().toISOString() });
        return this.getTask(task.taskId);
      }
      if (instances[0]?.status === "STATUS_RUNNING" && (await this.#letsUsIn(task.bid))) {
        const ended = await this.#probeEnd(task, instances[0]);
        if (ended !== undefined) {
          await this.#records.update(task.taskId, { ...ended, startedAt: instances[0].created_at, endedAt: new Date().toISOString() });
          await this.#finish(task, instances);
          return this.getTask(task.taskId);
        }
      }
    } else if (isDecided(observed) && record !== undefined && record.logs === undefined && !observed.cancelled && instances.some((i) => i.status === "STATUS_RUNNING")) {
      // Ended, but its logs were not copied yet (an earlier try could not): again now.
      await this.#finish(task, instances);
      return this.getTask(task.taskId);
    }
    instances = bid.status === "Terminated" ? [] : instances;
    return this.#info(task, { instances });
  }

  /** The task has ended: its logs are copied here, then its instances released unless kept alive. */
  async #finish(task: CloudTask, instances: readonly Instance[]): Promise<void> {
    const collected = await this.#collect(task, instances).catch((error: unknown) => {
      this.context.progress(`warning: could not copy the logs of task ${task.taskId} from its instance (${(error as Error).message}); trying again at the next status check`);
      return false;
    });
    if (!collected) return;
    const config = task.record?.config as TaskConfig | undefined;
    if ((config?.keepAliveMinutes ?? 0) > 0) return;
    this.#forget(task.taskId);
    if (task.bid.status !== "Terminated") await this.context.client.cancelBid(task.bid.fid);
    await this.#settleCost(task.taskId);
    this.context.progress(`task ${task.taskId} ended: its logs are kept locally and its instance${instances.length > 1 ? "s were" : " was"} released`);
  }

  /** Copies every running node's logs into the record's directory; true once done. */
  async #collect(task: CloudTask, instances: readonly Instance[]): Promise<boolean> {
    const dir = this.#records.logsDir(task.taskId);
    const key = (await this.context.sshKey()).pair;
    let nodes = 0;
    for (const [node, instance] of instances.entries()) {
      if (instance.status !== "STATUS_RUNNING") continue;
      const connection = await InstanceConnection.open(instance, key, { timeoutMs: PROBE_LOGIN_TIMEOUT_MS });
      try {
        await collectLogs(connection, dir, node);
        nodes = node + 1;
      } finally {
        connection.close();
      }
    }
    if (nodes === 0) return false;
    await this.#records.update(task.taskId, { logs: { nodes, collectedAt: new Date().toISOString() } });
    return true;
  }

  /** The final cost, kept with the record once nothing bills any more. */
  async #settleCost(taskId: string): Promise<void> {
    const task = await this.#task(taskId);
    const cost = await this.#cost(task).catch(() => undefined);
    if (cost?.totalCents === undefined) return;
    await this.#records.update(taskId, {
      cost: { perHour: cost.perHourCents === undefined ? task.bid.limit_price : dollarString(cost.perHourCents), total: dollarString(cost.totalCents) },
    });
  }

  /**
   * A retry: the lost attempt's bid is cancelled (so the cloud does not restart it on its own,
   * stranded without the uploads), and after the policy's delay a new bid is placed like the
   * first and gets the uploads again. Past `maxRetries` the task fails, saying so.
   */
  async #retry(task: CloudTask, lost: { instance: Instance; why: string } | undefined, policy: Retries): Promise<void> {
    const record = task.record!;
    const attempts: AttemptRecord[] = record.attempts ?? [{ bid: task.taskId, placedAt: record.createdAt }];
    const current = attempts.at(-1)!;
    const number = attempts.length;
    const total = policy.maxRetries + 1;
    if (lost !== undefined && current.endedAt === undefined) {
      if (task.bid.status !== "Terminated") await this.context.client.cancelBid(task.bid.fid);
      const ended = { ...current, endedAt: new Date().toISOString(), outcome: lost.why };
      const updated = [...attempts.slice(0, -1), ended];
      if (number >= total) {
        await this.#records.update(task.taskId, { attempts: updated, failure: `${lost.why} on attempt ${number} of ${total}; no retries left`, endedAt: ended.endedAt });
        return;
      }
      const retryAt = new Date(Date.now() + retryDelayMs(policy, number)).toISOString();
      await this.#records.update(task.taskId, { attempts: updated, retryAt });
      this.context.progress(`task ${task.taskId}: ${lost.why} on attempt ${number} of ${total}; retrying on a new bid`);
      return this.#retry({ ...task, record: { ...record, attempts: updated, retryAt } }, undefined, policy);
    }
    if (record.retryAt === undefined || Date.parse(record.retryAt) > Date.now()) return;
    const uploads = record.uploads;
    const held = this.#held.get(task.taskId);
    if (uploads !== undefined && uploads.secretEnvNames.length > 0 && held === undefined) {
      const failure = `${current.outcome ?? "lost"} on attempt ${number}; attempt ${number + 1} needs the task's secret env (${uploads.secretEnvNames.join(", ")}), which only the process that submitted it held, so the task was stopped. Run it again (with \`flow run --wait\`, that process stays to retry it).`;
      await this.#records.update(task.taskId, { failure, retryAt: undefined, endedAt: new Date().toISOString() });
      return;
    }
    const previous = await this.context.client.getBid(current.bid);
    const name = `${record.name.slice(0, MAX_TASK_NAME_LENGTH - 4)}-a${number + 1}`;
    const project = await this.context.projectFid();
    // Another process may have placed this attempt already (two clients reconciling at once).
    const bid =
      (await this.context.client.listBids({ project, name })).find((b) => b.name === name) ??
      (await this.context.client.createBid({
        project,
        region: previous.region ?? record.region,
        instance_type: previous.instance_type,
        limit_price: previous.limit_price,
        instance_quantity: previous.instance_quantity,
        name,
        launch_specification: {
          volumes: previous.launch_specification.volumes,
          ssh_keys: previous.launch_specification.ssh_keys,
          startup_script: previous.launch_specification.startup_script ?? null,
        },
      }));
    const attempt: AttemptRecord = { bid: bid.fid, placedAt: new Date().toISOString() };
    await this.#records.update(task.taskId, { attempts: [...attempts, attempt], retryAt: undefined });
    this.context.progress(`task ${task.taskId}: attempt ${number + 1} of ${total} on bid ${bid.fid}`);
    if (uploads === undefined) return;
    const s3 = await Promise.all(uploads.s3.map((mount) => s3AccessFor(this.context.env, mount)));
    const deliveredTo = await this.#deliver(bid, task.taskId, {
      ...(uploads.archivePath === undefined ? {} : { archive: { localPath: uploads.archivePath } }),
      secretEnv: held?.secretEnv ?? [],
      assignRanks: uploads.ranks,
      s3,
    });
    await this.#updateAttempt(task.taskId, bid.fid, { deliveredTo });
  }

  async #updateAttempt(taskId: string, bidFid: string, change: Partial<AttemptRecord>): Promise<void> {
    const record = await this.#records.read(taskId);
    const attempts = (record?.attempts ?? [{ bid: taskId, placedAt: record?.createdAt ?? new Date().toISOString() }]).map((a) => (a.bid === bidFid ? { ...a, ...change } : a));
    await this.#records.update(taskId, { attempts });
  }

  /** The task from the bid and the records; `instances` and `pricing` when the caller has them already. */
  async #info(task: CloudTask, known: { instances?: Instance[]; pricing?: InstancePricingHistory[] } = {}): Promise<TaskInfo> {
    const { bid, record } = task;
    const instances = bid.status === "Terminated" ? [] : (known.instances ?? (await this.#instances(bid)));
    const observed = observedIn(record);
    // An Open bid may be outbid: the market says whether raising the price would help.
    const market = bid.status === "Open" && !isDecided(observed) ? await this.#marketPrice(bid) : undefined;
    const derived = taskStatusFromApi(bid, instances, observed, market === undefined ? {} : { marketPricePerHour: market });
    const { outbid } = derived;
    const { status, message } = record?.retryAt !== undefined && !isDecided(observed) ? retryWaiting(record) : derived;
    if (isTerminalStatus(status)) {
      this.#forget(task.taskId);
      // No more attempts: the secret values held for them go.
      this.#held.delete(task.taskId);
    }
    const first = instances[0];
    const ssh = first?.ssh_destination ? parseSshDestination(first.ssh_destination) : undefined;
    const config = record?.config as TaskConfig | undefined;
    const attempts = attemptsOf(task);
    const billed = record?.cost === undefined ? await this.#cost(task, known.pricing).catch(() => undefined) : undefined;
    const cost = record?.cost ?? (billed === undefined ? undefined : formatCost(bid)(billed));
    const endedAt = record?.endedAt ?? bid.deactivated_at ?? undefined;
    // Once the bid has ended its instances are gone from it; billing still says when it ran.
    const startedAt = record?.startedAt ?? first?.created_at ?? billed?.billedFrom?.toISOString();
    // A bid flow placed for an agent is no task: it has no command or exit code to report.
    const agentFor = record === undefined ? agentBidKind(bid.name) : undefined;
    return {
      taskId: task.taskId,
      name: record?.name ?? bid.name,
      status,
      ...(config === undefined ? {} : { config }),
      createdAt: new Date(record?.createdAt ?? bid.created_at),
      ...(startedAt === undefined ? {} : { startedAt: new Date(startedAt) }),
      ...(first === undefined ? {} : { instanceCreatedAt: new Date(first.created_at) }),
      ...(endedAt && isTerminalStatus(status) ? { completedAt: new Date(endedAt) } : {}),
      instanceType: record?.instanceTypeName ?? (await this.context.instanceTypeName(bid.instance_type)),
      numInstances: bid.instance_quantity,
      region: bid.region ?? record?.region ?? "",
      costPerHour: cost?.perHour ?? bid.limit_price,
      ...(cost === undefined ? {} : { totalCost: cost.total }),
      createdBy: bid.created_by,
      ...(ssh === undefined
        ? {}
        : {
            sshHost: ssh.host,
            sshPort: ssh.port,
            sshUser: INSTANCE_SSH_USER,
            shellCommand: `flow ssh ${task.taskId} --provider fcp`,
          }),
      endpoints: {},
      instances: instances.map((i) => i.fid),
      message: agentFor === undefined ? message : agentBidMessage(agentFor),
      ...(observed.exitCode === undefined ? {} : { exitCode: observed.exitCode }),
      ...(record?.attempts === undefined ? {} : { attempt: attempts.length, ...(attempts.length > 1 ? { attempts } : {}) }),
      providerMetadata: {
        bidStatus: bid.status,
        bid: bid.fid,
        instanceStatuses: instances.map((i) => i.status),
        limitPrice: bid.limit_price,
        ...(record?.logs === undefined ? {} : { logsKept: this.#records.logsDir(task.taskId) }),
        ...(market === undefined ? {} : { spotPricePerHour: market }),
        ...(outbid === true ? { outbid } : {}),
        ...(agentFor === undefined ? {} : { agentFor }),
      },
    };
  }

  /**
   * Whether this machine's key may log into the bid's instances. A teammate's task (or one from
   * another laptop) names other keys: it cannot be asked, and a listing must not fail on it.
   */
  async #letsUsIn(bid: Bid): Promise<boolean> {
    return bid.launch_specification.ssh_keys.includes((await this.context.sshKey()).fid);
  }

  /** What every instance of every attempt was billed (the current attempt's first instance first). */
  async #cost(task: CloudTask, pricing?: InstancePricingHistory[]): Promise<ReturnType<typeof taskCost>> {
    const bids = (task.record?.attempts ?? [{ bid: task.taskId }]).map((a) => a.bid).reverse();
    const histories = pricing ?? (await Promise.all(bids.map(async (bidFid) => this.context.client.listInstancePricingHistory({ project: await this.context.projectFid(), bidFid })))).flat();
    const ours = histories.filter((h) => h.bid_fid != null && bids.includes(h.bid_fid));
    const order = [...task.bid.instances];
    ours.sort((a, b) => rank(a, task.bid.fid, order) - rank(b, task.bid.fid, order));
    return taskCost(ours, new Date());
  }

  /**
   * Whether the command has ended, with how: the completion marker's exit code, and why setup
   * failed or the workload was stopped, if it says. Undefined while it runs or if the instance
   * does not answer.
   */
  async #probeEnd(task: CloudTask, instance: Instance): Promise<{ exitCode: number; failure?: string } | undefined> {
    try {
      // A status check must not hang on an instance that is going away: a short login window.
      const connection = await this.#connection(task.taskId, task.bid, "check on it", instance, PROBE_LOGIN_TIMEOUT_MS);
      const text = await connection.read(connection.paths.exitCode);
      const code = text === undefined ? NaN : Number.parseInt(text.trim(), 10);
      if (!Number.isInteger(code)) return undefined;
      const failure = (await connection.read(connection.paths.failure))?.trim();
      return { exitCode: code, ...(failure ? { failure } : {}) };
    } catch (error) {
      if (error instanceof AuthenticationError) throw error;
      this.#forget(task.taskId);
      return undefined;
    }
  }

  /** One SSH connection per task for status probes, reopened if it dropped. */
  async #connection(taskId: string, bid: Bid, purpose: string, known?: Instance, timeoutMs?: number): Promise<InstanceConnection> {
    return sharedConnection(this.#connections, taskId, () => this.#openConnection(bid, purpose, known, timeoutMs));
  }

  /**
   * A connection of the caller's own, to close when done. Log readers take one: a status check
   * that sees the task end closes the shared connection (#forget), which must not cut off a log
   * that is still being read.
   */
  async #openConnection(bid: Bid, purpose: string, known?: Instance, timeoutMs?: number): Promise<InstanceConnection> {
    const instance = known ?? (await this.#instances(bid)).find((i) => i.status === "STATUS_RUNNING" && i.ssh_destination);
    if (instance === undefined) {
      throw new ValidationError(`Task ${bid.fid} has no running instance to ${purpose}.`, {
        suggestions: [`check it with \`flow status ${bid.fid}\``],
      });
    }
    return InstanceConnection.open(instance, (await this.context.sshKey()).pair, timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** The last `tail` lines of a log kept in the record. */
  async #localLines(task: CloudTask, node: number, name: ReturnType<typeof logFileName>, tail: number): Promise<string[]> {
    const nodes = task.record?.logs?.nodes ?? 0;
    if (node >= nodes) throw new ValidationError(`Task ${task.taskId} kept the logs of ${nodes} node(s); there is no node ${node}.`);
    const handle = await openFile(localLogPath(this.#records.logsDir(task.taskId), node, name), "r").catch(() => undefined);
    if (handle === undefined) return [];
    try {
      const source: ByteSource = {
        size: async () => (await handle.stat()).size,
        read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
      };
      return await lastLines(source, tail);
    } finally {
      await handle.close();
    }
  }

  #forget(taskId: string): void {
    const pending = this.#connections.get(taskId);
    this.#connections.delete(taskId);
    void pending?.then((c) => c.close()).catch(() => {});
  }

  async #extraKeys(config: TaskConfig): Promise<string[]> {
    if (config.sshKeys.length === 0) return [];
    const known = await this.context.client.listSshKeys(await this.context.projectFid());
    return config.sshKeys.map((wanted) => {
      const key = known.find((k) => k.fid === wanted || k.name === wanted);
      if (key === undefined) {
        throw new ValidationError(`SSH key ${JSON.stringify(wanted)} is not registered with project ${this.context.config.project}.`, {
          issues: [{ path: "sshKeys", message: `unknown key ${JSON.stringify(wanted)}`, suggestion: `registered keys: ${known.map((k) => k.name).join(", ") || "none"}` }],
        });
      }
      return key.fid;
    });
  }
}

/** What the records say of how the task ended, if they know. */
function observedIn(record: TaskRecord | undefined): ObservedOutcome {
  const { cancelled, cancelRequestedAt, exitCode, failure } = record ?? {};
  return {
    ...(cancelled === undefined ? {} : { cancelled }),
    ...(cancelRequestedAt === undefined ? {} : { cancelRequested: true }),
    ...(exitCode === undefined ? {} : { exitCode }),
    ...(failure === undefined ? {} : { failure }),
  };
}

function isDecided(observed: ObservedOutcome): boolean {
  return observed.cancelled === true || observed.exitCode !== undefined || observed.failure !== undefined;
}

/** An instance of the attempt that was taken away (preempted) or died: the attempt is lost. */
function lostInstance(instances: readonly Instance[]): { instance: Instance; why: string } | undefined {
  const preempted = instances.find((i) => i.status === "STATUS_PREEMPTED");
  if (preempted !== undefined) return { instance: preempted, why: "preempted" };
  const failed = instances.find((i) => i.status === "STATUS_ERROR");
  return failed === undefined ? undefined : { instance: failed, why: `instance ${failed.fid} failed (STATUS_ERROR)` };
}

function retryWaiting(record: TaskRecord): { status: TaskStatus; message: string } {
  const attempts = record.attempts ?? [];
  const seconds = Math.max(0, Math.ceil((Date.parse(record.retryAt!) - Date.now()) / 1000));
  return { status: "pending", message: `${attempts.at(-1)?.outcome ?? "lost"} on attempt ${attempts.length}; attempt ${attempts.length + 1} starts in ${seconds}s` };
}

function attemptsOf(task: CloudTask): TaskAttempt[] {
  const records = task.record?.attempts ?? [{ bid: task.taskId, placedAt: task.record?.createdAt ?? task.bid.created_at }];
  return records.map((a, i) => ({
    attempt: i + 1,
    id: a.bid,
    startedAt: new Date(a.placedAt),
    ...(a.endedAt === undefined ? {} : { endedAt: new Date(a.endedAt) }),
    ...(a.outcome === undefined ? {} : { outcome: a.outcome }),
  }));
}

function agentBidMessage(kind: AgentBidKind): string {
  return kind === "function"
    ? "flow's agent for a function of a run: the run cancels the bid when it ends"
    : "flow's agent for a detached call: it powers off once the result is fetched or its result window is over";
}

function formatCost(bid: Bid): (cost: ReturnType<typeof taskCost>) => { perHour: string; total: string } {
  return (cost) => ({ perHour: cost.perHourCents === undefined ? bid.limit_price : dollarString(cost.perHourCents), total: dollarString(cost.totalCents) });
}

/** The current bid's instances first, in bid order; then earlier attempts'. */
function rank(history: InstancePricingHistory, currentBid: string, order: readonly string[]): number {
  if (history.bid_fid !== currentBid) return Number.MAX_SAFE_INTEGER;
  const index = order.indexOf(history.instance_fid);
  return index === -1 ? Number.MAX_SAFE_INTEGER - 1 : index;
}

/** A live instance of the bid that is not one the task's uploads went to. */
function strandedReplacement(instances: readonly Instance[], deliveredTo: readonly string[]): Instance | undefined {
  return instances.find((instance) => !ENDED_INSTANCE_STATUSES.has(instance.status) && !deliveredTo.includes(instance.fid));
}

/** "embedded" always inlines, "scp" always uploads, "auto" inlines what fits comfortably. */
function chooseInline(config: TaskConfig, bytes: number): boolean {
  if (config.uploadStrategy === "embedded") return true;
  if (config.uploadStrategy === "scp") return false;
  return bytes <= INLINE_ARCHIVE_LIMIT_BYTES;
}

function envFile(entries: readonly [string, string][]): string {
  return entries.map(([name, value]) => `${name}=${quote(value)}\n`).join("");
}

function joinLines(lines: readonly string[]): string {
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function remoteLogPath(connection: InstanceConnection, name: ReturnType<typeof logFileName>): string {
  const { paths } = connection;
  return name === "startup" ? paths.startupLog : name === "stdout" ? paths.taskStdout : paths.taskStderr;
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

function s3AccessFor(env: NodeJS.ProcessEnv, mount: { field: string; profile?: string | undefined }): Promise<S3Access> {
  return resolveS3Access(env, { field: mount.field, ...(mount.profile === undefined ? {} : { profile: mount.profile }) });
}

