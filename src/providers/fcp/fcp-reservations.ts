/**
 * Reservations (the API's `/v2/reservation*`): capacity bought for a window, whose instances are
 * never preempted. The window is checked here before anything is asked of the API — in the
 * past, too short or too long, no capacity — so a bad one fails naming the value and what would
 * work, and nothing is created.
 *
 * A reservation made with `flow reserve create` boots its instances with a standby script: they
 * stay up, ready for tasks and function agents that the client delivers over SSH
 * (reservation-tasks.ts, reservation-agents.ts). A task that reserves capacity for itself
 * (`reservedDurationHours`) passes its own startup script instead, as a spot bid would.
 */
import { randomBytes } from "node:crypto";
import { ResourceNotFoundError, ValidationError } from "../../errors.ts";
import type { CatalogEntry } from "../../instance-types/catalog.ts";
import { parseDollars } from "../../instance-types/from-api.ts";
import { sleep } from "../../sleep.ts";
import type {
  CreateReservationOptions,
  ExtendReservationOptions,
  Reservation,
  ReservationEvent,
  ReservationQuote,
  Reservations,
  ReservationStatus,
  ReservationUsage,
  ReservationWindow,
} from "../cloud-account.ts";
import { isoDurationMs, type Instance, type Reservation as ApiReservation, type ReservationStatus as ApiReservationStatus } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import { dollars } from "./placement.ts";
import { buildStartupScript } from "./startup-script/index.ts";
import { ENDED_INSTANCE_STATUSES } from "./task-status-from-api.ts";

export const MIN_RESERVATION_HOURS = 3;
export const MAX_RESERVATION_HOURS = 336;
/** A start this close to now counts as now: the request takes a moment to arrive. */
const PAST_START_GRACE_MS = 5 * 60_000;
const HOUR_MS = 3600_000;

/** Reservations that are not over: their instances exist or will. */
export const LIVE_RESERVATION_STATUSES: ReadonlySet<ApiReservationStatus> = new Set(["Pending", "Active", "Paused"]);

/** A reservation's launch: what its instances boot and who may log in. */
export interface ReservationLaunch {
  startupScript: string;
  sshKeyFids: string[];
  volumeFids: string[];
}

/** A window resolved against the catalog and the market: the type, where, when, and its quote. */
interface Plan {
  type: CatalogEntry;
  quote: ReservationQuote;
}

export class FcpReservations implements Reservations {
  readonly #context: FcpContext;

  constructor(context: FcpContext) {
    this.#context = context;
  }

  async quote(window: ReservationWindow): Promise<ReservationQuote> {
    return (await this.#plan(window)).quote;
  }

  /** A reservation whose instances stand by for tasks and agents delivered over SSH. */
  async create(options: CreateReservationOptions): Promise<Reservation> {
    return this.reserve(options, async () => {
      // The standby workload: `sleep infinity`, so the instance stays up for what is delivered to it.
      const { script } = buildStartupScript({ workload: { kind: "command" }, expectUploads: false, env: {}, gpus: true, volumes: [], poweroffGraceSeconds: 30 });
      return { startupScript: script, sshKeyFids: [(await this.#context.sshKey()).fid], volumeFids: [] };
    });
  }

  /**
   * Reserves the window for what `launch` gives, after saying what it costs; refuses a window
   * without capacity. `launch` is asked only once the window checks out, so a bad one leaves
   * nothing behind (not even a registered SSH key).
   */
  async reserve(options: CreateReservationOptions, launch: () => Promise<ReservationLaunch>): Promise<Reservation> {
    const { type, quote } = await this.#plan(options);
    const label = `${quote.quantity} × ${type.gpuCount}x${type.gpuModel} (${type.name}) in ${quote.region}`;
    if (!quote.available) throw await this.#noCapacity(type, quote);
    const key = options.offer ?? "standard";
    const offer = quote.offers.find((o) => o.key === key);
    if (offer === undefined) {
      throw new ValidationError(`There is no ${JSON.stringify(key)} offer for ${label}.`, {
        issues: [{ path: "offer", message: `must be one of: ${quote.offers.map((o) => o.key).join(", ")}` }],
      });
    }
    if (options.maxUnitPrice !== undefined && offer.unitPrice > options.maxUnitPrice) {
      throw new ValidationError(`The ${offer.key} price for ${label} is ${dollars(offer.unitPrice)}/h per instance, above your maximum of ${dollars(options.maxUnitPrice)}.`, {
        issues: [{ path: "maxUnitPrice", message: `must be at least ${dollars(offer.unitPrice)} for this window` }],
        suggestions: ["raise the maximum, reserve fewer hours or instances, or try another region (`flow reserve quote`)"],
      });
    }
    const hours = (quote.endTime.getTime() - quote.startTime.getTime()) / HOUR_MS;
    this.#context.progress(
      `reserving ${label} from ${describeStart(quote.startTime)} for ${hours} h: ${dollars(offer.unitPrice)}/h per instance, ${dollars(offer.totalPrice)} in all (${offer.key})`,
    );
    const { startupScript, sshKeyFids, volumeFids } = await launch();
    const created = await this.#context.client.createReservation({
      project: await this.#context.projectFid(),
      instance_type: type.fid,
      region: quote.region,
      start_time: quote.startTime,
      end_time: quote.endTime,
      instance_quantity: quote.quantity,
      name: options.name ?? `flow-res-${randomBytes(3).toString("hex")}`,
      launch_specification: { volumes: volumeFids, ssh_keys: sshKeyFids, startup_script: startupScript },
      price_specification: {
        offer_key: offer.key,
        ...(options.maxUnitPrice === undefined ? {} : { max_unit_price: Math.round(options.maxUnitPrice * 100) }),
      },
    });
    this.#context.progress(`reservation ${created.fid} placed (${created.status.toLowerCase()})`);
    return this.#toReservation(created);
  }

  async list(options: { status?: ReservationStatus } = {}): Promise<Reservation[]> {
    const all = await this.#context.client.listReservations({
      project: await this.#context.projectFid(),
      ...(options.status === undefined ? {} : { status: apiStatus(options.status) }),
    });
    const newestFirst = [...all].sort((a, b) => b.created_at.localeCompare(a.created_at));
    return Promise.all(newestFirst.map((r) => this.#toReservation(r)));
  }

  async get(idOrName: string): Promise<Reservation> {
    return this.#toReservation(await this.raw(idOrName));
  }

  /** The API's model, by id or by name (the newest with it). */
  async raw(idOrName: string): Promise<ApiReservation> {
    const project = await this.#context.projectFid();
    const all = await this.#context.client.listReservations({ project });
    const found = all.find((r) => r.fid === idOrName) ?? [...all].sort((a, b) => b.created_at.localeCompare(a.created_at)).find((r) => r.name === idOrName);
    if (found !== undefined) return found;
    throw new ResourceNotFoundError(`No reservation ${JSON.stringify(idOrName)} in project ${this.#context.config.project}.`, {
      suggestions: ["list them with `flow reserve list`"],
      errorCode: "reservation_not_found",
    });
  }

  async extensionAvailability(idOrName: string): Promise<{ latestEndTime: Date; available: boolean }> {
    const reservation = await this.raw(idOrName);
    const answer = await this.#context.client.getReservationExtensionAvailability(reservation.fid);
    return { latestEndTime: new Date(answer.latest_extension_time), available: answer.available };
  }

  async extend(idOrName: string, options: ExtendReservationOptions): Promise<Reservation> {
    const reservation = this.#live(await this.raw(idOrName), "extended");
    const end = new Date(reservation.end_time);
    if ((options.endTime === undefined) === (options.hours === undefined)) {
      throw new ValidationError("Say how far to extend the reservation: give `endTime` or `hours`, not both.", { issues: [{ path: "hours", message: "give either endTime or hours" }] });
    }
    const hours = options.hours;
    if (hours !== undefined && !(Number.isInteger(hours) && hours > 0)) {
      throw new ValidationError(`${hours} is not a whole number of hours to add.`, { issues: [{ path: "hours", message: "must be a whole number of hours, at least 1" }] });
    }
    const newEnd = hours === undefined ? parseTime(options.endTime!, "endTime") : new Date(end.getTime() + hours * HOUR_MS);
    if (newEnd.getTime() <= end.getTime()) {
      throw new ValidationError(`Reservation ${reservation.fid} already ends at ${end.toISOString()}; ${newEnd.toISOString()} is not later.`, {
        issues: [{ path: "endTime", message: `must be after ${end.toISOString()}` }],
      });
    }
    const room = await this.#context.client.getReservationExtensionAvailability(reservation.fid);
    const latest = new Date(room.latest_extension_time);
    if (!room.available || newEnd.getTime() > latest.getTime()) {
      const most = latest.getTime() > end.getTime() ? `it can be extended to ${latest.toISOString()} at most (${Math.floor((latest.getTime() - end.getTime()) / HOUR_MS)} more hours)` : "there is no capacity to extend it at all";
      throw new ValidationError(`Reservation ${reservation.fid} cannot be extended to ${newEnd.toISOString()}: ${most}.`, {
        issues: [{ path: "endTime", message: `must be at most ${latest.toISOString()}` }],
        suggestions: ["extend it less, or reserve more capacity separately (`flow reserve create`)"],
      });
    }
    this.#context.progress(`extending reservation ${reservation.fid} from ${end.toISOString()} to ${newEnd.toISOString()}`);
    return this.#toReservation(await this.#context.client.extendReservation(await this.#context.projectFid(), reservation.fid, { end_time: newEnd }));
  }

  async update(idOrName: string, change: { paused: boolean }): Promise<Reservation> {
    const reservation = this.#live(await this.raw(idOrName), change.paused ? "paused" : "resumed");
    const wanted: ApiReservationStatus = change.paused ? "Active" : "Paused";
    if (reservation.status !== wanted) {
      const now = reservation.status === "Pending" ? `pending until ${reservation.start_time}` : reservation.status.toLowerCase();
      throw new ValidationError(`Reservation ${reservation.fid} is ${now}: only ${change.paused ? "an active reservation can be paused" : "a paused reservation can be resumed"}.`, {
        issues: [{ path: "paused", message: `the reservation is ${reservation.status.toLowerCase()}` }],
      });
    }
    return this.#toReservation(await this.#context.client.updateReservation(reservation.fid, { paused: change.paused }));
  }

  /** Gives every instance back; one already over is returned as it is. */
  async cancel(idOrName: string): Promise<Reservation> {
    const reservation = await this.raw(idOrName);
    if (!LIVE_RESERVATION_STATUSES.has(reservation.status)) return this.#toReservation(reservation);
    const project = await this.#context.projectFid();
    const live = (await this.instances(reservation)).filter((i) => !ENDED_INSTANCE_STATUSES.has(i.status)).map((i) => i.fid);
    if (live.length > 0) await this.#context.client.terminateReservationInstances(project, reservation.fid, live);
    return this.get(reservation.fid);
  }

  async terminateInstances(idOrName: string, instanceIds: readonly string[]): Promise<{ terminated: string[]; notTerminated: string[] }> {
    const reservation = this.#live(await this.raw(idOrName), "changed");
    const foreign = instanceIds.filter((fid) => !reservation.instances.includes(fid));
    if (foreign.length > 0 || instanceIds.length === 0) {
      throw new ValidationError(
        instanceIds.length === 0 ? "Name the instances to give back." : `${foreign.join(", ")} ${foreign.length === 1 ? "is not an instance" : "are not instances"} of reservation ${reservation.fid}.`,
        { issues: [{ path: "instanceIds", message: `must be among ${reservation.instances.join(", ") || "none"}` }] },
      );
    }
    return this.#context.client.terminateReservationInstances(await this.#context.projectFid(), reservation.fid, instanceIds);
  }

  async history(idOrName: string): Promise<ReservationEvent[]> {
    const reservation = await this.raw(idOrName);
    const { events } = await this.#context.client.getReservationHistory(reservation.fid);
    const money = (cents: number | null | undefined) => (cents === null || cents === undefined ? undefined : cents / 100);
    return events.map((event) => {
      const figures = { unitPrice: money(event.unit_price_cents), pauseCredit: money(event.pause_credit_cents), returnCredit: money(event.return_credit_cents) };
      return { time: new Date(event.timestamp), event: event.event_type, ...Object.fromEntries(Object.entries(figures).filter(([, v]) => v !== undefined)) };
    });
  }

  async usage(idOrName: string): Promise<ReservationUsage> {
    const reservation = await this.raw(idOrName);
    const { summary } = await this.#context.client.getReservationUsage(reservation.fid);
    const hours = (duration: string) => (isoDurationMs(duration) ?? 0) / HOUR_MS;
    return {
      committedCost: summary.committed_cost_cents / 100,
      credits: (summary.flex_use_credits_cents + summary.early_termination_credits_cents) / 100,
      netCost: summary.net_cost_cents / 100,
      reservedInstanceHours: hours(summary.reserved_instance_hours),
      activeInstanceHours: hours(summary.active_instance_hours),
      idleInstanceHours: hours(summary.idle_instance_hours),
      asOf: new Date(summary.as_of),
    };
  }

  /** The reservation's instances (by id, or as already fetched), in the order it lists them. */
  async instances(reservation: string | ApiReservation): Promise<Instance[]> {
    const model = typeof reservation === "string" ? await this.#context.client.getReservation(await this.#context.projectFid(), reservation) : reservation;
    if (model.instances.length === 0) return [];
    return inReservationOrder(model, await this.#context.client.listInstances({ project: await this.#context.projectFid(), reservationFids: [model.fid] }));
  }

  /**
   * The reservation's first `count` instances once they run and accept SSH, waiting through its
   * boot (minutes on the real cloud). A reservation that is not active fails at once, naming when
   * it starts or that it is over.
   */
  async runningInstances(fid: string, count: number, signal?: AbortSignal): Promise<Instance[]> {
    let reported = "";
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const reservation = await this.#context.client.getReservation(await this.#context.projectFid(), fid);
      this.#active(reservation);
      const instances = await this.instances(reservation);
      const ready = instances.filter((i) => i.status === "STATUS_RUNNING" && i.ssh_destination);
      if (ready.length >= count) return ready.slice(0, count);
      const live = instances.filter((i) => !ENDED_INSTANCE_STATUSES.has(i.status));
      if (live.length < count) {
        throw new ValidationError(`Reservation ${fid} has ${live.length} live instance${live.length === 1 ? "" : "s"}; the task needs ${count}.`, {
          issues: [{ path: "numInstances", message: `must be at most ${live.length} on reservation ${fid}` }],
        });
      }
      const summary = instances.map((i) => `${i.fid} ${i.status}`).join(", ");
      if (summary !== reported) {
        this.#context.progress(`reservation ${fid}: ${summary}`);
        reported = summary;
      }
      await sleep(Math.min(this.#context.pollIntervalMs, 50 * 2 ** attempt), signal);
    }
  }

  /** Throws unless the reservation is active: pending ones say when they start, others that they are over. */
  #active(reservation: ApiReservation): void {
    if (reservation.status === "Active") return;
    if (reservation.status === "Pending") {
      throw new ValidationError(`Reservation ${reservation.fid} starts at ${reservation.start_time}; its instances do not run yet.`, {
        issues: [{ path: "reservationId", message: "the reservation is pending" }],
        suggestions: ["run it once the reservation is active (`flow reserve show` says when)", "or reserve capacity for the task itself at that time: --start-time and --reserved-hours"],
        errorCode: "reservation_pending",
      });
    }
    if (reservation.status === "Paused") {
      throw new ValidationError(`Reservation ${reservation.fid} is paused; its instances are stopped.`, {
        issues: [{ path: "reservationId", message: "the reservation is paused" }],
        suggestions: [`resume it first: flow.reservations.update("${reservation.fid}", { paused: false })`],
        errorCode: "reservation_paused",
      });
    }
    this.#live(reservation, "used");
  }

  /** The reservation, if it is not over; otherwise an error saying when it ended and what to do. */
  #live(reservation: ApiReservation, what: string): ApiReservation {
    if (LIVE_RESERVATION_STATUSES.has(reservation.status)) return reservation;
    const when = reservation.deactivated_at ?? reservation.end_time;
    throw new ValidationError(`Reservation ${reservation.fid} ${reservation.status === "Ended" ? "ended" : "was canceled"} at ${when}; it cannot be ${what}.`, {
      issues: [{ path: "reservationId", message: `the reservation is ${reservation.status.toLowerCase()}` }],
      suggestions: ["reserve again: flow reserve create -i <type> --hours <n>"],
      errorCode: "reservation_over",
    });
  }

  /**
   * Resolves the window — type, start, end, quantity — and quotes it: in the region given, or in
   * every region that sells the type, taking the cheapest that has the capacity.
   */
  async #plan(window: ReservationWindow): Promise<Plan> {
    const quantity = window.quantity ?? 1;
    if (!Number.isInteger(quantity) || quantity < 1) {
      throw new ValidationError(`${quantity} is not a number of instances.`, { issues: [{ path: "quantity", message: "must be a whole number, at least 1" }] });
    }
    const { durationHours } = window;
    if (!Number.isInteger(durationHours) || durationHours < MIN_RESERVATION_HOURS || durationHours > MAX_RESERVATION_HOURS) {
      const problem = Number.isInteger(durationHours) ? (durationHours < MIN_RESERVATION_HOURS ? "too short" : "too long") : "not a whole number of hours";
      throw new ValidationError(`A reservation of ${durationHours} hours is ${problem}: reservations last ${MIN_RESERVATION_HOURS} to ${MAX_RESERVATION_HOURS} whole hours (14 days).`, {
        issues: [{ path: "durationHours", message: `must be a whole number from ${MIN_RESERVATION_HOURS} to ${MAX_RESERVATION_HOURS}` }],
        suggestions: durationHours > MAX_RESERVATION_HOURS ? [`reserve ${MAX_RESERVATION_HOURS} hours and extend it later (flow reserve extend <id> --hours <n>)`] : [],
        errorCode: "reservation_duration",
      });
    }
    const now = Date.now();
    const start = window.startTime === undefined ? new Date(now) : parseTime(window.startTime, "startTime");
    if (start.getTime() < now - PAST_START_GRACE_MS) {
      throw new ValidationError(`The reservation would start at ${start.toISOString()}, which is in the past (it is ${new Date(now).toISOString()}).`, {
        issues: [{ path: "startTime", message: "must be now or later" }],
        suggestions: ["leave the start time out to start now", "or give a time to come, with its zone: 2030-07-01T09:00:00Z"],
        errorCode: "reservation_in_the_past",
      });
    }
    const end = new Date(start.getTime() + durationHours * HOUR_MS);
    const catalog = await this.#context.catalog();
    const type = catalog.resolve(window.instanceType, window.region === undefined ? {} : { region: window.region });
    const regions = window.region === undefined ? [...new Set(catalog.entries.filter((e) => e.fid === type.fid && e.region !== undefined).map((e) => e.region!))] : [window.region];
    const project = await this.#context.projectFid();
    const quotes = await Promise.all(
      regions.map(async (region): Promise<ReservationQuote> => {
        const market = { project, instanceType: type.fid, region };
        const [available, quote] = await Promise.all([
          this.#context.client.checkReservationAvailability({ ...market, startTime: start, endTime: end, quantity }),
          this.#context.client.getReservationQuote({ ...market, startTime: start, endTime: end, quantity }),
        ]);
        const offers = quote.offers.map((offer) => ({
          key: offer.key,
          name: offer.display_name,
          unitPrice: parseDollars(offer.unit_price),
          totalPrice: parseDollars(offer.total_price),
          pauseCreditPerHour: parseDollars(offer.pause_buyback_price),
          returnCreditPerHour: parseDollars(offer.return_buyback_price),
        }));
        return { instanceType: type.name, region, quantity, startTime: start, endTime: end, available, offers };
      }),
    );
    const cheapest = (q: ReservationQuote) => Math.min(...q.offers.map((o) => o.unitPrice));
    const best = [...quotes].sort((a, b) => Number(b.available) - Number(a.available) || cheapest(a) - cheapest(b))[0]!;
    return { type, quote: best };
  }

  /** Why the window cannot be reserved, with the spans that can. */
  async #noCapacity(type: CatalogEntry, quote: ReservationQuote): Promise<ValidationError> {
    const slots = await this.#context.client.findReservationSlots({
      project: await this.#context.projectFid(),
      instanceType: type.fid,
      region: quote.region,
      earliestStartTime: quote.startTime,
      latestEndTime: new Date(quote.startTime.getTime() + 14 * 24 * HOUR_MS),
    });
    const fitting = slots.filter((slot) => slot.quantity >= quote.quantity).slice(0, 3);
    return new ValidationError(
      `There is no capacity to reserve ${quote.quantity} × ${type.name} in ${quote.region} from ${quote.startTime.toISOString()} to ${quote.endTime.toISOString()}.`,
      {
        issues: [{ path: "quantity", message: "more than the region can promise for the whole window" }],
        suggestions: [
          ...(fitting.length > 0 ? [`${quote.quantity} can be reserved: ${fitting.map((s) => `from ${s.start_time} to ${s.end_time}`).join("; ")}`] : []),
          "try fewer instances, another window, or another region (`flow reserve quote`)",
        ],
        errorCode: "reservation_no_capacity",
      },
    );
  }

  async #toReservation(model: ApiReservation): Promise<Reservation> {
    return {
      reservationId: model.fid,
      name: model.name,
      status: model.status.toLowerCase() as ReservationStatus,
      instanceType: await this.#context.instanceTypeName(model.instance_type),
      region: model.region ?? "",
      quantity: model.instance_quantity,
      startTime: new Date(model.start_time),
      endTime: new Date(model.end_time),
      createdAt: new Date(model.created_at),
      totalPrice: parseDollars(model.total_price),
      unitPrice: parseDollars(model.unit_price),
      instances: [...model.instances],
    };
  }
}

/** `instances` (of any reservations) that are `reservation`'s, in the order it lists them. */
export function inReservationOrder(reservation: ApiReservation, instances: readonly Instance[]): Instance[] {
  const position = (i: Instance) => reservation.instances.indexOf(i.fid);
  return instances.filter((i) => position(i) !== -1).sort((a, b) => position(a) - position(b));
}

function apiStatus(status: ReservationStatus): ApiReservationStatus {
  return (status.charAt(0).toUpperCase() + status.slice(1)) as ApiReservationStatus;
}

/** A Date, or an ISO 8601 time that names its zone. */
export function parseTime(value: Date | string, field: string): Date {
  const date = value instanceof Date ? value : /(Z|[+-]\d\d:?\d\d)$/i.test(value.trim()) ? new Date(value.trim()) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError(`${JSON.stringify(String(value))} is not a time with a zone.`, {
      issues: [{ path: field, message: "must be an ISO 8601 time with its zone, like 2030-07-01T09:00:00Z" }],
    });
  }
  return date;
}

/** "now" for a start within a minute, else the time. */
function describeStart(start: Date): string {
  return Math.abs(start.getTime() - Date.now()) < 60_000 ? "now" : start.toISOString();
}
