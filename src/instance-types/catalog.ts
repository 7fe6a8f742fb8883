/**
 * The instance types a provider offers, as one list the SDK can resolve names against and search
 * by capability. Built from a provider's listing (see from-api.ts for the cloud's) or from the
 * seed fixture (seed-catalog.ts) in tests and the simulator.
 */
import { ResourceNotFoundError } from "../errors.ts";
import { parseInstanceType, type Interconnect, type InstanceTypeSpec } from "./parse-instance-type.ts";

/**
 * One offered instance type. A listing with availability holds one entry per region the type is
 * sold in, each with that region's capacity and price; an entry without `region` is the type
 * itself, with no availability attached.
 */
export interface CatalogEntry {
  fid: string;
  /** The provider's name, e.g. `"a100-80gb.sxm.1x"`. */
  name: string;
  /** Lowercase model, e.g. `"a100"`. */
  gpuModel: string;
  gpuCount: number;
  /** Memory of one GPU. */
  gpuMemoryGb: number;
  interconnect?: Interconnect;
  cpus: number;
  ramGb: number;
  region?: string;
  /** Instances available now. */
  capacity?: number;
  /** USD per instance-hour. */
  pricePerHour?: number;
}

export interface CatalogSearch {
  gpuModel?: string;
  /** Exactly this many GPUs per instance. */
  gpuCount?: number;
  minGpuCount?: number;
  /** Per GPU, as TaskConfig's `minGpuMemoryGb`. */
  minGpuMemoryGb?: number;
  /** Entries without a known price are excluded when this is set. */
  maxPricePerHour?: number;
  region?: string;
}

export class InstanceCatalog {
  readonly entries: readonly CatalogEntry[];

  constructor(entries: Iterable<CatalogEntry>) {
    this.entries = [...entries];
  }

  /**
   * The entry `query` names: an exact provider name or FID first, then any accepted spelling
   * (`"a100"` finds `a100-80gb.sxm.1x`). When several entries match (regions, memory or
   * interconnect variants) the best is returned: SXM before PCIe, more GPU memory, then cheapest.
   * Undefined when the type is well-formed but not offered; a malformed string throws
   * InstanceTypeError.
   */
  find(query: string | InstanceTypeSpec, options: { region?: string } = {}): CatalogEntry | undefined {
    return this.matches(query, options)[0];
  }

  /** Like find, but a type that is not offered throws, listing what is offered for that model. */
  resolve(query: string | InstanceTypeSpec, options: { region?: string } = {}): CatalogEntry {
    const found = this.find(query, options);
    if (found !== undefined) return found;
    const label = typeof query === "string" ? query : query.canonical;
    const where = options.region === undefined ? "" : ` in ${options.region}`;
    const spec = typeof query === "string" ? parseInstanceType(query) : query;
    const related = this.inRegion(options.region).filter((e) => spec.kind === "fid" || e.gpuModel === spec.gpuModel);
    const offered = [...new Set(related.map((e) => `${e.gpuCount}x${e.gpuModel} (${e.name})`))];
    const suggestions =
      offered.length > 0
        ? [`offered${where}: ${offered.join(", ")}`]
        : [`offered models${where}: ${[...new Set(this.inRegion(options.region).map((e) => e.gpuModel))].join(", ") || "none"}`];
    throw new ResourceNotFoundError(`Instance type ${JSON.stringify(label)} is not offered${where}`, {
      suggestions,
      errorCode: "instance_type_not_offered",
    });
  }

  /** Entries meeting every given criterion, cheapest first (unpriced last), then fewest GPUs. */
  search(criteria: CatalogSearch): CatalogEntry[] {
    return this.inRegion(criteria.region)
      .filter(
        (e) =>
          (criteria.gpuModel === undefined || e.gpuModel === criteria.gpuModel) &&
          (criteria.gpuCount === undefined || e.gpuCount === criteria.gpuCount) &&
          (criteria.minGpuCount === undefined || e.gpuCount >= criteria.minGpuCount) &&
          (criteria.minGpuMemoryGb === undefined || e.gpuMemoryGb >= criteria.minGpuMemoryGb) &&
          (criteria.maxPricePerHour === undefined || (e.pricePerHour !== undefined && e.pricePerHour <= criteria.maxPricePerHour)),
      )
      .sort((a, b) => byPrice(a, b) || a.gpuCount - b.gpuCount || a.name.localeCompare(b.name));
  }

  private matches(query: string | InstanceTypeSpec, options: { region?: string }): CatalogEntry[] {
    const candidates = this.inRegion(options.region);
    if (typeof query === "string") {
      const exact = candidates.filter((e) => e.fid === query || e.name === query);
      if (exact.length > 0) return exact.sort(byPrice);
      query = parseInstanceType(query);
    }
    const spec = query;
    const matching =
      spec.kind === "fid"
        ? candidates.filter((e) => e.fid === spec.fid)
        : candidates.filter(
            (e) =>
              e.gpuModel === spec.gpuModel &&
              e.gpuCount === spec.gpuCount &&
              (spec.gpuMemoryGb === undefined || e.gpuMemoryGb === spec.gpuMemoryGb) &&
              (spec.interconnect === undefined || e.interconnect === spec.interconnect),
          );
    return matching.sort(
      (a, b) => interconnectRank(a) - interconnectRank(b) || b.gpuMemoryGb - a.gpuMemoryGb || byPrice(a, b),
    );
  }

  private inRegion(region: string | undefined): CatalogEntry[] {
    return region === undefined ? [...this.entries] : this.entries.filter((e) => e.region === region);
  }
}

/** Cheapest first; entries without a price sort after all priced ones. */
function byPrice(a: CatalogEntry, b: CatalogEntry): number {
  if (a.pricePerHour === undefined || b.pricePerHour === undefined) {
    return (a.pricePerHour === undefined ? 1 : 0) - (b.pricePerHour === undefined ? 1 : 0);
  }
  return a.pricePerHour - b.pricePerHour;
}

/** A bare model name means the SXM part when both exist (the seed maps "a100" to the SXM node). */
function interconnectRank(e: CatalogEntry): number {
  return e.interconnect === "sxm" ? 0 : e.interconnect === "pcie" ? 1 : 2;
}
