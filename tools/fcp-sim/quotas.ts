/**
 * Per-project quotas, as GET /v2/quotas reports them and creates enforce: spot instances and
 * reserved instances per instance type, and storage in GB. Usage counts what is committed: the
 * instance_quantity of bids not terminated and of reservations not over, and volumes not deleted.
 */
import { newFid } from "./ids.ts";
import type { QuotaModel } from "./models.ts";

export interface QuotaLimits {
  /** Per instance type: instances of bids that are not terminated. Default 64. */
  spotInstancesPerType: number;
  /** Per instance type: instances of reservations that are not over. Default 32. */
  reservedInstancesPerType: number;
  /** All volumes that are not deleted, in GB. Default 100,000. */
  storageGb: number;
}

export const DEFAULT_QUOTA_LIMITS: QuotaLimits = { spotInstancesPerType: 64, reservedInstancesPerType: 32, storageGb: 100_000 };

export type QuotaProduct = QuotaModel["product_type"];

export interface QuotaUsage {
  /** Instances in use per instance type FID. */
  spot: ReadonlyMap<string, number>;
  reserved: ReadonlyMap<string, number>;
  storageGb: number;
}

export class Quotas {
  readonly #limits: QuotaLimits;
  /** Stable FIDs: a quota is one resource, whatever its usage. */
  readonly #fids = new Map<string, string>();

  constructor(limits: QuotaLimits) {
    this.#limits = limits;
  }

  limit(product: QuotaProduct): number {
    if (product === "Spot") return this.#limits.spotInstancesPerType;
    if (product === "Reservations") return this.#limits.reservedInstancesPerType;
    return this.#limits.storageGb;
  }

  models(project: string, instanceTypes: readonly { fid: string; name: string }[], usage: QuotaUsage): QuotaModel[] {
    const perType = instanceTypes.flatMap((type): QuotaModel[] => [
      this.#model(project, "Spot", type.fid, `${type.name} spot instances`, "instances", usage.spot.get(type.fid) ?? 0),
      this.#model(project, "Reservations", type.fid, `${type.name} reserved instances`, "instances", usage.reserved.get(type.fid) ?? 0),
    ]);
    return [...perType, this.#model(project, "Storage", null, "Storage", "GB", usage.storageGb)];
  }

  #model(project: string, product: QuotaProduct, instanceType: string | null, name: string, units: string, used: number): QuotaModel {
    const key = `${project}/${product}/${instanceType ?? ""}`;
    let fid = this.#fids.get(key);
    if (fid === undefined) {
      fid = newFid("quota");
      this.#fids.set(key, fid);
    }
    return { fid, project, instance_type: instanceType, product_type: product, total_quantity: this.limit(product), used_quantity: used, units, name };
  }
}
