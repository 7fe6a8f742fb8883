/**
 * When to try an API request again and how long to wait first: exponential backoff with full
 * jitter (a random delay between 0 and the capped exponential), so many clients that failed
 * together do not retry together. A server's `Retry-After` wins over the backoff.
 */

export interface RetryPolicy {
  /** Retries after the first attempt; 0 disables retrying. */
  maxRetries: number;
  initialRetryDelayMs: number;
  maxRetryDelayMs: number;
  /** Waits before a retry; injectable so tests can record delays instead of sleeping. */
  sleep: (ms: number) => Promise<void>;
  /** A number in [0, 1), as Math.random. */
  random: () => number;
}

/** Statuses a server sends when it is overloaded or briefly down: worth another try. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/** The longest `Retry-After` the client waits out; asking for longer fails with a RateLimitError. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** The delay before retry number `retry` (0 for the first retry). */
export function backoffDelayMs(retry: number, policy: Pick<RetryPolicy, "initialRetryDelayMs" | "maxRetryDelayMs" | "random">): number {
  const ceiling = Math.min(policy.maxRetryDelayMs, policy.initialRetryDelayMs * 2 ** retry);
  return Math.floor(policy.random() * ceiling);
}

/**
 * A `Retry-After` header as milliseconds from `nowMs`: either delay-seconds (`"3"`) or an
 * HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`). Undefined when absent or unreadable.
 */
export function parseRetryAfterMs(header: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
