/**
 * Turning what went wrong on the wire into errors a user can act on: one class per kind of
 * failure, a message naming the operation, and suggestions. The API key never appears; only
 * where it came from (`apiKeySource`) does.
 */
import type * as z from "zod";
import {
  APIError,
  AuthenticationError,
  ConflictError,
  type FlowError,
  NetworkError,
  ProviderError,
  RateLimitError,
  ResourceNotFoundError,
  FlowTimeoutError,
  ValidationAPIError,
} from "../../../errors.ts";
import { parseJsonOrUndefined } from "../../../parse-json.ts";
import { HTTPValidationErrorSchema } from "./schemas.ts";

/** Enough of a request to describe its failure. */
export interface RequestDescription {
  /** The client method, e.g. "createBid". */
  operation: string;
  method: string;
  url: URL;
  requestId: string;
  /** Where the API key came from: "FLOW_API_KEY", a config file path, or "explicit". */
  apiKeySource: string;
  /** What a 404 means, e.g. "bid bid_abc123"; defaults to the path. */
  resource?: string | undefined;
}

/** How much of a response body an APIError keeps. */
const MAX_BODY_CHARS = 2_000;

export function describeKeySource(source: string): string {
  return source === "explicit" ? "the API key passed to the SDK" : `the API key from ${source}`;
}

/** The error for a response with a non-2xx status. */
export function errorFromResponse(request: RequestDescription, statusCode: number, bodyText: string): FlowError {
  const what = `${request.method} ${request.url.pathname} (${request.operation})`;
  const detail = detailOf(bodyText);
  const withDetail = (message: string) => (detail === undefined ? message : `${message}: ${detail}`);
  const common = { statusCode, responseBody: truncate(bodyText), requestId: request.requestId };
  const key = describeKeySource(request.apiKeySource);

  switch (statusCode) {
    case 401:
      return new AuthenticationError(`The API rejected ${key} (401 Unauthorized).`, {
        errorCode: "api_key_rejected",
        suggestions: [
          `Check that ${key} is complete and has not been revoked (API keys start with "fkey_").`,
          "Create a new key in the Mithril console, then run `flow init` to store it (or set FLOW_API_KEY).",
        ],
      });
    case 403:
      return new AuthenticationError(withDetail(`${capitalize(key)} is not allowed to ${what} (403 Forbidden)`), {
        errorCode: "forbidden",
        suggestions: ["Check that the key belongs to a member of the configured project (FLOW_PROJECT or `project:` in the config)."],
      });
    case 404:
      return new ResourceNotFoundError(withDetail(`The API has no ${request.resource ?? request.url.pathname} (404 from ${what})`), {
        errorCode: "not_found",
        suggestions: request.resource === undefined ? [] : [`Check the ${request.resource.split(" ")[0]} ID; it may have been deleted.`],
      });
    case 409:
      return new ConflictError(withDetail(`The API refused ${what} because it conflicts with existing state (409 Conflict)`), {
        ...common,
        errorCode: "conflict",
        suggestions:
          request.method === "POST"
            ? ["A resource with the same name may already exist; choose another name or reuse the existing one."]
            : ["The resource is not in a state that allows this (still starting, or stopping); check its status and try again."],
      });
    case 422: {
      const parsed = HTTPValidationErrorSchema.safeParse(parseJsonOrUndefined(bodyText));
      if (parsed.success) {
        const fields = parsed.data.detail.map((issue) => `  ${readableLocation(issue.loc)}: ${issue.msg}`);
        return new ValidationAPIError(`The API rejected ${what} (422 Unprocessable Entity):\n${fields.join("\n")}`, {
          ...common,
          errorCode: "invalid_request",
          validationErrors: parsed.data.detail.map(({ loc, msg, type }) => ({ loc, msg, type })),
        });
      }
      return new APIError(withDetail(`The API rejected ${what} (422 Unprocessable Entity)`), { ...common, errorCode: "invalid_request" });
    }
    case 429:
      return new RateLimitError(`The API is rate limiting ${what} (429 Too Many Requests) and kept doing so after retries.`, {
        ...common,
        errorCode: "rate_limited",
        suggestions: ["Wait a minute and try again, or make fewer concurrent requests."],
      });
    case 501:
      return new APIError(withDetail(`The API does not support ${what} for this resource (501 Not Implemented)`), {
        ...common,
        errorCode: "not_supported",
        suggestions: ["The API does not offer this here yet; the message says what to use instead, if anything."],
      });
    default:
      return new APIError(withDetail(`${what} failed with HTTP ${statusCode}`), {
        ...common,
        errorCode: statusCode >= 500 ? "server_error" : "client_error",
        suggestions:
          statusCode >= 500
            ? [`The API had a problem; try again shortly. If it persists, report request ID ${request.requestId}.`]
            : [`Report request ID ${request.requestId} if the request looks right.`],
      });
  }
}

/** A `Retry-After` longer than the client is willing to wait. */
export function rateLimitedFor(request: RequestDescription, statusCode: number, bodyText: string, retryAfterMs: number): RateLimitError {
  const seconds = Math.ceil(retryAfterMs / 1000);
  return new RateLimitError(`The API is rate limiting ${request.method} ${request.url.pathname} (${request.operation}) and asks to wait ${seconds}s.`, {
    statusCode,
    responseBody: truncate(bodyText),
    requestId: request.requestId,
    errorCode: "rate_limited",
    suggestions: [`Try again in ${seconds} seconds.`],
  });
}

/** A response whose body does not match the spec's model. */
export function malformedResponseError(request: RequestDescription, error: z.ZodError | SyntaxError): ProviderError {
  const what = `${request.method} ${request.url.pathname} (${request.operation})`;
  const problem =
    error instanceof SyntaxError
      ? "is not JSON"
      : `does not match the API model: ${summarizeIssues(error.issues.map((i) => `${i.path.length === 0 ? "(body)" : i.path.join(".")}: ${i.message}`))}`;
  return new ProviderError(`The response to ${what} ${problem}.`, {
    errorCode: "malformed_response",
    cause: error,
    suggestions: [`Upgrade flow-sdk if the API has changed; otherwise report request ID ${request.requestId}.`],
  });
}

/**
 * Errors from the socket layer worth another attempt: the next connection may well succeed.
 * Others (ENOTFOUND: the host name does not resolve; TLS failures) will fail the same way again.
 */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

const TIMEOUT_CODES: ReadonlySet<string> = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

export interface TransportFailure {
  error: NetworkError | FlowTimeoutError;
  /** Whether trying again may help. */
  transient: boolean;
}

/**
 * A thrown request error as a NetworkError or FlowTimeoutError, or undefined when it is not a
 * transport failure (a bug, which the caller rethrows as is).
 */
export function transportFailure(request: RequestDescription, error: unknown, options: { timedOut: boolean; timeoutMs: number }): TransportFailure | undefined {
  const code = errorCode(error);
  const host = request.url.host;
  if (options.timedOut || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return {
      transient: true,
      error: new FlowTimeoutError(`${request.method} ${request.url.pathname} (${request.operation}) got no answer from ${host} within ${options.timeoutMs} ms.`, {
        errorCode: "request_timeout",
        cause: error,
        suggestions: [`Check your network connection to ${host}; the API may be slow or unreachable right now.`],
      }),
    };
  }
  // Errors without a code are not from the socket layer: bugs, which must surface as they are.
  if (code === undefined) return undefined;
  const reason = code === "ENOTFOUND" ? `the host name ${request.url.hostname} does not resolve` : `${code}: ${messageOf(error)}`;
  return {
    transient: TRANSIENT_CODES.has(code),
    error: new NetworkError(`Could not reach the Flow API at ${host} for ${request.operation} (${reason}).`, {
      errorCode: "network",
      cause: error,
      suggestions: [
        "Check your internet connection, VPN and proxy settings.",
        `Check the API URL (FLOW_API_URL or \`api_url:\` in the config); it is ${request.url.origin}.`,
      ],
    }),
  };
}

/** A 422 location without its leading "body"/"query"/"path": `launch_specification.startup_script`. */
export function readableLocation(loc: readonly (string | number)[]): string {
  const parts = loc.length > 1 && ["body", "query", "path", "header"].includes(String(loc[0])) ? loc.slice(1) : loc;
  return parts.reduce<string>((path, part) => (typeof part === "number" ? `${path}[${part}]` : path === "" ? part : `${path}.${part}`), "");
}

/** The human part of an error body: FastAPI's `{"detail": "..."}`, or a short plain-text body. */
function detailOf(bodyText: string): string | undefined {
  const json = parseJsonOrUndefined(bodyText);
  if (json !== undefined) {
    if (typeof json === "object" && json !== null && "detail" in json && typeof json.detail === "string") return json.detail;
    return undefined;
  }
  const text = bodyText.trim();
  return text !== "" && text.length <= 200 && !text.startsWith("<") ? text : undefined;
}

/** The first few problems; a wholly different shape would otherwise list every field. */
function summarizeIssues(issues: string[]): string {
  const shown = issues.slice(0, 3).join("; ");
  return issues.length > 3 ? `${shown}; and ${issues.length - 3} more` : shown;
}

function truncate(text: string): string {
  return text.length <= MAX_BODY_CHARS ? text : `${text.slice(0, MAX_BODY_CHARS)}… (${text.length - MAX_BODY_CHARS} more characters)`;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = "code" in error ? error.code : undefined;
  if (typeof code === "string") return code;
  // undici wraps socket errors it did not raise itself.
  return "cause" in error && error.cause !== error ? errorCode(error.cause) : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
