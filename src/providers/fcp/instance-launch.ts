/**
 * From a placement to running instances: post the spot bid (under a unique name, so a retried
 * request can never buy two), then follow bid and instances until every instance is
 * STATUS_RUNNING with an SSH destination — or fail, naming what the cloud said.
 */
import { ProviderError, FlowTimeoutError } from "../../errors.ts";
import { sleep } from "../../sleep.ts";
import type { Bid, Instance } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import { describePlacement, dollars, type Placement } from "./placement.ts";
import { ENDED_INSTANCE_STATUSES } from "./task-status-from-api.ts";

/** A GPU can take a while to be allocated and boot; past this the user hears why we gave up. */
export const DEFAULT_LAUNCH_TIMEOUT_MS = 30 * 60_000;


export interface BidRequest {
  name: string;
  placement: Placement;
  startupScript: string;
  quantity: number;
  sshKeyFids: string[];
  volumeFids?: string[];
}

/** Says what the bid buys and may cost (see describePlacement), then places it. */
export async function placeBid(context: FcpContext, request: BidRequest): Promise<Bid> {
  const { placement } = request;
  context.progress(`bidding for ${describePlacement(placement, request.quantity)}`);
  const bid = await context.client.createBid({
    project: await context.projectFid(),
    region: placement.region,
    instance_type: placement.instanceTypeFid,
    limit_price: dollars(placement.limitPricePerHour),
    instance_quantity: request.quantity,
    name: request.name,
    launch_specification: {
      volumes: request.volumeFids ?? [],
      ssh_keys: request.sshKeyFids,
      startup_script: request.startupScript,
    },
  });
  context.progress(`bid ${bid.fid} for ${request.quantity} × ${placement.instanceTypeName} placed; waiting for an instance`);
  return bid;
}

export interface WaitOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** The bid's instances once all of them run and accept SSH connections at their destination. */
export async function waitForRunningInstances(context: FcpContext, bid: Bid, options: WaitOptions = {}): Promise<Instance[]> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_LAUNCH_TIMEOUT_MS);
  const project = await context.projectFid();
  let reported = "";
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    const current = await context.client.getBid(bid.fid);
    if (current.status === "Terminated") {
      throw new ProviderError(`Bid ${bid.fid} was terminated before its instances were ready.`, { errorCode: "bid_terminated" });
    }
    const instances = current.instances.length === 0 ? [] : await context.client.listInstances({ project, bidFids: [bid.fid] });
    const failed = instances.find((i) => ENDED_INSTANCE_STATUSES.has(i.status));
    if (failed !== undefined) {
      throw new ProviderError(`Instance ${failed.fid} of bid ${bid.fid} ended (${failed.status}) before it was ready.`, {
        errorCode: "instance_failed",
      });
    }
    const summary = current.status === "Open" ? "waiting for capacity (Open)" : instances.map((i) => `${i.fid} ${i.status}`).join(", ");
    if (summary !== reported) {
      context.progress(`bid ${bid.fid}: ${summary || current.status}`);
      reported = summary;
    }
    const ready = inBidOrder(current, instances).filter((i) => i.status === "STATUS_RUNNING" && i.ssh_destination);
    if (ready.length >= current.instance_quantity) return ready;
    if (Date.now() > deadline) {
      throw new FlowTimeoutError(`Bid ${bid.fid} had no running instance after ${Math.round((options.timeoutMs ?? DEFAULT_LAUNCH_TIMEOUT_MS) / 60_000)} minutes (${summary || current.status}).`, {
        suggestions: ["raise maxPricePerHour or priority, or try another region or instance type"],
      });
    }
    // Quick first looks (an allocation can be immediate), then every pollIntervalMs.
    await sleep(Math.min(context.pollIntervalMs, 50 * 2 ** attempt), options.signal);
  }
}

/**
 * Instances in the order the bid lists them, which is stable, unlike a listing's: a multi-node
 * task's ranks and `flow ssh --node N` count in this order.
 */
export function inBidOrder(bid: Bid, instances: readonly Instance[]): Instance[] {
  const position = (instance: Instance) => {
    const index = bid.instances.indexOf(instance.fid);
    return index === -1 ? Number.MAX_SAFE_INTEGER : index;
  };
  return [...instances].sort((a, b) => position(a) - position(b));
}

/** "34.1.2.3:2222" or "34.1.2.3" (port 22), as InstanceModel.ssh_destination writes it. */
export function parseSshDestination(destination: string): { host: string; port: number } {
  const match = /^(.*?)(?::(\d+))?$/.exec(destination.trim());
  const host = match?.[1]?.replace(/^\[|\]$/g, "") ?? "";
  if (host === "") throw new ProviderError(`Unexpected ssh_destination ${JSON.stringify(destination)} from the API.`);
  return { host, port: match?.[2] === undefined ? 22 : Number(match[2]) };
}
