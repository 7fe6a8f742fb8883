/**
 * Command-line values are strings; these schemas turn them into what the SDK takes, and report
 * problems as one ValidationError naming the flag (never echoing values, which may be secrets).
 */
import { z } from "zod";
import { providerName } from "../providers/provider-name.ts";
import { Flow } from "../client/flow.ts";
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

export const TaskFlagsSchema = z.object({
  instanceType: z.string().optional(),
  minGpuMemoryGb: Count.optional(),
  name: z.string().optional(),
  env: z.array(EnvPair).optional(),
  maxPricePerHour: PositiveNumber.optional(),
  maxRunTimeHours: PositiveNumber.optional(),
  region: z.string().optional(),
  codeRoot: z.string().optional(),
  uploadCode: z.boolean().optional(),
});

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
