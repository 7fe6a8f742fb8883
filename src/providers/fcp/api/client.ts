/**
 * FcpClient: the FCP (Mithril) cloud API as the provider uses it. Every method validates what it
 * sends and what comes back against the spec's models, follows pagination to the end, and turns
 * failures into the SDK's errors (see http-errors.ts); retries are in transport.ts.
 */
import * as z from "zod";
import { ResourceNotFoundError, ValidationError } from "../../../errors.ts";
import { collectPages, type Page } from "./pagination.ts";
import { sleep } from "../../../sleep.ts";
import type { RetryPolicy } from "./retry.ts";
import {
  AuctionModelSchema,
  type AuctionModel,
  type AvailabilitySlot,
  AvailabilitySlotModelSchema,
  type Bid,
  type BidHistory,
  BidHistoryResponseSchema,
  BidModelSchema,
  type BidStatus,
  type BidStatusResponse,
  BidStatusResponseSchema,
  CheckAvailabilityResponseSchema,
  type CreateBidRequest,
  CreateBidRequestSchema,
  type CreatedSshKey,
  CreatedSshKeyModelSchema,
  type CreateReservationRequest,
  CreateReservationRequestSchema,
  type CreateSshKeyRequest,
  CreateSshKeyRequestSchema,
  type CreateVolumeRequest,
  CreateVolumeRequestSchema,
  type CurrentPrices,
  CurrentPricesResponseSchema,
  type DateTimeInput,
  DateTimeInputSchema,
  type ExtendReservationRequest,
  ExtendReservationRequestSchema,
  type ExtensionAvailability,
  ExtensionAvailabilityResponseSchema,
  GetBidsResponseSchema,
  GetInstancesResponseSchema,
  GetLatestEndTimeResponseSchema,
  GetReservationsResponseSchema,
  type HistoricalPrices,
  HistoricalPricesResponseModelSchema,
  type Instance,
  type InstancePricingHistory,
  InstancePricingHistoryResponseSchema,
  type InstanceStatus,
  type InstanceStatusHistory,
  InstanceStatusHistoryResponseSchema,
  type InstanceStatusResponse,
  InstanceStatusResponseSchema,
  type InstanceTargetStatus,
  InstanceTypeModelSchema,
  type InstanceTypeModel,
  type Me,
  MeResponseSchema,
  PatchInstanceStatusRequestSchema,
  PatchInstanceStatusResponseSchema,
  ProjectModelSchema,
  type Project,
  type Quota,
  QuotaModelSchema,
  type Reservation,
  type ReservationHistory,
  ReservationHistoryResponseSchema,
  ReservationModelSchema,
  type ReservationQuote,
  ReservationQuoteResponseSchema,
  type ReservationStatus,
  type ReservationUsage,
  ReservationUsageResponseSchema,
  type SshKey,
  NewSshKeyModelSchema,
  TerminateInstanceRequestSchema,
  type UpdateBidRequest,
  UpdateBidRequestSchema,
  type UpdateReservationRequest,
  UpdateReservationRequestSchema,
  type UpdateSshKeyRequest,
  UpdateSshKeyRequestSchema,
  type UpdateVolumeRequest,
  UpdateVolumeRequestSchema,
  type VolumeModel,
  VolumeModelSchema,
} from "./schemas.ts";
import { ApiTransport, type ApiCall, type QueryValue } from "./transport.ts";
import { defaultUserAgent } from "./user-agent.ts";

export interface FcpClientOptions {
  /** e.g. "https://api.mithril.ai"; paths (/v2/...) are appended. */
  apiUrl: string;
  apiKey: string;
  /** Where the key came from ("FLOW_API_KEY", a config file path, "explicit"), named when it is rejected. */
  apiKeySource?: string;
  userAgent?: string;
  /** Retries after the first attempt. Default 5. */
  maxRetries?: number;
  /** Default 500. */
  initialRetryDelayMs?: number;
  /** Default 20 000. */
  maxRetryDelayMs?: number;
  /** Per attempt, from sending to the last byte of the answer. Default 30 000. */
  requestTimeoutMs?: number;
  /** Waits between retries; tests pass one that records the delay and resolves at once. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ListBidsQuery {
  project: string;
  name?: string;
  status?: BidStatus;
  /** The instance type's FID. */
  instanceType?: string;
  region?: string;
}

export interface ListInstancesQuery {
  project: string;
  bidFids?: readonly string[];
  reservationFids?: readonly string[];
  /** Instances of spot bids ("Bid") or of reservations ("Reservation"). */
  orderTypes?: readonly ("Bid" | "Reservation")[];
  statuses?: readonly InstanceStatus[];
  /** The instance type's FID. */
  instanceType?: string;
  region?: string;
}

/** Which instances' history: one instance, a bid's or a reservation's (all of the project's without). */
export interface InstanceHistoryQuery {
  project: string;
  instanceFid?: string;
  bidFid?: string;
  reservationFid?: string;
  startTime?: DateTimeInput;
  endTime?: DateTimeInput;
}

export interface CurrentPricesQuery {
  /** The instance type's FID. */
  instanceType: string;
  /** Without one, the best figures across the regions the type is sold in. */
  region?: string;
  /** 1–256; the win price is for this many instances. Default 1. */
  instanceQuantity?: number;
}

export interface PriceHistoryQuery {
  /** Instance type FIDs; every type without. */
  instanceTypes?: readonly string[];
  region?: string;
  /** Points per series, up to 1000; -1 for the API's own resolution. The API's default is 100. */
  numSamples?: number;
  startTime?: DateTimeInput;
  endTime?: DateTimeInput;
}

/** An instance type in a region, for a reservation. */
export interface ReservationMarket {
  project: string;
  /** The instance type's FID. */
  instanceType: string;
  region: string;
}

export interface ReservationQuoteQuery extends ReservationMarket {
  startTime: DateTimeInput;
  endTime: DateTimeInput;
  quantity: number;
}

export interface ReservationSlotsQuery extends ReservationMarket {
  earliestStartTime: DateTimeInput;
  latestEndTime: DateTimeInput;
}

export interface ReservationLatestEndQuery extends ReservationMarket {
  startTime: DateTimeInput;
  quantity: number;
}

export interface ReservationCheckQuery extends ReservationMarket {
  startTime: DateTimeInput;
  endTime: DateTimeInput;
  quantity: number;
}

export interface ListReservationsQuery {
  project: string;
  status?: ReservationStatus;
  /** The instance type's FID. */
  instanceType?: string;
  region?: string;
}

/** The outcome of giving instances back to a reservation: the API may terminate only some. */
export interface TerminatedInstances {
  terminated: string[];
  /** Requested but not terminated by this call (e.g. already gone, or a failure on the API's side). */
  notTerminated: string[];
}

/** Largest page the spec allows: fewer round trips when following cursors. */
const PAGE_LIMIT = 100;

const NoContentSchema = z.unknown();

const SlotsSchema = z.array(AvailabilitySlotModelSchema);
/** The spec says slots; the API's own model for the mode may come instead (see schemas.ts). */
const SlotsOrListSchema = z.union([SlotsSchema, z.looseObject({ data: SlotsSchema }).transform((page) => page.data)]);
const LatestEndSchema = z.union([SlotsSchema, GetLatestEndTimeResponseSchema]);
const CheckSchema = z.union([SlotsSchema, CheckAvailabilityResponseSchema]);
/** A 200 may carry any body; a 207 lists what was terminated. */
const TerminateInstancesResponseSchema = z.unknown().transform((body) => {
  const parsed = z.looseObject({ terminated_instances: z.array(z.string()) }).safeParse(body);
  return parsed.success ? parsed.data.terminated_instances : undefined;
});

/** Instance statuses after which an instance is gone for good. */
const ENDED_INSTANCE_STATUSES: ReadonlySet<InstanceStatus> = new Set(["STATUS_TERMINATED", "STATUS_PREEMPTED", "STATUS_ERROR", "STATUS_REPLACED"]);

export class FcpClient {
  readonly #transport: ApiTransport;

  constructor(options: FcpClientOptions) {
    const retry: RetryPolicy = {
      maxRetries: options.maxRetries ?? 5,
      initialRetryDelayMs: options.initialRetryDelayMs ?? 500,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 20_000,
      sleep: options.sleep ?? sleep,
      random: Math.random,
    };
    this.#transport = new ApiTransport({
      apiUrl: options.apiUrl,
      apiKey: options.apiKey,
      apiKeySource: options.apiKeySource ?? "explicit",
      userAgent: options.userAgent ?? defaultUserAgent(),
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      retry,
    });
  }

  /** Closes idle connections. Optional: idle connections do not keep the process alive. */
  close(): Promise<void> {
    return this.#transport.close();
  }

  // ---- account -------------------------------------------------------------------------------

  me(): Promise<Me> {
    return this.#get("me", "/v2/me", MeResponseSchema);
  }

  listProjects(): Promise<Project[]> {
    return this.#get("listProjects", "/v2/projects", z.array(ProjectModelSchema));
  }

  /** A project's FID from its FID or its name. */
  async resolveProjectId(nameOrFid: string): Promise<string> {
    const projects = await this.listProjects();
    const match = projects.find((p) => p.fid === nameOrFid) ?? projects.find((p) => p.name === nameOrFid);
    if (match !== undefined) return match.fid;
    const names = projects.map((p) => p.name);
    throw new ResourceNotFoundError(`The API key has no project named ${JSON.stringify(nameOrFid)}.`, {
      errorCode: "project_not_found",
      suggestions:
        names.length === 0
          ? ["This API key sees no projects; create one in the Mithril console or use a key from a project member."]
          : [`Available projects: ${names.join(", ")}.`, "Set FLOW_PROJECT or `project:` in the config (or run `flow init`)."],
    });
  }

  // ---- catalog -------------------------------------------------------------------------------

  listInstanceTypes(): Promise<InstanceTypeModel[]> {
    return this.#get("listInstanceTypes", "/v2/instance-types", z.array(InstanceTypeModelSchema));
  }

  listSpotAvailability(): Promise<AuctionModel[]> {
    return this.#get("listSpotAvailability", "/v2/spot/availability", z.array(AuctionModelSchema));
  }

  /** Spot, reserved and minimum prices (cents per instance-hour) and capacity of an instance type now. */
  getCurrentPrices(query: CurrentPricesQuery): Promise<CurrentPrices> {
    return this.#get("getCurrentPrices", "/v2/pricing/current", CurrentPricesResponseSchema, undefined, {
      instance_type: query.instanceType,
      region: query.region,
      instance_quantity: query.instanceQuantity,
    });
  }

  /** Spot and reserved prices over time, one series per instance type and region. */
  async getPriceHistory(query: PriceHistoryQuery = {}): Promise<HistoricalPrices> {
    const times = checkRequest("getPriceHistory", TimeRangeSchema, { startTime: query.startTime, endTime: query.endTime });
    return this.#get("getPriceHistory", "/v2/pricing/history", HistoricalPricesResponseModelSchema, undefined, {
      instance_types: query.instanceTypes,
      region: query.region,
      num_samples: query.numSamples,
      start_time: times.startTime,
      end_time: times.endTime,
    });
  }

  /** The project's quotas: spot and reserved instances per type, storage, … with what is used. */
  listQuotas(project: string): Promise<Quota[]> {
    return this.#get("listQuotas", "/v2/quotas", z.array(QuotaModelSchema), undefined, { project });
  }

  // ---- reservations --------------------------------------------------------------------------

  /** The instance types that can be reserved now (a subset of listInstanceTypes). */
  listReservationInstanceTypes(): Promise<InstanceTypeModel[]> {
    return this.#get("listReservationInstanceTypes", "/v2/reservation/instance-types", z.array(InstanceTypeModelSchema));
  }

  /** What `quantity` instances would cost over [startTime, endTime), one price per offer. */
  async getReservationQuote(query: ReservationQuoteQuery): Promise<ReservationQuote> {
    const times = checkRequest("getReservationQuote", WindowSchema, { startTime: query.startTime, endTime: query.endTime });
    return this.#get("getReservationQuote", "/v2/reservation/quote", ReservationQuoteResponseSchema, undefined, {
      ...marketQuery(query),
      start_time: times.startTime,
      end_time: times.endTime,
      quantity: query.quantity,
    });
  }

  /** Spans within [earliestStartTime, latestEndTime) with instances to reserve, and how many. */
  async findReservationSlots(query: ReservationSlotsQuery): Promise<AvailabilitySlot[]> {
    const times = checkRequest("findReservationSlots", z.object({ earliestStartTime: DateTimeInputSchema, latestEndTime: DateTimeInputSchema }), query);
    return this.#get("findReservationSlots", "/v2/reservation/availability", SlotsOrListSchema, undefined, {
      ...marketQuery(query),
      mode: "slots",
      earliest_start_time: times.earliestStartTime,
      latest_end_time: times.latestEndTime,
    });
  }

  /** How long `quantity` instances can be reserved from `startTime`: the latest end time, or undefined when not even at the start. */
  async getReservationLatestEndTime(query: ReservationLatestEndQuery): Promise<string | undefined> {
    const { startTime } = checkRequest("getReservationLatestEndTime", z.object({ startTime: DateTimeInputSchema }), query);
    const answer = await this.#get("getReservationLatestEndTime", "/v2/reservation/availability", LatestEndSchema, undefined, {
      ...marketQuery(query),
      mode: "latest_end_time",
      start_time: startTime,
      quantity: query.quantity,
    });
    if (Array.isArray(answer)) return answer[0]?.end_time;
    return answer.available ? answer.latest_end_time : undefined;
  }

  /** Whether `quantity` instances can be reserved for all of [startTime, endTime). */
  async checkReservationAvailability(query: ReservationCheckQuery): Promise<boolean> {
    const times = checkRequest("checkReservationAvailability", WindowSchema, { startTime: query.startTime, endTime: query.endTime });
    const answer = await this.#get("checkReservationAvailability", "/v2/reservation/availability", CheckSchema, undefined, {
      ...marketQuery(query),
      mode: "check",
      start_time: times.startTime,
      end_time: times.endTime,
      quantity: query.quantity,
    });
    return Array.isArray(answer) ? answer.length > 0 : answer.available;
  }

  /**
   * Reserves instances; they boot at start_time with the launch specification. If the API's
   * answer is lost, looks for a reservation with the same name and terms before reserving again.
   */
  async createReservation(request: CreateReservationRequest): Promise<Reservation> {
    const body = checkRequest("createReservation", CreateReservationRequestSchema, request);
    const sameTerms = (r: Reservation) =>
      r.name === body.name &&
      r.instance_type === body.instance_type &&
      r.region === body.region &&
      r.instance_quantity === body.instance_quantity &&
      Date.parse(r.start_time) === Date.parse(body.start_time) &&
      Date.parse(r.end_time) === Date.parse(body.end_time);
    return this.#transport.call({
      operation: "createReservation",
      method: "POST",
      path: "/v2/reservation",
      body,
      response: ReservationModelSchema,
      recover: {
        what: `reservation ${JSON.stringify(body.name)}`,
        find: async (requestId) => (await this.#listReservations({ project: body.project }, requestId)).find(sameTerms),
      },
    });
  }

  /** Every reservation matching the query, across all pages, newest first. */
  listReservations(query: ListReservationsQuery): Promise<Reservation[]> {
    return this.#listReservations(query);
  }

  #listReservations(query: ListReservationsQuery, requestId?: string): Promise<Reservation[]> {
    return collectPages((cursor) =>
      this.#page("listReservations", "/v2/reservation", GetReservationsResponseSchema, cursor, requestId, {
        project: query.project,
        status: query.status,
        instance_type: query.instanceType,
        region: query.region,
      }),
    );
  }

  /** One reservation. The API has no GET for a single one, so this lists the project's. */
  async getReservation(project: string, fid: string): Promise<Reservation> {
    const match = (await this.listReservations({ project })).find((r) => r.fid === fid);
    if (match !== undefined) return match;
    throw new ResourceNotFoundError(`The API has no reservation ${fid} in project ${project}.`, {
      errorCode: "not_found",
      suggestions: ["Check the reservation ID; list the project's reservations to see what exists."],
    });
  }

  /** How far the reservation can be extended (at most the latest_extension_time). */
  getReservationExtensionAvailability(fid: string): Promise<ExtensionAvailability> {
    return this.#get(
      "getReservationExtensionAvailability",
      `/v2/reservation/${segment(fid)}/extension-availability`,
      ExtensionAvailabilityResponseSchema,
      `reservation ${fid}`,
    );
  }

  /**
   * Extends the reservation to a later end time, bought at the offer's current price. `project` is
   * for recovery: if the answer is lost, the reservation is looked up, and an end already at or
   * past the requested one means the extension happened.
   */
  async extendReservation(project: string, fid: string, request: ExtendReservationRequest): Promise<Reservation> {
    const body = checkRequest("extendReservation", ExtendReservationRequestSchema, request);
    return this.#transport.call({
      operation: "extendReservation",
      method: "POST",
      path: `/v2/reservation/${segment(fid)}/extend`,
      body,
      response: ReservationModelSchema,
      resource: `reservation ${fid}`,
      recover: {
        what: `the extension of reservation ${fid}`,
        find: async (requestId) => {
          const reservation = (await this.#listReservations({ project }, requestId)).find((r) => r.fid === fid);
          return reservation !== undefined && Date.parse(reservation.end_time) >= Date.parse(body.end_time) ? reservation : undefined;
        },
      },
    });
  }

  /** Pauses or resumes every instance of the reservation, or changes its volumes. */
  async updateReservation(fid: string, update: UpdateReservationRequest): Promise<Reservation> {
    const body = checkRequest("updateReservation", UpdateReservationRequestSchema, update);
    return this.#transport.call({
      operation: "updateReservation",
      method: "PATCH",
      path: `/v2/reservation/${segment(fid)}`,
      body,
      response: ReservationModelSchema,
      resource: `reservation ${fid}`,
    });
  }

  /**
   * Gives instances back for good: they terminate and the reservation shrinks, with a credit for
   * the time left. Giving back all of them cancels the reservation. The API may terminate only
   * some (207): `notTerminated` names the others. `project` is for recovery: if the answer is
   * lost, the instances are looked up, and all of them ended means the call took effect.
   */
  async terminateReservationInstances(project: string, fid: string, instanceFids: readonly string[]): Promise<TerminatedInstances> {
    const body = checkRequest("terminateReservationInstances", TerminateInstanceRequestSchema, { instances: [...instanceFids], reduce_capacity: true });
    const terminated = await this.#transport.call({
      operation: "terminateReservationInstances",
      method: "POST",
      path: `/v2/reservation/${segment(fid)}/terminate-instances`,
      body,
      response: TerminateInstancesResponseSchema,
      resource: `reservation ${fid} or one of its instances`,
      recover: {
        what: `the termination of ${instanceFids.join(", ")}`,
        find: async () => {
          const instances = await this.listInstances({ project, reservationFids: [fid] });
          const ended = body.instances.every((instanceFid) => {
            const instance = instances.find((i) => i.fid === instanceFid);
            return instance !== undefined && ENDED_INSTANCE_STATUSES.has(instance.status);
          });
          return ended ? body.instances : undefined;
        },
      },
    });
    const done = terminated ?? body.instances;
    return { terminated: done, notTerminated: body.instances.filter((instanceFid) => !done.includes(instanceFid)) };
  }

  /** Order-level events, oldest first: placed, active, paused, resumed, terms changed, ended, … */
  getReservationHistory(fid: string): Promise<ReservationHistory> {
    return this.#get("getReservationHistory", `/v2/reservation/${segment(fid)}/history`, ReservationHistoryResponseSchema, `reservation ${fid}`);
  }

  /** What the reservation has committed, been credited and used so far. */
  getReservationUsage(fid: string): Promise<ReservationUsage> {
    return this.#get("getReservationUsage", `/v2/reservation/${segment(fid)}/usage`, ReservationUsageResponseSchema, `reservation ${fid}`);
  }

  // ---- bids ----------------------------------------------------------------------------------

  /** Every bid matching the query, across all pages. */
  listBids(query: ListBidsQuery): Promise<Bid[]> {
    return this.#listBids(query);
  }

  #listBids(query: ListBidsQuery, requestId?: string): Promise<Bid[]> {
    return collectPages((cursor) =>
      this.#page("listBids", "/v2/spot/bids", GetBidsResponseSchema, cursor, requestId, {
        project: query.project,
        name: query.name,
        status: query.status,
        instance_type: query.instanceType,
        region: query.region,
      }),
    );
  }

  getBid(fid: string): Promise<Bid> {
    return this.#get("getBid", `/v2/spot/bids/${segment(fid)}`, BidModelSchema, `bid ${fid}`);
  }

  /**
   * Places a spot bid. If the API's answer is lost, looks the bid up by its name (unique within
   * the project) and returns it instead of placing a second, paid-for bid.
   */
  async createBid(request: CreateBidRequest): Promise<Bid> {
    const body = checkRequest("createBid", CreateBidRequestSchema, request);
    return this.#transport.call({
      operation: "createBid",
      method: "POST",
      path: "/v2/spot/bids",
      body,
      response: BidModelSchema,
      recover: {
        what: `bid ${JSON.stringify(body.name)}`,
        find: async (requestId) => (await this.#listBids({ project: body.project, name: body.name }, requestId)).find((b) => b.name === body.name),
      },
    });
  }

  async updateBid(fid: string, update: UpdateBidRequest): Promise<Bid> {
    const body = checkRequest("updateBid", UpdateBidRequestSchema, update);
    return this.#transport.call({
      operation: "updateBid",
      method: "PATCH",
      path: `/v2/spot/bids/${segment(fid)}`,
      body,
      response: BidModelSchema,
      resource: `bid ${fid}`,
    });
  }

  /** Cancels a bid, terminating its instances. A bid that is already gone counts as cancelled. */
  cancelBid(fid: string): Promise<void> {
    return this.#delete("cancelBid", `/v2/spot/bids/${segment(fid)}`, `bid ${fid}`);
  }

  getBidStatus(fid: string): Promise<BidStatusResponse> {
    return this.#get("getBidStatus", `/v2/spot/bids/${segment(fid)}/status`, BidStatusResponseSchema, `bid ${fid}`);
  }

  /** What happened to the bid, oldest first: placed, allocated, preempted, paused, repriced, … */
  getBidHistory(fid: string): Promise<BidHistory> {
    return this.#get("getBidHistory", `/v2/spot/bids/${segment(fid)}/history`, BidHistoryResponseSchema, `bid ${fid}`);
  }

  // ---- instances -----------------------------------------------------------------------------

  /** Every instance matching the query, across all pages. An empty list filter matches nothing. */
  async listInstances(query: ListInstancesQuery): Promise<Instance[]> {
    if ([query.bidFids, query.reservationFids, query.orderTypes, query.statuses].some((filter) => filter?.length === 0)) return [];
    return collectPages((cursor) =>
      this.#page("listInstances", "/v2/instances", GetInstancesResponseSchema, cursor, undefined, {
        project: query.project,
        bid_fid_in: query.bidFids,
        reservation_fid_in: query.reservationFids,
        order_type_in: query.orderTypes,
        status_in: query.statuses,
        instance_type: query.instanceType,
        region: query.region,
      }),
    );
  }

  getInstanceStatus(fid: string): Promise<InstanceStatusResponse> {
    return this.#get("getInstanceStatus", `/v2/instances/${segment(fid)}/status`, InstanceStatusResponseSchema, `instance ${fid}`);
  }

  /**
   * Starts (STATUS_RUNNING) or pauses (STATUS_PAUSED) reserved instances; spot instances are paused
   * through their bid (updateBid). Asynchronous: returns each instance's status right after the
   * request (STATUS_CONFIRMED while starting, STATUS_STOPPING while pausing; unchanged when it
   * already was there). A spot instance is refused (501), one not ready (booting) too (409).
   */
  async setInstancesStatus(instanceFids: readonly string[], status: InstanceTargetStatus): Promise<Record<string, InstanceStatus>> {
    const body = checkRequest("setInstancesStatus", PatchInstanceStatusRequestSchema, { instances: [...instanceFids], status });
    const result = await this.#transport.call({
      operation: "setInstancesStatus",
      method: "PATCH",
      path: "/v2/instances",
      body,
      response: PatchInstanceStatusResponseSchema,
      resource: `instance ${instanceFids.join(", ")}`,
    });
    return result.instances;
  }

  /** Every status each selected instance went through, oldest first, across all pages. */
  listInstanceStatusHistory(query: InstanceHistoryQuery): Promise<InstanceStatusHistory[]> {
    return this.#historyPages("listInstanceStatusHistory", "/v2/instances/status/history", InstanceStatusHistoryResponseSchema, query);
  }

  /** The periods each selected instance was billed, and at what price, across all pages. */
  listInstancePricingHistory(query: InstanceHistoryQuery): Promise<InstancePricingHistory[]> {
    return this.#historyPages("listInstancePricingHistory", "/v2/instances/pricing/history", InstancePricingHistoryResponseSchema, query);
  }

  async #historyPages<T>(operation: string, path: string, response: z.ZodType<{ instances: T[]; next_cursor?: string | null | undefined }>, query: InstanceHistoryQuery): Promise<T[]> {
    const times = checkRequest(operation, TimeRangeSchema, { startTime: query.startTime, endTime: query.endTime });
    return collectPages(async (cursor) => {
      const page = await this.#get(operation, path, response, undefined, {
        project: query.project,
        instance_fid: query.instanceFid,
        bid_fid: query.bidFid,
        reservation_fid: query.reservationFid,
        start_time: times.startTime,
        end_time: times.endTime,
        limit: PAGE_LIMIT,
        next_cursor: cursor,
      });
      return { data: page.instances, next_cursor: page.next_cursor };
    });
  }

  // ---- SSH keys ------------------------------------------------------------------------------

  listSshKeys(project: string): Promise<SshKey[]> {
    return this.#get("listSshKeys", "/v2/ssh-keys", z.array(NewSshKeyModelSchema), undefined, { project });
  }

  /** Registers a public key. A lost answer is recovered by looking the key up by name. */
  async createSshKey(request: CreateSshKeyRequest): Promise<CreatedSshKey> {
    const body = checkRequest("createSshKey", CreateSshKeyRequestSchema, request);
    return this.#transport.call({
      operation: "createSshKey",
      method: "POST",
      path: "/v2/ssh-keys",
      body,
      response: CreatedSshKeyModelSchema,
      recover: {
        what: `SSH key ${JSON.stringify(body.name)}`,
        find: async (requestId) => {
          const keys = await this.#get("listSshKeys", "/v2/ssh-keys", z.array(NewSshKeyModelSchema), undefined, { project: body.project }, requestId);
          return keys.find((k) => k.name === body.name);
        },
      },
    });
  }

  /** Makes a key required (let into every instance of the project) or not; only org admins may. */
  async updateSshKey(fid: string, update: UpdateSshKeyRequest): Promise<SshKey> {
    const body = checkRequest("updateSshKey", UpdateSshKeyRequestSchema, update);
    return this.#transport.call({
      operation: "updateSshKey",
      method: "PATCH",
      path: `/v2/ssh-keys/${segment(fid)}`,
      body,
      response: NewSshKeyModelSchema,
      resource: `SSH key ${fid}`,
    });
  }

  /** Removes a key; one that is already gone counts as removed. */
  deleteSshKey(fid: string): Promise<void> {
    return this.#delete("deleteSshKey", `/v2/ssh-keys/${segment(fid)}`, `SSH key ${fid}`);
  }

  // ---- volumes -------------------------------------------------------------------------------

  listVolumes(project: string): Promise<VolumeModel[]> {
    return this.#get("listVolumes", "/v2/volumes", z.array(VolumeModelSchema), undefined, { project });
  }

  /**
   * Creates a volume. A lost answer is recovered by looking the volume up by name in its region
   * (the region matters: the same name may exist elsewhere).
   */
  async createVolume(request: CreateVolumeRequest): Promise<VolumeModel> {
    const body = checkRequest("createVolume", CreateVolumeRequestSchema, request);
    return this.#transport.call({
      operation: "createVolume",
      method: "POST",
      path: "/v2/volumes",
      body,
      response: VolumeModelSchema,
      recover: {
        what: `volume ${JSON.stringify(body.name)}`,
        find: async (requestId) => {
          const volumes = await this.#get("listVolumes", "/v2/volumes", z.array(VolumeModelSchema), undefined, { project: body.project, region: body.region }, requestId);
          return volumes.find((v) => v.name === body.name && v.region === body.region && !v.deleted_at);
        },
      },
    });
  }

  /** Renames a volume (the only property the API lets change). */
  async updateVolume(fid: string, update: UpdateVolumeRequest): Promise<VolumeModel> {
    const body = checkRequest("updateVolume", UpdateVolumeRequestSchema, update);
    return this.#transport.call({
      operation: "updateVolume",
      method: "PATCH",
      path: `/v2/volumes/${segment(fid)}`,
      body,
      response: VolumeModelSchema,
      resource: `volume ${fid}`,
    });
  }

  /** Deletes a volume; one that is already gone counts as deleted. */
  deleteVolume(fid: string): Promise<void> {
    return this.#delete("deleteVolume", `/v2/volumes/${segment(fid)}`, `volume ${fid}`);
  }

  // ---- plumbing ------------------------------------------------------------------------------

  #get<S extends z.ZodType>(
    operation: string,
    path: string,
    response: S,
    resource?: string,
    query?: Record<string, QueryValue>,
    requestId?: string,
  ): Promise<z.output<S>> {
    const call: ApiCall<S> = { operation, method: "GET", path, response };
    if (resource !== undefined) call.resource = resource;
    if (query !== undefined) call.query = query;
    if (requestId !== undefined) call.requestId = requestId;
    return this.#transport.call(call);
  }

  #page<T>(
    operation: string,
    path: string,
    response: z.ZodType<Page<T>>,
    cursor: string | undefined,
    requestId: string | undefined,
    query: Record<string, QueryValue>,
  ): Promise<Page<T>> {
    return this.#get(operation, path, response, undefined, { ...query, limit: PAGE_LIMIT, next_cursor: cursor }, requestId);
  }

  async #delete(operation: string, path: string, resource: string): Promise<void> {
    try {
      await this.#transport.call({ operation, method: "DELETE", path, response: NoContentSchema, resource });
    } catch (error) {
      // Already gone, or removed by an earlier attempt whose answer was lost: the goal is met.
      if (error instanceof ResourceNotFoundError) return;
      throw error;
    }
  }
}

/** Validates a request body before sending; a bad one is the caller's bug or bad input, named by field. */
function checkRequest<S extends z.ZodType>(operation: string, schema: S, value: z.input<S>): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
  throw new ValidationError(`Invalid ${operation} request: ${issues.map((i) => `${i.path || "(body)"}: ${i.message}`).join("; ")}`, {
    issues,
    errorCode: "invalid_request",
  });
}

const TimeRangeSchema = z.object({ startTime: DateTimeInputSchema.optional(), endTime: DateTimeInputSchema.optional() });
const WindowSchema = z.object({ startTime: DateTimeInputSchema, endTime: DateTimeInputSchema });

function marketQuery(query: ReservationMarket): Record<string, QueryValue> {
  return { project: query.project, instance_type: query.instanceType, region: query.region };
}

/** A path segment: FIDs are plain, but a name typed by a user must not change the path. */
function segment(value: string): string {
  return encodeURIComponent(value);
}

