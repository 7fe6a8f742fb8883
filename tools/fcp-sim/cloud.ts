/**
 * The simulated cloud: the account's resources, the spot auctions, reservations and the life of
 * every instance. HTTP lives elsewhere; this module assumes its inputs were validated and keeps
 * the invariants: an allocated instance holds one unit of its auction's capacity until it ends or
 * pauses, it is billed exactly while it holds one, and every machine it booted is killed before
 * its instance is reported ended.
 *
 * Spot rules: a bid is allocated, all of its instances at once, when its auction has capacity for
 * instance_quantity and its limit price is at least the auction's last price. Preemption ends the
 * bid's instances and puts the bid back to Open, where it is allocated again (new instances) as
 * soon as the auction allows. A last price that rises above an allocated bid's limit preempts it.
 *
 * Reservation rules: a reservation's instances exist from its creation (STATUS_NEW) and boot at
 * its start time. They are never preempted: one that needs capacity takes it before any spot bid
 * does, and preempts spot bids in its auction (lowest limit price first) until it has it. They run
 * the reservation's launch_specification like spot instances run their bid's; powering one off
 * stops it (STATUS_PAUSED), and PATCH /v2/instances starts it again. At the end time they
 * terminate.
 */
import { join } from "node:path";
import { ApiError, notFound, validationError, type ValidationIssue } from "./api-error.ts";
import { INSTANCE_TYPES, seedAuctionFid, type AuctionOption, resolveInstanceType } from "./fixtures.ts";
import { newFid, nowIso } from "./ids.ts";
import { accruedCents, Journal, type BillingPeriod, type StatusEvent } from "./journal.ts";
import { Machine, sandboxLayout } from "./machine.ts";
import { HOUR_MS, minimumPriceCents, offerModel, reservationOffers, reservedPriceAt, reservedUnitCents, spotPriceAt, type Auction, type Offer } from "./market.ts";
import { dollarsToCents, formatCents } from "./money.ts";
import {
  ENDED_INSTANCE_STATUSES,
  LIVE_RESERVATION_STATUSES,
  type BidHistoryEventModel,
  type BidModel,
  type InstanceModel,
  type InstanceStatus,
  type LaunchSpecificationModel,
  type MeResponse,
  type ProjectModel,
  type QuotaModel,
  type ReservationHistoryEventModel,
  type ReservationModel,
  type ReservationOfferModel,
  type SshKeyModel,
  type VolumeModel,
} from "./models.ts";
import { Quotas, type QuotaLimits, type QuotaProduct } from "./quotas.ts";
import {
  availabilitySlots,
  commitmentOf,
  freeUnitsOver,
  grantCostCents,
  latestEndMs,
  MAX_RESERVATION_HOURS,
  pauseCreditCents,
  reservationUsage,
  type Commitment,
  type Grant,
  type InstanceUsage,
  type ReservationRecord,
} from "./reservations.ts";
import type { AuctionModel } from "../../src/instance-types/from-api.ts";

const POWER_OFF_POLL_MS = 50;
const BOOT_STEPS: readonly InstanceStatus[] = ["STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING"];
/** The longest a Node timer waits; reservations can be further away, so their timers re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CloudOptions {
  user: MeResponse;
  projects: readonly ProjectModel[];
  auctions: readonly AuctionOption[];
  allocationDelayMs: number;
  bootStepMs: number;
  sshRoundTripMs: number;
  stateDir: string;
  /** Seeds the price history before the simulator started. */
  priceSeed: number;
  quotas: QuotaLimits;
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
  /** A reservation instance that is to run but has no capacity yet: it gets the next free unit. */
  awaitingCapacity: boolean;
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

export interface CreateReservationInput {
  project: string;
  region: string;
  instanceType: string;
  startMs: number;
  endMs: number;
  quantity: number;
  name: string;
  launchSpecification: LaunchSpecificationModel;
  offer: Offer;
}

export interface LiveInstance {
  fid: string;
  /** The bid's FID; "" for a reservation's instance. */
  bid: string;
  reservation?: string;
  status: string;
  sshDestination?: string;
}

/** What an instance has cost: the periods it held capacity, at the price it paid. */
export interface InstanceBill {
  instance: string;
  bid: string | null;
  reservation: string | null;
  /** Whether it is being billed right now. */
  billing: boolean;
  periods: BillingPeriod[];
  accruedCents: number;
}

export interface CurrentPrices {
  spot_price_cents: number | null;
  reserved_price_cents: number | null;
  minimum_price_cents: number | null;
  lowest_allocated_bid_cents: number | null;
  dynamic_win_price_cents: number | null;
  available_capacity: number | null;
  total_capacity: number | null;
}

export class Cloud {
  readonly user: MeResponse;
  readonly projects: readonly ProjectModel[];
  readonly #options: CloudOptions;
  readonly #auctions: Auction[];
  readonly #bids = new Map<string, BidRecord>();
  readonly #reservations = new Map<string, ReservationRecord>();
  readonly #instances = new Map<string, InstanceRecord>();
  readonly #sshKeys = new Map<string, SshKeyModel>();
  readonly #volumes = new Map<string, VolumeModel>();
  readonly #journal = new Journal();
  readonly #quotas: Quotas;
  readonly #sleepers = new Set<() => void>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #powerOffWatch: NodeJS.Timeout;
  #closed = false;

  constructor(options: CloudOptions) {
    this.#options = options;
    this.user = options.user;
    this.projects = options.projects;
    this.#quotas = new Quotas(options.quotas);
    const startedMs = Date.now();
    this.#auctions = options.auctions.map((option) => {
      const type = resolveInstanceType(option.instanceType);
      if (type === undefined) throw new Error(`fcp-sim: unknown instance type "${option.instanceType}" in auctions`);
      const cents = dollarsToCents(option.lastPrice);
      return {
        fid: seedAuctionFid(type.fid, option.region) ?? newFid("auc"),
        instanceType: type.fid,
        region: option.region,
        capacity: option.capacity,
        basePriceCents: cents,
        lastPriceCents: cents,
        priceChanges: [{ atMs: startedMs, cents }],
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

  reservations(): ReservationModel[] {
    return [...this.#reservations.values()].map((record) => structuredClone(record.model));
  }

  reservation(fid: string): ReservationModel {
    return structuredClone(this.#reservationRecord(fid).model);
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
        ...(model.reservation === null ? {} : { reservation: model.reservation }),
        status: model.status,
        ...(model.ssh_destination === null ? {} : { sshDestination: model.ssh_destination }),
      }));
  }

  /** Every instance's billing: billed from allocation until it ends or pauses. */
  billing(): InstanceBill[] {
    const nowMs = Date.now();
    return [...this.#instances.values()].map(({ model }) => {
      const periods = this.#journal.billingPeriods(model.fid);
      return { instance: model.fid, bid: model.bid, reservation: model.reservation, billing: periods.at(-1)?.endMs === null, periods, accruedCents: accruedCents(periods, nowMs) };
    });
  }

  sandboxDir(instanceFid: string): string {
    this.#instanceRecord(instanceFid);
    return sandboxLayout(this.#options.stateDir, instanceFid).dir;
  }

  // ---- history -------------------------------------------------------------------------------

  bidHistory(fid: string): BidHistoryEventModel[] {
    this.#bidRecord(fid);
    return this.#journal.bidHistory(fid);
  }

  reservationHistory(fid: string): ReservationHistoryEventModel[] {
    this.#reservationRecord(fid);
    return this.#journal.reservationHistory(fid);
  }

  reservationUsage(fid: string): ReturnType<typeof reservationUsage> {
    const record = this.#reservationRecord(fid);
    return reservationUsage(record, this.#usageOfInstances(record), this.#journal.reservationLevelEvents(fid), Date.now());
  }

  instanceStatusHistory(fid: string): StatusEvent[] {
    this.#instanceRecord(fid);
    return this.#journal.statusHistory(fid);
  }

  instanceBillingPeriods(fid: string): BillingPeriod[] {
    this.#instanceRecord(fid);
    return this.#journal.billingPeriods(fid);
  }

  // ---- market --------------------------------------------------------------------------------

  /** The least a bid may offer in the auction; undefined when there is no such auction. */
  minimumPriceCents(instanceType: string, region: string): number | undefined {
    const auction = this.#auctionOf({ instance_type: instanceType, region });
    return auction === undefined ? undefined : minimumPriceCents(auction);
  }

  /** GET /v2/pricing/current: one region, or the best of every region the type is sold in. */
  currentPrices(instanceType: string, region: string | undefined, quantity: number): CurrentPrices {
    const perAuction = this.#auctions
      .filter((auction) => auction.instanceType === instanceType && (region === undefined || auction.region === region))
      .map((auction) => {
        const free = Math.max(0, auction.capacity - this.#awaitingCapacity(auction));
        const allocated = [...this.#bids.values()].filter((bid) => bid.model.status === "Allocated" && this.#auctionOf(bid.model) === auction).map((bid) => bid.limitCents);
        return {
          spot: auction.lastPriceCents,
          reserved: reservedUnitCents(auction),
          minimum: minimumPriceCents(auction),
          lowestAllocated: allocated.length === 0 ? null : Math.min(...allocated),
          // Spot bids do not outbid each other here: without free capacity no price wins at once.
          dynamic: free >= quantity ? auction.lastPriceCents : null,
          free,
          pool: this.#pool(auction),
        };
      });
    const lowest = (values: (number | null)[]) => {
      const present = values.filter((value): value is number => value !== null);
      return present.length === 0 ? null : Math.min(...present);
    };
    const sum = (values: number[]) => (perAuction.length === 0 ? null : values.reduce((a, b) => a + b, 0));
    return {
      spot_price_cents: lowest(perAuction.map((p) => p.spot)),
      reserved_price_cents: lowest(perAuction.map((p) => p.reserved)),
      minimum_price_cents: lowest(perAuction.map((p) => p.minimum)),
      lowest_allocated_bid_cents: lowest(perAuction.map((p) => p.lowestAllocated)),
      dynamic_win_price_cents: lowest(perAuction.map((p) => p.dynamic)),
      available_capacity: sum(perAuction.map((p) => p.free)),
      total_capacity: sum(perAuction.map((p) => p.pool)),
    };
  }

  /** GET /v2/pricing/history: one series per auction matching the filters, sampled at `timesMs`. */
  priceHistory(instanceTypes: readonly string[] | undefined, region: string | undefined, timesMs: readonly number[]) {
    const seed = this.#options.priceSeed;
    return this.#auctions
      .filter((auction) => (instanceTypes === undefined || instanceTypes.includes(auction.instanceType)) && (region === undefined || auction.region === region))
      .map((auction) => ({
        instance_type: auction.instanceType,
        region: auction.region,
        timestamps: timesMs.map((t) => new Date(t).toISOString()),
        spot_prices: timesMs.map((t) => formatCents(spotPriceAt(auction, t, seed))),
        reserved_prices: timesMs.map((t) => formatCents(reservedPriceAt(auction, t, seed))),
        region_disabled: false,
      }));
  }

  reservationOffers(instanceType: string, region: string): Offer[] {
    const auction = this.#auctionOf({ instance_type: instanceType, region });
    return auction === undefined ? [] : reservationOffers(auction);
  }

  /** The offers for `quantity` instances over [startMs, endMs), priced in full. */
  reservationQuote(instanceType: string, region: string, quantity: number, startMs: number, endMs: number): ReservationOfferModel[] {
    const offers = this.reservationOffers(instanceType, region);
    const standard = offers[0]?.unitCents ?? 0;
    return offers.map((offer) => offerModel(offer, standard, (quantity * (endMs - startMs)) / HOUR_MS));
  }

  /** Spans of [fromMs, toMs) with units the auction can still promise, and how many. */
  reservationSlots(instanceType: string, region: string, fromMs: number, toMs: number): Commitment[] {
    const auction = this.#auctionOf({ instance_type: instanceType, region });
    return auction === undefined ? [] : availabilitySlots(this.#pool(auction), this.#commitments(auction), fromMs, toMs);
  }

  /** Units the auction can promise for all of [startMs, endMs). */
  reservableUnits(instanceType: string, region: string, startMs: number, endMs: number): number {
    const auction = this.#auctionOf({ instance_type: instanceType, region });
    return auction === undefined ? 0 : Math.max(0, freeUnitsOver(this.#pool(auction), this.#commitments(auction), startMs, endMs));
  }

  /** How long `quantity` units stay promisable from `startMs`, up to the longest reservation. */
  reservationLatestEndMs(instanceType: string, region: string, startMs: number, quantity: number): number | undefined {
    const auction = this.#auctionOf({ instance_type: instanceType, region });
    if (auction === undefined) return undefined;
    return latestEndMs(this.#pool(auction), this.#commitments(auction), startMs, quantity, startMs + MAX_RESERVATION_HOURS * HOUR_MS);
  }

  /** How far the reservation can be extended: capacity after its end, at most MAX_RESERVATION_HOURS more. */
  extensionAvailability(fid: string): { latestMs: number; available: boolean } {
    const record = this.#reservationRecord(fid);
    this.#refuseIfOver(record, "extended");
    const auction = this.#auctionOf(record.model);
    const latest =
      auction === undefined
        ? undefined
        : latestEndMs(this.#pool(auction), this.#commitments(auction, record), record.endMs, record.model.instance_quantity, record.endMs + MAX_RESERVATION_HOURS * HOUR_MS);
    return { latestMs: latest ?? record.endMs, available: latest !== undefined && latest > record.endMs };
  }

  // ---- quotas --------------------------------------------------------------------------------

  quotas(project: string): QuotaModel[] {
    return this.#quotas.models(project, INSTANCE_TYPES, this.#quotaUsage(project));
  }

  /** How much more of the quota the project may use (instances, or GB for Storage). */
  quotaRoom(project: string, product: QuotaProduct, instanceType?: string): number {
    const usage = this.#quotaUsage(project);
    const used = product === "Storage" ? usage.storageGb : ((product === "Spot" ? usage.spot : usage.reserved).get(instanceType ?? "") ?? 0);
    return this.#quotas.limit(product) - used;
  }

  // ---- SSH keys and volumes ------------------------------------------------------------------

  createSshKey(input: { project: string; name: string; publicKey: string; required: boolean }): SshKeyModel {
    const key: SshKeyModel = { fid: newFid("sshkey"), name: input.name, project: input.project, public_key: input.publicKey, created_at: nowIso(), required: input.required };
    this.#sshKeys.set(key.fid, key);
    return structuredClone(key);
  }

  /** A required key is let into every instance of its project, whatever the bid or reservation names. */
  updateSshKey(fid: string, required: boolean): SshKeyModel {
    const key = this.#sshKeys.get(fid);
    if (key === undefined) throw notFound("SSH key", fid);
    key.required = required;
    return structuredClone(key);
  }

  deleteSshKey(fid: string): void {
    if (!this.#sshKeys.has(fid)) throw notFound("SSH key", fid);
    const bid = [...this.#bids.values()].find((b) => b.model.status !== "Terminated" && b.model.launch_specification.ssh_keys.includes(fid));
    const reservation = [...this.#reservations.values()].find((r) => LIVE_RESERVATION_STATUSES.has(r.model.status) && r.model.launch_specification.ssh_keys.includes(fid));
    const user = bid === undefined ? (reservation === undefined ? undefined : `reservation ${reservation.model.fid} (${reservation.model.name})`) : `bid ${bid.model.fid} (${bid.model.name})`;
    if (user !== undefined) {
      throw validationError([{ loc: ["path", "ssh_key_fid"], msg: `SSH key ${fid} is used by ${user}; cancel it before deleting the key`, type: "value_error" }]);
    }
    this.#sshKeys.delete(fid);
  }

  /** The volume (not deleted) of the project that has this name, if any. */
  volumeNamed(project: string, name: string): VolumeModel | undefined {
    const volume = [...this.#volumes.values()].find((v) => v.project === project && v.name === name && v.deleted_at === null);
    return volume === undefined ? undefined : structuredClone(volume);
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

  renameVolume(fid: string, name: string): VolumeModel {
    const volume = this.#volumes.get(fid);
    if (volume === undefined || volume.deleted_at !== null) throw notFound("Volume", fid);
    const taken = this.volumeNamed(volume.project, name);
    if (taken !== undefined && taken.fid !== fid) {
      throw validationError([{ loc: ["body", "name"], msg: `A volume named ${name} already exists in project ${volume.project} (${taken.fid})`, type: "value_error" }]);
    }
    volume.name = name;
    return structuredClone(volume);
  }

  deleteVolume(fid: string): void {
    const volume = this.#volumes.get(fid);
    if (volume === undefined || volume.deleted_at !== null) throw notFound("Volume", fid);
    const users = [...volume.bids.map((bid) => `bid ${bid}`), ...volume.reservations.map((reservation) => `reservation ${reservation}`)];
    if (users.length > 0) {
      throw validationError([{ loc: ["path", "volume_fid"], msg: `Volume ${fid} (${volume.name}) is in use by ${users.join(", ")}; cancel or detach first`, type: "value_error" }]);
    }
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
    this.#journal.bidEvent(bid.model.fid, "Placed", { limit_price: bid.model.limit_price, user_id: this.user.fid });
    this.#considerOpenBids();
    return structuredClone(bid.model);
  }

  /**
   * PATCH: a new limit price, pause (instances stop, capacity freed) or resume (allocate again).
   * Refused as a whole (422) when any part is impossible: a terminated bid, a price under the
   * auction's floor, pausing a bid that has nothing allocated.
   */
  async updateBid(fid: string, update: { limitCents?: number; paused?: boolean; volumes?: string[] }): Promise<BidModel> {
    const bid = this.#bidRecord(fid);
    if (bid.model.status === "Terminated") {
      throw validationError([{ loc: ["path", "bid_fid"], msg: `Bid ${fid} is terminated and cannot be updated; place a new bid`, type: "value_error" }]);
    }
    const auction = this.#auctionOf(bid.model);
    const issues: ValidationIssue[] = [];
    if (update.limitCents !== undefined && auction !== undefined && update.limitCents < minimumPriceCents(auction)) {
      issues.push({ loc: ["body", "limit_price"], msg: `Limit price ${formatCents(update.limitCents)} is below this auction's minimum of ${formatCents(minimumPriceCents(auction))}`, type: "value_error" });
    }
    if (update.paused === true && bid.model.status !== "Allocated" && bid.model.status !== "Paused") {
      issues.push({ loc: ["body", "paused"], msg: `Bid ${fid} is ${bid.model.status}, not allocated: it has no instances to pause; cancel it to stop bidding`, type: "value_error" });
    }
    if (issues.length > 0) throw validationError(issues);

    if (update.limitCents !== undefined && update.limitCents !== bid.limitCents) {
      bid.limitCents = update.limitCents;
      bid.model.limit_price = formatCents(update.limitCents);
      this.#journal.bidEvent(fid, "Limit Price Changed", { limit_price: bid.model.limit_price, user_id: this.user.fid });
    }
    if (update.volumes !== undefined) {
      const before = bid.model.launch_specification.volumes;
      this.#detachVolumes(bid);
      bid.model.launch_specification.volumes = [...update.volumes];
      for (const volumeFid of update.volumes) this.#volumes.get(volumeFid)?.bids.push(fid);
      for (const added of update.volumes.filter((v) => !before.includes(v))) {
        this.#journal.bidEvent(fid, "Volumes Attached", { user_id: this.user.fid, persistent_disk_change: { attached: added, removed: null } });
      }
      for (const removed of before.filter((v) => !update.volumes?.includes(v))) {
        this.#journal.bidEvent(fid, "Volumes Removed", { user_id: this.user.fid, persistent_disk_change: { attached: null, removed } });
      }
    }
    if (update.paused === true && bid.model.status === "Allocated") {
      this.#clearAllocationTimer(bid);
      bid.model.status = "Paused";
      this.#journal.bidEvent(fid, "Paused", { user_id: this.user.fid });
      await Promise.all(this.#liveInstancesOf(bid).map((instance) => this.#endInstance(instance, undefined, "STATUS_PAUSED")));
    } else if (update.paused === false && bid.model.status === "Paused") {
      this.#journal.bidEvent(fid, "Resumed", { user_id: this.user.fid });
      this.#reopen(bid);
    }
    // A limit lowered under the market loses the auction like a market that rose above it.
    if (bid.model.status === "Allocated" && auction !== undefined && bid.limitCents < auction.lastPriceCents) this.#track(this.#preemptBid(bid));
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

  // ---- reservations --------------------------------------------------------------------------

  /** Creates the reservation and its instances; it starts at once when its start time has come. */
  createReservation(input: CreateReservationInput): ReservationModel {
    const nowMs = Date.now();
    const grant: Grant = {
      fid: newFid("grant"),
      startMs: input.startMs,
      endMs: input.endMs,
      quantity: input.quantity,
      createdAtMs: nowMs,
      unitCents: input.offer.unitCents,
      pauseBuybackCents: input.offer.pauseBuybackCents,
      returnBuybackCents: input.offer.returnBuybackCents,
    };
    const record: ReservationRecord = {
      model: {
        fid: newFid("res"),
        name: input.name,
        project: input.project,
        created_by: this.user.fid,
        created_at: new Date(nowMs).toISOString(),
        deactivated_at: null,
        instance_quantity: input.quantity,
        instance_type: input.instanceType,
        region: input.region,
        instances: [],
        launch_specification: structuredClone(input.launchSpecification),
        status: "Pending",
        start_time: new Date(input.startMs).toISOString(),
        end_time: new Date(input.endMs).toISOString(),
        total_price: formatCents(grantCostCents(grant)),
        unit_price: formatCents(input.offer.unitCents),
      },
      startMs: input.startMs,
      endMs: input.endMs,
      offer: input.offer,
      grants: [grant],
      returnedAtMs: new Map(),
      reportedPauseCreditCents: 0,
      timer: undefined,
    };
    const fid = record.model.fid;
    this.#reservations.set(fid, record);
    for (let i = 0; i < input.quantity; i++) this.#newInstance(record.model, "reservation");
    for (const volumeFid of input.launchSpecification.volumes) this.#volumes.get(volumeFid)?.reservations.push(fid);
    this.#journal.reservationEvent(fid, "Placed", { user_id: this.user.fid, unit_price_cents: input.offer.unitCents });
    this.#journal.reservationEvent(fid, "Terms Set", { unit_price_cents: input.offer.unitCents });
    this.#schedule(record);
    return structuredClone(record.model);
  }

  /** PATCH: pause (every instance stops, its capacity goes to spot), resume, or other volumes. */
  async updateReservation(fid: string, update: { paused?: boolean; volumes?: string[] }): Promise<ReservationModel> {
    const record = this.#reservationRecord(fid);
    this.#refuseIfOver(record, "changed");
    if (update.paused === true && record.model.status === "Pending") {
      throw validationError([{ loc: ["body", "paused"], msg: `Reservation ${fid} has not started (it starts at ${record.model.start_time}); there is nothing to pause yet`, type: "value_error" }]);
    }
    if (update.volumes !== undefined) {
      for (const volume of this.#volumes.values()) volume.reservations = volume.reservations.filter((r) => r !== fid);
      record.model.launch_specification.volumes = [...update.volumes];
      for (const volumeFid of update.volumes) this.#volumes.get(volumeFid)?.reservations.push(fid);
    }
    if (update.paused === true && record.model.status === "Active") {
      record.model.status = "Paused";
      this.#journal.reservationEvent(fid, "Paused", { user_id: this.user.fid });
      this.#journal.reservationLevelEvent(fid, "Paused");
      const instances = [...this.#instancesOf(record.model)];
      for (const instance of instances) instance.awaitingCapacity = false;
      await Promise.all(
        instances.filter((i) => !ENDED_INSTANCE_STATUSES.has(i.model.status) && i.model.status !== "STATUS_PAUSED").map((i) => this.#endInstance(i, "STATUS_STOPPING", "STATUS_PAUSED")),
      );
    } else if (update.paused === false && record.model.status === "Paused") {
      record.model.status = "Active";
      const credit = pauseCreditCents(record, this.#usageOfInstances(record), Date.now()) - record.reportedPauseCreditCents;
      record.reportedPauseCreditCents += credit;
      this.#journal.reservationEvent(fid, "Resumed", { user_id: this.user.fid, pause_credit_cents: credit });
      for (const instance of this.#instancesOf(record.model)) if (instance.model.status === "STATUS_PAUSED") this.#requestStart(instance);
      this.#serveReservationsIn(record.model);
    }
    return structuredClone(record.model);
  }

  /** POST extend: a new end time, bought at the offer's current price as a new grant. */
  extendReservation(fid: string, input: { endMs: number; offerKey: string | undefined; maxUnitCents: number | undefined }): ReservationModel {
    const record = this.#reservationRecord(fid);
    this.#refuseIfOver(record, "extended");
    const issues: ValidationIssue[] = [];
    const { latestMs } = this.extensionAvailability(fid);
    if (input.endMs <= record.endMs) {
      issues.push({ loc: ["body", "end_time"], msg: `end_time must be after the reservation's current end, ${record.model.end_time}`, type: "value_error" });
    } else if (input.endMs > latestMs) {
      const latest = latestMs > record.endMs ? `the latest possible end is ${new Date(latestMs).toISOString()}` : "there is no capacity to extend it at all";
      issues.push({ loc: ["body", "end_time"], msg: `Cannot extend to ${new Date(input.endMs).toISOString()}: ${latest} (see GET /v2/reservation/${fid}/extension-availability)`, type: "value_error" });
    }
    const offers = this.reservationOffers(record.model.instance_type, record.model.region ?? "");
    const offerKey = input.offerKey ?? record.offer.key;
    const offer = offers.find((o) => o.key === offerKey);
    if (offer === undefined) {
      issues.push({ loc: ["body", "price_specification", "offer_key"], msg: `Unknown offer ${offerKey}; offers: ${offers.map((o) => o.key).join(", ")}`, type: "value_error" });
    } else if (input.maxUnitCents !== undefined && offer.unitCents > input.maxUnitCents) {
      issues.push({ loc: ["body", "price_specification", "max_unit_price"], msg: `The ${offer.key} price is now ${offer.unitCents} cents per instance-hour, above max_unit_price ${input.maxUnitCents}`, type: "value_error" });
    }
    if (issues.length > 0 || offer === undefined) throw validationError(issues);

    const grant: Grant = {
      fid: newFid("grant"),
      startMs: record.endMs,
      endMs: input.endMs,
      quantity: record.model.instance_quantity,
      createdAtMs: Date.now(),
      unitCents: offer.unitCents,
      pauseBuybackCents: offer.pauseBuybackCents,
      returnBuybackCents: offer.returnBuybackCents,
    };
    record.grants.push(grant);
    record.endMs = input.endMs;
    record.model.end_time = new Date(input.endMs).toISOString();
    record.model.total_price = formatCents(record.grants.reduce((sum, g) => sum + grantCostCents(g), 0));
    this.#journal.reservationEvent(fid, "Terms Changed", { user_id: this.user.fid, unit_price_cents: offer.unitCents });
    this.#journal.reservationLevelEvent(fid, "Extended");
    this.#schedule(record);
    return structuredClone(record.model);
  }

  /**
   * POST terminate-instances: the instances end for good and the reservation shrinks by them,
   * with a credit for the time they give back. Instances already ended are not terminated again
   * (a 207 names the ones that were). A reservation left with none is Canceled.
   */
  async terminateReservationInstances(fid: string, instanceFids: readonly string[]): Promise<{ terminated: string[] }> {
    const record = this.#reservationRecord(fid);
    if (!LIVE_RESERVATION_STATUSES.has(record.model.status)) {
      throw new ApiError(400, `Reservation ${fid} already ended (${record.model.status} at ${record.model.deactivated_at ?? record.model.end_time})`);
    }
    const foreign = instanceFids.find((instanceFid) => !record.model.instances.includes(instanceFid));
    if (foreign !== undefined) throw new ApiError(404, `Instance ${foreign} is not an instance of reservation ${fid}`);
    const targets = instanceFids.map((instanceFid) => this.#instanceRecord(instanceFid)).filter((instance) => !ENDED_INSTANCE_STATUSES.has(instance.model.status));
    const nowMs = Date.now();
    let credit = 0;
    for (const target of targets) {
      target.awaitingCapacity = false;
      record.returnedAtMs.set(target.model.fid, nowMs);
      for (const grant of record.grants) credit += (Math.max(0, grant.endMs - Math.max(nowMs, grant.startMs)) / HOUR_MS) * grant.returnBuybackCents;
    }
    if (targets.length > 0) {
      record.model.instance_quantity -= targets.length;
      this.#journal.reservationEvent(fid, "Terms Changed", { user_id: this.user.fid, return_credit_cents: Math.round(credit) });
    }
    await Promise.all(targets.map((instance) => this.#endInstance(instance, "STATUS_STOPPING", "STATUS_TERMINATED")));
    if (record.model.instance_quantity === 0) await this.#finishReservation(record, "Canceled");
    return { terminated: targets.map((instance) => instance.model.fid) };
  }

  /**
   * PATCH /v2/instances: start or pause reservation instances one by one. Refused as a whole for
   * a spot instance (501) or one not ready (409: booting, stopping, or its reservation is not
   * active); an instance already where it is asked to go keeps its status.
   */
  setInstancesStatus(instanceFids: readonly string[], target: "STATUS_RUNNING" | "STATUS_PAUSED"): Record<string, InstanceStatus> {
    const instances = instanceFids.map((fid) => this.#instanceRecord(fid));
    const spot = instances.find((instance) => instance.model.reservation === null);
    if (spot !== undefined) {
      throw new ApiError(501, `Instance ${spot.model.fid} belongs to spot bid ${spot.model.bid ?? "?"}; only reserved instances can be started or paused one by one. Pause the bid with PATCH /v2/spot/bids/{bid_fid}`);
    }
    for (const instance of instances) {
      const reason = this.#notReadyFor(instance, target);
      if (reason !== undefined) throw new ApiError(409, `Instance ${instance.model.fid} is not ready to be ${target === "STATUS_PAUSED" ? "paused" : "started"}: ${reason}`);
    }
    for (const instance of instances) {
      if (target === "STATUS_PAUSED" && instance.model.status === "STATUS_RUNNING") this.#track(this.#endInstance(instance, "STATUS_STOPPING", "STATUS_PAUSED"));
      if (target === "STATUS_RUNNING" && instance.model.status === "STATUS_PAUSED") this.#requestStart(instance);
    }
    for (const instance of instances) this.#serveReservationsIn(instance.model);
    return Object.fromEntries(instances.map((instance) => [instance.model.fid, instance.model.status]));
  }

  // ---- faults --------------------------------------------------------------------------------

  /** Spot preemption of the instance's bid: its instances end, the bid goes back to Open. */
  async preempt(instanceFid: string): Promise<void> {
    const instance = this.#instanceRecord(instanceFid);
    const bid = instance.model.bid === null ? undefined : this.#bids.get(instance.model.bid);
    if (bid === undefined || ENDED_INSTANCE_STATUSES.has(instance.model.status)) {
      throw new Error(`fcp-sim: instance ${instanceFid} is ${instance.model.status}${instance.model.reservation === null ? "" : " (reserved)"}; only a live spot instance can be preempted`);
    }
    await this.#preemptBid(bid);
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
    for (const auction of this.#auctionsFor(instanceType, region)) {
      auction.capacity = capacity;
      this.#serveReservations(auction);
    }
    this.#considerOpenBids();
  }

  /**
   * Moves the market: the last price of the type's auctions (every region unless one is named).
   * Running spot instances pay the new price from now on; allocated bids whose limit is now below
   * it are outbid (preempted, back to Open); Open bids it now covers can be allocated.
   */
  setPrice(instanceType: string, region: string | undefined, cents: number): void {
    const nowMs = Date.now();
    for (const auction of this.#auctionsFor(instanceType, region)) {
      auction.lastPriceCents = cents;
      auction.priceChanges.push({ atMs: nowMs, cents });
      for (const instance of this.#instances.values()) {
        if (instance.holdsCapacity && instance.model.bid !== null && this.#auctionOf(instance.model) === auction) this.#journal.startBilling(instance.model.fid, cents);
      }
      for (const bid of this.#bids.values()) {
        if (bid.model.status === "Allocated" && this.#auctionOf(bid.model) === auction && bid.limitCents < cents) this.#track(this.#preemptBid(bid));
      }
    }
    this.#considerOpenBids();
  }

  /** The reservation's end comes now, as if its end time had (end_time stays as booked): its instances terminate. */
  async expireReservation(fid: string): Promise<void> {
    const record = this.#reservationRecord(fid);
    if (!LIVE_RESERVATION_STATUSES.has(record.model.status)) throw new Error(`fcp-sim: reservation ${fid} is already ${record.model.status}`);
    await this.#finishReservation(record, "Ended");
  }

  dropSshConnections(instanceFid: string): void {
    this.#instanceRecord(instanceFid).booted?.dropSshConnections();
  }

  dropSshConnectionsAtExec(instanceFid: string, match: string): void {
    const machine = this.#instanceRecord(instanceFid).booted;
    if (machine === undefined) throw new Error(`fcp-sim: instance ${instanceFid} is not running`);
    machine.dropSshConnectionsAtExec(match);
  }

  /** Kills every machine and stops every timer. The cloud answers nothing useful afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#powerOffWatch);
    for (const bid of this.#bids.values()) this.#clearAllocationTimer(bid);
    for (const record of this.#reservations.values()) clearTimeout(record.timer);
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
    // Units a reservation instance is waiting for are not for sale.
    if (auction === undefined || auction.capacity - this.#awaitingCapacity(auction) < bid.model.instance_quantity || bid.limitCents < auction.lastPriceCents) return;
    auction.capacity -= bid.model.instance_quantity;
    bid.model.status = "Allocated";
    this.#journal.bidEvent(bid.model.fid, "Allocated", { limit_price: bid.model.limit_price });
    // A paused bid resumes the instances it had (same FIDs and disks); otherwise new ones boot.
    const paused = [...this.#instancesOf(bid.model)].filter((instance) => instance.model.status === "STATUS_PAUSED");
    const instances = paused.length > 0 ? paused : Array.from({ length: bid.model.instance_quantity }, () => this.#newInstance(bid.model, "bid"));
    for (const instance of instances) {
      this.#holdCapacity(instance, auction.lastPriceCents);
      this.#boot(instance);
    }
  }

  /**
   * Reservation instances waiting in the auction take its free units first; if that is not
   * enough, spot bids are preempted (lowest limit first, then the newest) until the units still
   * missing are on their way back.
   */
  #serveReservations(auction: Auction): void {
    if (this.#closed) return;
    const waiting = [...this.#instances.values()].filter((instance) => instance.awaitingCapacity && this.#auctionOf(instance.model) === auction);
    for (const instance of waiting) {
      if (auction.capacity <= 0) break;
      auction.capacity--;
      instance.awaitingCapacity = false;
      this.#holdCapacity(instance, this.#reservationRecord(instance.model.reservation ?? "").offer.unitCents);
      this.#boot(instance);
    }
    const returning = [...this.#instances.values()].filter((instance) => instance.holdsCapacity && instance.ending !== undefined && this.#auctionOf(instance.model) === auction).length;
    let missing = waiting.filter((instance) => instance.awaitingCapacity).length - returning;
    const victims = [...this.#bids.values()]
      .filter((bid) => bid.model.status === "Allocated" && this.#auctionOf(bid.model) === auction)
      .sort((a, b) => a.limitCents - b.limitCents || b.model.created_at.localeCompare(a.model.created_at));
    for (const victim of victims) {
      if (missing <= 0) break;
      missing -= this.#liveInstancesOf(victim).filter((instance) => instance.holdsCapacity).length;
      this.#track(this.#preemptBid(victim));
    }
  }

  #serveReservationsIn(model: { instance_type: string; region: string | null }): void {
    const auction = this.#auctionOf(model);
    if (auction !== undefined) this.#serveReservations(auction);
  }

  /** Units waiting reservation instances need; spot cannot have them. */
  #awaitingCapacity(auction: Auction): number {
    return [...this.#instances.values()].filter((instance) => instance.awaitingCapacity && this.#auctionOf(instance.model) === auction).length;
  }

  /** Every unit of the auction: free, or held by an instance (spot or reserved). */
  #pool(auction: Auction): number {
    return auction.capacity + [...this.#instances.values()].filter((instance) => instance.holdsCapacity && this.#auctionOf(instance.model) === auction).length;
  }

  #commitments(auction: Auction, except?: ReservationRecord): Commitment[] {
    return [...this.#reservations.values()]
      .filter((record) => record !== except && LIVE_RESERVATION_STATUSES.has(record.model.status) && this.#auctionOf(record.model) === auction)
      .map(commitmentOf);
  }

  #newInstance(owner: BidModel | ReservationModel, kind: "bid" | "reservation"): InstanceRecord {
    const instance: InstanceRecord = {
      model: {
        fid: newFid("inst"),
        name: `${owner.name}-${owner.instances.length}`,
        project: owner.project,
        created_at: nowIso(),
        created_by: owner.created_by,
        instance_type: owner.instance_type,
        region: owner.region,
        bid: kind === "bid" ? owner.fid : null,
        reservation: kind === "reservation" ? owner.fid : null,
        ssh_destination: null,
        private_ip: null,
        status: "STATUS_NEW",
      },
      endTime: null,
      generation: 0,
      holdsCapacity: false,
      awaitingCapacity: false,
      machine: undefined,
      booted: undefined,
      ending: undefined,
    };
    this.#instances.set(instance.model.fid, instance);
    this.#journal.instanceStatus(instance.model.fid, "STATUS_NEW");
    owner.instances.push(instance.model.fid);
    return instance;
  }

  #reopen(bid: BidRecord): void {
    bid.model.status = "Open";
    bid.openSinceMs = Date.now();
  }

  /** Outbid or displaced by a reservation: the bid's instances end, and it bids again. */
  async #preemptBid(bid: BidRecord): Promise<void> {
    if (bid.model.status === "Allocated") {
      bid.model.status = "Preempting";
      this.#journal.bidEvent(bid.model.fid, "Preempted", { limit_price: bid.model.limit_price });
    }
    await Promise.all(this.#liveInstancesOf(bid).map((live) => this.#endInstance(live, "STATUS_PREEMPTING", "STATUS_PREEMPTED")));
    if (bid.model.status === "Preempting") this.#reopen(bid);
    this.#considerOpenBids();
  }

  #terminateBid(bid: BidRecord): void {
    this.#clearAllocationTimer(bid);
    bid.model.status = "Terminated";
    bid.model.deactivated_at = nowIso();
    this.#journal.bidEvent(bid.model.fid, "Terminated");
    this.#detachVolumes(bid);
  }

  #detachVolumes(bid: BidRecord): void {
    for (const volume of this.#volumes.values()) volume.bids = volume.bids.filter((fid) => fid !== bid.model.fid);
  }

  #clearAllocationTimer(bid: BidRecord): void {
    clearTimeout(bid.allocationTimer);
    bid.allocationTimer = undefined;
  }

  /** Arms the reservation's next transition: its start while Pending, its end while it runs. */
  #schedule(record: ReservationRecord): void {
    clearTimeout(record.timer);
    record.timer = undefined;
    const { status } = record.model;
    if (this.#closed || !LIVE_RESERVATION_STATUSES.has(status)) return;
    const delay = (status === "Pending" ? record.startMs : record.endMs) - Date.now();
    if (delay > 0) {
      record.timer = setTimeout(() => this.#schedule(record), Math.min(delay, MAX_TIMER_MS));
    } else if (status === "Pending") {
      this.#activate(record);
    } else {
      this.#track(this.#finishReservation(record, "Ended"));
    }
  }

  #activate(record: ReservationRecord): void {
    record.model.status = "Active";
    this.#journal.reservationEvent(record.model.fid, "Active");
    this.#journal.reservationLevelEvent(record.model.fid, "Started");
    for (const instance of this.#instancesOf(record.model)) if (instance.model.status === "STATUS_NEW") instance.awaitingCapacity = true;
    this.#serveReservationsIn(record.model);
    this.#schedule(record);
  }

  async #finishReservation(record: ReservationRecord, status: "Ended" | "Canceled"): Promise<void> {
    if (!LIVE_RESERVATION_STATUSES.has(record.model.status)) return;
    clearTimeout(record.timer);
    record.timer = undefined;
    record.model.status = status;
    record.model.deactivated_at = nowIso();
    this.#journal.reservationEvent(record.model.fid, status);
    for (const volume of this.#volumes.values()) volume.reservations = volume.reservations.filter((fid) => fid !== record.model.fid);
    const instances = [...this.#instancesOf(record.model)];
    for (const instance of instances) instance.awaitingCapacity = false;
    await Promise.all(instances.filter((i) => !ENDED_INSTANCE_STATUSES.has(i.model.status)).map((i) => this.#endInstance(i, "STATUS_STOPPING", "STATUS_TERMINATED")));
  }

  #refuseIfOver(record: ReservationRecord, what: string): void {
    if (LIVE_RESERVATION_STATUSES.has(record.model.status)) return;
    const when = record.model.deactivated_at ?? record.model.end_time;
    throw validationError([
      { loc: ["path", "reservation_fid"], msg: `Reservation ${record.model.fid} is ${record.model.status} (since ${when}) and cannot be ${what}; create a new reservation`, type: "value_error" },
    ]);
  }

  /** Why a reservation instance cannot go to `target` now; undefined when it can (or is there). */
  #notReadyFor(instance: InstanceRecord, target: "STATUS_RUNNING" | "STATUS_PAUSED"): string | undefined {
    const record = this.#reservationRecord(instance.model.reservation ?? "");
    const { status } = instance.model;
    if (ENDED_INSTANCE_STATUSES.has(status)) return undefined;
    if (record.model.status === "Pending") return `its reservation ${record.model.fid} starts at ${record.model.start_time}`;
    if (status === "STATUS_STOPPING") return "it is stopping";
    if (target === "STATUS_PAUSED") return status === "STATUS_RUNNING" || status === "STATUS_PAUSED" ? undefined : `it is still starting (${status})`;
    if (record.model.status === "Paused") return `its reservation ${record.model.fid} is paused; resume it with PATCH /v2/reservation/${record.model.fid}`;
    return undefined;
  }

  /** A stopped reservation instance asks for capacity again; it boots when it gets it. */
  #requestStart(instance: InstanceRecord): void {
    this.#setStatus(instance, "STATUS_CONFIRMED");
    instance.awaitingCapacity = true;
  }

  // ---- instance life -------------------------------------------------------------------------

  #setStatus(instance: InstanceRecord, status: InstanceStatus): void {
    instance.model.status = status;
    this.#journal.instanceStatus(instance.model.fid, status);
  }

  #holdCapacity(instance: InstanceRecord, priceCents: number): void {
    instance.holdsCapacity = true;
    this.#journal.startBilling(instance.model.fid, priceCents);
  }

  /** Boots from STATUS_NEW, or from STATUS_CONFIRMED for a reservation instance started again. */
  #boot(instance: InstanceRecord): void {
    const generation = ++instance.generation;
    const fromConfirmed = instance.model.status === "STATUS_CONFIRMED" && instance.model.reservation !== null;
    if (!fromConfirmed) this.#setStatus(instance, "STATUS_NEW");
    instance.model.ssh_destination = null;
    instance.endTime = null;
    this.#track(this.#runBoot(instance, generation, fromConfirmed ? BOOT_STEPS.slice(1) : BOOT_STEPS));
  }

  async #runBoot(instance: InstanceRecord, generation: number, steps: readonly InstanceStatus[]): Promise<void> {
    const current = () => !this.#closed && instance.generation === generation;
    for (const status of steps) {
      await this.#sleep(this.#options.bootStepMs);
      if (!current()) return;
      this.#setStatus(instance, status);
    }
    // STATUS_STARTING: the machine boots (runs the startup script, starts its sshd).
    const spec = this.#launchSpecOf(instance);
    instance.machine = Machine.boot({
      layout: sandboxLayout(this.#options.stateDir, instance.model.fid),
      startupScript: spec.startup_script ?? "",
      authorizedKeys: () => this.#authorizedKeys(instance),
      sshRoundTripMs: this.#options.sshRoundTripMs,
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
    if (current()) this.#setStatus(instance, "STATUS_RUNNING");
  }

  #launchSpecOf(instance: InstanceRecord): LaunchSpecificationModel {
    const { bid, reservation } = instance.model;
    return reservation === null ? this.#bidRecord(bid ?? "").model.launch_specification : this.#reservationRecord(reservation).model.launch_specification;
  }

  /** The keys the launch specification names, and the project's required keys. */
  #authorizedKeys(instance: InstanceRecord): string[] {
    const named = this.#launchSpecOf(instance).ssh_keys;
    return [...this.#sshKeys.values()].filter((key) => named.includes(key.fid) || (key.required && key.project === instance.model.project)).map((key) => key.public_key);
  }

  /**
   * Moves a live instance to `final` (through `transitional` while its machine is killed) and gives
   * its capacity back. Concurrent callers share one ending; the first one's statuses win.
   */
  #endInstance(instance: InstanceRecord, transitional: InstanceStatus | undefined, final: InstanceStatus): Promise<void> {
    instance.ending ??= (async () => {
      if (transitional !== undefined) this.#setStatus(instance, transitional);
      await this.#stopMachine(instance);
      this.#setStatus(instance, final);
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
    this.#journal.stopBilling(instance.model.fid);
    const auction = this.#auctionOf(instance.model);
    if (auction !== undefined) {
      auction.capacity++;
      this.#serveReservations(auction);
    }
    this.#considerOpenBids();
  }

  /**
   * Machines that ran `shutdown`/`poweroff`: a spot instance terminates (and a bid with nothing
   * left running ends too); a reservation's instance stops, keeping its place in the reservation.
   */
  #collectPoweredOff(): void {
    for (const instance of this.#instances.values()) {
      if (instance.ending !== undefined || instance.booted?.poweredOff() !== true) continue;
      if (instance.model.reservation !== null) {
        this.#track(this.#endInstance(instance, "STATUS_STOPPING", "STATUS_PAUSED"));
        continue;
      }
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

  #auctionsFor(instanceType: string, region: string | undefined): Auction[] {
    const type = resolveInstanceType(instanceType);
    const auctions = this.#auctions.filter((auction) => auction.instanceType === type?.fid && (region === undefined || auction.region === region));
    if (auctions.length === 0) throw new Error(`fcp-sim: no auction for ${instanceType}${region === undefined ? "" : ` in ${region}`}`);
    return auctions;
  }

  *#instancesOf(owner: { instances: readonly string[] }): Iterable<InstanceRecord> {
    for (const fid of owner.instances) {
      const instance = this.#instances.get(fid);
      if (instance !== undefined) yield instance;
    }
  }

  #liveInstancesOf(bid: BidRecord): InstanceRecord[] {
    return [...this.#instancesOf(bid.model)].filter((instance) => !ENDED_INSTANCE_STATUSES.has(instance.model.status));
  }

  #usageOfInstances(record: ReservationRecord): InstanceUsage[] {
    return [...this.#instancesOf(record.model)].map(({ model }) => ({
      fid: model.fid,
      name: model.name,
      statuses: this.#journal.statusHistory(model.fid),
      billing: this.#journal.billingPeriods(model.fid),
    }));
  }

  #quotaUsage(project: string) {
    const spot = new Map<string, number>();
    const reserved = new Map<string, number>();
    const add = (map: Map<string, number>, type: string, n: number) => map.set(type, (map.get(type) ?? 0) + n);
    for (const { model } of this.#bids.values()) if (model.project === project && model.status !== "Terminated") add(spot, model.instance_type, model.instance_quantity);
    for (const { model } of this.#reservations.values()) {
      if (model.project === project && LIVE_RESERVATION_STATUSES.has(model.status)) add(reserved, model.instance_type, model.instance_quantity);
    }
    const storageGb = [...this.#volumes.values()].filter((v) => v.project === project && v.deleted_at === null).reduce((sum, v) => sum + v.capacity_gb, 0);
    return { spot, reserved, storageGb };
  }

  #bidRecord(fid: string): BidRecord {
    const bid = this.#bids.get(fid);
    if (bid === undefined) throw notFound("Bid", fid);
    return bid;
  }

  #reservationRecord(fid: string): ReservationRecord {
    const record = this.#reservations.get(fid);
    if (record === undefined) throw notFound("Reservation", fid);
    return record;
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
