/**
 * One API call over HTTP: headers, timeout, retries, error mapping and response validation.
 *
 * Retries. GET, PATCH and DELETE are idempotent, so they are retried on transient network errors,
 * 429 and 500/502/503/504. A POST is retried on 429 (the server did not act on it). On a network
 * error or 5xx the server may have acted before the answer was lost, so a POST is retried only
 * when the call says how to find what it would have created (`recover`, a lookup by unique name):
 * the client looks first and returns what it finds, and posts again only when nothing is there.
 * That lookup cannot see a create the server is still processing; the backoff delay before it
 * makes that unlikely rather than impossible.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Agent } from "undici";
import type * as z from "zod";
import { ProviderError } from "../../../errors.ts";
import {
  errorFromResponse,
  malformedResponseError,
  rateLimitedFor,
  type RequestDescription,
  type TransportFailure,
  transportFailure,
} from "./http-errors.ts";
import { backoffDelayMs, MAX_RETRY_AFTER_MS, parseRetryAfterMs, RETRYABLE_STATUSES, type RetryPolicy } from "./retry.ts";

export type HttpMethod = "GET" | "POST" | "PATCH" | "DELETE";

/** Query values as the spec sends them: arrays comma-separated, absent values left out. */
export type QueryValue = string | number | boolean | readonly string[] | null | undefined;

export interface ApiCall<S extends z.ZodType> {
  /** The client method, named in errors. */
  operation: string;
  method: HttpMethod;
  /** e.g. "/v2/spot/bids"; path parameters already encoded. */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** The response model; `z.unknown()` for bodiless responses. */
  response: S;
  /** What a 404 is about, e.g. "bid bid_abc123". */
  resource?: string;
  /** Reuse an operation's request ID (a lookup made on behalf of a create shares its ID). */
  requestId?: string;
  /** POST only: how to find what an attempt whose outcome is unknown may have created. */
  recover?: Recovery<z.output<S>>;
}

export interface Recovery<T> {
  /** What the POST creates, for messages: `bid "train-1"`. */
  what: string;
  find: (requestId: string) => Promise<T | undefined>;
}

export interface TransportOptions {
  apiUrl: string;
  apiKey: string;
  apiKeySource: string;
  userAgent: string;
  requestTimeoutMs: number;
  retry: RetryPolicy;
}

type Undici = { agent: Agent; request: typeof import("undici").request };

type Attempt =
  | { kind: "response"; statusCode: number; headers: IncomingHttpHeaders; bodyText: string }
  | { kind: "transport"; failure: TransportFailure };

export class ApiTransport {
  readonly #apiUrl: string;
  readonly #apiKey: string;
  readonly #apiKeySource: string;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  // undici is loaded on the first request, not at import: the agent bundles the SDK, this module
  // included, but never calls the cloud API, so the agent build leaves undici out.
  #undici: Promise<Undici> | undefined;

  constructor(options: TransportOptions) {
    this.#apiUrl = options.apiUrl.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#apiKeySource = options.apiKeySource;
    this.#userAgent = options.userAgent;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#retry = options.retry;
  }

  async call<S extends z.ZodType>(call: ApiCall<S>): Promise<z.output<S>> {
    const requestId = call.requestId ?? randomUUID();
    const description: RequestDescription = {
      operation: call.operation,
      method: call.method,
      url: this.#url(call.path, call.query),
      requestId,
      apiKeySource: this.#apiKeySource,
      resource: call.resource,
    };
    const idempotent = call.method !== "POST";

    for (let retry = 0; ; retry++) {
      const attempt = await this.#attempt(call, description);
      if (attempt.kind === "response" && attempt.statusCode < 300) return parseResponse(call.response, attempt.bodyText, description);

      const error = attempt.kind === "response" ? errorFromResponse(description, attempt.statusCode, attempt.bodyText) : attempt.failure.error;
      const rateLimited = attempt.kind === "response" && attempt.statusCode === 429;
      // The server may have acted on the request even though no success came back.
      const outcomeUnknown = attempt.kind === "transport" || RETRYABLE_STATUSES.has(attempt.statusCode);
      const transient = attempt.kind === "transport" ? attempt.failure.transient : rateLimited || outcomeUnknown;
      const repeatable = idempotent || rateLimited || call.recover !== undefined;
      if (!transient || !repeatable) throw error;

      let delayMs = backoffDelayMs(retry, this.#retry);
      if (rateLimited) {
        const retryAfterMs = parseRetryAfterMs(header(attempt.headers, "retry-after"));
        if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS) {
          throw rateLimitedFor(description, attempt.statusCode, attempt.bodyText, retryAfterMs);
        }
        delayMs = retryAfterMs ?? delayMs;
      }
      const exhausted = retry >= this.#retry.maxRetries;
      const mustLook = !idempotent && outcomeUnknown && call.recover !== undefined;
      // Out of retries: still look, so a create that did happen is returned rather than reported failed.
      if (exhausted && !mustLook) throw error;
      await this.#retry.sleep(delayMs);
      if (mustLook && call.recover !== undefined) {
        const existing = await recoverOrExplain(call.recover, description, error);
        if (existing !== undefined) return existing;
      }
      if (exhausted) throw error;
    }
  }

  /** Closes idle connections; calls made afterwards fail. */
  async close(): Promise<void> {
    if (this.#undici !== undefined) await (await this.#undici).agent.close();
  }

  #loadUndici(): Promise<Undici> {
    return (this.#undici ??= import("undici").then(({ Agent, request }) => ({
      agent: new Agent({ connect: { timeout: this.#timeoutMs } }),
      request,
    })));
  }

  async #attempt(call: ApiCall<z.ZodType>, description: RequestDescription): Promise<Attempt> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeoutMs);
    try {
      const { agent, request } = await this.#loadUndici();
      const response = await request(description.url, {
        method: call.method,
        headers: this.#headers(description.requestId, call.body !== undefined),
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        dispatcher: agent,
        signal: controller.signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      const bodyText = await response.body.text();
      return { kind: "response", statusCode: response.statusCode, headers: response.headers, bodyText };
    } catch (error) {
      const failure = transportFailure(description, error, { timedOut, timeoutMs: this.#timeoutMs });
      if (failure === undefined) throw error;
      return { kind: "transport", failure };
    } finally {
      clearTimeout(timer);
    }
  }

  #headers(requestId: string, hasBody: boolean): Record<string, string> {
    return {
      authorization: `Bearer ${this.#apiKey}`,
      "user-agent": this.#userAgent,
      "x-request-id": requestId,
      accept: "application/json",
      ...(hasBody ? { "content-type": "application/json" } : {}),
    };
  }

  #url(path: string, query: Record<string, QueryValue> = {}): URL {
    const url = new URL(`${this.#apiUrl}${path}`);
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      url.searchParams.set(name, typeof value === "object" ? value.join(",") : String(value));
    }
    return url;
  }
}

function parseResponse<S extends z.ZodType>(schema: S, bodyText: string, description: RequestDescription): z.output<S> {
  let json: unknown;
  try {
    json = bodyText.trim() === "" ? undefined : JSON.parse(bodyText);
  } catch (error) {
    throw malformedResponseError(description, error as SyntaxError);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw malformedResponseError(description, parsed.error);
  return parsed.data;
}

async function recoverOrExplain<T>(recovery: Recovery<T>, description: RequestDescription, error: Error): Promise<T | undefined> {
  try {
    return await recovery.find(description.requestId);
  } catch (lookupError) {
    const reason = lookupError instanceof Error ? lookupError.message : String(lookupError);
    throw new ProviderError(
      `${description.operation}: the API's answer was lost (${error.message}), and looking up ${recovery.what} to see whether it was created failed: ${reason}`,
      {
        errorCode: "outcome_unknown",
        cause: lookupError,
        suggestions: [`Check whether ${recovery.what} exists before trying again, so it is not created twice.`],
      },
    );
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
