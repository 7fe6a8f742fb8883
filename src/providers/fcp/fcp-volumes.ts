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
    const name = options.name ?? generatedName();
    this.#refuseTaken(await this.#all(), name);
    const created = await this.#context.client.createVolume({
      name,
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

  /** Refused while a task (bid) or reservation that is not over uses it, naming them. */
  async delete(idOrName: string): Promise<void> {
    const volume = this.#find(await this.#all(), idOrName);
    const users = [...volume.bids, ...volume.reservations];
    if (users.length > 0) {
      const bids = await Promise.all(volume.bids.map(async (fid) => `task ${fid} (${(await this.#context.client.getBid(fid)).name})`));
      throw new ValidationError(`Volume ${volume.name} (${volume.fid}) is in use by ${[...bids, ...volume.reservations.map((fid) => `reservation ${fid}`)].join(", ")}.`, {
        suggestions: [
          ...volume.bids.map((fid) => `stop the task first: flow cancel ${fid}`),
          ...volume.reservations.map((fid) => `give the reservation back first: flow reserve cancel ${fid}`),
        ],
        errorCode: "volume_in_use",
      });
    }
    await this.#context.client.deleteVolume(volume.fid);
  }

  async rename(idOrName: string, name: string): Promise<Volume> {
    const volumes = await this.#all();
    const volume = this.#find(volumes, idOrName);
    this.#refuseTaken(volumes.filter((v) => v.fid !== volume.fid), name);
    return toVolume(await this.#context.client.updateVolume(volume.fid, { name }));
  }

  #find(volumes: readonly VolumeModel[], idOrName: string): VolumeModel {
    const volume = volumes.find((v) => v.fid === idOrName || v.name === idOrName);
    if (volume !== undefined) return volume;
    throw new ResourceNotFoundError(`No volume ${JSON.stringify(idOrName)} in project ${this.#context.config.project}.`, {
      suggestions: volumes.length > 0 ? [`volumes: ${volumes.map((v) => v.name).join(", ")}`] : ["create one with `flow volumes create <name> --size-gb <n>`"],
    });
  }

  /** Names are unique in a project: the API refuses a second, and tasks find volumes by name. */
  #refuseTaken(volumes: readonly VolumeModel[], name: string): void {
    const taken = volumes.find((v) => v.name === name);
    if (taken === undefined) return;
    throw new ValidationError(`A volume named ${JSON.stringify(name)} already exists (${taken.fid}, ${taken.capacity_gb} GB in ${taken.region}).`, {
      issues: [{ path: "name", message: "is taken in this project" }],
      suggestions: ["pick another name", `or use that one: flow run … --volume ${name}:/mnt/${name}`],
      errorCode: "volume_name_taken",
    });
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
    usedBy: [...volume.bids, ...volume.reservations],
  };
}
