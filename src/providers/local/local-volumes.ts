/**
 * Volumes on the local provider: directories under `<flow home>/volumes`, each with a small
 * record (zod-validated when read). Sizes are recorded, not enforced: a directory has no quota.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as z from "zod";
import { ProviderError, ResourceNotFoundError } from "../../errors.ts";
import { parseJsonOrUndefined } from "../../parse-json.ts";
import { issuesFromZod, validationError } from "../../validation.ts";
import { VolumeSpecSchema } from "../../task/volume-spec.ts";
import type { CreateVolumeOptions, Volume } from "../../task/volume.ts";
import { volumesDir } from "../flow-home.ts";

const VOLUME_ID = /^vol_[0-9a-f]{12}$/;

const VolumeRecordSchema = z.strictObject({
  version: z.literal(1),
  volumeId: z.string().regex(VOLUME_ID),
  name: z.string(),
  sizeGb: z.number().int().positive(),
  interface: z.enum(["block", "file"]),
  createdAt: z.iso.datetime(),
});
type VolumeRecord = z.output<typeof VolumeRecordSchema>;

export class LocalVolumes {
  readonly #dir: string;

  constructor(home: string) {
    this.#dir = volumesDir(home);
  }

  async create(options: CreateVolumeOptions): Promise<Volume> {
    const volumeId = `vol_${randomBytes(6).toString("hex")}`;
    const name = options.name ?? `volume-${volumeId.slice(-6)}`;
    // The same rules as a volume in a task config: name format, positive size.
    const spec = VolumeSpecSchema.safeParse({ name, sizeGb: options.sizeGb, interface: options.interface });
    if (!spec.success) throw validationError("volume", issuesFromZod(spec.error));
    if ((await this.#records()).some((r) => r.name === name)) {
      throw validationError("volume", [{ path: "name", message: `a volume named "${name}" already exists`, suggestion: "pick another name, or delete it first" }]);
    }
    const record: VolumeRecord = {
      version: 1,
      volumeId,
      name,
      sizeGb: spec.data.sizeGb ?? 1,
      interface: spec.data.interface,
      createdAt: new Date().toISOString(),
    };
    await mkdir(join(this.#dir, volumeId, "data"), { recursive: true, mode: 0o700 });
    await writeFile(join(this.#dir, volumeId, "volume.json"), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    return this.#toVolume(record);
  }

  /**
   * The volume a task mounts: by `volumeId` (which must exist), else by `name`, created when there
   * is none yet (as on the cloud).
   */
  async resolve(spec: { volumeId?: string | undefined; name?: string | undefined; sizeGb?: number | undefined; interface?: "block" | "file" | undefined }): Promise<Volume> {
    const records = await this.#records();
    const found = records.find((r) => (spec.volumeId === undefined ? r.name === spec.name : r.volumeId === spec.volumeId));
    if (found !== undefined) return this.#toVolume(found);
    if (spec.volumeId !== undefined) {
      throw new ResourceNotFoundError(`No volume ${spec.volumeId} on the local provider.`, {
        suggestions: ["flow.volumes.list() shows the volumes there are."],
        errorCode: "volume_not_found",
      });
    }
    return this.create({
      ...(spec.name === undefined ? {} : { name: spec.name }),
      ...(spec.sizeGb === undefined ? {} : { sizeGb: spec.sizeGb }),
      ...(spec.interface === undefined ? {} : { interface: spec.interface }),
    });
  }

  async list(): Promise<Volume[]> {
    return (await this.#records()).map((r) => this.#toVolume(r));
  }

  async delete(idOrName: string): Promise<void> {
    const record = (await this.#records()).find((r) => r.volumeId === idOrName || r.name === idOrName);
    if (record === undefined) {
      throw new ResourceNotFoundError(`No volume ${JSON.stringify(idOrName)} on the local provider.`, {
        suggestions: ["flow.volumes.list() shows the volumes there are."],
        errorCode: "volume_not_found",
      });
    }
    await rm(join(this.#dir, record.volumeId), { recursive: true, force: true });
  }

  /** Oldest first. */
  async #records(): Promise<VolumeRecord[]> {
    const ids = await readdir(this.#dir).catch(() => [] as string[]);
    const records: VolumeRecord[] = [];
    for (const id of ids.filter((i) => VOLUME_ID.test(i))) {
      const file = join(this.#dir, id, "volume.json");
      const text = await readFile(file, "utf8").catch(() => undefined);
      if (text === undefined) continue; // being created or deleted right now
      const parsed = VolumeRecordSchema.safeParse(parseJsonOrUndefined(text));
      if (!parsed.success) throw new ProviderError(`The volume record ${file} is unreadable; delete its directory if you no longer need it.`);
      records.push(parsed.data);
    }
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  #toVolume(record: VolumeRecord): Volume {
    return {
      volumeId: record.volumeId,
      name: record.name,
      sizeGb: record.sizeGb,
      region: "local",
      interface: record.interface,
      createdAt: new Date(record.createdAt),
      attachedTo: [],
      localPath: join(this.#dir, record.volumeId, "data"),
    };
  }
}
