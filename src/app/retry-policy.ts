/**
 * Which failed calls are tried again, and after how long.
 *
 * Every failure falls in one kind (failureKind):
 * - "infrastructure": AgentLostError or ProviderError. The agent or its machine went away, the
 *   connection dropped, something outside flow killed the process running the call, or another
 *   call ended that process. The call never ran to an answer for a reason of its own, so it is
 *   tried again on a fresh agent (or process) by default.
 * - "crash": FunctionCrashedError. The call's own code ended its process (process.exit, out of
 *   memory, a fatal signal, an uncaught exception) or left a rejection unhandled.
 * - "exception": anything the function threw (and anything else).
 * - "timeout": FunctionTimeoutError. "cancelled": CancelledError (never retried).
 * Only infrastructure is retried unless `retryOn` says otherwise, since running user code twice
 * may not be safe, and a crash or exception would most likely happen again.
 *
 * One exception to retrying infrastructure: the same input lost the same way twice in a row
 * (its process killed from outside by the same signal, e.g. the kernel's out-of-memory killer) is
 * deterministic, the input's own doing, and is not retried again.
 */
import { AgentLostError, CancelledError, FunctionCrashedError, FunctionTimeoutError, ProviderError } from "../errors.ts";
import { RetriesSchema, retryDelayMs, type Retries } from "../task/retries.ts";
import type { FunctionOptions } from "./options.ts";

export type FailureKind = "infrastructure" | "crash" | "exception" | "timeout" | "cancelled";

export interface RetryPolicy {
  retries: Retries;
  retryOn: ReadonlySet<FailureKind>;
}

export function retryPolicy(options: FunctionOptions): RetryPolicy {
  const { retries } = options;
  return {
    retries: RetriesSchema.parse(typeof retries === "number" ? { maxRetries: retries } : (retries ?? {})),
    retryOn: new Set(options.retryOn ?? ["infrastructure"]),
  };
}

export function failureKind(error: unknown): FailureKind {
  if (error instanceof CancelledError) return "cancelled";
  if (error instanceof FunctionTimeoutError) return "timeout";
  if (error instanceof FunctionCrashedError) return "crash";
  if (error instanceof AgentLostError || error instanceof ProviderError) return "infrastructure";
  return "exception";
}

/**
 * The wait before attempt `attempt + 1`, or undefined when the call should fail now. `previous` is
 * the error of the attempt before this one, if there was one.
 */
export function nextDelayMs(policy: RetryPolicy, error: unknown, attempt: number, previous?: unknown): number | undefined {
  if (attempt > policy.retries.maxRetries) return undefined;
  const kind = failureKind(error);
  if (!policy.retryOn.has(kind)) return undefined;
  if (kind === "infrastructure" && lostTheSameWay(error, previous)) return undefined;
  return retryDelayMs(policy.retries, attempt);
}

function lostTheSameWay(error: unknown, previous: unknown): boolean {
  return error instanceof AgentLostError && previous instanceof AgentLostError && error.signal !== undefined && error.signal === previous.signal;
}
