/**
 * Tasks on the FCP cloud: one spot bid per task (the bid's FID is the task id), its instances
 * booted by a startup script that runs the command, logs and shells over SSH. Tasks on reserved
 * capacity (`allocationMode` reserved or auto) are handed to ReservationTasks (reservation-tasks.ts).
 *
 * Secret env values never enter the startup script (which the API stores): when a task has any,
 * or its code is too big to ride in the script, submit() waits for the instance and uploads them
 * over SFTP before the command starts.
 */
import { randomBytes } from "node:crypto";
import { AuthenticationError, ResourceNotFoundError, TaskNotFoundError, ValidationError } from "../../errors.ts";
import { cleanUpBeforeExit } from "../../clean-up-before-exit.ts";
import { sleep } from "../../sleep.ts";
import type { InstanceCatalog } from "../../instance-types/catalog.ts";
import type { Instance as TaskInstance } from "../../task/instance.ts";
import { isSecretEnvName, redactEnv } from "../../task/secret-env.ts";
import { MAX_TASK_NAME_LENGTH, type TaskConfig } from "../../task/task-config.ts";
import type { TaskInfo } from "../../task/task-info.ts";
import { isTerminalStatus, type TaskStatus } from "../../task/task-status.ts";
import type { User } from "../../task/user.ts";
import type { CreateVolumeOptions, Volume } from "../../task/volume.ts";
import { resolveFlowHome } from "../flow-home.ts";
import { lastLines, tailStart } from "../log-lines.ts";
import type { FollowLogsOptions, ReadLogsOptions, ShellOptions, SubmitRequest, TaskProvider } from "../task-provider.ts";
import type { Bid, Instance } from "./api/schemas.ts";
import { BidLedger, cancelOrphanBids } from "./bid-ledger.ts";
import { FcpAccount } from "./fcp-account.ts";
import { FcpContext, type FcpContextOptions } from "./fcp-context.ts";
import { FcpDevMachines } from "./dev-machines.ts";
import { FcpVolumes, regionOfVolumes } from "./fcp-volumes.ts";
import { InstanceConnection, type Upload } from "./instance-connection.ts";
import { INSTANCE_SSH_USER } from "./instance-layout.ts";
import { inBidOrder, parseSshDestination, placeBid, waitForRunningInstances } from "./instance-launch.ts";
import { INLINE_ARCHIVE_LIMIT_BYTES } from "./fcp-provider.ts";
import { choosePlacement, dollars, placementNotes, suggestedLimit } from "./placement.ts";
import { ReservationTasks } from "./reservation-tasks.ts";
import { quote } from "./startup-script/bash.ts";
import { buildStartupScript } from "./startup-script/index.ts";
import { TaskRecords, type TaskRecord } from "./task-records.ts";
import { ENDED_INSTANCE_STATUSES, taskStatusFromApi, type ObservedOutcome } from "./task-status-from-api.ts";

/** After the command exits the instance stays up this long, so logs and the exit code can be read. */
const LINGER_SECONDS = 10 * 60;
const TERMINATE_ON_EXIT_GRACE_SECONDS = 30;
const PROBE_LOGIN_TIMEOUT_MS = 20_000;
const LIST_BATCH = 10;

export interface FcpTaskProviderOptions extends FcpContextOptions {
  context?: FcpContext;
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
    const { config, code } = request;
    const context = this.context;
    refuseUnsupported(config);
    const reserved = await this.#reserved.submit(request);
    if (reserved !== undefined) return reserved;
    const [catalog, key, existingVolumes] = await Promise.all([context.catalog(), context.sshKey(), this.#volumes.existing(config)]);
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
    const expectUploads = uploadedArchive !== undefined || secretEnv.length > 0 || assignRanks;
    const volumes = await this.#volumes.mounts(config, existingVolumes, placement.region);
    const suffix = randomBytes(3).toString("hex");
    const name = config.uniqueName ? `${config.name.slice(0, MAX_TASK_NAME_LENGTH - suffix.length - 1)}-${suffix}` : config.name;

    const { script } = buildStartupScript({
      workload: { kind: "command", command: config.command, workingDir: config.workingDir },
      ...(inline ? { inlineArchive: code.archive } : {}),
      expectUploads,
      env: { ...plainEnv, FLOW_TASK_NAME: name, FLOW_NUM_NODES: String(config.numInstances), ...nodeEnv },
      image: config.image,
      gpus: true,
      volumes,
      ...(config.maxRunTimeHours === undefined ? {} : { maxRunTimeHours: config.maxRunTimeHours }),
      poweroffGraceSeconds: config.terminateOnExit ? TERMINATE_ON_EXIT_GRACE_SECONDS : LINGER_SECONDS,
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
      await this.#keepRecord(bid.fid, () =>
        this.#records.write({
          taskId: bid.fid,
          name,
          createdAt: new Date().toISOString(),
          config: { ...config, env: redactEnv(config.env) },
          instanceTypeName: placement.instanceTypeName,
          region: placement.region,
          limitPrice: bid.limit_price,
        }),
      );
      if (expectUploads) {
        let deliveredTo: string[];
        try {
          deliveredTo = await this.#deliver(bid, uploadedArchive, secretEnv, assignRanks);
        } catch (error) {
          // Not cancelled, it stays in the ledger for the next run to cancel.
          await context.client
            .cancelBid(bid.fid)
            .then(() => this.#bids.remove(ledgerKey(bid.fid)))
            .catch(() => {});
          throw error;
        }
        await this.#bids.remove(ledgerKey(bid.fid));
        await this.#keepRecord(bid.fid, () => this.#records.update(bid.fid, { deliveredTo }));
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

  /** What the API and this machine's records say: a read, with no SSH and nothing written or cancelled. */
  async getTask(taskId: string): Promise<TaskInfo> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.getTask(taskId);
    return this.#info(await this.#bid(taskId));
  }

  /**
   * Brings the records up to date, then answers as getTask. Only the instance knows a command's
   * exit code, and a finished task's instance lingers for minutes only: so while the task is
   * undecided and its instance runs, its completion marker is read over SSH and the exit code
   * recorded. A bid whose replacement instance can never get the task's uploads is cancelled.
   */
  async reconcile(taskId: string): Promise<TaskInfo> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.reconcile(taskId);
    return this.#reconciled(await this.#bid(taskId));
  }

  async listTasks(filter: { status?: TaskStatus; limit: number }): Promise<TaskInfo[]> {
    const bids = await this.context.client.listBids({ project: await this.context.projectFid() });
    const newestFirst = [...bids].sort((a, b) => b.created_at.localeCompare(a.created_at));
    // The instances of every live bid in one listing, not one request per task.
    const live = newestFirst.filter((bid) => bid.status !== "Terminated" && bid.instances.length > 0);
    const instances = await this.context.client.listInstances({ project: await this.context.projectFid(), bidFids: live.map((bid) => bid.fid) });
    const tasks: TaskInfo[] = [];
    for (let start = 0; start < newestFirst.length && tasks.length < filter.limit; start += LIST_BATCH) {
      const batch = newestFirst.slice(start, start + LIST_BATCH);
      const infos = await Promise.all(batch.map((bid) => this.#info(bid, { instances: inBidOrder(bid, instances.filter((i) => i.bid === bid.fid)) })));
      tasks.push(...infos.filter((info) => filter.status === undefined || info.status === filter.status));
    }
    const reserved = (await this.#reserved.list(filter.status === undefined ? filter.limit : Number.POSITIVE_INFINITY)).filter((info) => filter.status === undefined || info.status === filter.status);
    return [...tasks, ...reserved].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()).slice(0, filter.limit);
  }

  async cancel(taskId: string): Promise<TaskInfo> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.cancel(taskId);
    const bid = await this.#bid(taskId);
    // A command that already ended keeps its outcome: ask its instance before cancelling.
    const before = await this.#reconciled(bid);
    // A finished task's instance may still be up (lingering for `flow ssh`); cancelling releases it
    // and keeps the outcome.
    if (bid.status !== "Terminated") await this.context.client.cancelBid(bid.fid);
    if (!isTerminalStatus(before.status)) await this.#records.update(bid.fid, { cancelled: true });
    this.#forget(bid.fid);
    return this.getTask(bid.fid);
  }

  async readLogs(taskId: string, options: ReadLogsOptions): Promise<string> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.readLogs(taskId, options);
    const bid = await this.#bid(taskId);
    const instances = bid.status === "Terminated" ? [] : await this.#instances(bid);
    if (!instances.some((i) => i.status === "STATUS_RUNNING")) {
      const info = await this.#info(bid, { instances });
      if (!isTerminalStatus(info.status)) {
        throw new ValidationError(`Task ${bid.fid} has not started yet: ${info.message ?? info.status}.`, {
          suggestions: [`follow it with \`flow logs ${bid.fid} -f\`: that waits for it to start, then streams its output`],
          errorCode: "task_not_started",
        });
      }
    }
    const connection = await this.#openConnection(bid, "read its logs");
    try {
      const file = await connection.ssh.openFile(options.stream === "stdout" ? connection.paths.taskStdout : connection.paths.taskStderr);
      if (file === undefined) return "";
      try {
        const lines = await lastLines(file, options.tail);
        return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
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
    const bid = await this.#untilStarted(taskId, options);
    if (bid === undefined) return;
    const connection = await this.#openConnection(bid, "follow its logs");
    try {
      const { paths } = connection;
      const file = options.stream === "stdout" ? paths.taskStdout : paths.taskStderr;
      // Where the last `tail` lines start is found over SFTP, reading back from the end; the remote
      // tail then sends the bytes from there on, however the task writes (it has no notion of \r).
      const remote = await connection.ssh.openFile(file);
      const start = remote === undefined ? 0 : await tailStart(remote, options.tail, await remote.size()).finally(() => remote.close());
      // tail -F until the completion marker appears: --pid makes tail end once the waiter does, and
      // only after it has sent the file to its end, however far behind a slow reader has held it.
      const command =
        `touch ${quote(file)} 2>/dev/null; (while [ ! -e ${quote(paths.exitCode)} ]; do sleep 0.5; done) & w=$!; ` +
        `tail -c +${start + 1} -F --pid=$w ${quote(file)} 2>/dev/null; kill $w 2>/dev/null; true`;
      for await (const line of connection.ssh.lines(command, options.signal === undefined ? {} : { signal: options.signal })) yield line;
    } finally {
      connection.close();
    }
  }

  /**
   * Waits, with no time limit (a spot bid can wait hours for capacity, and a booting instance
   * minutes), until an instance of the task runs: the bid then. Undefined when `signal` fired or
   * the task ended with nothing to show (cancelled or failed before its command ran; its status
   * says how). A command that ran to its end on an instance that is gone now throws: its logs
   * went with the instance.
   */
  async #untilStarted(taskId: string, options: FollowLogsOptions): Promise<Bid | undefined> {
    for (;;) {
      if (options.signal?.aborted) return undefined;
      const bid = await this.#bid(taskId);
      const instances = bid.status === "Terminated" ? [] : await this.#instances(bid);
      if (instances.some((i) => i.status === "STATUS_RUNNING" && i.ssh_destination)) return bid;
      const info = await this.#info(bid, { instances });
      if (isTerminalStatus(info.status)) {
        if (info.exitCode === undefined) return undefined;
        throw new ValidationError(`Task ${bid.fid} has ended (${info.status}) and its instance is gone, with its logs.`, {
          suggestions: [`a finished task's instance stays up for 10 minutes: next time, save its output with \`flow logs ${bid.fid} > out.txt\``],
        });
      }
      options.onWaiting?.(info);
      await sleep(this.statusPollIntervalMs, options.signal).catch(() => {});
    }
  }

  async getInstances(taskId: string): Promise<TaskInstance[]> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.getInstances(taskId);
    const bid = await this.#bid(taskId);
    const record = await this.#records.read(bid.fid);
    const instanceType = record?.instanceTypeName ?? (await this.context.instanceTypeName(bid.instance_type));
    return (await this.#instances(bid)).map((i) => toTaskInstance(i, bid, instanceType));
  }

  async getUser(userId: string): Promise<User | undefined> {
    const me = await this.context.client.me();
    if (userId !== me.fid && userId !== me.id) return undefined;
    return { userId: me.fid, username: me.user_name ?? me.email, email: me.email };
  }

  async shell(taskId: string, options: ShellOptions): Promise<void> {
    if (ReservationTasks.owns(taskId)) return this.#reserved.shell(taskId, options);
    const bid = await this.#bid(taskId);
    const instances = await this.#instances(bid);
    const instance = instances[options.node ?? 0];
    if (instance === undefined || instance.status !== "STATUS_RUNNING") {
      throw new ValidationError(`Task ${taskId} has no running instance${options.node ? ` ${options.node}` : ""} to open a shell on.`, {
        suggestions: [`check it with \`flow status ${taskId} --provider fcp\``],
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
    const bid = await this.#spotBid(taskId, "paused");
    const info = await this.#reconciled(bid);
    if (info.status !== "running") {
      throw new ValidationError(`Task ${bid.fid} is ${info.status} (${info.message ?? info.status}): only a running task can be paused.`, {
        issues: [{ path: "status", message: `is ${info.status}, not running` }],
        suggestions: [
          info.status === "paused" ? `it is paused already; boot it again with \`flow resume ${bid.fid}\`` : isTerminalStatus(info.status) ? "it has ended" : `it has no instance running yet; stop bidding with \`flow cancel ${bid.fid}\``,
        ],
        errorCode: "task_not_running",
      });
    }
    await this.context.client.updateBid(bid.fid, { paused: true });
    this.#forget(bid.fid);
    return this.getTask(bid.fid);
  }

  /** PATCH the bid unpaused: it bids again and, once allocated, the same instances boot and rerun the command. */
  async resume(taskId: string): Promise<TaskInfo> {
    const bid = await this.#spotBid(taskId, "resumed");
    if (bid.status !== "Paused") {
      const info = await this.#reconciled(bid);
      throw new ValidationError(`Task ${bid.fid} is ${info.status}: only a paused task can be resumed.`, {
        issues: [{ path: "status", message: `is ${info.status}, not paused` }],
        errorCode: "task_not_paused",
      });
    }
    await this.context.client.updateBid(bid.fid, { paused: false });
    return this.getTask(bid.fid);
  }

  /** A new limit price; one below the market is refused (the bid would be outbid at once). */
  async setMaxPrice(taskId: string, dollarsPerHour: number): Promise<TaskInfo> {
    if (!Number.isFinite(dollarsPerHour) || dollarsPerHour <= 0) {
      throw new ValidationError(`${dollarsPerHour} is not a price.`, { issues: [{ path: "maxPricePerHour", message: "must be a positive number of dollars per hour" }] });
    }
    const bid = await this.#spotBid(taskId, "repriced");
    const info = await this.#reconciled(bid);
    if (isTerminalStatus(info.status)) {
      throw new ValidationError(`Task ${bid.fid} has ended (${info.status}); there is no bid to reprice.`, { errorCode: "task_ended" });
    }
    const market = await this.#marketPrice(bid);
    if (market !== undefined && dollarsPerHour < market) {
      const type = await this.context.instanceTypeName(bid.instance_type);
      throw new ValidationError(
        `${dollars(dollarsPerHour)}/h is below the spot price of ${type} in ${bid.region}, ${dollars(market)}/h: the bid would ${bid.status === "Allocated" ? "lose its instances at once" : "stay outbid"}.`,
        {
          issues: [{ path: "maxPricePerHour", message: `must be at least ${dollars(market)}` }],
          suggestions: [`flow reprice ${bid.fid} ${suggestedLimit(market)}`],
          errorCode: "price_too_low",
        },
      );
    }
    const updated = await this.context.client.updateBid(bid.fid, { limit_price: dollars(dollarsPerHour) });
    await this.#records.update(bid.fid, { limitPrice: updated.limit_price });
    return this.getTask(bid.fid);
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
   * Uploads to every instance of the bid: the code archive, and an env file with the secret env,
   * the task id and, with `assignRanks`, each node's rank and the leader's address. Returns the
   * instances' FIDs.
   */
  async #deliver(bid: Bid, archive: Buffer | undefined, secretEnv: [string, string][], assignRanks: boolean): Promise<string[]> {
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
          ...secretEnv,
          ["FLOW_TASK_ID", bid.fid],
          ...(assignRanks ? ([["FLOW_NODE_RANK", String(rank)], ["FLOW_MAIN_IP", leaderIp]] as [string, string][]) : []),
        ];
        const files: Upload[] = [{ data: new TextEncoder().encode(envFile(env)), remotePath: connection.paths.secretEnv, mode: 0o600 }];
        if (archive !== undefined) files.push({ data: archive, remotePath: connection.paths.archive });
        await connection.upload(files);
        this.context.progress(`uploaded ${files.map((f) => f.remotePath.split("/").pop()).join(" and ")} to ${target.fid}`);
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

  /** The bid of a spot task; a task on reserved capacity has none to pause or reprice. */
  async #spotBid(taskId: string, what: string): Promise<Bid> {
    if (ReservationTasks.owns(taskId)) {
      throw new ValidationError(`Task ${taskId} runs on reserved capacity, which cannot be ${what} per task.`, {
        suggestions: ["a reservation's price is fixed; pause or resume the whole reservation with flow.reservations.update(id, { paused })", `or stop the task: flow cancel ${taskId}`],
        errorCode: "reserved_task",
      });
    }
    return this.#bid(taskId);
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
  async #reconciled(bid: Bid): Promise<TaskInfo> {
    const record = await this.#records.read(bid.fid);
    const instances = bid.status === "Terminated" ? [] : await this.#instances(bid);
    let observed = observedIn(record);
    if (!isDecided(observed)) {
      const stranded = record?.deliveredTo === undefined ? undefined : strandedReplacement(instances, record.deliveredTo);
      if (stranded !== undefined) {
        // The spot bid restarted the task on a new machine after a preemption; that machine waits
        // for code or secrets that went over SSH and are not kept here, so it would idle until its
        // upload deadline. Release it and say so.
        const failure = `preempted; the replacement instance ${stranded.fid} cannot get the code archive or secret env that were uploaded over SSH, so the task was stopped. Run it again.`;
        await this.context.client.cancelBid(bid.fid);
        await this.#records.update(bid.fid, { failure });
        observed = { ...observed, failure };
      } else if (instances[0]?.status === "STATUS_RUNNING" && (await this.#letsUsIn(bid))) {
        const exitCode = await this.#probeExitCode(bid, instances[0]);
        if (exitCode !== undefined) {
          await this.#records.update(bid.fid, { exitCode });
          observed = { exitCode };
        }
      }
    }
    return this.#info(bid, { instances, observed });
  }

  /** The task from the bid and the records; `instances` when the caller has them already, `observed` when it just learned more. */
  async #info(bid: Bid, known: { instances?: Instance[]; observed?: ObservedOutcome } = {}): Promise<TaskInfo> {
    const record = await this.#records.read(bid.fid);
    const instances = bid.status === "Terminated" ? [] : (known.instances ?? (await this.#instances(bid)));
    const observed = known.observed ?? observedIn(record);
    // An Open bid may be outbid: the market says whether raising the price would help.
    const market = bid.status === "Open" && !isDecided(observed) ? await this.#marketPrice(bid) : undefined;
    const { status, message, outbid } = taskStatusFromApi(bid, instances, observed, market === undefined ? {} : { marketPricePerHour: market });
    if (isTerminalStatus(status)) this.#forget(bid.fid);
    const first = instances[0];
    const ssh = first?.ssh_destination ? parseSshDestination(first.ssh_destination) : undefined;
    const config = record?.config as TaskConfig | undefined;
    return {
      taskId: bid.fid,
      name: bid.name,
      status,
      ...(config === undefined ? {} : { config }),
      createdAt: new Date(bid.created_at),
      ...(first === undefined ? {} : { startedAt: new Date(first.created_at), instanceCreatedAt: new Date(first.created_at) }),
      ...(bid.deactivated_at ? { completedAt: new Date(bid.deactivated_at) } : {}),
      instanceType: record?.instanceTypeName ?? (await this.context.instanceTypeName(bid.instance_type)),
      numInstances: bid.instance_quantity,
      region: bid.region ?? record?.region ?? "",
      costPerHour: bid.limit_price,
      createdBy: bid.created_by,
      ...(ssh === undefined
        ? {}
        : {
            sshHost: ssh.host,
            sshPort: ssh.port,
            sshUser: INSTANCE_SSH_USER,
            shellCommand: `flow ssh ${bid.fid} --provider fcp`,
          }),
      endpoints: {},
      instances: instances.map((i) => i.fid),
      message,
      ...(observed.exitCode === undefined ? {} : { exitCode: observed.exitCode }),
      providerMetadata: {
        bidStatus: bid.status,
        instanceStatuses: instances.map((i) => i.status),
        limitPrice: bid.limit_price,
        ...(market === undefined ? {} : { spotPricePerHour: market }),
        ...(outbid === true ? { outbid } : {}),
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

  /** The completion marker's exit code, if the instance answers and the command has ended. */
  async #probeExitCode(bid: Bid, instance: Instance): Promise<number | undefined> {
    try {
      // A status check must not hang on an instance that is going away: a short login window.
      const connection = await this.#connection(bid, "check on it", instance, PROBE_LOGIN_TIMEOUT_MS);
      const text = await connection.read(connection.paths.exitCode);
      const code = text === undefined ? NaN : Number.parseInt(text.trim(), 10);
      return Number.isInteger(code) ? code : undefined;
    } catch (error) {
      if (error instanceof AuthenticationError) throw error;
      this.#forget(bid.fid);
      return undefined;
    }
  }

  /** One SSH connection per task for status probes, reopened if it dropped. */
  async #connection(bid: Bid, purpose: string, known?: Instance, timeoutMs?: number): Promise<InstanceConnection> {
    let pending = this.#connections.get(bid.fid);
    if (pending === undefined) {
      pending = (async () => {
        const connection = await this.#openConnection(bid, purpose, known, timeoutMs);
        void connection.ssh.closed.then(() => {
          if (this.#connections.get(bid.fid) === pending) this.#connections.delete(bid.fid);
        });
        return connection;
      })();
      this.#connections.set(bid.fid, pending);
      pending.catch(() => this.#connections.delete(bid.fid));
    }
    return pending;
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
        suggestions: [`check it with \`flow status ${bid.fid}\`; a task's logs and files live on its instance and end with it`],
      });
    }
    return InstanceConnection.open(instance, (await this.context.sshKey()).pair, timeoutMs === undefined ? {} : { timeoutMs });
  }

  #forget(fid: string): void {
    const pending = this.#connections.get(fid);
    this.#connections.delete(fid);
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

/**
 * Fields this provider cannot honour yet are refused, naming them, rather than ignored: the task
 * would run without the data or the port it depends on.
 */
function refuseUnsupported(config: TaskConfig): void {
  const unsupported = [...(config.dataMounts.length > 0 ? ["dataMounts (`--data`)"] : []), ...(config.ports.length > 0 ? ["ports (`--port`)"] : [])];
  if (unsupported.length === 0) return;
  throw new ValidationError(`The cloud provider cannot run tasks with ${unsupported.join(" or ")} yet.`, {
    issues: unsupported.map((field) => ({ path: field.split(" ")[0]!, message: "not supported on fcp yet" })),
    suggestions: ["remove them, or copy the data in the command itself (e.g. `aws s3 cp …`)"],
    errorCode: "unsupported_on_fcp",
  });
}


/** What the records say of how the task ended, if they know. */
function observedIn(record: TaskRecord | undefined): ObservedOutcome {
  const { cancelled, exitCode, failure } = record ?? {};
  return {
    ...(cancelled === undefined ? {} : { cancelled }),
    ...(exitCode === undefined ? {} : { exitCode }),
    ...(failure === undefined ? {} : { failure }),
  };
}

function isDecided(observed: ObservedOutcome): boolean {
  return observed.cancelled === true || observed.exitCode !== undefined || observed.failure !== undefined;
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

function toTaskInstance(instance: Instance, bid: Bid, instanceType: string): TaskInstance {
  const ssh = instance.ssh_destination ? parseSshDestination(instance.ssh_destination) : undefined;
  const status =
    instance.status === "STATUS_RUNNING"
      ? "running"
      : ENDED_INSTANCE_STATUSES.has(instance.status)
        ? "terminated"
        : instance.status === "STATUS_PAUSED" || instance.status === "STATUS_STOPPING"
          ? "stopped"
          : "pending";
  return {
    instanceId: instance.fid,
    taskId: bid.fid,
    status,
    ...(ssh === undefined ? {} : { sshHost: ssh.host, sshPort: ssh.port, sshUser: INSTANCE_SSH_USER }),
    ...(instance.private_ip ? { privateIp: instance.private_ip } : {}),
    instanceType,
    region: instance.region ?? bid.region ?? "",
    createdAt: new Date(instance.created_at),
  };
}
