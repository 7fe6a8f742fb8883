/**
 * What happened, kept for the history endpoints and for billing: bid and reservation events,
 * every status an instance went through, and the periods an instance was billed for (while it
 * held capacity: from allocation until it ended or paused).
 */
import { randomUUID } from "node:crypto";
import { nowIso } from "./ids.ts";
import type { BidEventType, BidHistoryEventModel, InstanceStatus, ReservationEventType, ReservationHistoryEventModel } from "./models.ts";

export interface StatusEvent {
  id: string;
  atMs: number;
  status: InstanceStatus;
}

export interface BillingPeriod {
  startMs: number;
  /** Null while the instance is still billed. */
  endMs: number | null;
  priceCents: number;
}

export type ReservationLevelEvent = { atMs: number; type: "Started" | "Paused" | "Extended" };

export class Journal {
  readonly #bidEvents = new Map<string, BidHistoryEventModel[]>();
  readonly #reservationEvents = new Map<string, ReservationHistoryEventModel[]>();
  readonly #reservationLevelEvents = new Map<string, ReservationLevelEvent[]>();
  readonly #statuses = new Map<string, StatusEvent[]>();
  readonly #billing = new Map<string, BillingPeriod[]>();

  bidEvent(bidFid: string, type: BidEventType, details: Partial<Omit<BidHistoryEventModel, "timestamp" | "event_type">> = {}): void {
    const event: BidHistoryEventModel = { timestamp: nowIso(), event_type: type, limit_price: null, user_id: null, memory_gb: null, persistent_disk_change: null, ...details };
    listIn(this.#bidEvents, bidFid).push(event);
  }

  bidHistory(bidFid: string): BidHistoryEventModel[] {
    return structuredClone(this.#bidEvents.get(bidFid) ?? []);
  }

  reservationEvent(fid: string, type: ReservationEventType, details: Partial<Omit<ReservationHistoryEventModel, "timestamp" | "event_type">> = {}): void {
    const event: ReservationHistoryEventModel = {
      timestamp: nowIso(),
      event_type: type,
      user_id: null,
      unit_price_cents: null,
      pause_credit_cents: null,
      return_credit_cents: null,
      ...details,
    };
    listIn(this.#reservationEvents, fid).push(event);
  }

  reservationHistory(fid: string): ReservationHistoryEventModel[] {
    return structuredClone(this.#reservationEvents.get(fid) ?? []);
  }

  /** The coarse events the usage report lists (started, paused, extended). */
  reservationLevelEvent(fid: string, type: ReservationLevelEvent["type"]): void {
    listIn(this.#reservationLevelEvents, fid).push({ atMs: Date.now(), type });
  }

  reservationLevelEvents(fid: string): ReservationLevelEvent[] {
    return [...(this.#reservationLevelEvents.get(fid) ?? [])];
  }

  /** Records a status change; setting the status an instance already has is not a change. */
  instanceStatus(instanceFid: string, status: InstanceStatus): void {
    const events = listIn(this.#statuses, instanceFid);
    if (events.at(-1)?.status === status) return;
    events.push({ id: randomUUID(), atMs: Date.now(), status });
  }

  statusHistory(instanceFid: string): StatusEvent[] {
    return [...(this.#statuses.get(instanceFid) ?? [])];
  }

  startBilling(instanceFid: string, priceCents: number): void {
    this.stopBilling(instanceFid);
    listIn(this.#billing, instanceFid).push({ startMs: Date.now(), endMs: null, priceCents });
  }

  stopBilling(instanceFid: string): void {
    const open = this.#billing.get(instanceFid)?.at(-1);
    if (open !== undefined && open.endMs === null) open.endMs = Date.now();
  }

  billingPeriods(instanceFid: string): BillingPeriod[] {
    return (this.#billing.get(instanceFid) ?? []).map((period) => ({ ...period }));
  }
}

/** What the periods cost up to `nowMs`, in cents. */
export function accruedCents(periods: readonly BillingPeriod[], nowMs: number): number {
  return Math.round(periods.reduce((sum, period) => sum + (((period.endMs ?? nowMs) - period.startMs) / 3_600_000) * period.priceCents, 0));
}

function listIn<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  return list;
}
