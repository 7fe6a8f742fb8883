/**
 * Data mounted into a task's container: a host path (bind), a volume, or an S3 prefix (s3fs).
 */
import { z } from "zod";
import { AbsolutePath, evenWithFieldIssues } from "../validation.ts";

export type MountType = "bind" | "volume" | "s3fs";

export const MountSpecSchema = z
  .strictObject({
    /** A path, `s3://bucket/prefix`, or `volume://name`. */
    source: z.string().min(1, "must not be empty"),
    target: AbsolutePath,
    /** Inferred from `source` when omitted: `s3://` → s3fs, `volume://` → volume, else bind. */
    mountType: z.enum(["bind", "volume", "s3fs"]).optional(),
    /** Provider-specific options, e.g. `{ readonly: true }`. */
    options: z.record(z.string(), z.unknown()).default({}),
    cacheKey: z.string().optional(),
    sizeEstimateGb: z.number().positive("must be positive").optional(),
  })
  .superRefine((mount, ctx) => {
    if (typeof mount !== "object" || mount === null || typeof mount.source !== "string") return;
    if (mount.mountType === "s3fs" && !mount.source.startsWith("s3://")) {
      ctx.addIssue({
        code: "custom",
        path: ["source"],
        message: 'an s3fs mount needs an `s3://bucket/prefix` source',
        params: { suggestion: 'use mountType: "bind" for a local path' },
      });
    }
  }, evenWithFieldIssues)
  .transform((mount): typeof mount & { mountType: MountType } => ({
    ...mount,
    mountType: mount.mountType ?? inferMountType(mount.source),
  }));

export type MountSpec = z.output<typeof MountSpecSchema>;

function inferMountType(source: string): MountType {
  if (source.startsWith("s3://")) return "s3fs";
  if (source.startsWith("volume://")) return "volume";
  return "bind";
}
