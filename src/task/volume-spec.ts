/**
 * A persistent volume for a task: either created for it (`name`, `sizeGb`, optional performance)
 * or an existing one attached by `volumeId`, whose size and performance are already fixed.
 */
import * as z from "zod";
import { AbsolutePath, evenWithFieldIssues } from "../validation.ts";

/** The seed's default size for a created volume: small, so tests do not exhaust quota. */
export const DEFAULT_VOLUME_SIZE_GB = 1;

const VOLUME_NAME = /^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/;

/** Fields that describe a volume to create; an attached volume (`volumeId`) cannot set them. */
const CREATE_ONLY = ["sizeGb", "iops", "throughputMbPerSecond"] as const;

export const VolumeSpecSchema = z
  .strictObject({
    /** 3-64 characters: lowercase letters, digits and hyphens. */
    name: z.string().optional(),
    /** Size of a created volume; DEFAULT_VOLUME_SIZE_GB when omitted. */
    sizeGb: z.number().int("must be a whole number of GB").min(1, "must be at least 1 GB").optional(),
    /** Where the volume appears in the container; the provider picks `/volumes/<name>` when omitted. */
    mountPath: AbsolutePath.optional(),
    /** An existing volume to attach instead of creating one. */
    volumeId: z.string().min(1, "must not be empty").optional(),
    interface: z.enum(["block", "file"]).default("block"),
    iops: z.number().int().positive("must be positive").optional(),
    throughputMbPerSecond: z.number().int().positive("must be positive").optional(),
  })
  .superRefine((volume, ctx) => {
    if (typeof volume !== "object" || volume === null) return;
    if (typeof volume.name === "string" && !VOLUME_NAME.test(volume.name)) {
      const fixed = volumeNameFor(volume.name);
      ctx.addIssue({
        code: "custom",
        path: ["name"],
        message: "must be 3-64 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit",
        params: fixed === undefined ? {} : { suggestion: `did you mean "${fixed}"?` },
      });
    }
    if (volume.volumeId === undefined) return;
    for (const field of CREATE_ONLY) {
      if (volume[field] === undefined) continue;
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: "cannot be set when attaching an existing volume (`volumeId`)",
        params: { suggestion: `remove \`${field}\`; an attached volume keeps its own size and performance` },
      });
    }
  }, evenWithFieldIssues)
  .transform((volume) =>
    volume.volumeId === undefined && volume.sizeGb === undefined ? { ...volume, sizeGb: DEFAULT_VOLUME_SIZE_GB } : volume,
  );

export type VolumeSpec = z.output<typeof VolumeSpecSchema>;

/** `"Training Data"` → `"training-data"`, when that makes a valid name. */
function volumeNameFor(name: string): string | undefined {
  const fixed = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64)
    .replace(/-+$/, "");
  return VOLUME_NAME.test(fixed) ? fixed : undefined;
}
