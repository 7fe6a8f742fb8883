/**
 * FcpClient: the FCP (Mithril) cloud API as the provider uses it. Every method validates what it
 * sends and what comes back against the spec's models, follows pagination to the end, and turns
 * failures into the SDK's errors (see http-errors.ts); retries are in transport.ts.
 */
import { z } from "zod";
import { ResourceNotFoundError, ValidationError } from "../../../errors.ts";
import { collectPages, type Page } from "./pagination.ts";
import { sleep, type RetryPolicy } from "./retry.ts";
import {
  AuctionModelSchema,
  type AuctionModel,
  type Bid,
  BidModelSchema,
  type BidStatus,
  type BidStatusResponse,
  BidStatusResponseSchema,
  type CreateBidRequest,
  CreateBidRequestSchema,
  type CreatedSshKey,
  CreatedSshKeyModelSchema,
  type CreateSshKeyRequest,
  CreateSshKeyRequestSchema,
  type CreateVolumeRequest,
  CreateVolumeRequestSchema,
  GetBidsResponseSchema,
  GetInstancesResponseSchema,
  type Instance,
  type InstanceStatus,
  type InstanceStatusResponse,
  InstanceStatusResponseSchema,
  InstanceTypeModelSchema,
  type InstanceTypeModel,
  type Me,
  MeResponseSchema,
  ProjectModelSchema,
  type Project,
  type SshKey,
  NewSshKeyModelSchema,
  type UpdateBidRequest,
  UpdateBidRequestSchema,
  type VolumeModel,
  VolumeModelSchema,
} from "./schemas.ts";
import { ApiTransport, type QueryValue } from "./transport.ts";
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
  statuses?: readonly InstanceStatus[];
  /** The instance type's FID. */
  instanceType?: string;
  region?: string;
}

/** Largest page the spec allows: fewer round trips when following cursors. */
const PAGE_LIMIT = 100;

const NoContentSchema = z.unknown();

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

  // ---- instances -----------------------------------------------------------------------------

  /** Every instance matching the query, across all pages. An empty `bidFids` or `statuses` matches nothing. */
  async listInstances(query: ListInstancesQuery): Promise<Instance[]> {
    if (query.bidFids?.length === 0 || query.statuses?.length === 0) return [];
    return collectPages((cursor) =>
      this.#page("listInstances", "/v2/instances", GetInstancesResponseSchema, cursor, undefined, {
        project: query.project,
        bid_fid_in: query.bidFids,
        status_in: query.statuses,
        instance_type: query.instanceType,
        region: query.region,
      }),
    );
  }

  getInstanceStatus(fid: string): Promise<InstanceStatusResponse> {
    return this.#get("getInstanceStatus", `/v2/instances/${segment(fid)}/status`, InstanceStatusResponseSchema, `instance ${fid}`);
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
    return this.#transport.call({ operation, method: "GET", path, response, resource, query, requestId });
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

/** A path segment: FIDs are plain, but a name typed by a user must not change the path. */
function segment(value: string): string {
  return encodeURIComponent(value);
}

