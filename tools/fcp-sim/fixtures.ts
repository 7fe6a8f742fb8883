/**
 * What the simulated account looks like before a test touches it: one user, one project, the
 * seed's instance types, and a spot auction for every type in two regions.
 */
import { SEED_AUCTIONS, SEED_INSTANCE_TYPES } from "../../src/instance-types/seed-catalog.ts";
import type { InstanceTypeModel } from "../../src/instance-types/from-api.ts";
import { parseDollarsToCents } from "./money.ts";
import type { MeResponse } from "./models.ts";

export const DEFAULT_API_KEY = "fkey_sim_test";
export const DEFAULT_PROJECT = { fid: "proj_sim0001", name: "sim-project" };
export const DEFAULT_REGIONS = ["us-central1-a", "us-central1-b"] as const;
/** Capacity of the auctions the seed does not list (it only lists one region for most types). */
const SYNTHETIC_CAPACITY = 4;

export const SIM_USER: MeResponse = {
  id: "4b1e0f3c-0000-4000-8000-00000000d1a1",
  fid: "user_sim0001",
  email: "sim@example.com",
  user_name: "sim",
  organization_id: "org_sim0001",
  organization_role: "admin",
};

export const INSTANCE_TYPES: readonly InstanceTypeModel[] = SEED_INSTANCE_TYPES;

/** An auction as the simulator configures it: the type by name or FID, the price in dollars. */
export interface AuctionOption {
  instanceType: string;
  region: string;
  capacity: number;
  lastPrice: number;
}

export function defaultAuctions(): AuctionOption[] {
  const auctions: AuctionOption[] = [];
  for (const type of INSTANCE_TYPES) {
    const seeded = SEED_AUCTIONS.filter((auction) => auction.instance_type === type.fid);
    const fallbackCents = parseDollarsToCents(seeded[0]?.last_instance_price ?? "") ?? 200 * type.num_gpus;
    for (const region of DEFAULT_REGIONS) {
      const seed = seeded.find((auction) => auction.region === region);
      const cents = parseDollarsToCents(seed?.last_instance_price ?? "") ?? fallbackCents;
      auctions.push({ instanceType: type.fid, region, capacity: seed?.capacity ?? SYNTHETIC_CAPACITY, lastPrice: cents / 100 });
    }
  }
  return auctions;
}

/** The seed's auction FID for this type and region, so fixtures line up with the seed catalog. */
export function seedAuctionFid(instanceTypeFid: string, region: string): string | undefined {
  return SEED_AUCTIONS.find((auction) => auction.instance_type === instanceTypeFid && auction.region === region)?.fid;
}

export function resolveInstanceType(nameOrFid: string): InstanceTypeModel | undefined {
  return INSTANCE_TYPES.find((type) => type.fid === nameOrFid || type.name === nameOrFid);
}
