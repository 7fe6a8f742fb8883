/**
 * The simulated cloud: the account's resources, the spot auctions and the life of every instance.
 * HTTP lives elsewhere; this module assumes its inputs were validated and keeps the invariants:
 * an allocated instance holds one unit of its auction's capacity until it ends or pauses, and
 * every machine it booted is killed before its instance is reported ended.
 *
 * Spot rules: a bid is allocated, all of its instances at once, when its auction has capacity for
 * instance_quantity and its limit price is at least the auction's last price. Preemption ends the
 * bid's instances and puts the bid back to Open, where it is allocated again (new instances) as
 * soon as the auction allows.
 */
import { join } from "node:path";
import { ApiError, notFound } from "./api-error.ts";
import { seedAuctionFid, type AuctionOption, resolveInstanceType } from "./fixtures.ts";
import { newFid, nowIso } from "./ids.ts";
import { Machine, sandboxLayout } from "./machine.ts";
import { dollarsToCents, formatCents } from "./money.ts";
import {
  ENDED_INSTANCE_STATUSES,
  type BidModel,
  type InstanceModel,
  type InstanceStatus,
  type LaunchSpecificationModel,
  type MeResponse,
  type ProjectModel,
  type SshKeyModel,
  type VolumeModel,
} from "./models.ts";
import type { AuctionModel } from "../../src/instance-types/from-api.ts";

const POWER_OFF_POLL_MS = 50;
const BOOT_STEPS: readonly InstanceStatus[] = ["STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING"];

export interface CloudOptions {
  user: MeResponse;
  projects: readonly ProjectModel[];
  auctions: readonly AuctionOption[];
  allocationDelayMs: number;
  bootStepMs: number;
  stateDir: string;
}

interface Auction {
  fid: string;
  instanceType: string;
  region: string;
  /** Units free right now; allocation takes, termination gives back. */
  capacity: number;
  lastPriceCents: number;
}

interface BidRecord {
  model: BidModel;
  limitCents: number;
  /** When the bid last became Open: allocation waits allocationDelayMs from here. */
  openSinceMs: number;
  allocationTimer: NodeJS.Timeout | undefined;
}

interface InstanceRecord {
  model: InstanceModel;
  endTime: string | null;
  /** Bumped whenever the instance stops, so a boot in progress knows it was overtaken. */
  generation: number;
  holdsCapacity: boolean;
  /** The machine while (or once) it boots; settled to undefined when booting failed. */
  machine: Promise<Machine | undefined> | undefined;
  booted: Machine | undefined;
  ending: Promise<void> | undefined;
}

export interface CreateBidInput {
  project: string;
  region: string;
  instanceType: string;
  limitCents: number;
  instanceQuantity: number;
  name: string;
  launchSpecification: LaunchSpecificationModel;
}

export interface LiveInstance {
  fid: string;
  bid: string;
  status: string;
  sshDestination?: string;
}

export class Cloud {
  readonly user: MeResponse;
  readonly projects: readonly ProjectModel[];
  readonly #options: CloudOptions;
  readonly #auctions: Auction[];
  readonly #bids = new Map<string, BidRecord>();
  readonly #instances = new Map<string, InstanceRecord>();
  readonly #sshKeys = new Map<string, SshKeyModel>();
  readonly #volumes = new Map<string, VolumeModel>();
  readonly #sleepers = new Set<() => void>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #powerOffWatch: NodeJS.Timeout;
  #closed = false;

  constructor(options: CloudOptions) {
    this.#options = options;
    this.user = options.user;
    this.projects = options.projects;
    this.#auctions = options.auctions.map((option) => {
      const type = resolveInstanceType(option.instanceType);
      if (type === undefined) throw new Error(`fcp-sim: unknown instance type "${option.instanceType}" in auctions`);
      return {
        fid: seedAuctionFid(type.fid, option.region) ?? newFid("auc"),
        instanceType: type.fid,
        region: option.region,
        capacity: option.capacity,
        lastPriceCents: dollarsToCents(option.lastPrice),
      };
    });
    this.#powerOffWatch = setInterval(() => this.#collectPoweredOff(), POWER_OFF_POLL_MS);
    this.#powerOffWatch.unref();
  }

  // ---- queries -------------------------------------------------------------------------------

  auctionModels(): AuctionModel[] {
    return this.#auctions.map((auction) => {
      const allocatedCents = [...this.#bids.values()]
        .filter((bid) => bid.model.status === "Allocated" && this.#auctionOf(bid.model) === auction)
        .map((bid) => bid.limitCents);
      return {
        fid: auction.fid,
        instance_type: auction.instanceType,
        region: auction.region,
        capacity: auction.capacity,
        last_instance_price: formatCents(auction.lastPriceCents),
        lowest_allocated_price: allocatedCents.length === 0 ? null : formatCents(Math.min(...allocatedCents)),
        adjustable_memory: false,
        default_image_version: null,
      };
    });
  }

  hasAuction(instanceType: string, region: string): boolean {
    return this.#auctions.some((auction) => auction.instanceType === instanceType && auction.region === region);
  }

  regions(): string[] {
    return [...new Set(this.#auctions.map((auction) => auction.region))];
  }

  bids(): BidModel[] {
    return [...this.#bids.values()].map((bid) => structuredClone(bid.model));
  }

  bid(fid: string): BidModel {
    return structuredClone(this.#bidRecord(fid).model);
  }

  instances(): InstanceModel[] {
    return [...this.#instances.values()].map((instance) => structuredClone(instance.model));
  }

  instance(fid: string): InstanceModel & { end_time: string | null } {
    const record = this.#instanceRecord(fid);
    return { ...structuredClone(record.model), end_time: record.endTime };
  }

  sshKeys(): SshKeyModel[] {
    return [...this.#sshKeys.values()].map((key) => structuredClone(key));
  }

  volumes(): VolumeModel[] {
    return [...this.#volumes.values()].map((volume) => structuredClone(volume));
  }

  /** Instances that still cost money: everything not terminated, preempted or errored. */
  liveInstances(): LiveInstance[] {
    return [...this.#instances.values()]
      .filter((instance) => !ENDED_INSTANCE_STATUSES.has(instance.model.status))
      .map(({ model }) => ({
        fid: model.fid,
        bid: model.bid ?? "",
        status: model.status,
        ...(model.ssh_destination === null ? {} : { sshDestination: model.ssh_destination }),
      }));
  }

  sandboxDir(instanceFid: string): string {
    this.#instanceRecord(instanceFid);
    return sandboxLayout(this.#options.stateDir, instanceFid).dir;
  }

  // ---- SSH keys and volumes ------------------------------------------------------------------

  createSshKey(input: { project: string; name: string; publicKey: string; required: boolean }): SshKeyModel {
    const key: SshKeyModel = { fid: newFid("sshkey"), name: input.name, project: input.project, public_key: input.publicKey, created_at: nowIso(), required: input.required };
    this.#sshKeys.set(key.fid, key);
    return structuredClone(key);
  }

  deleteSshKey(fid: string): void {
    if (!this.#sshKeys.has(fid)) throw notFound("SSH key", fid);
    const user = [...this.#bids.values()].find((bid) => bid.model.status !== "Terminated" && bid.model.launch_specification.ssh_keys.includes(fid));
    if (user !== undefined) throw new ApiError(400, `SSH key ${fid} is used by active bid ${user.model.fid}; cancel the bid first`);
    this.#sshKeys.delete(fid);
  }

  createVolume(input: { project: string; name: string; region: string; sizeGb: number; diskInterface: "Block" | "File" }): VolumeModel {
    const volume: VolumeModel = {
      fid: newFid("vol"),
      name: input.name,
      region: input.region,
      created_at: nowIso(),
      deleted_at: null,
      capacity_gb: input.sizeGb,
      project: input.project,
      interface: input.diskInterface,
      bids: [],
      reservations: [],
      attachments: {},
    };
    this.#volumes.set(volume.fid, volume);
    return structuredClone(volume);
  }

  deleteVolume(fid: string): void {
    const volume = this.#volumes.get(fid);
    if (volume === undefined || volume.deleted_at !== null) throw notFound("Volume", fid);
    if (volume.bids.length > 0) throw new ApiError(400, `Volume ${fid} is attached to bid ${volume.bids.join(", ")}; cancel the bid first`);
    volume.deleted_at = nowIso();
  }

  // ---- bids ----------------------------------------------------------------------------------

  createBid(input: CreateBidInput): BidModel {
    const bid: BidRecord = {
      model: {
        fid: newFid("bid"),
        name: input.name,
        project: input.project,
        created_by: this.user.fid,
        created_at: nowIso(),
        deactivated_at: null,
        limit_price: formatCents(input.limitCents),
        instance_quantity: input.instanceQuantity,
        instance_type: input.instanceType,
        region: input.region,
        instances: [],
        launch_specification: structuredClone(input.launchSpecification),
        status: "Open",
      },
      limitCents: input.limitCents,
      openSinceMs: Date.now(),
      allocationTimer: undefined,
    };
    this.#bids.set(bid.model.fid, bid);
    for (const volumeFid of input.launchSpecification.volumes) this.#volumes.get(volumeFid)?.bids.push(bid.model.fid);
    this.#considerOpenBids();
    return structuredClone(bid.model);
  }

  /** PATCH: a new limit price, pause (instances stop, capacity freed) or resume (allocate again). */
  async updateBid(fid: string, update: { limitCents?: number; paused?: boolean; volumes?: string[] }): Promise<BidModel> {
    const bid = this.#bidRecord(fid);
    if (bid.model.status === "Terminated") throw new ApiError(400, `Bid ${fid} is terminated and cannot be updated; place a new bid`);
    if (update.limitCents !== undefined) {
      bid.limitCents = update.limitCents;
      bid.model.limit_price = formatCents(update.limitCents);
    }
    if (update.volumes !== undefined) {
      this.#detachVolumes(bid);
      bid.model.launch_specification.volumes = [...update.volumes];
      for (const volumeFid of update.volumes) this.#volumes.get(volumeFid)?.bids.push(fid);
    }
    if (update.paused === true && bid.model.status !== "Paused") {
      this.#clearAllocationTimer(bid);
      bid.model.status = "Paused";
      await Promise.all(this.#liveInstancesOf(bid).map((instance) => this.#endInstance(instance, undefined, "STATUS_PAUSED")));
    } else if (update.paused === false && bid.model.status === "Paused") {
      this.#reopen(bid);
    }
    this.#considerOpenBids();
    return structuredClone(bid.model);
  }

  /** DELETE: the bid ends for good and so does every instance it still has. */
  async cancelBid(fid: string): Promise<void> {
    const bid = this.#bidRecord(fid);
    if (bid.model.status === "Terminated") return;
    this.#terminateBid(bid);
    await Promise.all(this.#liveInstancesOf(bid).map((instance) => this.#endInstance(instance, "STATUS_STOPPING", "STATUS_TERMINATED")));
  }

  // ---- faults --------------------------------------------------------------------------------

  /** Spot preemption of the instance's bid: its instances end, the bid goes back to Open. */
  async preempt(instanceFid: string): Promise<void> {
    const instance = this.#instanceRecord(instanceFid);
    const bid = instance.model.bid === null ? undefined : this.#bids.get(instance.model.bid);
    if (bid === undefined || ENDED_INSTANCE_STATUSES.has(instance.model.status)) {
      throw new Error(`fcp-sim: instance ${instanceFid} is ${instance.model.status}; only a live spot instance can be preempted`);
    }
    const wasAllocated = bid.model.status === "Allocated";
    if (wasAllocated) bid.model.status = "Preempting";
    await Promise.all(this.#liveInstancesOf(bid).map((live) => this.#endInstance(live, "STATUS_PREEMPTING", "STATUS_PREEMPTED")));
    if (bid.model.status === "Preempting") this.#reopen(bid);
    this.#considerOpenBids();
  }

  /** The machine dies under the instance: STATUS_ERROR; the bid is left as the platform left it. */
  async kill(instanceFid: string): Promise<void> {
    const instance = this.#instanceRecord(instanceFid);
    if (ENDED_INSTANCE_STATUSES.has(instance.model.status)) throw new Error(`fcp-sim: instance ${instanceFid} already ended (${instance.model.status})`);
    await this.#endInstance(instance, undefined, "STATUS_ERROR");
    this.#considerOpenBids();
  }

  /** Sets the free capacity of the type's auctions (every region unless one is named). */
  setCapacity(instanceType: string, region: string | undefined, capacity: number): void {
    const type = resolveInstanceType(instanceType);
    const auctions = this.#auctions.filter((auction) => auction.instanceType === type?.fid && (region === undefined || auction.region === region));
    if (auctions.length === 0) throw new Error(`fcp-sim: no auction for ${instanceType}${region === undefined ? "" : ` in ${region}`}`);
    for (const auction of auctions) auction.capacity = capacity;
    this.#considerOpenBids();
  }

  dropSshConnections(instanceFid: string): void {
    this.#instanceRecord(instanceFid).booted?.dropSshConnections();
  }

  /** Kills every machine and stops every timer. The cloud answers nothing useful afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#powerOffWatch);
    for (const bid of this.#bids.values()) this.#clearAllocationTimer(bid);
    for (const wake of this.#sleepers) wake();
    await Promise.all([...this.#instances.values()].map((instance) => this.#stopMachine(instance)));
    await Promise.all(this.#background);
  }

  // ---- allocation ----------------------------------------------------------------------------

  #considerOpenBids(): void {
    if (this.#closed) return;
    for (const bid of this.#bids.values()) {
      if (bid.model.status !== "Open" || bid.allocationTimer !== undefined) continue;
      const delay = Math.max(0, bid.openSinceMs + this.#options.allocationDelayMs - Date.now());
      bid.allocationTimer = setTimeout(() => {
        bid.allocationTimer = undefined;
        this.#tryAllocate(bid);
      }, delay);
    }
  }

  #tryAllocate(bid: BidRecord): void {
    if (this.#closed || bid.model.status !== "Open") return;
    const auction = this.#auctionOf(bid.model);
    if (auction === undefined || auction.capacity < bid.model.instance_quantity || bid.limitCents < auction.lastPriceCents) return;
    auction.capacity -= bid.model.instance_quantity;
    bid.model.status = "Allocated";
    // A paused bid resumes the instances it had (same FIDs and disks); otherwise new ones boot.
    const paused = [...this.#instancesOf(bid)].filter((instance) => instance.model.status === "STATUS_PAUSED");
    const instances = paused.length > 0 ? paused : Array.from({ length: bid.model.instance_quantity }, () => this.#newInstance(bid));
    for (const instance of instances) {
      instance.holdsCapacity = true;
      this.#boot(instance);
    }
  }

  #newInstance(bid: BidRecord): InstanceRecord {
    const { model } = bid;
    const instance: InstanceRecord = {
      model: {
        fid: newFid("inst"),
        name: `${model.name}-${model.instances.length}`,
        project: model.project,
        created_at: nowIso(),
        created_by: model.created_by,
        instance_type: model.instance_type,
        region: model.region,
        bid: model.fid,
        reservation: null,
        ssh_destination: null,
        private_ip: null,
        status: "STATUS_NEW",
      },
      endTime: null,
      generation: 0,
      holdsCapacity: false,
      machine: undefined,
      booted: undefined,
      ending: undefined,
    };
    this.#instances.set(instance.model.fid, instance);
    model.instances.push(instance.model.fid);
    return instance;
  }

  #reopen(bid: BidRecord): void {
    bid.model.status = "Open";
    bid.openSinceMs = Date.now();
  }

  #terminateBid(bid: BidRecord): void {
    this.#clearAllocationTimer(bid);
    bid.model.status = "Terminated";
    bid.model.deactivated_at = nowIso();
    this.#detachVolumes(bid);
  }

  #detachVolumes(bid: BidRecord): void {
    for (const volume of this.#volumes.values()) volume.bids = volume.bids.filter((fid) => fid !== bid.model.fid);
  }

  #clearAllocationTimer(bid: BidRecord): void {
    clearTimeout(bid.allocationTimer);
    bid.allocationTimer = undefined;
  }

  // ---- instance life -------------------------------------------------------------------------

  #boot(instance: InstanceRecord): void {
    const generation = ++instance.generation;
    instance.model.status = "STATUS_NEW";
    instance.model.ssh_destination = null;
    instance.endTime = null;
    this.#track(this.#runBoot(instance, generation));
  }

  async #runBoot(instance: InstanceRecord, generation: number): Promise<void> {
    const current = () => !this.#closed && instance.generation === generation;
    for (const status of BOOT_STEPS) {
      await this.#sleep(this.#options.bootStepMs);
      if (!current()) return;
      instance.model.status = status;
    }
    // STATUS_STARTING: the machine boots (runs the startup script, starts its sshd).
    const bid = this.#bidRecord(instance.model.bid ?? "");
    const spec = bid.model.launch_specification;
    instance.machine = Machine.boot({
      layout: sandboxLayout(this.#options.stateDir, instance.model.fid),
      startupScript: spec.startup_script ?? "",
      authorizedKeys: () => spec.ssh_keys.flatMap((fid) => this.#sshKeys.get(fid)?.public_key ?? []),
      disks: spec.volumes.flatMap((fid) => {
        const volume = this.#volumes.get(fid);
        return volume === undefined ? [] : [{ volumeFid: fid, interface: volume.interface, store: join(this.#options.stateDir, "volumes", fid) }];
      }),
    }).catch((error: unknown) => {
      process.emitWarning(`fcp-sim: instance ${instance.model.fid} failed to boot: ${String(error)}`);
      return undefined;
    });
    const machine = await instance.machine;
    // Overtaken (stopped meanwhile): whoever stopped it kills this machine through instance.machine.
    if (!current()) return;
    if (machine === undefined) {
      await this.#endInstance(instance, undefined, "STATUS_ERROR");
      return;
    }
    instance.booted = machine;
    instance.model.ssh_destination = `127.0.0.1:${machine.sshPort}`;
    // Every simulated machine lives on this host: its private network is the loopback.
    instance.model.private_ip = "127.0.0.1";
    await this.#sleep(this.#options.bootStepMs);
    if (current()) instance.model.status = "STATUS_RUNNING";
  }

  /**
   * Moves a live instance to `final` (through `transitional` while its machine is killed) and gives
   * its capacity back. Concurrent callers share one ending; the first one's statuses win.
   */
  #endInstance(instance: InstanceRecord, transitional: InstanceStatus | undefined, final: InstanceStatus): Promise<void> {
    instance.ending ??= (async () => {
      if (transitional !== undefined) instance.model.status = transitional;
      await this.#stopMachine(instance);
      instance.model.status = final;
      if (final !== "STATUS_PAUSED") instance.endTime = nowIso();
      this.#releaseCapacity(instance);
    })().finally(() => {
      instance.ending = undefined;
    });
    return instance.ending;
  }

  /** Cancels any boot in progress and kills the machine; close() waits for every such kill. */
  #stopMachine(instance: InstanceRecord): Promise<void> {
    instance.generation++;
    const machine = instance.machine;
    instance.machine = undefined;
    instance.booted = undefined;
    const stopped = (async () => (await machine)?.kill())();
    this.#track(stopped);
    return stopped;
  }

  #releaseCapacity(instance: InstanceRecord): void {
    if (!instance.holdsCapacity) return;
    instance.holdsCapacity = false;
    const auction = this.#auctionOf(instance.model);
    if (auction !== undefined) auction.capacity++;
    this.#considerOpenBids();
  }

  /** Machines that ran `shutdown`/`poweroff` terminate; a bid with nothing left running ends too. */
  #collectPoweredOff(): void {
    for (const instance of this.#instances.values()) {
      if (instance.ending !== undefined || instance.booted?.poweredOff() !== true) continue;
      const bid = this.#bids.get(instance.model.bid ?? "");
      this.#track(
        this.#endInstance(instance, "STATUS_STOPPING", "STATUS_TERMINATED").then(() => {
          if (bid !== undefined && bid.model.status !== "Terminated" && this.#liveInstancesOf(bid).length === 0) this.#terminateBid(bid);
        }),
      );
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  #auctionOf(model: { instance_type: string; region: string | null }): Auction | undefined {
    return this.#auctions.find((auction) => auction.instanceType === model.instance_type && auction.region === model.region);
  }

  *#instancesOf(bid: BidRecord): Iterable<InstanceRecord> {
    for (const fid of bid.model.instances) {
      const instance = this.#instances.get(fid);
      if (instance !== undefined) yield instance;
    }
  }

  #liveInstancesOf(bid: BidRecord): InstanceRecord[] {
    return [...this.#instancesOf(bid)].filter((instance) => !ENDED_INSTANCE_STATUSES.has(instance.model.status));
  }

  #bidRecord(fid: string): BidRecord {
    const bid = this.#bids.get(fid);
    if (bid === undefined) throw notFound("Bid", fid);
    return bid;
  }

  #instanceRecord(fid: string): InstanceRecord {
    const instance = this.#instances.get(fid);
    if (instance === undefined) throw notFound("Instance", fid);
    return instance;
  }

  /** A timer that close() cuts short, so boot sequences never outlive the simulator. */
  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => process.emitWarning(`fcp-sim: ${String(error)}`)).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }
}
