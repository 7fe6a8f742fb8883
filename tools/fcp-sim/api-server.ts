/**
 * The HTTP front door, in the order a request meets it: the optional /_sim control routes,
 * latency and armed faults (like a gateway, before the API sees anything), routing (404/405),
 * bearer auth (401), body parsing (422 for bad JSON), then the operation. Every API exchange is
 * recorded for tests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { sleep } from "../../src/sleep.ts";
import { ApiError } from "./api-error.ts";
import type { HttpFaults } from "./http-faults.ts";
import type { Route } from "./routes.ts";

export interface RecordedExchange {
  method: string;
  path: string;
  /** Query parameters; a repeated one is joined with commas. */
  query: Record<string, string>;
  /** The HTTP status sent, or the one that would have been sent when the response was dropped. */
  status: number | undefined;
  /** Parsed JSON (the raw text when it was not JSON); undefined without a body. */
  requestBody: unknown;
  /** Parsed JSON; undefined for 204 and dropped connections. */
  responseBody: unknown;
  /** The connection was cut (dropNext) instead of answered. */
  dropped: boolean;
}

/** Serves /_sim/... for main.ts; undefined for paths it does not know (404). */
export type ControlHandler = (request: { method: string; path: string; body: unknown }) => Promise<{ status: number; body?: unknown } | undefined>;

export interface ApiServerOptions {
  port: number;
  routes: readonly Route[];
  apiKeys: readonly string[];
  faults: HttpFaults;
  onExchange: (exchange: RecordedExchange) => void;
  control?: ControlHandler;
}

export interface ApiServer {
  readonly url: string;
  close(): Promise<void>;
}

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const routes = options.routes.map(compileRoute);
  const server = createServer((request, response) => {
    serve(request, response, routes, options).catch((error: unknown) => {
      process.emitWarning(`fcp-sim: ${String(error)}`);
      if (!response.headersSent) send(response, 500, { detail: "Internal Server Error" });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

async function serve(request: IncomingMessage, response: ServerResponse, routes: readonly CompiledRoute[], options: ApiServerOptions): Promise<void> {
  const method = request.method ?? "GET";
  const url = new URL(request.url ?? "/", "http://sim.invalid");
  const path = url.pathname;
  const rawBody = await readBody(request);

  if (options.control !== undefined && path.startsWith("/_sim/")) {
    const answer = await options.control({ method, path, body: parseJsonOrText(rawBody) });
    if (answer === undefined) send(response, 404, { detail: "Not Found" });
    else send(response, answer.status, answer.body);
    return;
  }

  const exchange: RecordedExchange = {
    method,
    path,
    query: Object.fromEntries([...new Set(url.searchParams.keys())].map((key) => [key, url.searchParams.getAll(key).join(",")])),
    status: undefined,
    requestBody: parseJsonOrText(rawBody),
    responseBody: undefined,
    dropped: false,
  };
  options.onExchange(exchange);

  if (options.faults.latencyMs > 0) await sleep(options.faults.latencyMs);
  if (options.faults.takeDrop(method, path, "before")) {
    exchange.dropped = true;
    request.socket.destroy();
    return;
  }
  const { status, body, headers } = await respond(method, path, url.searchParams, rawBody, request, routes, options);
  exchange.status = status;
  exchange.responseBody = body;
  const holdMs = options.faults.takeHoldMs(method, path);
  if (holdMs !== undefined) await untilClosedOr(request, holdMs);
  if (options.faults.takeDrop(method, path, "after")) {
    exchange.dropped = true;
    exchange.responseBody = undefined;
    request.socket.destroy();
    return;
  }
  send(response, status, body, headers);
}

async function respond(
  method: string,
  path: string,
  query: URLSearchParams,
  rawBody: string,
  request: IncomingMessage,
  routes: readonly CompiledRoute[],
  options: ApiServerOptions,
): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
  const failure = options.faults.takeFailure(method, path);
  if (failure !== undefined) {
    const headers: Record<string, string> = failure.retryAfterSeconds === undefined ? {} : { "retry-after": String(failure.retryAfterSeconds) };
    return { status: failure.status, body: { detail: `Simulated HTTP ${failure.status}` }, headers };
  }

  const onPath = routes.map((compiled) => ({ compiled, match: compiled.pattern.exec(path) })).filter(({ match }) => match !== null);
  if (onPath.length === 0) return { status: 404, body: { detail: "Not Found" } };
  const found = onPath.find(({ compiled }) => compiled.route.method === method);
  if (found === undefined) return { status: 405, body: { detail: "Method Not Allowed" } };

  const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "")?.[1];
  if (token === undefined) return { status: 401, body: { detail: "Not authenticated: send 'Authorization: Bearer <API key>'" } };
  if (!options.apiKeys.includes(token)) return { status: 401, body: { detail: "Invalid API key; create one in the console and set it as the bearer token" } };

  let body: unknown;
  if (rawBody.trim() !== "" && method !== "GET" && method !== "DELETE") {
    try {
      body = JSON.parse(rawBody);
    } catch {
      return { status: 422, body: { detail: [{ loc: ["body", 0], msg: "JSON decode error", type: "json_invalid" }] } };
    }
  }
  const params: Record<string, string> = {};
  found.compiled.names.forEach((name, index) => {
    params[name] = decodeURIComponent(found.match?.[index + 1] ?? "");
  });
  try {
    const result = await found.compiled.route.handle({ params, query, body });
    return { status: result.status, body: result.body };
  } catch (error) {
    if (error instanceof ApiError) return { status: error.status, body: { detail: error.detail } };
    throw error;
  }
}

function compileRoute(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_whole, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204 || body === undefined) {
    response.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function parseJsonOrText(raw: string): unknown {
  if (raw === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Waits `ms`, or less if the client hangs up first. */
function untilClosedOr(request: IncomingMessage, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    request.socket.once("close", done);
    function done(): void {
      clearTimeout(timer);
      request.socket.off("close", done);
      resolve();
    }
  });
}
