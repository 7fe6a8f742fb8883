/**
 * /_sim/...: the simulator's fault controls and ledger over HTTP, for poking a running `npm run sim`
 * with curl. Not part of the Mithril API; no auth, no recording, no faults.
 */
import * as z from "zod";
import { ApiError } from "./api-error.ts";
import type { ControlHandler } from "./api-server.ts";
import type { FcpSimulator } from "./simulator.ts";

const InstanceBody = z.object({ instance: z.string() });
const DropAtExecBody = z.object({ instance: z.string(), match: z.string().min(1) });
const ReservationBody = z.object({ reservation: z.string() });
const CapacityBody = z.object({ instanceType: z.string(), region: z.string().optional(), capacity: z.int().min(0) });
const PriceBody = z.object({ instanceType: z.string(), region: z.string().optional(), price: z.number().positive() });
const Matcher = {
  method: z.string().optional(),
  /** Exact path. */
  path: z.string().optional(),
  /** Regular expression source, for paths with FIDs in them. */
  pathPattern: z.string().optional(),
};
const FailNextBody = z.object({ ...Matcher, status: z.union([z.literal(429), z.literal(500), z.literal(502), z.literal(503)]), count: z.int().min(1), retryAfterSeconds: z.int().min(0).optional() });
const DropNextBody = z.object({ ...Matcher, count: z.int().min(1), afterHandling: z.boolean().optional() });
const HoldNextBody = z.object({ ...Matcher, count: z.int().min(1), ms: z.int().min(0) });
const LatencyBody = z.object({ ms: z.int().min(0) });

type Action = (simulator: FcpSimulator, body: unknown) => unknown;

const ACTIONS: Record<string, Action> = {
  "GET /_sim/ledger": (sim) => sim.liveInstances(),
  "GET /_sim/bids": (sim) => sim.bids(),
  "GET /_sim/instances": (sim) => sim.instances(),
  "GET /_sim/reservations": (sim) => sim.reservations(),
  "GET /_sim/billing": (sim) => sim.billing(),
  "GET /_sim/requests": (sim) => sim.requests,
  "POST /_sim/faults/preempt": (sim, body) => sim.faults.preempt(InstanceBody.parse(body).instance),
  "POST /_sim/faults/kill": (sim, body) => sim.faults.kill(InstanceBody.parse(body).instance),
  "POST /_sim/faults/drop-ssh": (sim, body) => sim.faults.dropSshConnections(InstanceBody.parse(body).instance),
  "POST /_sim/faults/drop-ssh-at-exec": (sim, body) => {
    const { instance, match } = DropAtExecBody.parse(body);
    sim.faults.dropSshConnectionsAtExec(instance, match);
  },
  "POST /_sim/faults/capacity": (sim, body) => {
    const { instanceType, region, capacity } = CapacityBody.parse(body);
    sim.faults.setCapacity(instanceType, region, capacity);
  },
  "POST /_sim/faults/expire-reservation": (sim, body) => sim.faults.expireReservation(ReservationBody.parse(body).reservation),
  "POST /_sim/faults/price": (sim, body) => {
    const { instanceType, region, price } = PriceBody.parse(body);
    sim.faults.setPrice(instanceType, region, price);
  },
  "POST /_sim/faults/fail-next": (sim, body) => {
    const { path, pathPattern, ...rest } = FailNextBody.parse(body);
    sim.faults.failNext({ ...rest, ...pathMatcher(path, pathPattern) });
  },
  "POST /_sim/faults/drop-next": (sim, body) => {
    const { path, pathPattern, ...rest } = DropNextBody.parse(body);
    sim.faults.dropNext({ ...rest, ...pathMatcher(path, pathPattern) });
  },
  "POST /_sim/faults/hold-next": (sim, body) => {
    const { path, pathPattern, ...rest } = HoldNextBody.parse(body);
    sim.faults.holdNext({ ...rest, ...pathMatcher(path, pathPattern) });
  },
  "POST /_sim/faults/latency": (sim, body) => sim.faults.setLatencyMs(LatencyBody.parse(body).ms),
};

export function controlApi(simulator: FcpSimulator): ControlHandler {
  return async ({ method, path, body }) => {
    const action = ACTIONS[`${method} ${path}`];
    if (action === undefined) return { status: 404, body: { detail: `Unknown control route; try: ${Object.keys(ACTIONS).join(", ")}` } };
    try {
      const result = await action(simulator, body ?? {});
      return { status: 200, body: result ?? { ok: true } };
    } catch (error) {
      if (error instanceof z.ZodError) return { status: 422, body: { detail: error.issues } };
      if (error instanceof ApiError) return { status: error.status, body: { detail: error.detail } };
      return { status: 400, body: { detail: error instanceof Error ? error.message : String(error) } };
    }
  };
}

function pathMatcher(path: string | undefined, pathPattern: string | undefined): { path?: string | RegExp } {
  if (pathPattern !== undefined) return { path: new RegExp(pathPattern) };
  return path === undefined ? {} : { path };
}
