/**
 * Reservations' rules and arithmetic, apart from the life of their instances (cloud.ts): the
 * window the API accepts, how many units an auction can still promise over a span of time, and
 * the usage report (what was committed, credited and used).
 *
 * Capacity: an auction's pool is every unit it has (free, held by spot, held by reservations).
 * Reservations are promised against the pool; spot only borrows from it, so a reservation that
 * starts takes its units back by preempting spot bids.
 */
import type { BillingPeriod, ReservationLevelEvent, StatusEvent } from "./journal.ts";
import { HOUR_MS, type Offer } from "./market.ts";
import type { ReservationModel, ReservationStatus } from "./models.ts";

export const MIN_RESERVATION_HOURS = 3;
export const MAX_RESERVATION_HOURS = 336;
/** A client that means "now" sends its clock's now, which is a little in the past on arrival. */
export const PAST_START_GRACE_MS = 5 * 60_000;

/** A period bought at one price: the reservation as created, then each extension. */
export interface Grant {
  fid: string;
  startMs: number;
  endMs: number;
  quantity: number;
  createdAtMs: number;
  unitCents: number;
  pauseBuybackCents: number;
  returnBuybackCents: number;
}

export interface ReservationRecord {
  model: ReservationModel;
  startMs: number;
  endMs: number;
  offer: Offer;
  grants: Grant[];
  /** Instances given back early with terminate-instances, and when. */
  returnedAtMs: Map<string, number>;
  /** Pause credits already reported on "Resumed" events. */
  reportedPauseCreditCents: number;
  /** Fires at the start (Pending) or the end (Active, Paused). */
  timer: NodeJS.Timeout | undefined;
}

/** Units promised over a span: what availability is checked against. */
export interface Commitment {
  startMs: number;
  endMs: number;
  quantity: number;
}

export function commitmentOf(record: ReservationRecord): Commitment {
  return { startMs: record.startMs, endMs: record.endMs, quantity: record.model.instance_quantity };
}

export function reservedUnitsAt(commitments: readonly Commitment[], atMs: number): number {
  return commitments.reduce((sum, c) => (c.startMs <= atMs && atMs < c.endMs ? sum + c.quantity : sum), 0);
}

/** The fewest units free for reservations at any moment of [fromMs, toMs). */
export function freeUnitsOver(pool: number, commitments: readonly Commitment[], fromMs: number, toMs: number): number {
  const moments = [fromMs, ...commitments.map((c) => c.startMs).filter((t) => t > fromMs && t < toMs)];
  return Math.min(...moments.map((t) => pool - reservedUnitsAt(commitments, t)));
}

/** Maximal spans of [fromMs, toMs) with the same number of free units (only spans with some). */
export function availabilitySlots(pool: number, commitments: readonly Commitment[], fromMs: number, toMs: number): Commitment[] {
  if (toMs <= fromMs) return [];
  const inside = commitments.flatMap((c) => [c.startMs, c.endMs]).filter((t) => t > fromMs && t < toMs);
  const points = [...new Set([fromMs, ...inside, toMs])].sort((a, b) => a - b);
  const slots: Commitment[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const startMs = points[i] ?? fromMs;
    const endMs = points[i + 1] ?? toMs;
    const quantity = pool - reservedUnitsAt(commitments, startMs);
    const last = slots.at(-1);
    if (last !== undefined && last.endMs === startMs && last.quantity === quantity) last.endMs = endMs;
    else slots.push({ startMs, endMs, quantity });
  }
  return slots.filter((slot) => slot.quantity > 0);
}

/** How long `quantity` units stay free from `startMs` (at most until `capMs`); undefined if not at the start. */
export function latestEndMs(pool: number, commitments: readonly Commitment[], startMs: number, quantity: number, capMs: number): number | undefined {
  if (pool - reservedUnitsAt(commitments, startMs) < quantity) return undefined;
  const later = commitments.map((c) => c.startMs).filter((t) => t > startMs && t < capMs).sort((a, b) => a - b);
  return later.find((t) => pool - reservedUnitsAt(commitments, t) < quantity) ?? capMs;
}

export function reservationHours(startMs: number, endMs: number): number {
  return (endMs - startMs) / HOUR_MS;
}

export function grantCostCents(grant: Grant): number {
  return Math.round(grant.unitCents * grant.quantity * reservationHours(grant.startMs, grant.endMs));
}

// ---- usage -------------------------------------------------------------------------------------

export interface InstanceUsage {
  fid: string;
  name: string;
  statuses: readonly StatusEvent[];
  billing: readonly BillingPeriod[];
}

/** The spec's ReservationInfoModel reuses the bid statuses. */
const INFO_STATUS: Record<ReservationStatus, "Open" | "Allocated" | "Paused" | "Terminated"> = {
  Pending: "Open",
  Active: "Allocated",
  Paused: "Paused",
  Canceled: "Terminated",
  Ended: "Terminated",
};

/** GET /v2/reservation/{fid}/usage as of `nowMs`. */
export function reservationUsage(record: ReservationRecord, instances: readonly InstanceUsage[], levelEvents: readonly ReservationLevelEvent[], nowMs: number) {
  const grants = record.grants.map((grant) => {
    let pausedMs = 0;
    let returnedMs = 0;
    for (const instance of instances) {
      pausedMs += msIn(instance.statuses, "STATUS_PAUSED", grant.startMs, grant.endMs, nowMs);
      const returnedAt = record.returnedAtMs.get(instance.fid);
      if (returnedAt !== undefined && grant.createdAtMs <= returnedAt) returnedMs += Math.max(0, grant.endMs - Math.max(returnedAt, grant.startMs));
    }
    return {
      grant,
      priceCredit: Math.round((pausedMs / HOUR_MS) * grant.pauseBuybackCents),
      returnCredit: Math.round((returnedMs / HOUR_MS) * grant.returnBuybackCents),
    };
  });
  const committed = record.grants.reduce((sum, grant) => sum + grantCostCents(grant), 0);
  const flexCredits = grants.reduce((sum, g) => sum + g.priceCredit, 0);
  const earlyCredits = grants.reduce((sum, g) => sum + g.returnCredit, 0);
  const until = Math.min(nowMs, record.endMs);
  let reservedMs = 0;
  let activeMs = 0;
  for (const instance of instances) {
    const ended = instance.statuses.find((event) => event.status === "STATUS_TERMINATED")?.atMs ?? Number.POSITIVE_INFINITY;
    reservedMs += Math.max(0, Math.min(until, ended) - record.startMs);
    for (const period of instance.billing) activeMs += Math.max(0, Math.min(period.endMs ?? nowMs, until) - Math.max(period.startMs, record.startMs));
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    reservation: {
      fid: record.model.fid,
      order_name: record.model.name,
      start_date: record.model.start_time,
      end_date: record.model.end_time,
      status: INFO_STATUS[record.model.status],
      committed_cost_cents: committed,
    },
    summary: {
      committed_cost_cents: committed,
      flex_use_credits_cents: flexCredits,
      early_termination_credits_cents: earlyCredits,
      net_cost_cents: committed - flexCredits - earlyCredits,
      reserved_instance_hours: isoDuration(reservedMs),
      active_instance_hours: isoDuration(activeMs),
      idle_instance_hours: isoDuration(Math.max(0, reservedMs - activeMs)),
      as_of: iso(nowMs),
    },
    grants: grants.map(({ grant, priceCredit, returnCredit }) => ({
      fid: grant.fid,
      starts_at: iso(grant.startMs),
      ends_at: iso(grant.endMs),
      quantity: grant.quantity,
      unit_price: grant.unitCents,
      price_credit: priceCredit,
      return_credit: returnCredit,
    })),
    pricing_events: instances
      .flatMap((instance) =>
        instance.statuses.map((event) => ({ id: event.id, occurred_at: iso(event.atMs), instance_fid: instance.fid, instance_name: instance.name, instance_status: event.status })),
      )
      .sort((a, b) => a.occurred_at.localeCompare(b.occurred_at)),
    reservation_events: levelEvents.map((event) => ({ occurred_at: iso(event.atMs), event_type: event.type, reservation_name: record.model.name })),
  };
}

/** Pause credits accrued so far (what a "Resumed" event reports, less what earlier ones did). */
export function pauseCreditCents(record: ReservationRecord, instances: readonly InstanceUsage[], nowMs: number): number {
  return record.grants.reduce((sum, grant) => {
    const pausedMs = instances.reduce((ms, instance) => ms + msIn(instance.statuses, "STATUS_PAUSED", grant.startMs, grant.endMs, nowMs), 0);
    return sum + Math.round((pausedMs / HOUR_MS) * grant.pauseBuybackCents);
  }, 0);
}

/** Time spent in `status` within [fromMs, toMs), counting the current status up to `nowMs`. */
function msIn(statuses: readonly StatusEvent[], status: string, fromMs: number, toMs: number, nowMs: number): number {
  let total = 0;
  statuses.forEach((event, index) => {
    if (event.status !== status) return;
    const end = Math.min(statuses[index + 1]?.atMs ?? nowMs, toMs, nowMs);
    total += Math.max(0, end - Math.max(event.atMs, fromMs));
  });
  return total;
}

/** ISO 8601 duration as pydantic writes a timedelta: "PT3H", "P1DT2H30M", "PT0S". */
export function isoDuration(ms: number): string {
  const totalSeconds = Math.round(ms) / 1000;
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.round((totalSeconds % 60) * 1000) / 1000;
  const time = `${hours > 0 ? `${hours}H` : ""}${minutes > 0 ? `${minutes}M` : ""}${seconds > 0 ? `${seconds}S` : ""}`;
  if (days === 0 && time === "") return "PT0S";
  return `P${days > 0 ? `${days}D` : ""}${time === "" ? "" : `T${time}`}`;
}
