/**
 * What a task costs, from what the API bills (GET /v2/instances/pricing/history): each instance
 * is billed per period at the price it actually paid (the auction's, not the bid's limit), from
 * allocation until it ends or pauses.
 */
import type { InstancePricingHistory } from "./api/schemas.ts";

export interface TaskCost {
  /** Cents per instance-hour paid now (or last, once the task ended); undefined before any instance was billed. */
  perHourCents?: number;
  /** Every billed period of every instance of every attempt, up to `now`. */
  totalCents: number;
  /**
   * When the current attempt's first instance began to be billed: when it started running. An
   * ended bid lists no instances, so after the end this is the only record of it left.
   */
  billedFrom?: Date;
}

/** `histories` of the task's instances, the current attempt's first instance first (its bid is the current one). */
export function taskCost(histories: readonly InstancePricingHistory[], now: Date): TaskCost {
  let totalCents = 0;
  for (const history of histories) {
    for (const event of history.events) {
      const start = Date.parse(event.start_time);
      const end = event.end_time === null ? now.getTime() : Date.parse(event.end_time);
      if (end > start) totalCents += (event.price_cents * (end - start)) / 3_600_000;
    }
  }
  const latest = histories[0]?.events.at(-1);
  const starts = histories.filter((h) => h.bid_fid === histories[0]?.bid_fid).flatMap((h) => h.events.map((e) => Date.parse(e.start_time)));
  return {
    ...(latest === undefined ? {} : { perHourCents: latest.price_cents }),
    totalCents,
    ...(starts.length === 0 ? {} : { billedFrom: new Date(Math.min(...starts)) }),
  };
}

/** "$2.05": the API's dollar strings, rounded to the cent. */
export function dollarString(cents: number): string {
  return `$${(Math.round(cents) / 100).toFixed(2)}`;
}
