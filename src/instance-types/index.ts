export {
  KNOWN_GPU_MODELS,
  VALID_GPU_COUNTS,
  InstanceTypeError,
  defaultGpuCount,
  parseInstanceType,
  tryParseInstanceType,
  type FidInstanceTypeSpec,
  type GpuInstanceTypeSpec,
  type InstanceTypeParseResult,
  type InstanceTypeSpec,
  type Interconnect,
} from "./parse-instance-type.ts";
export { InstanceCatalog, type CatalogEntry, type CatalogSearch } from "./catalog.ts";
export {
  AuctionModelSchema,
  InstanceTypeModelSchema,
  catalogEntryFromApi,
  catalogFromApi,
  parseDollars,
  type AuctionModel,
  type InstanceTypeModel,
} from "./from-api.ts";
export { SEED_AUCTIONS, SEED_INSTANCE_TYPES, seedCatalog } from "./seed-catalog.ts";
