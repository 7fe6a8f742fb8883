import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ResourceNotFoundError, ValidationError } from "../../src/errors.ts";
import { catalogFromApi } from "../../src/instance-types/from-api.ts";
import { SEED_AUCTIONS, SEED_INSTANCE_TYPES, seedCatalog } from "../../src/instance-types/seed-catalog.ts";
import { choosePlacement, dollars } from "../../src/providers/fcp/placement.ts";

const base = { priority: "med", quantity: 1 } as const;

describe("choosePlacement", () => {
  it("resolves a short name to the live FID and picks the cheapest region with capacity", () => {
    const placement = choosePlacement(seedCatalog(), { ...base, instanceType: "a100" });
    assert.equal(placement.instanceTypeFid, "it_MsIRhxj3ccyVWGfP");
    assert.equal(placement.instanceTypeName, "a100-80gb.sxm.1x");
    assert.equal(placement.region, "us-central1-a");
    assert.equal(placement.marketPricePerHour, 1.8);
    assert.equal(placement.limitPricePerHour, 2.25);
  });

  it("honours a chosen region and priority tiers", () => {
    const low = choosePlacement(seedCatalog(), { ...base, instanceType: "a100", region: "us-central1-b", priority: "low" });
    assert.equal(low.region, "us-central1-b");
    assert.equal(low.limitPricePerHour, 2);
    const high = choosePlacement(seedCatalog(), { ...base, instanceType: "a100", region: "us-central1-b", priority: "high" });
    assert.equal(high.limitPricePerHour, 3);
  });

  it("uses maxPricePerHour as the limit when it covers the market", () => {
    const placement = choosePlacement(seedCatalog(), { ...base, instanceType: "4xa100", maxPricePerHour: 9.5 });
    assert.equal(placement.limitPricePerHour, 9.5);
    assert.equal(placement.gpuCount, 4);
  });

  it("refuses a price below the market, naming the price to pay and cheaper types", () => {
    const error = thrown(() => choosePlacement(seedCatalog(), { ...base, instanceType: "8xh100", maxPricePerHour: 5 }));
    assert.ok(error instanceof ValidationError);
    assert.equal(error.errorCode, "price_too_low");
    const message = error.describe();
    assert.match(message, /\$5\.00 is below the spot price .*\$24\.00/);
    assert.match(message, /raise maxPricePerHour to at least \$24\.00/);
    assert.match(message, /a100-80gb\.sxm\.1x \(\$1\.80 in us-central1-a\)/);
  });

  it("explains where capacity is when the chosen region has none", () => {
    const auctions = SEED_AUCTIONS.map((a) => (a.fid === "auc_seedA100x1cenA" ? { ...a, capacity: 0 } : a));
    const catalog = catalogFromApi(SEED_INSTANCE_TYPES, auctions);
    assert.throws(
      () => choosePlacement(catalog, { ...base, instanceType: "a100", region: "us-central1-a" }),
      (e: unknown) => e instanceof ResourceNotFoundError && /us-central1-b \(\$2\.00\/h, 16 available\)/.test((e as ResourceNotFoundError).describe()),
    );
    assert.equal(choosePlacement(catalog, { ...base, instanceType: "a100" }).region, "us-central1-b");
  });

  it("names the regions that sell a type the chosen region does not", () => {
    assert.throws(
      () => choosePlacement(seedCatalog(), { ...base, instanceType: "8xh100", region: "us-central1-a" }),
      (e: unknown) => e instanceof ResourceNotFoundError && /it is sold in: us-central1-b/.test((e as ResourceNotFoundError).describe()),
    );
  });

  it("picks the cheapest type with enough GPU memory when no type is named", () => {
    const placement = choosePlacement(seedCatalog(), { ...base, minGpuMemoryGb: 80 });
    assert.equal(placement.instanceTypeName, "a100-80gb.sxm.1x");
  });

  it("writes dollar strings with cents", () => {
    assert.equal(dollars(12.5), "$12.50");
    assert.equal(dollars(2), "$2.00");
  });
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error");
}
