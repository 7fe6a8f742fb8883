/**
 * `flow reserve quote|create|list|show|extend|pause|resume|cancel`: reserved capacity on the
 * cloud. A reservation's instances are never preempted; run tasks on one with
 * `flow run … --reservation <id>`, or functions with `app.function({ reservation })`.
 */
import * as z from "zod";
import type { Reservation, ReservationWindow } from "../../providers/cloud-account.ts";
import { RESERVATION_STATUSES } from "../../providers/cloud-account.ts";
import { Count, flowFor, parseFlags, PositiveNumber, TimeFlag } from "../cli-inputs.ts";
import { formatDetails, formatTable, formatTime, printJson, usd } from "../output.ts";

interface Common {
  provider?: string;
  json?: boolean;
}

export interface ReserveWindowOptions extends Common {
  instanceType?: string;
  hours?: string;
  start?: string;
  region?: string;
  numInstances?: string;
}

export interface ReserveCreateOptions extends ReserveWindowOptions {
  name?: string;
  offer?: string;
  maxUnitPrice?: string;
}

/** -i and --hours are required options: commander names them when they are missing. */
const WindowFlagsSchema = z.object({
  instanceType: z.string().min(1),
  // Out-of-range hours pass through: the SDK's error says what would work.
  hours: Count,
  start: TimeFlag.optional(),
  region: z.string().optional(),
  numInstances: Count.optional(),
});

function windowFrom(options: ReserveWindowOptions): ReservationWindow {
  const flags = parseFlags(WindowFlagsSchema, options);
  return {
    instanceType: flags.instanceType,
    durationHours: flags.hours,
    ...(flags.start === undefined ? {} : { startTime: flags.start }),
    ...(flags.region === undefined ? {} : { region: flags.region }),
    ...(flags.numInstances === undefined ? {} : { quantity: flags.numInstances }),
  };
}

export async function reserveQuoteCommand(options: ReserveWindowOptions): Promise<void> {
  const window = windowFrom(options);
  const quote = await flowFor(options.provider).reservations.quote(window);
  if (options.json) return printJson(quote);
  const hours = (quote.endTime.getTime() - quote.startTime.getTime()) / 3_600_000;
  process.stdout.write(
    [
      `${quote.quantity} × ${quote.instanceType} in ${quote.region}, ${formatTime(quote.startTime)} to ${formatTime(quote.endTime)} (${hours} h): ${quote.available ? "available" : "NOT available (no capacity for the whole window)"}`,
      formatTable(
        ["OFFER", "PER INSTANCE-HOUR", "TOTAL", "PAUSE CREDIT/H", "GIVE-BACK CREDIT/H"],
        quote.offers.map((o) => [o.key, usd(o.unitPrice), usd(o.totalPrice), usd(o.pauseCreditPerHour), usd(o.returnCreditPerHour)]),
      ),
      quote.available ? `Reserve it: flow reserve create -i ${quote.instanceType} --hours ${hours} --region ${quote.region}${window.startTime === undefined ? "" : ` --start ${String(window.startTime)}`}${quote.quantity === 1 ? "" : ` -n ${quote.quantity}`}` : "",
    ]
      .filter((line) => line !== "")
      .join("\n") + "\n",
  );
}

export async function reserveCreateCommand(options: ReserveCreateOptions): Promise<void> {
  const window = windowFrom(options);
  const { maxUnitPrice } = parseFlags(z.object({ maxUnitPrice: PositiveNumber.optional() }), { maxUnitPrice: options.maxUnitPrice });
  const reservation = await flowFor(options.provider).reservations.create({
    ...window,
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.offer === undefined ? {} : { offer: options.offer }),
    ...(maxUnitPrice === undefined ? {} : { maxUnitPrice }),
  });
  if (options.json) return printJson(reservation);
  process.stdout.write(
    [
      `Reserved ${reservation.reservationId} (${reservation.name}): ${describe(reservation)}`,
      `  flow run "<command>" --reservation ${reservation.reservationId}   run a task on it`,
      `  flow reserve show ${reservation.reservationId}                 see it, with what it has cost`,
      `  flow reserve cancel ${reservation.reservationId}               give it back (credited for the time left)`,
    ].join("\n") + "\n",
  );
}

export async function reserveListCommand(options: Common & { status?: string }): Promise<void> {
  const { status } = parseFlags(z.object({ status: z.enum(RESERVATION_STATUSES).optional() }), { status: options.status });
  const reservations = await flowFor(options.provider).reservations.list(status === undefined ? {} : { status });
  if (options.json) return printJson(reservations);
  if (reservations.length === 0) {
    process.stdout.write(`No ${status === undefined ? "" : `${status} `}reservations. Price one with: flow reserve quote -i a100 --hours 3\n`);
    return;
  }
  const rows = reservations.map((r) => [r.reservationId, r.name, r.status, `${r.quantity} × ${r.instanceType}`, r.region, formatTime(r.startTime), formatTime(r.endTime), usd(r.totalPrice)]);
  process.stdout.write(`${formatTable(["ID", "NAME", "STATUS", "INSTANCES", "REGION", "START", "END", "TOTAL"], rows)}\n`);
}

export async function reserveShowCommand(idOrName: string, options: Common): Promise<void> {
  const flow = flowFor(options.provider);
  const reservation = await flow.reservations.get(idOrName);
  const [usage, history] = await Promise.all([flow.reservations.usage(reservation.reservationId), flow.reservations.history(reservation.reservationId)]);
  if (options.json) return printJson({ ...reservation, usage, history });
  const rows: [string, string][] = [
    ["status", reservation.status],
    ["instances", `${reservation.quantity} × ${reservation.instanceType} in ${reservation.region}: ${reservation.instances.join(", ") || "none"}`],
    ["window", `${formatTime(reservation.startTime)} to ${formatTime(reservation.endTime)}`],
    ["price", `${usd(reservation.unitPrice)}/h per instance, ${usd(reservation.totalPrice)} in all`],
    ["cost so far", `${usd(usage.committedCost)} committed, ${usd(usage.credits)} credited, ${usd(usage.netCost)} net`],
    ["hours", `${round(usage.reservedInstanceHours)} reserved, ${round(usage.activeInstanceHours)} active, ${round(usage.idleInstanceHours)} idle (instance-hours)`],
  ];
  const events = history.map((e) => `    ${formatTime(e.time)}  ${e.event}${e.unitPrice === undefined ? "" : ` at ${usd(e.unitPrice)}/h`}${e.pauseCredit ? `, ${usd(e.pauseCredit)} pause credit` : ""}${e.returnCredit ? `, ${usd(e.returnCredit)} credit` : ""}`);
  process.stdout.write(`${formatDetails(`${reservation.reservationId}  ${reservation.name}`, rows)}\n  history\n${events.join("\n")}\n`);
}

export async function reserveExtendCommand(idOrName: string, options: Common & { hours?: string; until?: string }): Promise<void> {
  const flags = parseFlags(z.object({ hours: Count.optional(), until: TimeFlag.optional() }), { hours: options.hours, until: options.until });
  const reservation = await flowFor(options.provider).reservations.extend(idOrName, {
    ...(flags.hours === undefined ? {} : { hours: flags.hours }),
    ...(flags.until === undefined ? {} : { endTime: flags.until }),
  });
  if (options.json) return printJson(reservation);
  process.stdout.write(`Extended ${reservation.reservationId} to ${formatTime(reservation.endTime)}: ${usd(reservation.totalPrice)} in all now.\n`);
}

export async function reservePauseCommand(idOrName: string, options: Common, paused: boolean): Promise<void> {
  const reservation = await flowFor(options.provider).reservations.update(idOrName, { paused });
  if (options.json) return printJson(reservation);
  process.stdout.write(`${reservation.reservationId} ${reservation.status}: ${paused ? "its instances are stopping (the disk is kept)" : "its instances boot again"}.\n`);
}

export async function reserveCancelCommand(idOrName: string, options: Common): Promise<void> {
  const flow = flowFor(options.provider);
  const before = await flow.reservations.get(idOrName);
  const after = await flow.reservations.cancel(before.reservationId);
  if (options.json) return printJson(after);
  if (before.status === "canceled" || before.status === "ended") {
    process.stdout.write(`${after.reservationId} was already ${after.status}; nothing is left running.\n`);
  } else {
    process.stdout.write(`${after.reservationId} ${after.status}: its instances were given back, credited for the time left.\n`);
  }
}

function describe(r: Reservation): string {
  return `${r.quantity} × ${r.instanceType} in ${r.region} from ${formatTime(r.startTime)} to ${formatTime(r.endTime)}, ${usd(r.unitPrice)}/h per instance, ${usd(r.totalPrice)} in all (${r.status})`;
}

function round(hours: number): string {
  return String(Math.round(hours * 100) / 100);
}
