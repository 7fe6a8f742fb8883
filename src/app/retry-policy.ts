/**
 * Which failed calls are tried again, and after how long.
 *
 * Infrastructure failures (the agent died, its machine was preempted, the connection dropped)
 * are retried on a fresh agent by default: the call never ran to an answer, so trying again is
 * what the user wants. A function's own exceptions and timeouts are retried only when the
 * user says so with `retryOn`, since running user code twice may not be safe.
 */
import { AgentLostError, CancelledError, FunctionTimeoutError, ProviderError } from "../errors.ts";
import { RetriesSchema, retryDelayMs, type Retries } from "../task/retries.ts";
import type { FunctionOptions } from "./options.ts";

export type FailureKind = "infrastructure" | "exception" | "timeout" | "cancelled";

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
  if (error instanceof AgentLostError || error instanceof ProviderError) return "infrastructure";
  return "exception";
}

/** The wait before attempt `attempt + 1`, or undefined when the call should fail now. */
export function nextDelayMs(policy: RetryPolicy, error: unknown, attempt: number): number | undefined {
  if (attempt > policy.retries.maxRetries) return undefined;
  if (!policy.retryOn.has(failureKind(error))) return undefined;
  return retryDelayMs(policy.retries, attempt);
}
