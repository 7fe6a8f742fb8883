/**
 * The reservation operations (`/v2/reservation*`): catalog, quote, availability, create, list,
 * extend, pause/resume, give instances back, history and usage. Handlers validate (422), look up
 * (404) and then ask the cloud to act.
 *
 * Availability: the spec documents one response for all three modes, a list of slots. The
 * simulator keeps to it: `slots` lists every span with free units; `latest_end_time` and `check`
 * answer one slot when the capacity is there and an empty list when it is not.
 */
import * as z from "zod";
import { validationError } from "./api-error.ts";
import type { Cloud } from "./cloud.ts";
import { INSTANCE_TYPES } from "./fixtures.ts";
import { HOUR_MS } from "./market.ts";
import { RESERVATION_STATUSES } from "./models.ts";
import { paginate, sortBy } from "./pagination.ts";
import { launchSpecificationModel, ReferenceIssues } from "./references.ts";
import { MAX_RESERVATION_HOURS, MIN_RESERVATION_HOURS, PAST_START_GRACE_MS } from "./reservations.ts";
import { PageLimit, param, requireProjectOf, SortDirection } from "./route-helpers.ts";
import type { Route } from "./routes.ts";
import { CreateReservationBody, DateTime, ExtendReservationBody, parseBody, parseQuery, queryInt, TerminateInstancesBody, UpdateReservationBody } from "./validation.ts";

const Quantity = queryInt(1, Number.MAX_SAFE_INTEGER);

const QuoteQuery = z.object({
  project: z.string(),
  instance_type: z.string(),
  region: z.string(),
  start_time: DateTime,
  end_time: DateTime,
  quantity: Quantity,
});

const AvailabilityQuery = z.object({
  project: z.string(),
  instance_type: z.string(),
  region: z.string(),
  mode: z.enum(["slots", "latest_end_time", "check"]).optional(),
  earliest_start_time: DateTime.optional(),
  latest_end_time: DateTime.optional(),
  start_time: DateTime.optional(),
  end_time: DateTime.optional(),
  quantity: Quantity.optional(),
});

const GetReservationsQuery = z.object({
  next_cursor: z.string().optional(),
  sort_by: z.enum(["created_at", "status"]).optional(),
  sort_dir: SortDirection.optional(),
  project: z.string(),
  instance_type: z.string().optional(),
  region: z.string().optional(),
  status: z.enum(RESERVATION_STATUSES).optional(),
  limit: PageLimit.optional(),
});

const iso = (ms: number) => new Date(ms).toISOString();

export function reservationRoutes(cloud: Cloud): Route[] {
  /** A window the API sells: not in the past, MIN_RESERVATION_HOURS to MAX_RESERVATION_HOURS long. */
  const checkWindow = (issues: ReferenceIssues, startMs: number, endMs: number, names = { start: "start_time", end: "end_time" }) => {
    const nowMs = Date.now();
    if (startMs < nowMs - PAST_START_GRACE_MS) {
      issues.add([names.start], `${names.start} ${iso(startMs)} is in the past; a reservation starts now (${iso(nowMs)}) or later`);
    }
    const hours = (endMs - startMs) / HOUR_MS;
    if (hours < MIN_RESERVATION_HOURS || hours > MAX_RESERVATION_HOURS) {
      const length = endMs <= startMs ? `${names.end} is not after ${names.start}` : `the reservation would last ${Math.round(hours * 100) / 100} hours`;
      issues.add([names.end], `${length}; a reservation lasts from ${MIN_RESERVATION_HOURS} to ${MAX_RESERVATION_HOURS} hours (14 days)`);
    }
  };
  const slot = (startMs: number, endMs: number, quantity: number) => ({ start_time: iso(startMs), end_time: iso(endMs), quantity });

  return [
    {
      method: "GET",
      template: "/v2/reservation/instance-types",
      handle: () => ({ status: 200, body: INSTANCE_TYPES.filter((type) => cloud.regions().some((region) => cloud.hasAuction(type.fid, region))) }),
    },
    {
      method: "GET",
      template: "/v2/reservation/quote",
      handle({ query }) {
        const q = parseQuery(QuoteQuery, query);
        requireProjectOf(cloud, q.project);
        const issues = new ReferenceIssues(cloud, "query");
        issues.instanceTypeIn(q.instance_type, q.region, "reservation");
        checkWindow(issues, q.start_time, q.end_time);
        if (issues.issues.length > 0) throw validationError(issues.issues);
        return { status: 200, body: { offers: cloud.reservationQuote(q.instance_type, q.region, q.quantity, q.start_time, q.end_time) } };
      },
    },
    {
      method: "GET",
      template: "/v2/reservation/availability",
      handle({ query }) {
        const q = parseQuery(AvailabilityQuery, query);
        requireProjectOf(cloud, q.project);
        const mode = q.mode ?? "latest_end_time";
        const issues = new ReferenceIssues(cloud, "query");
        issues.instanceTypeIn(q.instance_type, q.region, "reservation");
        const needs = mode === "slots" ? (["earliest_start_time", "latest_end_time"] as const) : mode === "check" ? (["start_time", "end_time", "quantity"] as const) : (["start_time", "quantity"] as const);
        for (const name of needs) if (q[name] === undefined) issues.add([name], `Field required when mode=${mode}`, "missing");
        if (issues.issues.length > 0) throw validationError(issues.issues);

        if (mode === "slots") {
          const fromMs = Math.max(q.earliest_start_time ?? 0, Date.now());
          const toMs = q.latest_end_time ?? 0;
          if (toMs <= fromMs) issues.add(["latest_end_time"], `latest_end_time ${iso(toMs)} must be after earliest_start_time and after now (${iso(fromMs)})`);
          if (issues.issues.length > 0) throw validationError(issues.issues);
          const slots = cloud.reservationSlots(q.instance_type, q.region, fromMs, toMs);
          return { status: 200, body: slots.map((s) => slot(s.startMs, s.endMs, s.quantity)) };
        }
        const startMs = q.start_time ?? 0;
        const quantity = q.quantity ?? 1;
        if (mode === "check") {
          const endMs = q.end_time ?? 0;
          checkWindow(issues, startMs, endMs);
          if (issues.issues.length > 0) throw validationError(issues.issues);
          const available = cloud.reservableUnits(q.instance_type, q.region, startMs, endMs) >= quantity;
          return { status: 200, body: available ? [slot(startMs, endMs, quantity)] : [] };
        }
        if (startMs < Date.now() - PAST_START_GRACE_MS) issues.add(["start_time"], `start_time ${iso(startMs)} is in the past; a reservation starts now or later`);
        if (issues.issues.length > 0) throw validationError(issues.issues);
        const latestMs = cloud.reservationLatestEndMs(q.instance_type, q.region, startMs, quantity);
        return { status: 200, body: latestMs === undefined ? [] : [slot(startMs, latestMs, quantity)] };
      },
    },
    {
      method: "POST",
      template: "/v2/reservation",
      handle({ body }) {
        const input = parseBody(CreateReservationBody, body);
        const issues = new ReferenceIssues(cloud);
        issues.project(input.project);
        checkWindow(issues, input.start_time, input.end_time);
        const windowOk = issues.issues.length === 0;
        const offers = issues.instanceTypeIn(input.instance_type, input.region, "reservation") ? cloud.reservationOffers(input.instance_type, input.region) : [];
        const offerKey = input.price_specification?.offer_key ?? "standard";
        const offer = offers.find((o) => o.key === offerKey);
        const maxUnit = input.price_specification?.max_unit_price;
        if (offers.length > 0 && offer === undefined) {
          issues.add(["price_specification", "offer_key"], `Unknown offer ${offerKey}; offers: ${offers.map((o) => o.key).join(", ")} (see GET /v2/reservation/quote)`);
        } else if (offer !== undefined && maxUnit !== undefined && maxUnit !== null && offer.unitCents > maxUnit) {
          issues.add(["price_specification", "max_unit_price"], `The ${offer.key} price is now ${offer.unitCents} cents per instance-hour, above max_unit_price ${maxUnit}`);
        }
        if (offers.length > 0 && windowOk) {
          const free = cloud.reservableUnits(input.instance_type, input.region, input.start_time, input.end_time);
          if (input.instance_quantity > free) {
            issues.add(
              ["instance_quantity"],
              `Only ${free} ${input.instance_type} instances can be reserved in ${input.region} for all of ${iso(input.start_time)} to ${iso(input.end_time)}; see GET /v2/reservation/availability`,
            );
          }
          const room = cloud.quotaRoom(input.project, "Reservations", input.instance_type);
          if (input.instance_quantity > room) issues.add(["instance_quantity"], `Reservation quota exceeded: ${Math.max(0, room)} more ${input.instance_type} instances allowed in project ${input.project}; see GET /v2/quotas`);
        }
        issues.launchSpecification(input.project, input.region, input.launch_specification);
        if (issues.issues.length > 0 || offer === undefined) throw validationError(issues.issues);
        const reservation = cloud.createReservation({
          project: input.project,
          region: input.region,
          instanceType: input.instance_type,
          startMs: input.start_time,
          endMs: input.end_time,
          quantity: input.instance_quantity,
          name: input.name,
          launchSpecification: launchSpecificationModel(input.launch_specification),
          offer,
        });
        return { status: 201, body: reservation };
      },
    },
    {
      method: "GET",
      template: "/v2/reservation",
      handle({ query }) {
        const q = parseQuery(GetReservationsQuery, query);
        requireProjectOf(cloud, q.project);
        const reservations = cloud
          .reservations()
          .filter((r) => r.project === q.project)
          .filter((r) => q.instance_type === undefined || r.instance_type === q.instance_type)
          .filter((r) => q.region === undefined || r.region === q.region)
          .filter((r) => q.status === undefined || r.status === q.status);
        const key = q.sort_by === "status" ? (r: { status: string }) => r.status : (r: { created_at: string }) => r.created_at;
        return { status: 200, body: paginate(sortBy(reservations, key, q.sort_dir ?? "desc"), q.next_cursor, q.limit) };
      },
    },
    {
      method: "GET",
      template: "/v2/reservation/{reservation_fid}/extension-availability",
      handle({ params }) {
        const { latestMs, available } = cloud.extensionAvailability(param(params, "reservation_fid"));
        return { status: 200, body: { latest_extension_time: iso(latestMs), available } };
      },
    },
    {
      method: "POST",
      template: "/v2/reservation/{reservation_fid}/extend",
      handle({ params, body }) {
        const fid = param(params, "reservation_fid");
        cloud.reservation(fid);
        const input = parseBody(ExtendReservationBody, body);
        const spec = input.price_specification;
        const reservation = cloud.extendReservation(fid, { endMs: input.end_time, offerKey: spec?.offer_key, maxUnitCents: spec?.max_unit_price ?? undefined });
        return { status: 200, body: reservation };
      },
    },
    {
      method: "PATCH",
      template: "/v2/reservation/{reservation_fid}",
      async handle({ params, body }) {
        const fid = param(params, "reservation_fid");
        const reservation = cloud.reservation(fid);
        const input = parseBody(UpdateReservationBody, body);
        if (input.volumes !== undefined && input.volumes !== null) {
          const issues = new ReferenceIssues(cloud);
          issues.volumes(["volumes"], reservation.project, reservation.region, input.volumes);
          if (issues.issues.length > 0) throw validationError(issues.issues);
        }
        const updated = await cloud.updateReservation(fid, {
          ...(input.paused == null ? {} : { paused: input.paused }),
          ...(input.volumes == null ? {} : { volumes: input.volumes }),
        });
        return { status: 200, body: updated };
      },
    },
    {
      method: "POST",
      template: "/v2/reservation/{reservation_fid}/terminate-instances",
      async handle({ params, body }) {
        const fid = param(params, "reservation_fid");
        cloud.reservation(fid);
        const input = parseBody(TerminateInstancesBody, body);
        const { terminated } = await cloud.terminateReservationInstances(fid, input.instances);
        return { status: terminated.length === input.instances.length ? 200 : 207, body: { terminated_instances: terminated } };
      },
    },
    {
      method: "GET",
      template: "/v2/reservation/{reservation_fid}/history",
      handle({ params }) {
        const fid = param(params, "reservation_fid");
        return { status: 200, body: { reservation_fid: fid, events: cloud.reservationHistory(fid) } };
      },
    },
    {
      method: "GET",
      template: "/v2/reservation/{reservation_fid}/usage",
      handle: ({ params }) => ({ status: 200, body: cloud.reservationUsage(param(params, "reservation_fid")) }),
    },
  ];
}
