/**
 * Data mounted into a task's container: a host path (bind), a volume, or an S3 prefix (s3fs:
 * copied in before the command starts, read-only). What each provider does with each kind is in
 * docs/cloud.md; the options each kind takes are checked here, so a misspelt one is refused.
 */
import * as z from "zod";
import { AbsolutePath, evenWithFieldIssues } from "../validation.ts";

export type MountType = "bind" | "volume" | "s3fs";

export const MountSpecSchema = z
  .strictObject({
    /** A path, `s3://bucket/prefix`, or `volume://name`. */
    source: z.string().min(1, "must not be empty"),
    target: AbsolutePath,
    /** Inferred from `source` when omitted: `s3://` → s3fs, `volume://` → volume, else bind. */
    mountType: z.enum(["bind", "volume", "s3fs"]).optional(),
    /** `{ readonly: true }` (any kind); `{ profile: "name" }` (s3: the AWS profile whose credentials read it). */
    options: z.record(z.string(), z.unknown()).default({}),
    cacheKey: z.string().optional(),
    sizeEstimateGb: z.number().positive("must be positive").optional(),
  })
  .superRefine((mount, ctx) => {
    if (typeof mount !== "object" || mount === null || typeof mount.source !== "string") return;
    const kind = mount.mountType ?? inferMountType(mount.source);
    if (kind === "s3fs" && !mount.source.startsWith("s3://")) {
      ctx.addIssue({
        code: "custom",
        path: ["source"],
        message: 'an s3fs mount needs an `s3://bucket/prefix` source',
        params: { suggestion: 'use mountType: "bind" for a local path' },
      });
    }
    if (kind === "volume" && !/^volume:\/\/[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/.test(mount.source)) {
      ctx.addIssue({ code: "custom", path: ["source"], message: "a volume mount needs a `volume://name` source (3-64 lowercase letters, digits and hyphens)" });
    }
    for (const [key, value] of Object.entries(typeof mount.options === "object" && mount.options !== null ? mount.options : {})) {
      const issue = optionIssue(kind, key, value);
      if (issue !== undefined) ctx.addIssue({ code: "custom", path: ["options", key], ...issue });
    }
    if (mount.cacheKey !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["cacheKey"],
        message: "is not supported: S3 data is copied afresh for every task, and volumes and paths are not cached",
        params: { suggestion: "remove `cacheKey`; keep data between tasks on a volume (`volume://name`)" },
      });
    }
    if (mount.sizeEstimateGb !== undefined && kind !== "volume") {
      ctx.addIssue({
        code: "custom",
        path: ["sizeEstimateGb"],
        message: "only sizes a `volume://` mount's volume when it is created",
        params: { suggestion: "remove `sizeEstimateGb`" },
      });
    }
  }, evenWithFieldIssues)
  .transform((mount): typeof mount & { mountType: MountType } => ({
    ...mount,
    mountType: mount.mountType ?? inferMountType(mount.source),
  }));

export type MountSpec = z.output<typeof MountSpecSchema>;

function optionIssue(kind: MountType, key: string, value: unknown): { message: string; params?: { suggestion: string } } | undefined {
  if (key === "readonly") {
    if (typeof value !== "boolean") return { message: "must be true or false" };
    if (kind === "s3fs" && value === false) return { message: "S3 data is always read-only (it is a copy)", params: { suggestion: "remove `readonly: false`; write results to a volume" } };
    return undefined;
  }
  if (key === "profile" && kind === "s3fs") return typeof value === "string" && value !== "" ? undefined : { message: "must be the name of an AWS profile" };
  const known = kind === "s3fs" ? "readonly, profile" : "readonly";
  return { message: `is not an option of ${kind === "s3fs" ? "an S3" : `a ${kind}`} mount`, params: { suggestion: `options are: ${known}` } };
}

function inferMountType(source: string): MountType {
  if (source.startsWith("s3://")) return "s3fs";
  if (source.startsWith("volume://")) return "volume";
  return "bind";
}
