/**
 * The simulator's arithmetic, apart from HTTP and machines: the seeded price history, sampling,
 * the capacity reservations can still be promised, and the usage report's credits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StatusEvent } from "../../tools/fcp-sim/journal.ts";
import { type Auction, HOUR_MS, minimumPriceCents, reservationOffers, reservedPriceAt, sampleTimes, spotPriceAt } from "../../tools/fcp-sim/market.ts";
import { availabilitySlots, freeUnitsOver, isoDuration, latestEndMs, reservationUsage, type ReservationRecord } from "../../tools/fcp-sim/reservations.ts";

const START = Date.parse("2025-03-01T00:00:00Z");

function auction(overrides: Partial<Auction> = {}): Auction {
  return {
    fid: "auc_1",
    instanceType: "it_1",
    region: "r1",
    capacity: 4,
    basePriceCents: 200,
    lastPriceCents: 200,
    priceChanges: [{ atMs: START, cents: 200 }],
    ...overrides,
  };
}

describe("fcp-sim price history", () => {
  const hours = Array.from({ length: 7 * 24 }, (_, i) => START - i * HOUR_MS);

  it("is deterministic for a seed, differs between seeds, and meets the live price at the start", () => {
    const a = hours.map((t) => spotPriceAt(auction(), t, 7));
    assert.deepEqual(hours.map((t) => spotPriceAt(auction(), t, 7)), a);
    assert.notDeepEqual(hours.map((t) => spotPriceAt(auction(), t, 8)), a);
    assert.equal(spotPriceAt(auction(), START, 7), 200);
    assert.equal(reservedPriceAt(auction(), START, 7), 240);
  });

  it("moves like a market: within ±30% of the price, never under the floor, not flat", () => {
    const prices = hours.map((t) => spotPriceAt(auction(), t, 3));
    assert.ok(prices.every((cents) => cents >= minimumPriceCents(auction()) && cents >= 140 && cents <= 260), String(prices));
    assert.ok(new Set(prices).size > 20);
    const steps = prices.slice(1).map((cents, i) => Math.abs(cents - (prices[i] ?? cents)));
    assert.ok(Math.max(...steps) <= 10, "hour to hour it moves a little, so a chart is readable");
  });

  it("since the start, follows the recorded price changes", () => {
    const moved = auction({ priceChanges: [{ atMs: START, cents: 200 }, { atMs: START + HOUR_MS, cents: 300 }] });
    assert.deepEqual([START, START + HOUR_MS - 1, START + HOUR_MS, START + 5 * HOUR_MS].map((t) => spotPriceAt(moved, t, 1)), [200, 200, 300, 300]);
  });

  it("samples evenly, one per hour with -1, nothing with 0", () => {
    assert.deepEqual(sampleTimes(0, 10, 3), [0, 5, 10]);
    assert.deepEqual(sampleTimes(0, 10, 1), [10]);
    assert.deepEqual(sampleTimes(0, 10, 0), []);
    assert.equal(sampleTimes(0, 48 * HOUR_MS, -1).length, 49);
    assert.equal(sampleTimes(0, 5000 * HOUR_MS, -1).length, 1000);
  });

  it("offers standard and flex: flex costs more and pays a pause credit", () => {
    const [standard, flex] = reservationOffers(auction());
    assert.equal(standard?.unitCents, 240);
    assert.equal(standard?.pauseBuybackCents, 0);
    assert.ok((flex?.unitCents ?? 0) > 240 && (flex?.pauseBuybackCents ?? 0) > 0);
  });
});

describe("fcp-sim reservation capacity", () => {
  const h = (n: number) => START + n * HOUR_MS;
  const commitments = [
    { startMs: h(2), endMs: h(6), quantity: 3 },
    { startMs: h(4), endMs: h(8), quantity: 1 },
  ];

  it("lists the spans with free units, merged where equal", () => {
    assert.deepEqual(availabilitySlots(4, commitments, h(0), h(10)), [
      { startMs: h(0), endMs: h(2), quantity: 4 },
      { startMs: h(2), endMs: h(4), quantity: 1 },
      { startMs: h(6), endMs: h(8), quantity: 3 },
      { startMs: h(8), endMs: h(10), quantity: 4 },
    ]);
  });

  it("finds the fewest free units over a window and how long a quantity stays free", () => {
    assert.equal(freeUnitsOver(4, commitments, h(0), h(3)), 1);
    assert.equal(freeUnitsOver(4, commitments, h(0), h(2)), 4, "a reservation starting at the window's end is not in it");
    assert.equal(latestEndMs(4, commitments, h(0), 2, h(100)), h(2));
    assert.equal(latestEndMs(4, commitments, h(0), 1, h(100)), h(4), "from 4 to 6 every unit is promised");
    assert.equal(latestEndMs(4, commitments, h(6), 1, h(100)), h(100));
    assert.equal(latestEndMs(4, commitments, h(4), 1, h(100)), undefined);
  });

  it("writes durations as pydantic does", () => {
    assert.equal(isoDuration(3 * HOUR_MS), "PT3H");
    assert.equal(isoDuration(26.5 * HOUR_MS), "P1DT2H30M");
    assert.equal(isoDuration(1500), "PT1.5S");
    assert.equal(isoDuration(0), "PT0S");
  });
});

describe("fcp-sim reservation usage", () => {
  it("credits paused hours at the pause price and hours given back at the return price, per grant", () => {
    const h = (n: number) => START + n * HOUR_MS;
    const record = {
      model: { fid: "res_1", name: "r", start_time: new Date(h(0)).toISOString(), end_time: new Date(h(10)).toISOString(), status: "Active" },
      startMs: h(0),
      endMs: h(10),
      grants: [
        { fid: "grant_1", startMs: h(0), endMs: h(6), quantity: 2, createdAtMs: h(-1), unitCents: 300, pauseBuybackCents: 100, returnBuybackCents: 50 },
        { fid: "grant_2", startMs: h(6), endMs: h(10), quantity: 2, createdAtMs: h(1), unitCents: 400, pauseBuybackCents: 200, returnBuybackCents: 80 },
      ],
      returnedAtMs: new Map([["inst_b", h(8)]]),
    } as unknown as ReservationRecord;
    const statuses = (events: [number, StatusEvent["status"]][]): StatusEvent[] => events.map(([n, status], i) => ({ id: `e${i}`, atMs: h(n), status }));
    const instances = [
      // Paused from 2 to 4 (grant 1) and from 7 to 9 (grant 2).
      { fid: "inst_a", name: "r-0", statuses: statuses([[0, "STATUS_RUNNING"], [2, "STATUS_PAUSED"], [4, "STATUS_RUNNING"], [7, "STATUS_PAUSED"], [9, "STATUS_RUNNING"]]), billing: [] },
      // Given back at 8: 2 hours of grant 2 returned.
      { fid: "inst_b", name: "r-1", statuses: statuses([[0, "STATUS_RUNNING"], [8, "STATUS_TERMINATED"]]), billing: [{ startMs: h(0), endMs: h(8), priceCents: 300 }] },
    ];
    const usage = reservationUsage(record, instances, [], h(10));
    assert.deepEqual(
      usage.grants.map((g) => [g.price_credit, g.return_credit]),
      [
        [200, 0],
        [400, 160],
      ],
    );
    assert.equal(usage.summary.committed_cost_cents, 2 * 6 * 300 + 2 * 4 * 400);
    assert.equal(usage.summary.net_cost_cents, usage.summary.committed_cost_cents - 600 - 160);
    assert.equal(usage.summary.reserved_instance_hours, "PT18H");
    assert.equal(usage.summary.active_instance_hours, "PT8H");
    assert.equal(usage.summary.idle_instance_hours, "PT10H");
  });
});
