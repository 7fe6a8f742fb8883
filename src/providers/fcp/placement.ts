/**
 * Where a bid goes and what it offers to pay: the instance type resolved against the live
 * catalog (names ↔ FIDs come from the API, never from a table of ours), the region chosen from
 * spot availability, and a limit price checked against the market before anything is posted.
 */
import { ResourceNotFoundError, ValidationError } from "../../errors.ts";
import type { CatalogEntry, InstanceCatalog } from "../../instance-types/catalog.ts";
import { parseInstanceType } from "../../instance-types/parse-instance-type.ts";

export type PriorityTier = "low" | "med" | "high";

/**
 * Without an explicit maxPricePerHour the limit price is the market price times the tier's
 * factor: a higher limit survives more of the auction's swings before the instance is reclaimed.
 */
export const PRIORITY_PRICE_FACTORS: Readonly<Record<PriorityTier, number>> = { low: 1, med: 1.25, high: 1.5 };

export interface PlacementRequest {
  /** "a100", "4xh100", a provider name or FID. Absent: the cheapest type that fits. */
  instanceType?: string;
  /** Per GPU; picks the cheapest type with at least this much when no instanceType is given. */
  minGpuMemoryGb?: number;
  /** A region the user chose; absent means "wherever is cheapest with capacity". */
  region?: string;
  /** Dollars per instance-hour the user will pay at most. */
  maxPricePerHour?: number;
  priority: PriorityTier;
  quantity: number;
}

export interface Placement {
  instanceTypeFid: string;
  instanceTypeName: string;
  /** Lowercase, e.g. "h100". */
  gpuModel: string;
  /** Per instance. */
  gpuCount: number;
  region: string;
  /** The auction's last price, dollars per instance-hour. */
  marketPricePerHour: number;
  /** What the bid offers, dollars per instance-hour. */
  limitPricePerHour: number;
}

export function choosePlacement(catalog: InstanceCatalog, request: PlacementRequest): Placement {
  const type = resolveType(catalog, request);
  const offers = catalog.entries.filter((e) => e.fid === type.fid && e.region !== undefined && e.pricePerHour !== undefined);
  const label = `${type.gpuCount}x${type.gpuModel} (${type.name})`;
  if (offers.length === 0) {
    throw new ResourceNotFoundError(`No region sells ${label} on the spot market right now.`, {
      suggestions: ["run `flow catalog --provider fcp` to see what is available", "try another instance type"],
      errorCode: "no_availability",
    });
  }

  const inRegion = request.region === undefined ? offers : offers.filter((o) => o.region === request.region);
  if (inRegion.length === 0) {
    throw new ResourceNotFoundError(`${label} is not sold in ${request.region}.`, {
      suggestions: [`it is sold in: ${describeOffers(offers)}`, "set FLOW_REGION (or `region:`) to one of those, or leave it unset"],
      errorCode: "no_availability",
    });
  }
  const withCapacity = inRegion.filter((o) => (o.capacity ?? 0) >= request.quantity).sort(cheapestFirst);
  const offer = withCapacity[0];
  if (offer === undefined) {
    const elsewhere = offers.filter((o) => (o.capacity ?? 0) >= request.quantity && !inRegion.includes(o));
    throw new ResourceNotFoundError(
      `No capacity for ${request.quantity} × ${label}${request.region === undefined ? "" : ` in ${request.region}`} right now.`,
      {
        suggestions: [
          ...(elsewhere.length > 0 ? [`capacity elsewhere: ${describeOffers(elsewhere)}`] : []),
          "try again later, or choose another instance type (`flow catalog --provider fcp`)",
        ],
        errorCode: "no_capacity",
      },
    );
  }

  const market = offer.pricePerHour!;
  if (request.maxPricePerHour !== undefined && request.maxPricePerHour < market) {
    const cheaper = withCapacity.length > 0 ? cheaperTypes(catalog, request.maxPricePerHour, request.quantity) : [];
    throw new ValidationError(
      `maxPricePerHour ${dollars(request.maxPricePerHour)} is below the spot price of ${label} in ${offer.region}: ${dollars(market)}/hour.`,
      {
        issues: [{ path: "maxPricePerHour", message: `must be at least ${dollars(market)} for ${type.name}` }],
        suggestions: [
          `raise maxPricePerHour to at least ${dollars(market)}`,
          ...(cheaper.length > 0 ? [`or pick a type within your price: ${cheaper.join(", ")}`] : []),
        ],
        errorCode: "price_too_low",
      },
    );
  }
  const limit = request.maxPricePerHour ?? roundUpToCents(market * PRIORITY_PRICE_FACTORS[request.priority]);
  return {
    instanceTypeFid: type.fid,
    instanceTypeName: type.name,
    gpuModel: type.gpuModel,
    gpuCount: type.gpuCount,
    region: offer.region!,
    marketPricePerHour: market,
    limitPricePerHour: limit,
  };
}

/**
 * What a bid buys and may cost, said before it is placed: `8 × H100 at up to $30.00/h
 * (h100-80gb.sxm.8x in us-central1-b; spot price now $24.00/h)`, per instance and in all for several.
 */
export function describePlacement(placement: Placement, quantity: number): string {
  const gpus = `${placement.gpuCount} × ${placement.gpuModel.toUpperCase()}`;
  const limit = dollars(placement.limitPricePerHour);
  const where = `${placement.instanceTypeName} in ${placement.region}; spot price now ${dollars(placement.marketPricePerHour)}/h`;
  if (quantity === 1) return `${gpus} at up to ${limit}/h (${where})`;
  return `${quantity} instances of ${gpus} at up to ${limit}/h each, ${dollars(placement.limitPricePerHour * quantity)}/h in all (${where})`;
}

/** Where a region the user did not pick for this bid came from, e.g. `~/.flow/config.yaml` or FLOW_REGION. */
export interface ConfiguredRegion {
  region: string;
  source: string;
}

/**
 * Choices the user may not have meant, in words, before money is spent: a bare model name that
 * buys a whole multi-GPU node (`"h100"` is 8 × H100), and a configured region that is dearer
 * than another with capacity for the same type.
 */
export function placementNotes(
  catalog: InstanceCatalog,
  placement: Placement,
  request: { instanceType?: string; quantity: number; configuredRegion?: ConfiguredRegion },
): string[] {
  const notes: string[] = [];
  const spec = request.instanceType === undefined ? undefined : parseInstanceType(request.instanceType);
  if (spec?.kind === "gpu" && request.instanceType === spec.gpuModel && placement.gpuCount > 1) {
    const single = catalog.search({ gpuModel: spec.gpuModel, gpuCount: 1 }).find((e) => e.pricePerHour !== undefined);
    notes.push(
      `"${spec.gpuModel}" means ${placement.gpuCount} × ${spec.gpuModel.toUpperCase()} (a whole node)` +
        (single === undefined ? "" : `; for one GPU use "1x${spec.gpuModel}" (from ${dollars(single.pricePerHour!)}/h)`),
    );
  }
  const configured = request.configuredRegion;
  if (configured !== undefined && configured.region === placement.region) {
    const cheaper = catalog.entries
      .filter((e) => e.fid === placement.instanceTypeFid && e.region !== undefined && e.pricePerHour !== undefined && (e.capacity ?? 0) >= request.quantity)
      .sort(cheapestFirst)[0];
    if (cheaper !== undefined && cheaper.pricePerHour! < placement.marketPricePerHour) {
      notes.push(
        `${cheaper.region} sells ${placement.instanceTypeName} for ${dollars(cheaper.pricePerHour!)}/h, but region ${configured.region} is set in ${configured.source}; ` +
          "remove it there to bid in the cheapest region with capacity",
      );
    }
  }
  return notes;
}

/** A limit price that rides out the market's usual swings (the default priority's) over `market`, as "4.38". */
export function suggestedLimit(market: number): string {
  return roundUpToCents(market * PRIORITY_PRICE_FACTORS.med).toFixed(2);
}

/** The API writes prices as dollar strings with cents: 12.5 → "$12.50". */
export function dollars(amount: number): string {
  return `$${amount.toFixed(2)}`;
}

function resolveType(catalog: InstanceCatalog, request: PlacementRequest): CatalogEntry {
  if (request.instanceType !== undefined) return catalog.resolve(request.instanceType);
  const fitting = catalog.search({
    ...(request.minGpuMemoryGb === undefined ? {} : { minGpuMemoryGb: request.minGpuMemoryGb }),
    ...(request.region === undefined ? {} : { region: request.region }),
  });
  const best = fitting.find((e) => (e.capacity ?? 0) >= request.quantity) ?? fitting[0];
  if (best === undefined) {
    throw new ResourceNotFoundError(
      request.minGpuMemoryGb === undefined ? "The cloud offers no instance types." : `No instance type has ${request.minGpuMemoryGb} GB of GPU memory per GPU.`,
      { suggestions: ["run `flow catalog --provider fcp` to see what is offered"], errorCode: "instance_type_not_offered" },
    );
  }
  return best;
}

function cheaperTypes(catalog: InstanceCatalog, maxPrice: number, quantity: number): string[] {
  const within = catalog.search({ maxPricePerHour: maxPrice }).filter((e) => (e.capacity ?? 0) >= quantity);
  return [...new Set(within.map((e) => `${e.name} (${dollars(e.pricePerHour!)} in ${e.region})`))].slice(0, 3);
}

function describeOffers(offers: readonly CatalogEntry[]): string {
  return [...offers]
    .sort(cheapestFirst)
    .map((o) => `${o.region} (${dollars(o.pricePerHour!)}/h, ${o.capacity ?? 0} available)`)
    .join(", ");
}

function cheapestFirst(a: CatalogEntry, b: CatalogEntry): number {
  return a.pricePerHour! - b.pricePerHour! || a.region!.localeCompare(b.region!);
}

function roundUpToCents(amount: number): number {
  return Math.ceil(Math.round(amount * 1000) / 10) / 100;
}
