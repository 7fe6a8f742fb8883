/**
 * The cloud's instance-type and spot-availability listings (`GET /v2/instance-types`,
 * `GET /v2/spot/availability`) as catalog entries. Field names follow the OpenAPI spec's
 * InstanceTypeModel and AuctionModel; unknown fields are kept out of the way, not rejected, so a
 * newer API does not break older SDKs.
 */
import * as z from "zod";
import { ProviderError } from "../errors.ts";
import { InstanceCatalog, type CatalogEntry } from "./catalog.ts";
import type { Interconnect } from "./parse-instance-type.ts";

export const InstanceTypeModelSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  num_cpus: z.number().int(),
  cpu_type: z.string(),
  ram_gb: z.number().int(),
  num_gpus: z.number().int(),
  /** e.g. "H100" (spec) or "NVIDIA A100" (seed). */
  gpu_type: z.string(),
  gpu_memory_gb: z.number().int(),
  /** e.g. "SXM4", "SXM5", "PCIe". */
  gpu_socket: z.string(),
  local_storage_gb: z.number().int(),
  network_type: z.string().nullish(),
  ib_count: z.number().int(),
  bridge_count: z.number().int(),
});
export type InstanceTypeModel = z.infer<typeof InstanceTypeModelSchema>;

export const AuctionModelSchema = z.looseObject({
  fid: z.string(),
  /** The instance type's FID, not its name. */
  instance_type: z.string(),
  region: z.string(),
  capacity: z.number().int(),
  /** Dollar string, e.g. "$10.00". */
  last_instance_price: z.string(),
  lowest_allocated_price: z.string().nullish(),
  adjustable_memory: z.boolean(),
  default_image_version: z.string().nullish(),
});
export type AuctionModel = z.infer<typeof AuctionModelSchema>;

/** `"$1,234.50"` → 1234.5. The API writes every price as a dollar string. */
export function parseDollars(price: string): number {
  const value = Number(price.trim().replace(/^\$/, "").replaceAll(",", ""));
  if (price.trim() === "" || !Number.isFinite(value)) {
    throw new ProviderError(`Unexpected price ${JSON.stringify(price)} from the API (expected a dollar string like "$10.00")`);
  }
  return value;
}

/** One catalog entry for an instance type, with the region, capacity and price of `auction`. */
export function catalogEntryFromApi(model: InstanceTypeModel, auction?: AuctionModel): CatalogEntry {
  if (auction !== undefined && auction.instance_type !== model.fid) {
    throw new ProviderError(`Auction ${auction.fid} is for ${auction.instance_type}, not ${model.fid}`);
  }
  const interconnect = interconnectOf(model.gpu_socket);
  return {
    fid: model.fid,
    name: model.name,
    gpuModel: gpuModelOf(model),
    gpuCount: model.num_gpus,
    gpuMemoryGb: model.gpu_memory_gb,
    ...(interconnect === undefined ? {} : { interconnect }),
    cpus: model.num_cpus,
    ramGb: model.ram_gb,
    ...(auction === undefined
      ? {}
      : { region: auction.region, capacity: auction.capacity, pricePerHour: parseDollars(auction.last_instance_price) }),
  };
}

/**
 * A catalog with one entry per (instance type, region) the availability lists, plus a
 * region-less entry for each type no auction mentions. An auction naming a type missing from the
 * types list cannot be described, so it is left out.
 */
export function catalogFromApi(instanceTypes: readonly InstanceTypeModel[], auctions: readonly AuctionModel[]): InstanceCatalog {
  const byFid = new Map(instanceTypes.map((t) => [t.fid, t]));
  const entries: CatalogEntry[] = [];
  const auctioned = new Set<string>();
  for (const auction of auctions) {
    const model = byFid.get(auction.instance_type);
    if (model === undefined) continue;
    auctioned.add(model.fid);
    entries.push(catalogEntryFromApi(model, auction));
  }
  for (const model of instanceTypes) if (!auctioned.has(model.fid)) entries.push(catalogEntryFromApi(model));
  return new InstanceCatalog(entries);
}

/** `"NVIDIA A100"`, `"H100"`, `"A100 80GB"` → `"a100"`; falls back to the name's leading model. */
function gpuModelOf(model: InstanceTypeModel): string {
  const fromType = /\b([a-z]+\d+[a-z]*)\b/.exec(model.gpu_type.toLowerCase().replace(/\bnvidia\b/g, " "));
  if (fromType?.[1] !== undefined) return fromType[1];
  return /^[a-z]+\d+[a-z]*/.exec(model.name.toLowerCase())?.[0] ?? model.gpu_type.toLowerCase();
}

function interconnectOf(socket: string): Interconnect | undefined {
  if (/sxm/i.test(socket)) return "sxm";
  if (/pcie/i.test(socket)) return "pcie";
  return undefined;
}
