import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ResourceNotFoundError, ValidationError } from "../../src/errors.ts";
import { catalogFromApi } from "../../src/instance-types/from-api.ts";
import { SEED_AUCTIONS, SEED_INSTANCE_TYPES, seedCatalog } from "../../src/instance-types/seed-catalog.ts";
import { choosePlacement, describePlacement, dollars, placementNotes } from "../../src/providers/fcp/placement.ts";

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

describe("what a bid buys, said before it is placed", () => {
  it("names the GPU count and the limit price", () => {
    const placement = choosePlacement(seedCatalog(), { ...base, instanceType: "h100" });
    assert.equal(describePlacement(placement, 1), "8 × H100 at up to $30.00/h (h100-80gb.sxm.8x in us-central1-b; spot price now $24.00/h)");
    assert.equal(
      describePlacement(choosePlacement(seedCatalog(), { ...base, instanceType: "8xa100", quantity: 2 }), 2),
      "2 instances of 8 × A100 at up to $20.00/h each, $40.00/h in all (a100-80gb.sxm.8x in us-central1-b; spot price now $16.00/h)",
    );
  });

  it('says that a bare "h100" is a whole 8-GPU node, and how to ask for one GPU', () => {
    const catalog = seedCatalog();
    const notes = placementNotes(catalog, choosePlacement(catalog, { ...base, instanceType: "h100" }), { instanceType: "h100", quantity: 1 });
    assert.deepEqual(notes, ['"h100" means 8 × H100 (a whole node); for one GPU use "1xh100" (from $10.00/h)']);
    for (const explicit of ["8xh100", "h100-80gb.sxm.8x", "a100"]) {
      assert.deepEqual(placementNotes(catalog, choosePlacement(catalog, { ...base, instanceType: explicit }), { instanceType: explicit, quantity: 1 }), [], explicit);
    }
  });

  it("says when a configured region is dearer than another with capacity", () => {
    const catalog = seedCatalog();
    const configuredRegion = { region: "us-central1-b", source: "/home/me/.flow/config.yaml" };
    const placement = choosePlacement(catalog, { ...base, instanceType: "a100", region: "us-central1-b" });
    const [note] = placementNotes(catalog, placement, { instanceType: "a100", quantity: 1, configuredRegion });
    assert.match(note ?? "", /^us-central1-a sells a100-80gb\.sxm\.1x for \$1\.80\/h, but region us-central1-b is set in \/home\/me\/\.flow\/config\.yaml/);
    // Chosen for this task (not configured), or already the cheapest: nothing to say.
    assert.deepEqual(placementNotes(catalog, placement, { instanceType: "a100", quantity: 1 }), []);
    const cheapest = choosePlacement(catalog, { ...base, instanceType: "a100", region: "us-central1-a" });
    assert.deepEqual(placementNotes(catalog, cheapest, { instanceType: "a100", quantity: 1, configuredRegion: { ...configuredRegion, region: "us-central1-a" } }), []);
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
