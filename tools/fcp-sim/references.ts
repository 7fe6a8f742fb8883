/**
 * Checks that what a request names exists where it must: the project, an instance type sold in
 * the region, the SSH keys and volumes of a launch specification. Each problem is a 422 entry at
 * the field's location, so one response lists them all.
 */
import type * as z from "zod";
import type { ValidationIssue } from "./api-error.ts";
import type { Cloud } from "./cloud.ts";
import { INSTANCE_TYPES } from "./fixtures.ts";
import type { LaunchSpecificationModel } from "./models.ts";
import type { LaunchSpecificationBody } from "./validation.ts";

type Loc = (string | number)[];

export class ReferenceIssues {
  readonly issues: ValidationIssue[] = [];
  readonly #cloud: Cloud;
  readonly #location: "body" | "query";

  constructor(cloud: Cloud, location: "body" | "query" = "body") {
    this.#cloud = cloud;
    this.#location = location;
  }

  add(loc: Loc, msg: string, type = "value_error"): void {
    this.issues.push({ loc: [this.#location, ...loc], msg, type });
  }

  project(fid: string): void {
    if (!this.#cloud.projects.some((project) => project.fid === fid)) this.add(["project"], `Unknown project ${fid}; list yours with GET /v2/projects`);
  }

  /** The type exists and has an auction in the region; false (with the issue added) otherwise. */
  instanceTypeIn(instanceType: string, region: string, market: "spot" | "reservation"): boolean {
    if (!INSTANCE_TYPES.some((type) => type.fid === instanceType)) {
      this.add(["instance_type"], `Unknown instance type ${instanceType}; list them with GET /v2/${market === "spot" ? "" : "reservation/"}instance-types`);
      return false;
    }
    if (!this.#cloud.regions().includes(region)) {
      this.add(["region"], `Unknown region ${region}; regions: ${this.#cloud.regions().join(", ")}`);
      return false;
    }
    if (!this.#cloud.hasAuction(instanceType, region)) {
      const where = market === "spot" ? "see GET /v2/spot/availability" : "see GET /v2/reservation/availability";
      this.add(["region"], `${instanceType} is not sold in ${region}; ${where}`);
      return false;
    }
    return true;
  }

  /** The launch specification's SSH keys and volumes belong to the project (volumes in the region). */
  launchSpecification(project: string, region: string, spec: z.output<typeof LaunchSpecificationBody>): void {
    const keys = new Map(this.#cloud.sshKeys().map((key) => [key.fid, key]));
    spec.ssh_keys.forEach((fid, index) => {
      if (keys.get(fid)?.project !== project) this.add(["launch_specification", "ssh_keys", index], `Unknown SSH key ${fid} in project ${project}`);
    });
    this.volumes(["launch_specification", "volumes"], project, region, spec.volumes);
  }

  volumes(loc: Loc, project: string, region: string | null, fids: readonly string[]): void {
    const volumes = new Map(this.#cloud.volumes().map((volume) => [volume.fid, volume]));
    fids.forEach((fid, index) => {
      const volume = volumes.get(fid);
      if (volume === undefined || volume.deleted_at !== null || volume.project !== project) {
        this.add([...loc, index], `Unknown volume ${fid} in project ${project}`);
      } else if (volume.region !== region) {
        this.add([...loc, index], `Volume ${fid} is in ${volume.region}, not ${region ?? "no region"}`);
      }
    });
  }
}

/** The stored form of a validated launch specification: every optional field present. */
export function launchSpecificationModel(spec: z.output<typeof LaunchSpecificationBody>): LaunchSpecificationModel {
  return {
    volumes: spec.volumes,
    ssh_keys: spec.ssh_keys,
    startup_script: spec.startup_script ?? null,
    kubernetes_cluster: spec.kubernetes_cluster ?? null,
    image_version: spec.image_version ?? null,
    memory_gb: spec.memory_gb ?? null,
  };
}
