/**
 * The API operations the SDK uses, one handler each, with the spec's paths, parameters and status
 * codes. Handlers validate (422), look up (404) and then ask the cloud to act.
 */
import ssh2 from "ssh2";
import { z } from "zod";
import { ApiError, validationError, type ValidationIssue } from "./api-error.ts";
import type { Cloud } from "./cloud.ts";
import { INSTANCE_TYPES } from "./fixtures.ts";
import { BID_STATUSES, INSTANCE_STATUSES, type LaunchSpecificationModel } from "./models.ts";
import { parseDollarsToCents } from "./money.ts";
import { paginate, sortBy } from "./pagination.ts";
import { CreateBidBody, CreateSshKeyBody, CreateVolumeBody, parseBody, parseQuery, QueryBool, queryInt, queryList, UpdateBidBody } from "./validation.ts";

// ssh2 is CommonJS; Node's ESM loader cannot see its named exports.
const { utils } = ssh2;

export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body; undefined when the request had none. */
  body: unknown;
}

export interface RouteResponse {
  status: number;
  body?: unknown;
}

export interface Route {
  method: string;
  /** The spec's path template, e.g. `/v2/spot/bids/{bid_fid}`. */
  template: string;
  handle(request: RouteRequest): RouteResponse | Promise<RouteResponse>;
}

const SortDirection = z.enum(["asc", "desc"]);
const PageLimit = queryInt(1, 100);

const GetBidsQuery = z.object({
  next_cursor: z.string().optional(),
  sort_by: z.enum(["created_at", "status"]).optional(),
  sort_dir: SortDirection.optional(),
  project: z.string().optional(),
  instance_type: z.string().optional(),
  region: z.string().optional(),
  status: z.enum(BID_STATUSES).optional(),
  name: z.string().optional(),
  limit: PageLimit.optional(),
});

const GetInstancesQuery = z.object({
  next_cursor: z.string().optional(),
  sort_by: z.enum(["created_at", "instance_status", "instance_type_fid"]).optional(),
  sort_dir: SortDirection.optional(),
  project: z.string(),
  instance_type: z.string().optional(),
  region: z.string().optional(),
  status_in: queryList(z.enum(INSTANCE_STATUSES)).optional(),
  order_type_in: queryList(z.enum(["Bid", "Reservation"])).optional(),
  bid_fid_in: queryList(z.string()).optional(),
  reservation_fid_in: queryList(z.string()).optional(),
  limit: PageLimit.optional(),
});

const ProjectQuery = z.object({ project: z.string() });
const GetVolumesQuery = z.object({ project: z.string(), region: z.string().optional(), include_deleted: QueryBool.optional() });

export function apiRoutes(cloud: Cloud): Route[] {
  const requireProject = (fid: string) => {
    if (!cloud.projects.some((project) => project.fid === fid)) throw new ApiError(404, `Project ${fid} not found or not accessible with this API key`);
  };
  const knownProject = (fid: string) => cloud.projects.some((project) => project.fid === fid);

  return [
    { method: "GET", template: "/v2/me", handle: () => ({ status: 200, body: cloud.user }) },
    { method: "GET", template: "/v2/projects", handle: () => ({ status: 200, body: cloud.projects }) },
    { method: "GET", template: "/v2/instance-types", handle: () => ({ status: 200, body: INSTANCE_TYPES }) },
    { method: "GET", template: "/v2/spot/availability", handle: () => ({ status: 200, body: cloud.auctionModels() }) },

    {
      method: "GET",
      template: "/v2/spot/bids",
      handle({ query }) {
        const q = parseQuery(GetBidsQuery, query);
        if (q.project !== undefined) requireProject(q.project);
        const bids = cloud
          .bids()
          .filter((bid) => knownProject(bid.project))
          .filter((bid) => q.project === undefined || bid.project === q.project)
          .filter((bid) => q.instance_type === undefined || bid.instance_type === q.instance_type)
          .filter((bid) => q.region === undefined || bid.region === q.region)
          .filter((bid) => q.status === undefined || bid.status === q.status)
          .filter((bid) => q.name === undefined || bid.name === q.name);
        const key = q.sort_by === "status" ? (bid: { status: string }) => bid.status : (bid: { created_at: string }) => bid.created_at;
        return { status: 200, body: paginate(sortBy(bids, key, q.sort_dir ?? "desc"), q.next_cursor, q.limit) };
      },
    },
    {
      method: "POST",
      template: "/v2/spot/bids",
      handle({ body }) {
        const input = parseBody(CreateBidBody, body);
        const issues: ValidationIssue[] = [];
        const at = (loc: (string | number)[], msg: string) => issues.push({ loc: ["body", ...loc], msg, type: "value_error" });
        if (!knownProject(input.project)) at(["project"], `Unknown project ${input.project}; list yours with GET /v2/projects`);
        if (!INSTANCE_TYPES.some((type) => type.fid === input.instance_type)) {
          at(["instance_type"], `Unknown instance type ${input.instance_type}; list them with GET /v2/instance-types`);
        } else if (!cloud.regions().includes(input.region)) {
          at(["region"], `Unknown region ${input.region}; regions: ${cloud.regions().join(", ")}`);
        } else if (!cloud.hasAuction(input.instance_type, input.region)) {
          at(["region"], `No spot auction for ${input.instance_type} in ${input.region}; see GET /v2/spot/availability`);
        }
        const keys = new Map(cloud.sshKeys().map((key) => [key.fid, key]));
        input.launch_specification.ssh_keys.forEach((fid, index) => {
          if (keys.get(fid)?.project !== input.project) at(["launch_specification", "ssh_keys", index], `Unknown SSH key ${fid} in project ${input.project}`);
        });
        const volumes = new Map(cloud.volumes().map((volume) => [volume.fid, volume]));
        input.launch_specification.volumes.forEach((fid, index) => {
          const volume = volumes.get(fid);
          if (volume === undefined || volume.deleted_at !== null || volume.project !== input.project) {
            at(["launch_specification", "volumes", index], `Unknown volume ${fid} in project ${input.project}`);
          } else if (volume.region !== input.region) {
            at(["launch_specification", "volumes", index], `Volume ${fid} is in ${volume.region}, not ${input.region}`);
          }
        });
        if (issues.length > 0) throw validationError(issues);
        const spec = input.launch_specification;
        const launchSpecification: LaunchSpecificationModel = {
          volumes: spec.volumes,
          ssh_keys: spec.ssh_keys,
          startup_script: spec.startup_script ?? null,
          kubernetes_cluster: spec.kubernetes_cluster ?? null,
          image_version: spec.image_version ?? null,
          memory_gb: spec.memory_gb ?? null,
        };
        const bid = cloud.createBid({
          project: input.project,
          region: input.region,
          instanceType: input.instance_type,
          limitCents: centsOf(input.limit_price),
          instanceQuantity: input.instance_quantity,
          name: input.name,
          launchSpecification,
        });
        return { status: 201, body: bid };
      },
    },
    { method: "GET", template: "/v2/spot/bids/{bid_fid}", handle: ({ params }) => ({ status: 200, body: cloud.bid(param(params, "bid_fid")) }) },
    {
      method: "PATCH",
      template: "/v2/spot/bids/{bid_fid}",
      async handle({ params, body }) {
        const fid = param(params, "bid_fid");
        const bid = cloud.bid(fid);
        const input = parseBody(UpdateBidBody, body);
        if (input.volumes !== undefined && input.volumes !== null) {
          const volumes = new Map(cloud.volumes().map((volume) => [volume.fid, volume]));
          const issues = input.volumes.flatMap((volumeFid, index): ValidationIssue[] => {
            const volume = volumes.get(volumeFid);
            if (volume !== undefined && volume.deleted_at === null && volume.project === bid.project && volume.region === bid.region) return [];
            return [{ loc: ["body", "volumes", index], msg: `Unknown volume ${volumeFid} in ${bid.project} (${bid.region ?? "no region"})`, type: "value_error" }];
          });
          if (issues.length > 0) throw validationError(issues);
        }
        const updated = await cloud.updateBid(fid, {
          ...(input.limit_price == null ? {} : { limitCents: centsOf(input.limit_price) }),
          ...(input.paused == null ? {} : { paused: input.paused }),
          ...(input.volumes == null ? {} : { volumes: input.volumes }),
        });
        return { status: 200, body: updated };
      },
    },
    {
      method: "DELETE",
      template: "/v2/spot/bids/{bid_fid}",
      async handle({ params }) {
        await cloud.cancelBid(param(params, "bid_fid"));
        return { status: 204 };
      },
    },
    {
      method: "GET",
      template: "/v2/spot/bids/{bid_fid}/status",
      handle({ params }) {
        const bid = cloud.bid(param(params, "bid_fid"));
        return { status: 200, body: { bid_fid: bid.fid, status: bid.status } };
      },
    },

    {
      method: "GET",
      template: "/v2/instances",
      handle({ query }) {
        const q = parseQuery(GetInstancesQuery, query);
        requireProject(q.project);
        // Every simulated instance comes from a bid; there are no reservations.
        const orderTypes = q.order_type_in;
        const instances = cloud
          .instances()
          .filter((instance) => instance.project === q.project)
          .filter((instance) => q.instance_type === undefined || instance.instance_type === q.instance_type)
          .filter((instance) => q.region === undefined || instance.region === q.region)
          .filter((instance) => q.status_in === undefined || q.status_in.length === 0 || q.status_in.includes(instance.status))
          .filter(() => orderTypes === undefined || orderTypes.length === 0 || orderTypes.includes("Bid"))
          .filter((instance) => q.bid_fid_in === undefined || q.bid_fid_in.length === 0 || q.bid_fid_in.includes(instance.bid ?? ""))
          .filter(() => q.reservation_fid_in === undefined || q.reservation_fid_in.length === 0);
        const keys = {
          created_at: (instance: { created_at: string }) => instance.created_at,
          instance_status: (instance: { status: string }) => instance.status,
          instance_type_fid: (instance: { instance_type: string }) => instance.instance_type,
        };
        return { status: 200, body: paginate(sortBy(instances, keys[q.sort_by ?? "created_at"], q.sort_dir ?? "desc"), q.next_cursor, q.limit) };
      },
    },
    {
      method: "GET",
      template: "/v2/instances/{instance_fid}/status",
      handle({ params }) {
        const instance = cloud.instance(param(params, "instance_fid"));
        return {
          status: 200,
          body: { fid: instance.fid, name: instance.name, status: instance.status, bid: instance.bid, reservation: null, end_time: instance.end_time },
        };
      },
    },

    {
      method: "GET",
      template: "/v2/ssh-keys",
      handle({ query }) {
        const { project } = parseQuery(ProjectQuery, query);
        requireProject(project);
        return { status: 200, body: cloud.sshKeys().filter((key) => key.project === project) };
      },
    },
    {
      method: "POST",
      template: "/v2/ssh-keys",
      handle({ body }) {
        const input = parseBody(CreateSshKeyBody, body);
        if (!knownProject(input.project)) throw validationError([{ loc: ["body", "project"], msg: `Unknown project ${input.project}`, type: "value_error" }]);
        let publicKey: string;
        let privateKey: string | null = null;
        if (input.public_key == null) {
          // Like the API: no public key means "generate a pair for me" (RSA), private half returned once.
          const pair = utils.generateKeyPairSync("rsa", { bits: 2048, comment: input.name });
          publicKey = pair.public.trim();
          privateKey = pair.private;
        } else {
          const parsed = utils.parseKey(input.public_key.trim());
          if (parsed instanceof Error || parsed.isPrivateKey()) {
            throw validationError([{ loc: ["body", "public_key"], msg: "Not an OpenSSH public key (expected e.g. 'ssh-ed25519 AAAA… comment')", type: "value_error" }]);
          }
          publicKey = input.public_key.trim();
        }
        const key = cloud.createSshKey({ project: input.project, name: input.name, publicKey, required: input.required ?? false });
        return { status: 201, body: { ...key, private_key: privateKey } };
      },
    },
    {
      method: "DELETE",
      template: "/v2/ssh-keys/{ssh_key_fid}",
      handle({ params }) {
        cloud.deleteSshKey(param(params, "ssh_key_fid"));
        return { status: 204 };
      },
    },

    {
      method: "GET",
      template: "/v2/volumes",
      handle({ query }) {
        const q = parseQuery(GetVolumesQuery, query);
        requireProject(q.project);
        const volumes = cloud
          .volumes()
          .filter((volume) => volume.project === q.project)
          .filter((volume) => q.region === undefined || volume.region === q.region)
          .filter((volume) => q.include_deleted === true || volume.deleted_at === null);
        return { status: 200, body: volumes };
      },
    },
    {
      method: "POST",
      template: "/v2/volumes",
      handle({ body }) {
        const input = parseBody(CreateVolumeBody, body);
        const issues: ValidationIssue[] = [];
        if (!knownProject(input.project)) issues.push({ loc: ["body", "project"], msg: `Unknown project ${input.project}`, type: "value_error" });
        if (!cloud.regions().includes(input.region)) issues.push({ loc: ["body", "region"], msg: `Unknown region ${input.region}; regions: ${cloud.regions().join(", ")}`, type: "value_error" });
        if (issues.length > 0) throw validationError(issues);
        const volume = cloud.createVolume({ project: input.project, name: input.name, region: input.region, sizeGb: input.size_gb, diskInterface: input.disk_interface });
        return { status: 201, body: volume };
      },
    },
    {
      method: "DELETE",
      template: "/v2/volumes/{volume_fid}",
      handle({ params }) {
        cloud.deleteVolume(param(params, "volume_fid"));
        return { status: 204 };
      },
    },
  ];
}

function param(params: Record<string, string>, name: string): string {
  const value = params[name];
  if (value === undefined) throw new Error(`fcp-sim: route has no {${name}}`);
  return value;
}

function centsOf(price: string): number {
  const cents = parseDollarsToCents(price);
  if (cents === undefined) throw new Error(`fcp-sim: price ${price} passed validation but does not parse`);
  return cents;
}
