/**
 * Options of `app.function` and `new App(name, defaults)`, validated when the function is defined
 * so a typo fails at once, naming the function and the field.
 */
import * as z from "zod";
import type { FieldIssue } from "../errors.ts";
import { parseInstanceType } from "../instance-types/index.ts";
import { RetriesSchema } from "../task/retries.ts";
import { closestMatch, formatPath, issuesFromZod, validationError } from "../validation.ts";

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");

/** `retries: 3`, or the Flow SDK's Retries model with delays in milliseconds. */
export const RetriesOption = z.union([z.number().int().min(0).max(10), RetriesSchema]);

export const FunctionOptionsSchema = z
  .object({
    /** Instance type: "a100", "4xa100", "h100", "a100-80gb.sxm.1x". Resolved by the cloud provider. */
    gpu: z
      .string()
      .superRefine((value, ctx) => {
        try {
          parseInstanceType(value);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: (error as Error).message });
        }
      })
      .optional(),
    /** Environment variables set on the agent before the module is imported. */
    env: z.record(EnvName, z.string()).optional(),
    /** Names of local environment variables whose values are sent over the wire, never written down. */
    secrets: z.array(EnvName).optional(),
    /** Per attempt: a call running longer fails with FunctionTimeoutError and is cancelled. */
    timeoutMs: z.number().int().positive().optional(),
    /** How often a failed call is tried again; see `retryOn` for which failures count. */
    retries: RetriesOption.optional(),
    /**
     * Failures worth another attempt. Default: infrastructure only (agent lost, machine gone).
     * "crash": the function's own code ended its process (FunctionCrashedError); see retry-policy.ts.
     */
    retryOn: z.array(z.enum(["infrastructure", "crash", "exception", "timeout"])).optional(),
    /** How many agents (containers, machines) the function may use at once. Default 1. */
    maxContainers: z.number().int().min(1).max(1000).optional(),
    /**
     * How long a dropped connection to an agent may take to come back, in ms (default 2 minutes).
     * Meanwhile the agent keeps the calls running and their output buffered, and the client
     * reconnects and resumes; past it the calls fail with AgentLostError (and go to `retries`).
     */
    reconnectGraceMs: z.number().int().nonnegative().optional(),
    /**
     * For detached calls (spawnDetached, `flow run --detach`): how long the agent, and on the cloud
     * its instance, stays up after the call ended so that its result can be fetched, in ms
     * (default 10 minutes). On the cloud that time is billed.
     */
    resultWindowMs: z.number().int().nonnegative().optional(),
    /** Largest arguments or result of one call, in bytes (default 2 GiB). */
    maxPayloadBytes: z.number().int().positive().optional(),
    /** How many calls one agent runs at once. Default 64. */
    maxConcurrentInputs: z.number().int().min(1).max(10_000).optional(),
    /**
     * A reservation's id (`res_…`) or name: on the cloud the function's agents run on its
     * instances instead of spot bids of their own. The local provider runs them here, as it
     * does with `gpu`.
     */
    reservation: z.string().min(1, "must be a reservation id or name").optional(),
    /** Container image the function runs in on the cloud. */
    image: z.string().min(1).optional(),
    /** Packages to keep out of the bundle and install on the agent with npm. */
    externals: z.array(z.string().min(1)).optional(),
    name: z
      .string()
      .regex(/^[A-Za-z_$][\w$.-]*$/, "must start with a letter and hold only letters, digits, _ $ . -")
      .optional(),
  })
  .strict();

export type FunctionOptions = z.input<typeof FunctionOptionsSchema>;
export type AppDefaults = Omit<FunctionOptions, "name">;

export function parseAppDefaults(input: unknown, where: string): AppDefaults {
  return parseWith(FunctionOptionsSchema.omit({ name: true }).strict(), input, where);
}

export function parseFunctionOptions(input: unknown, where: string): FunctionOptions {
  return parseWith(FunctionOptionsSchema, input, where);
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown, where: string): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const known = Object.keys(FunctionOptionsSchema.shape);
  const issues = result.error.issues.flatMap((issue): FieldIssue[] =>
    // One issue per unknown key, each with the option it most likely meant.
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => {
          const near = closestMatch(key, known);
          return { path: formatPath([...issue.path, key]), message: "unknown option", ...(near === undefined ? {} : { suggestion: `did you mean \`${near}\`?` }) };
        })
      : issuesFromZod(new z.ZodError([issue])),
  );
  throw validationError(`options for ${where}`, issues);
}
