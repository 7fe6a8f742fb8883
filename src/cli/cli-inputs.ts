/**
 * Command-line values are strings; these schemas turn them into what the SDK takes, and report
 * problems as one ValidationError naming the flag (never echoing values, which may be secrets).
 */
import { readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import * as z from "zod";
import { providerName } from "../providers/provider-name.ts";
import { Flow } from "../client/flow.ts";
import type { TaskOverrides } from "../task/task-source.ts";
import { TaskStatusSchema } from "../task/task-status.ts";
import { validationError } from "../validation.ts";

const PositiveNumber = z
  .string()
  .regex(/^\d+(\.\d+)?$|^\.\d+$/, "must be a positive number")
  .transform(Number)
  .refine((n) => n > 0, "must be a positive number");

const Count = z.string().regex(/^\d+$/, "must be a whole number").transform(Number).refine((n) => n > 0, "must be at least 1");

/** `KEY=VALUE`; the value may contain `=`. */
const EnvPair = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, "must be KEY=VALUE");

/** `name:/path[:size]` (a volume created if it does not exist, size in GB) or `vol_…:/path` (an existing one). */
const VolumeFlag = z
  .string()
  .regex(/^[^:\s]+:\/[^:]*(:\d+)?$/, "must be NAME:/MOUNT/PATH[:SIZE_GB], e.g. data:/mnt/data:100")
  .transform((text) => {
    const [name = "", mountPath = "", size] = text.split(":");
    return {
      ...(name.startsWith("vol_") ? { volumeId: name } : { name }),
      mountPath,
      ...(size === undefined ? {} : { sizeGb: Number(size) }),
    };
  });

/** `/mount/path=source`: an `s3://bucket/prefix`, a `volume://name` or a path. */
const DataFlag = z
  .string()
  .regex(/^\/[^=]*=.+$/, "must be /MOUNT/PATH=SOURCE, e.g. /data=s3://bucket/prefix")
  .transform((text) => {
    const at = text.indexOf("=");
    return { target: text.slice(0, at), source: text.slice(at + 1) };
  });

const Port = z.string().regex(/^\d+$/, "must be a port number").transform(Number);

/** `7d`, `24h`, `90m`: how far back a history goes, in milliseconds. */
export const SinceSchema = z
  .string()
  .regex(/^\d+[mhd]$/, "must be a number of minutes, hours or days: 90m, 24h, 7d")
  .transform((text) => Number(text.slice(0, -1)) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[text.slice(-1) as "m" | "h" | "d"]);

/** A time with its zone (`2030-07-01T09:00:00Z`). */
const TimeFlag = z.iso.datetime({ offset: true, error: "must be an ISO 8601 time with its zone, like 2030-07-01T09:00:00Z" });

export const TaskFlagsSchema = z.object({
  instanceType: z.string().optional(),
  minGpuMemoryGb: Count.optional(),
  name: z.string().optional(),
  env: z.array(EnvPair).optional(),
  envFile: z.string().optional(),
  maxPricePerHour: PositiveNumber.optional(),
  maxRunTimeHours: PositiveNumber.optional(),
  region: z.string().optional(),
  codeRoot: z.string().optional(),
  uploadCode: z.boolean().optional(),
  numInstances: Count.optional(),
  image: z.string().min(1, "must not be empty").optional(),
  priority: z.enum(["low", "med", "high"], { error: 'must be "low", "med" or "high"' }).optional(),
  volume: z.array(VolumeFlag).optional(),
  data: z.array(DataFlag).optional(),
  port: z.array(Port).optional(),
  sshKey: z.array(z.string().min(1)).optional(),
  reservation: z.string().min(1).optional(),
  allocationMode: z.enum(["spot", "reserved", "auto"], { error: 'must be "spot", "reserved" or "auto"' }).optional(),
  startTime: TimeFlag.optional(),
  reservedHours: Count.optional(),
  workingDir: z.string().optional(),
  terminateOnExit: z.boolean().optional(),
});
export type TaskFlags = z.output<typeof TaskFlagsSchema>;

/** The TaskConfig fields the flags set (env-file and env merged, reservation flags implying reserved capacity). */
export function taskOverridesFrom(flags: TaskFlags): TaskOverrides {
  const { env, envFile, volume, data, port, sshKey, reservation, startTime, reservedHours, allocationMode, ...rest } = flags;
  const variables = { ...(envFile === undefined ? {} : envFromFile(envFile)), ...envFromPairs(env) };
  const reserves = reservation !== undefined || startTime !== undefined || reservedHours !== undefined;
  const mode = allocationMode ?? (reserves ? "reserved" : undefined);
  return {
    ...rest,
    ...(Object.keys(variables).length === 0 ? {} : { env: variables }),
    ...(volume === undefined ? {} : { volumes: volume }),
    ...(data === undefined ? {} : { dataMounts: data }),
    ...(port === undefined ? {} : { ports: port }),
    ...(sshKey === undefined ? {} : { sshKeys: sshKey }),
    ...(reservation === undefined ? {} : { reservationId: reservation }),
    ...(startTime === undefined ? {} : { scheduledStartTime: startTime }),
    ...(reservedHours === undefined ? {} : { reservedDurationHours: reservedHours }),
    ...(mode === undefined ? {} : { allocationMode: mode }),
  };
}

/** `KEY=value` lines as dotenv writes them (quotes, comments, `export`), by Node's own parser. */
function envFromFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw validationError("command-line options", [{ path: "--env-file", message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
  return Object.fromEntries(Object.entries(parseEnv(text)).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

export const ListFlagsSchema = z.object({
  status: TaskStatusSchema.optional(),
  limit: Count.optional(),
});

export const CatalogFlagsSchema = z.object({
  gpu: z.string().optional(),
  minGpuMemoryGb: Count.optional(),
  maxPricePerHour: PositiveNumber.optional(),
  region: z.string().optional(),
});

export { Count, PositiveNumber, TimeFlag };

export const TailSchema = z.string().regex(/^\d+$/, "must be a whole number of lines").transform(Number);

/** Parses `flags` (commander's camelCase keys), reporting paths as `--kebab-case` flags. */
export function parseFlags<T extends z.ZodType>(schema: T, flags: unknown): z.output<T> {
  const result = schema.safeParse(flags);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: `--${String(issue.path[0] ?? "").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    message: issue.message,
  }));
  throw validationError("command-line options", issues);
}

export function envFromPairs(pairs: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

/** The Flow client for `--provider` (or, without it, the configured one); cloud progress goes to stderr. */
export function flowFor(provider: string | undefined): Flow {
  return new Flow({ provider: providerName(provider) });
}
