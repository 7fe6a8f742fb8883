/** Prices and quotas: `/v2/pricing/current`, `/v2/pricing/history`, `/v2/quotas`. */
import * as z from "zod";
import { validationError } from "./api-error.ts";
import type { Cloud } from "./cloud.ts";
import { INSTANCE_TYPES } from "./fixtures.ts";
import { HOUR_MS, sampleTimes } from "./market.ts";
import { ReferenceIssues } from "./references.ts";
import { requireProjectOf } from "./route-helpers.ts";
import type { Route } from "./routes.ts";
import { DateTime, parseQuery, queryInt } from "./validation.ts";

const CurrentPricesQuery = z.object({
  instance_type: z.string(),
  region: z.string().optional(),
  instance_quantity: queryInt(1, 256).optional(),
});

const PriceHistoryQuery = z.object({
  /** Comma-separated instance type FIDs. */
  instance_types: z.string().optional(),
  region: z.string().optional(),
  num_samples: queryInt(-1, 1000).optional(),
  start_time: DateTime.optional(),
  end_time: DateTime.optional(),
});

const ProjectQuery = z.object({ project: z.string() });

/** Without start_time, history covers the week before end_time. */
const DEFAULT_HISTORY_MS = 7 * 24 * HOUR_MS;
const DEFAULT_SAMPLES = 100;

export function marketRoutes(cloud: Cloud): Route[] {
  const knownType = (fid: string) => INSTANCE_TYPES.some((type) => type.fid === fid);
  const unknownRegion = (issues: ReferenceIssues, region: string | undefined) => {
    if (region !== undefined && !cloud.regions().includes(region)) issues.add(["region"], `Unknown region ${region}; regions: ${cloud.regions().join(", ")}`);
  };

  return [
    {
      method: "GET",
      template: "/v2/pricing/current",
      handle({ query }) {
        const q = parseQuery(CurrentPricesQuery, query);
        const issues = new ReferenceIssues(cloud, "query");
        if (!knownType(q.instance_type)) issues.add(["instance_type"], `Unknown instance type ${q.instance_type}; list them with GET /v2/instance-types`);
        unknownRegion(issues, q.region);
        if (issues.issues.length > 0) throw validationError(issues.issues);
        return { status: 200, body: cloud.currentPrices(q.instance_type, q.region, q.instance_quantity ?? 1) };
      },
    },
    {
      method: "GET",
      template: "/v2/pricing/history",
      handle({ query }) {
        const q = parseQuery(PriceHistoryQuery, query);
        const issues = new ReferenceIssues(cloud, "query");
        const types = q.instance_types?.split(",").map((fid) => fid.trim()).filter((fid) => fid !== "");
        const unknown = types?.filter((fid) => !knownType(fid)) ?? [];
        if (unknown.length > 0) issues.add(["instance_types"], `Unknown instance type ${unknown.join(", ")}; list them with GET /v2/instance-types`);
        unknownRegion(issues, q.region);
        const endMs = q.end_time ?? Date.now();
        const startMs = q.start_time ?? endMs - DEFAULT_HISTORY_MS;
        if (startMs > endMs) issues.add(["start_time"], `start_time ${new Date(startMs).toISOString()} is after end_time ${new Date(endMs).toISOString()}`);
        if (issues.issues.length > 0) throw validationError(issues.issues);
        const times = sampleTimes(startMs, endMs, q.num_samples ?? DEFAULT_SAMPLES);
        return { status: 200, body: { series: cloud.priceHistory(types, q.region, times), complete: true } };
      },
    },
    {
      method: "GET",
      template: "/v2/quotas",
      handle({ query }) {
        const { project } = parseQuery(ProjectQuery, query);
        requireProjectOf(cloud, project);
        return { status: 200, body: cloud.quotas(project) };
      },
    },
  ];
}
