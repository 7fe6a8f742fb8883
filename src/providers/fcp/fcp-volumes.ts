/**
 * Volumes on FCP: the `flow.volumes` API, and resolving the volumes a task mounts. A volume
 * attaches only in its own region, so existing volumes decide where a task runs; volumes a task
 * names that do not exist yet are created in the region it was placed in.
 */
import { randomBytes } from "node:crypto";
import { ResourceNotFoundError, ValidationError } from "../../errors.ts";
import type { VolumeSpec } from "../../task/volume-spec.ts";
import type { CreateVolumeOptions, Volume } from "../../task/volume.ts";
import type { VolumeModel } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import type { VolumeMount } from "./startup-script/index.ts";

/** A volume a task mounts: from `volumes`, or a `volume://name` data mount (which may be read-only). */
export type TaskVolume = VolumeSpec & { readonly?: boolean };

export class FcpVolumes {
  readonly #context: FcpContext;

  constructor(context: FcpContext) {
    this.#context = context;
  }

  async create(options: CreateVolumeOptions): Promise<Volume> {
    const created = await this.#context.client.createVolume({
      name: options.name ?? generatedName(),
      project: await this.#context.projectFid(),
      disk_interface: options.interface === "file" ? "File" : "Block",
      region: options.region ?? this.#context.config.region,
      size_gb: options.sizeGb ?? 1,
    });
    return toVolume(created);
  }

  async list(): Promise<Volume[]> {
    return (await this.#all()).map(toVolume);
  }

  async delete(idOrName: string): Promise<void> {
    const volumes = await this.#all();
    const volume = volumes.find((v) => v.fid === idOrName || v.name === idOrName);
    if (volume === undefined) {
      throw new ResourceNotFoundError(`No volume ${JSON.stringify(idOrName)} in project ${this.#context.config.project}.`, {
        suggestions: volumes.length > 0 ? [`volumes: ${volumes.map((v) => v.name).join(", ")}`] : [],
      });
    }
    await this.#context.client.deleteVolume(volume.fid);
  }

  /** The volumes the task names that exist already (by FID, else by name), in order. */
  async existing(specs: readonly TaskVolume[]): Promise<(VolumeModel | undefined)[]> {
    if (specs.length === 0) return [];
    const all = await this.#all();
    return specs.map((spec) => {
      if (spec.volumeId === undefined) return all.find((v) => v.name === spec.name);
      const volume = all.find((v) => v.fid === spec.volumeId);
      if (volume === undefined) {
        throw new ResourceNotFoundError(`Volume ${spec.volumeId} does not exist in project ${this.#context.config.project}.`, {
          suggestions: all.length > 0 ? [`volumes: ${all.map((v) => `${v.fid} (${v.name})`).join(", ")}`] : ["create one with flow.volumes.create()"],
        });
      }
      return volume;
    });
  }

  /** The task's mounts: existing volumes as they are, the others created in `region`. */
  async mounts(specs: readonly TaskVolume[], existing: readonly (VolumeModel | undefined)[], region: string): Promise<VolumeMount[]> {
    const mounts: VolumeMount[] = [];
    for (const [index, spec] of specs.entries()) {
      const volume =
        existing[index] ??
        (await this.#context.client.createVolume({
          name: spec.name ?? generatedName(),
          project: await this.#context.projectFid(),
          disk_interface: spec.interface === "file" ? "File" : "Block",
          region,
          size_gb: spec.sizeGb ?? 1,
        }));
      mounts.push({
        volumeFid: volume.fid,
        mountPath: spec.mountPath ?? `/volumes/${volume.name}`,
        interface: volume.interface === "File" ? "file" : "block",
        ...(spec.readonly ? { readonly: true } : {}),
      });
    }
    return mounts;
  }

  async #all(): Promise<VolumeModel[]> {
    return this.#context.client.listVolumes(await this.#context.projectFid());
  }
}

/**
 * The region existing volumes pin a task to, if any. Volumes in two regions, or a configured
 * region none of them is in, cannot all attach and are refused before anything is bid.
 */
export function regionOfVolumes(volumes: readonly (VolumeModel | undefined)[], configured: string | undefined): string | undefined {
  const regions = [...new Set(volumes.flatMap((v) => (v === undefined ? [] : [v.region])))];
  const wanted = configured === undefined ? regions : [...new Set([configured, ...regions])];
  if (wanted.length > 1) {
    const where = volumes.flatMap((v) => (v === undefined ? [] : [`${v.name} is in ${v.region}`])).join(", ");
    throw new ValidationError(`The task's volumes cannot all attach in one region: ${where}${configured === undefined ? "" : `, and region is ${configured}`}.`, {
      issues: [{ path: "volumes", message: "every existing volume must be in the task's region" }],
      suggestions: ["use volumes from one region, and set region to it (or leave region unset)"],
    });
  }
  return regions[0];
}

function generatedName(): string {
  return `flow-volume-${randomBytes(3).toString("hex")}`;
}

function toVolume(volume: VolumeModel): Volume {
  return {
    volumeId: volume.fid,
    name: volume.name,
    sizeGb: volume.capacity_gb,
    region: volume.region,
    interface: volume.interface === "File" ? "file" : "block",
    createdAt: new Date(volume.created_at),
    attachedTo: Object.keys(volume.attachments),
  };
}
