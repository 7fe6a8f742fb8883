/**
 * A task's status from what the cloud says about its bid and instances, plus what only the
 * client can know: that it cancelled the task, or the exit code it read from the instance's
 * completion marker. The spec's enums: bids Open|Allocated|Preempting|Terminated|Paused,
 * instances STATUS_NEW … STATUS_ERROR.
 */
import { parseDollars } from "../../instance-types/from-api.ts";
import { TaskStatus } from "../../task/task-status.ts";
import type { Bid, Instance, InstanceStatus } from "./api/schemas.ts";
import { suggestedLimit } from "./placement.ts";

export interface ObservedOutcome {
  cancelled?: boolean;
  /** The user asked for a cancel, which may still be on its way: a bid that ended did so for it. */
  cancelRequested?: boolean;
  exitCode?: number;
  /** The client gave up on the task, for this reason. */
  failure?: string;
}

export interface DerivedStatus {
  status: TaskStatus;
  message: string;
  /** An Open bid whose limit is under the spot price: raising it would get it an instance. */
  outbid?: boolean;
}

const BOOTING = new Set(["STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING", "STATUS_RELOCATING"]);

/** Instance statuses it never leaves: the machine is gone (or going) and runs nothing more. */
export const ENDED_INSTANCE_STATUSES: ReadonlySet<InstanceStatus> = new Set(["STATUS_TERMINATED", "STATUS_PREEMPTED", "STATUS_ERROR", "STATUS_REPLACED"]);

/** What the market says, when the caller asked it: an Open bid under the spot price is outbid. */
export interface MarketNow {
  /** The spot price of the bid's auction, dollars per instance-hour. */
  marketPricePerHour?: number;
}

export function taskStatusFromApi(bid: Bid, instances: readonly Instance[], observed: ObservedOutcome, market: MarketNow = {}): DerivedStatus {
  if (observed.cancelled) return { status: TaskStatus.CANCELLED, message: "cancelled by the user" };
  if (observed.failure !== undefined) return { status: TaskStatus.FAILED, message: observed.failure };
  if (observed.exitCode !== undefined) {
    return observed.exitCode === 0
      ? { status: TaskStatus.COMPLETED, message: "exited with code 0" }
      : { status: TaskStatus.FAILED, message: `exited with code ${observed.exitCode}` };
  }
  const errored = instances.find((i) => i.status === "STATUS_ERROR");
  if (errored !== undefined) return { status: TaskStatus.FAILED, message: `instance ${errored.fid} failed (STATUS_ERROR)` };

  switch (bid.status) {
    case "Terminated":
      return observed.cancelRequested
        ? { status: TaskStatus.CANCELLED, message: "cancelled by the user" }
        : { status: TaskStatus.CANCELLED, message: "the bid was terminated before the task reported an exit code" };
    case "Paused":
      return { status: TaskStatus.PAUSED, message: "the bid is paused" };
    case "Preempting":
      return { status: TaskStatus.PREEMPTING, message: "the spot instance is being reclaimed" };
    case "Open": {
      const { marketPricePerHour: spot } = market;
      if (spot !== undefined && spot > parseDollars(bid.limit_price)) {
        return {
          status: TaskStatus.PENDING,
          outbid: true,
          message: `outbid: the spot price is $${spot.toFixed(2)}/h, above this bid's limit of ${bid.limit_price}/h; raise it with \`flow reprice ${bid.fid} ${suggestedLimit(spot)}\``,
        };
      }
      const waiting = `waiting for an instance (bid Open, up to ${bid.limit_price}/h)`;
      return instances.some((i) => i.status === "STATUS_PREEMPTED")
        ? { status: TaskStatus.PENDING, message: `preempted; ${waiting} to restart on` }
        : { status: TaskStatus.PENDING, message: waiting };
    }
    case "Allocated":
      break;
  }
  if (instances.some((i) => i.status === "STATUS_PREEMPTING")) {
    return { status: TaskStatus.PREEMPTING, message: "the spot instance is being reclaimed" };
  }
  if (instances.some((i) => i.status === "STATUS_PAUSED")) return { status: TaskStatus.PAUSED, message: "the instance is paused" };
  if (instances.length > 0 && instances.every((i) => i.status === "STATUS_RUNNING")) {
    return { status: TaskStatus.RUNNING, message: "running" };
  }
  const booting = instances.filter((i) => BOOTING.has(i.status));
  if (booting.length > 0 || instances.length === 0) {
    const steps = [...new Set(booting.map((i) => i.status))].join(", ");
    return { status: TaskStatus.PENDING, message: `${bid.instance_quantity > 1 ? "instances" : "instance"} allocated, booting${steps === "" ? "" : ` (${steps})`}` };
  }
  const running = instances.some((i) => i.status === "STATUS_RUNNING");
  return running
    ? { status: TaskStatus.RUNNING, message: "running" }
    : { status: TaskStatus.PENDING, message: instances.map((i) => i.status).join(", ") };
}
