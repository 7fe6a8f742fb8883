/**
 * Retry policy for task submission and execution: fixed (`backoffCoefficient: 1`) or exponential
 * backoff. The Python SDK's `initial_delay` / `max_delay` are seconds; here, like every duration in
 * the SDK, they are milliseconds with the unit in the name (task-keys.ts converts the seconds
 * spellings users bring from YAML).
 */
import * as z from "zod";

export const RetriesSchema = z
  .strictObject({
    maxRetries: z.number().int().min(0, "must be between 0 and 10").max(10, "must be between 0 and 10").default(3),
    backoffCoefficient: z.number().min(1, "must be at least 1 (1 means a fixed delay)").default(2),
    initialDelayMs: z.number().min(0, "must not be negative").default(1000),
    maxDelayMs: z.number().positive("must be positive").optional(),
  })
  .superRefine((retries, ctx) => {
    if (retries.maxDelayMs !== undefined && retries.maxDelayMs <= retries.initialDelayMs) {
      ctx.addIssue({
        code: "custom",
        path: ["maxDelayMs"],
        message: `must be greater than the initial delay (${retries.initialDelayMs} ms)`,
        params: { suggestion: "raise it, or leave it out for no cap" },
      });
    }
  });

export type Retries = z.output<typeof RetriesSchema>;

/** The wait before retry number `attempt` (1-based): initial × coefficient^(attempt−1), capped. */
export function retryDelayMs(retries: Retries, attempt: number): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
  const delay = retries.initialDelayMs * retries.backoffCoefficient ** (attempt - 1);
  return retries.maxDelayMs === undefined ? delay : Math.min(delay, retries.maxDelayMs);
}
