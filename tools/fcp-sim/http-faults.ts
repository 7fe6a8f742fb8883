/**
 * Faults of the HTTP front door, consumed in the order they were armed: answer the next matching
 * requests with an error status (as a gateway under load would), cut their connection before or
 * after the API acted on them, hold their answer back after the API acted on them (so a client
 * can be killed while its request is in flight), or slow every response down.
 */

export interface RequestMatcher {
  /** Only requests with this method (any when absent). */
  method?: string | undefined;
  /** Only this exact path, or paths the pattern matches (any when absent). */
  path?: string | RegExp | undefined;
}

export interface FailNextOptions extends RequestMatcher {
  status: 429 | 500 | 502 | 503;
  count: number;
  /** Sent as the Retry-After header. */
  retryAfterSeconds?: number | undefined;
}

export interface DropNextOptions extends RequestMatcher {
  count: number;
  /** Cut the connection after the request took effect, so only the response is lost. */
  afterHandling?: boolean | undefined;
}

export interface HoldNextOptions extends RequestMatcher {
  count: number;
  /** How long the response waits (or until the client hangs up). */
  ms: number;
}

interface Armed<Options> {
  options: Options;
  remaining: number;
}

export class HttpFaults {
  readonly #failures: Armed<FailNextOptions>[] = [];
  readonly #drops: Armed<DropNextOptions>[] = [];
  readonly #holds: Armed<HoldNextOptions>[] = [];
  #latencyMs = 0;

  failNext(options: FailNextOptions): void {
    if (options.count > 0) this.#failures.push({ options, remaining: options.count });
  }

  dropNext(options: DropNextOptions): void {
    if (options.count > 0) this.#drops.push({ options, remaining: options.count });
  }

  holdNext(options: HoldNextOptions): void {
    if (options.count > 0) this.#holds.push({ options, remaining: options.count });
  }

  setLatencyMs(ms: number): void {
    this.#latencyMs = Math.max(0, ms);
  }

  get latencyMs(): number {
    return this.#latencyMs;
  }

  /** The failure this request gets, if one is armed for it (and counts it). */
  takeFailure(method: string, path: string): FailNextOptions | undefined {
    return take(this.#failures, method, path, () => true);
  }

  /** How long this request's response is held after the API acted on it, if a hold is armed for it (and counts it). */
  takeHoldMs(method: string, path: string): number | undefined {
    return take(this.#holds, method, path, () => true)?.ms;
  }

  /** Whether this request's connection is to be cut at this phase (and counts it). */
  takeDrop(method: string, path: string, phase: "before" | "after"): boolean {
    return take(this.#drops, method, path, (options) => (options.afterHandling === true) === (phase === "after")) !== undefined;
  }
}

function take<Options extends RequestMatcher>(armed: Armed<Options>[], method: string, path: string, applies: (options: Options) => boolean): Options | undefined {
  const index = armed.findIndex(({ options }) => applies(options) && matches(options, method, path));
  const entry = armed[index];
  if (entry === undefined) return undefined;
  entry.remaining--;
  if (entry.remaining === 0) armed.splice(index, 1);
  return entry.options;
}

function matches(matcher: RequestMatcher, method: string, path: string): boolean {
  if (matcher.method !== undefined && matcher.method.toUpperCase() !== method) return false;
  if (matcher.path === undefined) return true;
  return typeof matcher.path === "string" ? matcher.path === path : matcher.path.test(path);
}
