/**
 * The seed's FID table (the Python SDK's mappings "as of 2025-07-02") in the API's own shapes.
 *
 * This is the simulator's and the tests' fixture; real resolution always uses the live
 * `GET /v2/instance-types` and `GET /v2/spot/availability` listings, whose FIDs and prices may
 * differ. FIDs, names, GPU fields and the one auction `auc_rECU5s87CABp37aB` are the seed's;
 * CPU, RAM and storage figures scale the seed's 2x A100 and the spec's 8x H100 examples, and the
 * other auctions (FIDs `auc_seed…`) are made-up prices, close enough to reality to test with.
 */
import { catalogFromApi, type AuctionModel, type InstanceTypeModel } from "./from-api.ts";
import type { InstanceCatalog } from "./catalog.ts";

const XEON = "Intel(R) Xeon(R) Platinum 8468";

function a100(fid: string, gpus: number): InstanceTypeModel {
  return {
    fid,
    name: `a100-80gb.sxm.${gpus}x`,
    num_cpus: 24 * gpus,
    cpu_type: XEON,
    ram_gb: 225 * gpus,
    num_gpus: gpus,
    gpu_type: "NVIDIA A100",
    gpu_memory_gb: 80,
    gpu_socket: "SXM4",
    local_storage_gb: 1750 * gpus,
    network_type: gpus === 8 ? "InfiniBand" : null,
    ib_count: gpus === 8 ? 8 : 0,
    bridge_count: gpus >= 4 ? gpus / 2 : 0,
  };
}

export const SEED_INSTANCE_TYPES: readonly InstanceTypeModel[] = [
  a100("it_MsIRhxj3ccyVWGfP", 1),
  a100("it_5M6aGxGovNeX5ltT", 2),
  a100("it_fK7Cx6TVhOK5ZfXT", 4),
  a100("it_J7OyNf9idfImLIFo", 8),
  {
    fid: "it_5ECSoHQjLBzrp5YM",
    name: "h100-80gb.sxm.8x",
    num_cpus: 192,
    cpu_type: XEON,
    ram_gb: 1800,
    num_gpus: 8,
    gpu_type: "NVIDIA H100",
    gpu_memory_gb: 80,
    gpu_socket: "SXM5",
    local_storage_gb: 7800,
    network_type: "InfiniBand",
    ib_count: 8,
    bridge_count: 4,
  },
  {
    fid: "it_XqgKWbhZ5gznAYsG",
    name: "h100-80gb.pcie.1x",
    num_cpus: 24,
    cpu_type: XEON,
    ram_gb: 225,
    num_gpus: 1,
    gpu_type: "NVIDIA H100",
    gpu_memory_gb: 80,
    gpu_socket: "PCIe",
    local_storage_gb: 1000,
    network_type: null,
    ib_count: 0,
    bridge_count: 0,
  },
];

function auction(fid: string, instanceType: string, region: string, capacity: number, price: string): AuctionModel {
  return {
    fid,
    instance_type: instanceType,
    region,
    capacity,
    last_instance_price: price,
    lowest_allocated_price: null,
    adjustable_memory: false,
    default_image_version: null,
  };
}

export const SEED_AUCTIONS: readonly AuctionModel[] = [
  auction("auc_rECU5s87CABp37aB", "it_XqgKWbhZ5gznAYsG", "us-central1-a", 11, "$10.00"),
  auction("auc_seedA100x1cenB", "it_MsIRhxj3ccyVWGfP", "us-central1-b", 16, "$2.00"),
  auction("auc_seedA100x1cenA", "it_MsIRhxj3ccyVWGfP", "us-central1-a", 4, "$1.80"),
  auction("auc_seedA100x2cenB", "it_5M6aGxGovNeX5ltT", "us-central1-b", 8, "$4.00"),
  auction("auc_seedA100x4cenB", "it_fK7Cx6TVhOK5ZfXT", "us-central1-b", 4, "$8.00"),
  auction("auc_seedA100x8cenB", "it_J7OyNf9idfImLIFo", "us-central1-b", 2, "$16.00"),
  auction("auc_seedH100x8cenB", "it_5ECSoHQjLBzrp5YM", "us-central1-b", 3, "$24.00"),
];

/** The seed's instance types with the fixture availability above. */
export function seedCatalog(): InstanceCatalog {
  return catalogFromApi(SEED_INSTANCE_TYPES, SEED_AUCTIONS);
}
