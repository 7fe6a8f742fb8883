/**
 * What happened to bids and instances: `/v2/spot/bids/{fid}/history`, and the status and pricing
 * (billing) history of instances, paged by instance like the other lists.
 */
import * as z from "zod";
import type { Cloud } from "./cloud.ts";
import type { InstanceModel } from "./models.ts";
import { paginate, sortBy } from "./pagination.ts";
import { PageLimit, param, requireProjectOf } from "./route-helpers.ts";
import type { Route } from "./routes.ts";
import { DateTime, parseQuery } from "./validation.ts";

const InstanceHistoryQuery = z.object({
  project: z.string(),
  instance_fid: z.string().optional(),
  bid_fid: z.string().optional(),
  reservation_fid: z.string().optional(),
  limit: PageLimit.optional(),
  start_time: DateTime.optional(),
  end_time: DateTime.optional(),
  next_cursor: z.string().optional(),
});

type HistoryQuery = z.output<typeof InstanceHistoryQuery>;

export function historyRoutes(cloud: Cloud): Route[] {
  /** The project's instances the query selects, newest first; a FID that does not exist is a 404. */
  const selected = (q: HistoryQuery): InstanceModel[] => {
    requireProjectOf(cloud, q.project);
    if (q.instance_fid !== undefined) cloud.instance(q.instance_fid);
    if (q.bid_fid !== undefined) cloud.bid(q.bid_fid);
    if (q.reservation_fid !== undefined) cloud.reservation(q.reservation_fid);
    const instances = cloud
      .instances()
      .filter((i) => i.project === q.project)
      .filter((i) => q.instance_fid === undefined || i.fid === q.instance_fid)
      .filter((i) => q.bid_fid === undefined || i.bid === q.bid_fid)
      .filter((i) => q.reservation_fid === undefined || i.reservation === q.reservation_fid);
    return sortBy(instances, (i) => i.created_at, "desc");
  };
  const within = (q: HistoryQuery, fromMs: number, toMs: number | null) => fromMs <= (q.end_time ?? Number.POSITIVE_INFINITY) && (toMs ?? Number.POSITIVE_INFINITY) >= (q.start_time ?? 0);
  const iso = (ms: number) => new Date(ms).toISOString();

  return [
    {
      method: "GET",
      template: "/v2/spot/bids/{bid_fid}/history",
      handle({ params }) {
        const fid = param(params, "bid_fid");
        return { status: 200, body: { bid_fid: fid, events: cloud.bidHistory(fid) } };
      },
    },
    {
      method: "GET",
      template: "/v2/instances/status/history",
      handle({ query }) {
        const q = parseQuery(InstanceHistoryQuery, query);
        const page = paginate(selected(q), q.next_cursor, q.limit);
        const instances = page.data.map((instance) => ({
          instance_fid: instance.fid,
          events: cloud
            .instanceStatusHistory(instance.fid)
            .filter((event) => within(q, event.atMs, event.atMs))
            .map((event) => ({ timestamp: iso(event.atMs), status: event.status })),
          bid_fid: instance.bid,
          reservation_fid: instance.reservation,
        }));
        return { status: 200, body: { instances, next_cursor: page.next_cursor } };
      },
    },
    {
      method: "GET",
      template: "/v2/instances/pricing/history",
      handle({ query }) {
        const q = parseQuery(InstanceHistoryQuery, query);
        const page = paginate(selected(q), q.next_cursor, q.limit);
        const instances = page.data.map((instance) => ({
          instance_fid: instance.fid,
          events: cloud
            .instanceBillingPeriods(instance.fid)
            .filter((period) => within(q, period.startMs, period.endMs))
            .map((period) => ({ price_cents: period.priceCents, start_time: iso(period.startMs), end_time: period.endMs === null ? null : iso(period.endMs) })),
          bid_fid: instance.bid,
          reservation_fid: instance.reservation,
        }));
        return { status: 200, body: { instances, next_cursor: page.next_cursor } };
      },
    },
  ];
}
