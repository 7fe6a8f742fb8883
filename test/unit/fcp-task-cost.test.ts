// What a task costs and when it ran, from the API's billing history of its instances.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { InstancePricingHistory } from "../../src/providers/fcp/api/schemas.ts";
import { dollarString, taskCost } from "../../src/providers/fcp/task-cost.ts";

const at = (minute: number) => new Date(Date.UTC(2026, 11, 1, 12, minute)).toISOString();
const history = (bid: string, instance: string, periods: [number, number | null, number][]): InstancePricingHistory => ({
  instance_fid: instance,
  bid_fid: bid,
  events: periods.map(([start, end, cents]) => ({ start_time: at(start), end_time: end === null ? null : at(end), price_cents: cents })),
});

test("bills every period at the price paid, an open one up to now", () => {
  const cost = taskCost([history("bid_2", "inst_b", [[30, 60, 200], [60, null, 300]]), history("bid_1", "inst_a", [[0, 30, 100]])], new Date(at(90)));
  assert.equal(cost.totalCents, 100 + 150 + 50);
  assert.equal(dollarString(cost.totalCents), "$3.00");
  assert.equal(cost.perHourCents, 300);
});

test("dates the start from the current attempt's first billed instance, not an earlier attempt's", () => {
  // The current bid (first) had two instances, the second started first; the earlier attempt ran before both.
  const cost = taskCost(
    [history("bid_2", "inst_b", [[40, 50, 200]]), history("bid_2", "inst_c", [[35, 50, 200]]), history("bid_1", "inst_a", [[0, 30, 100]])],
    new Date(at(90)),
  );
  assert.equal(cost.billedFrom?.toISOString(), at(35));
});

test("a bid that never ran has no start and costs nothing", () => {
  const cost = taskCost([], new Date(at(90)));
  assert.equal(cost.billedFrom, undefined);
  assert.equal(cost.perHourCents, undefined);
  assert.equal(cost.totalCents, 0);
});
