/**
 * The API operations the SDK uses, one handler each, with the spec's paths, parameters and status
 * codes. Handlers validate (422), look up (404) and then ask the cloud to act.
 */
import ssh2 from "ssh2";
import * as z from "zod";
import { validationError, type ValidationIssue } from "./api-error.ts";
import type { Cloud } from "./cloud.ts";
import { INSTANCE_TYPES } from "./fixtures.ts";
import { historyRoutes } from "./history-routes.ts";
import { marketRoutes } from "./market-routes.ts";
import { BID_STATUSES, INSTANCE_STATUSES } from "./models.ts";
import { formatCents } from "./money.ts";
import { paginate, sortBy } from "./pagination.ts";
import { launchSpecificationModel, ReferenceIssues } from "./references.ts";
import { reservationRoutes } from "./reservation-routes.ts";
import { centsOf, PageLimit, param, requireProjectOf, SortDirection } from "./route-helpers.ts";
import {
  CreateBidBody,
  CreateSshKeyBody,
  CreateVolumeBody,
  parseBody,
  parseQuery,
  PatchInstancesBody,
  QueryBool,
  queryList,
  UpdateBidBody,
  UpdateSshKeyBody,
  UpdateVolumeBody,
} from "./validation.ts";

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
  const requireProject = (fid: string) => requireProjectOf(cloud, fid);
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
        const references = new ReferenceIssues(cloud);
        references.project(input.project);
        if (references.instanceTypeIn(input.instance_type, input.region, "spot")) {
          // Below the floor a bid is refused; between the floor and the market it waits (Open).
          const minimum = cloud.minimumPriceCents(input.instance_type, input.region) ?? 0;
          if (centsOf(input.limit_price) < minimum) references.add(["limit_price"], `Limit price ${input.limit_price} is below this auction's minimum of ${formatCents(minimum)}`);
          const room = cloud.quotaRoom(input.project, "Spot", input.instance_type);
          if (input.instance_quantity > room) references.add(["instance_quantity"], `Spot quota exceeded: ${Math.max(0, room)} more ${input.instance_type} instances allowed in project ${input.project}; see GET /v2/quotas`);
        }
        references.launchSpecification(input.project, input.region, input.launch_specification);
        if (references.issues.length > 0) throw validationError(references.issues);
        const bid = cloud.createBid({
          project: input.project,
          region: input.region,
          instanceType: input.instance_type,
          limitCents: centsOf(input.limit_price),
          instanceQuantity: input.instance_quantity,
          name: input.name,
          launchSpecification: launchSpecificationModel(input.launch_specification),
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
          const references = new ReferenceIssues(cloud);
          references.volumes(["volumes"], bid.project, bid.region, input.volumes);
          if (references.issues.length > 0) throw validationError(references.issues);
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
        const orderTypes = q.order_type_in;
        const instances = cloud
          .instances()
          .filter((instance) => instance.project === q.project)
          .filter((instance) => q.instance_type === undefined || instance.instance_type === q.instance_type)
          .filter((instance) => q.region === undefined || instance.region === q.region)
          .filter((instance) => q.status_in === undefined || q.status_in.length === 0 || q.status_in.includes(instance.status))
          .filter((instance) => orderTypes === undefined || orderTypes.length === 0 || orderTypes.includes(instance.reservation === null ? "Bid" : "Reservation"))
          .filter((instance) => q.bid_fid_in === undefined || q.bid_fid_in.length === 0 || q.bid_fid_in.includes(instance.bid ?? ""))
          .filter((instance) => q.reservation_fid_in === undefined || q.reservation_fid_in.length === 0 || q.reservation_fid_in.includes(instance.reservation ?? ""));
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
          body: { fid: instance.fid, name: instance.name, status: instance.status, bid: instance.bid, reservation: instance.reservation, end_time: instance.end_time },
        };
      },
    },
    {
      method: "PATCH",
      template: "/v2/instances",
      handle({ body }) {
        const input = parseBody(PatchInstancesBody, body);
        return { status: 200, body: { instances: cloud.setInstancesStatus(input.instances, input.status) } };
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
      method: "PATCH",
      template: "/v2/ssh-keys/{ssh_key_fid}",
      handle({ params, body }) {
        const fid = param(params, "ssh_key_fid");
        const input = parseBody(UpdateSshKeyBody, body);
        return { status: 200, body: cloud.updateSshKey(fid, input.required) };
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
        const taken = cloud.volumeNamed(input.project, input.name);
        if (taken !== undefined) issues.push({ loc: ["body", "name"], msg: `A volume named ${input.name} already exists in project ${input.project} (${taken.fid}, ${taken.region})`, type: "value_error" });
        const room = cloud.quotaRoom(input.project, "Storage");
        if (input.size_gb > room) issues.push({ loc: ["body", "size_gb"], msg: `Storage quota exceeded: ${Math.max(0, room)} GB left in project ${input.project}; see GET /v2/quotas`, type: "value_error" });
        if (issues.length > 0) throw validationError(issues);
        const volume = cloud.createVolume({ project: input.project, name: input.name, region: input.region, sizeGb: input.size_gb, diskInterface: input.disk_interface });
        return { status: 201, body: volume };
      },
    },
    {
      method: "PATCH",
      template: "/v2/volumes/{volume_fid}",
      handle({ params, body }) {
        const fid = param(params, "volume_fid");
        const input = parseBody(UpdateVolumeBody, body);
        return { status: 200, body: cloud.renameVolume(fid, input.name) };
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

    ...reservationRoutes(cloud),
    ...marketRoutes(cloud),
    ...historyRoutes(cloud),
  ];
}
