/**
 * What TaskConfig fields mean on the cloud where that takes more than passing a value on: the
 * fields a spot bid cannot honour (refused before anything is bid, naming the field), data mounts
 * (a `volume://` one is a volume; an `s3://` one a copy made on the instance), and the
 * interconnect fields, which filter the instance type.
 */
import { ValidationError } from "../../errors.ts";
import type { InstanceTypeModel } from "../../instance-types/from-api.ts";
import type { TaskConfig } from "../../task/task-config.ts";
import type { TaskVolume } from "./fcp-volumes.ts";
import type { Placement } from "./placement.ts";

export interface S3MountPlan {
  source: string;
  target: string;
  /** `dataMounts[i]`, for messages. */
  field: string;
  profile?: string;
}

export interface DataMountPlan {
  volumes: TaskVolume[];
  s3: S3MountPlan[];
}

/** Refuses what a spot bid cannot do, every problem at once. */
export function refuseUnsupportedOnFcp(config: TaskConfig): void {
  const issues: { path: string; message: string; suggestion?: string }[] = [];
  if (config.minRunTimeHours !== undefined) {
    issues.push({
      path: "minRunTimeHours",
      message: "a spot instance can be reclaimed at any time, so no minimum run time can be promised",
      suggestion: "remove `minRunTimeHours`; set `retries` to restart a reclaimed task on a new bid, or use reserved capacity",
    });
  }
  config.dataMounts.forEach((mount, i) => {
    if (mount.mountType !== "bind") return;
    issues.push({
      path: `dataMounts[${i}]`,
      message: `${JSON.stringify(mount.source)} is a path, and a cloud instance has none of this machine's paths`,
      suggestion: "put the data on a volume (`volume://name`) or in S3 (`s3://bucket/prefix`), or ship it with the code",
    });
  });
  if (issues.length > 0) {
    throw new ValidationError(`The cloud provider cannot run this task as configured: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}.`, {
      issues,
      errorCode: "unsupported_on_fcp",
    });
  }
}

/** `volume://name` → that volume (created in the task's region if missing); `s3://…` → a copy at start. */
export function planDataMounts(config: TaskConfig): DataMountPlan {
  const plan: DataMountPlan = { volumes: [], s3: [] };
  config.dataMounts.forEach((mount, i) => {
    const readonly = mount.options["readonly"] === true;
    if (mount.mountType === "volume") {
      const name = mount.source.slice("volume://".length);
      plan.volumes.push({ name, mountPath: mount.target, interface: "block", ...(mount.sizeEstimateGb === undefined ? { sizeGb: 1 } : { sizeGb: Math.ceil(mount.sizeEstimateGb) }), ...(readonly ? { readonly } : {}) });
    } else if (mount.mountType === "s3fs") {
      const profile = mount.options["profile"];
      plan.s3.push({ source: mount.source, target: mount.target, field: `dataMounts[${i}]`, ...(typeof profile === "string" ? { profile } : {}) });
    }
  });
  return plan;
}

/**
 * The interconnect fields filter the instance type: the chosen one must have them (its GPU socket,
 * its network between nodes), or the task is refused, naming the types that do.
 */
export function checkInterconnect(config: TaskConfig, placement: Placement, types: readonly InstanceTypeModel[]): void {
  const chosen = types.find((t) => t.fid === placement.instanceTypeFid);
  const checks = [
    { field: "intranodeInterconnect", wanted: config.intranodeInterconnect, of: (t: InstanceTypeModel) => t.gpu_socket, same: sameSocket },
    { field: "internodeInterconnect", wanted: config.internodeInterconnect, of: (t: InstanceTypeModel) => t.network_type ?? "", same: sameNetwork },
  ];
  for (const check of checks) {
    if (check.wanted === undefined || chosen === undefined) continue;
    if (check.same(check.of(chosen), check.wanted)) continue;
    const matching = types.filter((t) => check.same(check.of(t), check.wanted!)).map((t) => t.name);
    throw new ValidationError(`${placement.instanceTypeName} has ${check.of(chosen) || "no known"} ${check.field === "intranodeInterconnect" ? "GPU interconnect" : "network between nodes"}, not ${check.wanted}.`, {
      issues: [{ path: check.field, message: `${placement.instanceTypeName} does not have ${check.wanted}` }],
      suggestions: [matching.length > 0 ? `types with ${check.wanted}: ${matching.join(", ")}` : `no instance type offers ${check.wanted}; remove \`${check.field}\``],
      errorCode: "interconnect_unavailable",
    });
  }
}

/** "SXM5" matches "SXM", "sxm4" and "SXM5"; "PCIe" matches "pcie". */
function sameSocket(actual: string, wanted: string): boolean {
  const family = (s: string) => s.toLowerCase().replace(/[^a-z]/g, "");
  const a = actual.toLowerCase();
  const w = wanted.toLowerCase();
  return /\d$/.test(w) ? a === w : family(a) === family(w);
}

/** "InfiniBand", "IB", "IB_3200" all mean InfiniBand; anything else is compared as written. */
function sameNetwork(actual: string, wanted: string): boolean {
  const kind = (s: string) => (/^(ib|infiniband)/i.test(s) ? "infiniband" : s.toLowerCase());
  return actual !== "" && kind(actual) === kind(wanted);
}
