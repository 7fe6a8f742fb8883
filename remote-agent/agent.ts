/**
 * The agent: loads the user's bundled module once, then serves calls over an authenticated
 * WebSocket. One agent serves one function's container; calls run concurrently.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import { callContextStorage } from "../src/app/call-context.ts";
import { nameFromExports } from "../src/app/exports.ts";
import { assignId, findFunction, isStopLoading, registry } from "../src/app/registry.ts";
import { runImplementation } from "../src/app/remote-function.ts";
import { MODULE_NAMESPACES_GLOBAL } from "../src/bundler/agent-entry.ts";
import { AGENT_SDK_GLOBAL } from "../src/bundler/sdk-alias.ts";
import { CancelledError, PayloadTooLargeError } from "../src/errors.ts";
import * as sdk from "../src/index.ts";
import { Channel } from "../src/runtime/channel.ts";
import { decode, encode, encodedKey } from "../src/runtime/codec.ts";
import { toFailure } from "../src/runtime/failure.ts";
import {
  AUTH_HEADER,
  ClientMessage,
  PROTOCOL_VERSION,
  bearer,
  type AgentMessage,
  type Failure,
  type FunctionInfo,
} from "../src/runtime/protocol.ts";
import { agentLog, outputContext, type OutputSink } from "./output.ts";
import { WarmInstances } from "./warm-instances.ts";

const HEARTBEAT_MS = 5_000;
const AGENT_FILE = fileURLToPath(import.meta.url);

/** Users debug their own code: drop the agent's frames and Node's internals from remote stacks. */
function withoutAgentFrames(failure: Failure): Failure {
  const stack = failure.stack
    ?.split("\n")
    .filter((line) => !/^\s+at\s/.test(line) || !(line.includes(AGENT_FILE) || /[\s(]node:|\(<anonymous>\)/.test(line)))
    .join("\n");
  const cause = failure.cause && "name" in failure.cause ? withoutAgentFrames(failure.cause as Failure) : failure.cause;
  return { ...failure, stack, cause, errors: failure.errors?.map(withoutAgentFrames) };
}

export interface AgentOptions {
  /** Absolute path of the bundled entry module inside the workspace. */
  entry: string;
  secret: string;
  host: string;
  port: number;
  /** Exit when no client has been connected for this long. */
  idleTimeoutMs: number;
}

type InitMessage = Extract<ClientMessage, { type: "init" }>;
type CallMessage = Extract<ClientMessage, { type: "call" }>;

/** A call in progress; `credit` and `wake` drive streaming calls (see Agent.#pump). */
interface CallState {
  controller: AbortController;
  credit: number;
  wake: (() => void) | undefined;
}

class Client {
  readonly channel: Channel<ClientMessage, AgentMessage>;
  readonly calls = new Map<string, CallState>();
  alive = true;

  constructor(
    readonly ws: WebSocket,
    onMessage: (client: Client, message: ClientMessage, blobs: Uint8Array[]) => void,
  ) {
    this.channel = new Channel<ClientMessage, AgentMessage>(ws, ClientMessage, {
      message: (message, blobs) => onMessage(this, message, blobs),
      invalid: (error) => agentLog(`flow-agent: dropped a message: ${error.message}\n`),
    });
  }

  send(message: AgentMessage, blobs?: Uint8Array[]): Promise<void> {
    if (!this.channel.open) return Promise.resolve();
    return this.channel.send(message, blobs).catch((error: Error) => {
      // The caller must hear about a result too large to send; anything else is a lost connection.
      if (error instanceof PayloadTooLargeError) throw error;
      agentLog(`flow-agent: send failed: ${error.message}\n`);
    });
  }

  /** Where output goes for one call (or, with callId null, for the module load). */
  sink(callId: string | null): OutputSink {
    return (stream, data) => void this.send({ type: "log", callId, stream, data });
  }
}

export class Agent {
  readonly #options: AgentOptions;
  readonly #clients = new Set<Client>();
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 30 });
  #loaded: Promise<FunctionInfo[]> | undefined;
  readonly #instances = new WarmInstances();
  #idleTimer: NodeJS.Timeout | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#server = createServer((_req, res) => res.writeHead(426).end("flow agent: WebSocket only\n"));
    this.#server.on("upgrade", (req, socket, head) => this.#upgrade(req, socket, head));
  }

  /** Output printed outside any call or module load goes to every connected client. */
  readonly broadcast: OutputSink = (stream, data) => {
    for (const client of this.#clients) client.sink(null)(stream, data);
  };

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(this.#options.port, this.#options.host, resolve));
    setInterval(() => this.#heartbeat(), HEARTBEAT_MS).unref();
    this.#armIdleTimer();
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : this.#options.port;
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.#authorized(req.headers[AUTH_HEADER])) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws));
  }

  #authorized(header: string | undefined): boolean {
    const expected = Buffer.from(bearer(this.#options.secret));
    const given = Buffer.from(header ?? "");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #connected(ws: WebSocket): void {
    const client = new Client(ws, (c, message, blobs) => this.#onMessage(c, message, blobs));
    this.#clients.add(client);
    clearTimeout(this.#idleTimer);
    ws.on("pong", () => (client.alive = true));
    ws.on("close", () => {
      this.#clients.delete(client);
      // Nobody is left to receive these results: stop the work.
      for (const call of client.calls.values()) {
        call.controller.abort(new CancelledError("the client disconnected"));
        call.wake?.();
      }
      this.#armIdleTimer();
    });
  }

  #heartbeat(): void {
    for (const client of this.#clients) {
      if (!client.alive) {
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }

  #armIdleTimer(): void {
    if (this.#clients.size > 0) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      agentLog(`flow-agent: no client for ${this.#options.idleTimeoutMs} ms, exiting\n`);
      void this.shutdown().finally(() => process.exit(0));
    }, this.#options.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  #onMessage(client: Client, message: ClientMessage, blobs: Uint8Array[]): void {
    switch (message.type) {
      case "init":
        void this.#init(client, message);
        return;
      case "call":
        void this.#call(client, message, blobs);
        return;
      case "credit": {
        const call = client.calls.get(message.callId);
        if (call) {
          call.credit += message.count;
          call.wake?.();
        }
        return;
      }
      case "cancel": {
        const call = client.calls.get(message.callId);
        call?.controller.abort(new CancelledError(message.reason ?? "cancelled by the caller"));
        call?.wake?.();
        return;
      }
      case "stop":
        // The hooks print to the client that asked, which is still connected to see it.
        void outputContext.run(client.sink(null), () => this.shutdown()).then(() => client.send({ type: "stopped" }));
        return;
    }
  }

  async #init(client: Client, message: InitMessage): Promise<void> {
    if (message.maxPayloadBytes !== undefined) client.channel.maxPayloadBytes = message.maxPayloadBytes;
    this.#loaded ??= this.#load(client, message);
    try {
      const functions = await this.#loaded;
      await client.send({ type: "ready", protocol: PROTOCOL_VERSION, pid: process.pid, nodeVersion: process.version, functions });
    } catch (error) {
      await client.send({ type: "init-error", error: toFailure(error) });
    }
  }

  /**
   * Import the user's modules once, with their environment in place, in remote mode. Loading ends
   * when the bundle has run, or when a module reaches app.run() (which holds it there for good, see
   * registry.ts entrypointReached). Functions are then named from each module's exports; one that no
   * export names is still reachable by its site, which the client knows too.
   */
  async #load(client: Client, message: InitMessage): Promise<FunctionInfo[]> {
    Object.assign(process.env, message.env, message.secrets);
    const reg = registry();
    reg.mode = "remote";
    const globals = globalThis as Record<symbol, unknown>;
    // The bundle's `import ... from "flow-sdk"` reads this (see sdk-alias.ts).
    globals[Symbol.for(AGENT_SDK_GLOBAL)] = sdk;
    const namespaces = new Map<string, Record<string, unknown>>();
    globals[Symbol.for(MODULE_NAMESPACES_GLOBAL)] = namespaces;
    const reachedEntrypoint = new Promise<void>((resolve) => (reg.onEntrypoint = resolve));
    await outputContext.run(client.sink(null), () =>
      Promise.race([import(pathToFileURL(this.#options.entry).href), reachedEntrypoint]).catch((error: unknown) => {
        if (!isStopLoading(error)) throw error;
      }),
    );
    for (const namespace of namespaces.values()) nameFromExports(namespace, { exposeExports: message.exposeExports });
    return reg.functions.flatMap((f) => {
      if (f.id === undefined && f.site !== undefined) assignId(f, f.site);
      return f.id === undefined ? [] : [{ id: f.id, kind: f.kind, index: f.index, ...(f.site === undefined ? {} : { site: f.site }) }];
    });
  }

  async #call(client: Client, message: CallMessage, blobs: Uint8Array[]): Promise<void> {
    const { callId, functionId } = message;
    const fail = (error: unknown, reason: "exception" | "cancelled" | "unknown-function" | "bad-arguments") =>
      client.send({ type: "error", callId, error: withoutAgentFrames(toFailure(error)), reason });

    // A call can only name a function once the module is loaded (init comes first on every client).
    await this.#loaded?.catch(() => undefined);
    const record = findFunction(functionId);
    if (!record) {
      const known = registry().functions.map((f) => f.id).filter(Boolean).join(", ") || "none";
      await fail(new Error(`No remote function '${functionId}' in this module (known: ${known}).`), "unknown-function");
      return;
    }
    let args: unknown;
    let init: unknown[] = [];
    const argBlobs = message.argBlobs ?? blobs.length;
    try {
      args = decode(message.args, blobs.slice(0, argBlobs));
      if (!Array.isArray(args)) throw new TypeError("arguments must arrive as an array");
      if (message.init) init = decode(message.init, blobs.slice(argBlobs)) as unknown[];
    } catch (error) {
      await fail(error, "bad-arguments");
      return;
    }

    const state: CallState = { controller: new AbortController(), credit: message.credit ?? 0, wake: undefined };
    client.calls.set(callId, state);
    const { signal } = state.controller;
    // "started" only matters for calls that take a while: a call that settles within this turn of
    // the event loop goes straight to its result, one message instead of two.
    const started = setImmediate(() => void client.send({ type: "started", callId }));
    const context = { callId, functionId, signal };
    try {
      const value = await outputContext.run(client.sink(callId), () =>
        callContextStorage().run(context, async () => {
          const self = record.kind === "method" ? await this.#instances.get(record, init, encodedKey(message.init, blobs.slice(argBlobs))) : undefined;
          const result = await runImplementation(record, args as unknown[], self);
          return record.streaming ? await this.#pump(client, callId, state, result as AsyncIterator<unknown>) : result;
        }),
      );
      clearImmediate(started);
      if (signal.aborted) {
        await fail(signal.reason, "cancelled");
        return;
      }
      const encoded = encode(value, "result");
      await client.send({ type: "result", callId, value: encoded.value }, encoded.blobs);
    } catch (error) {
      clearImmediate(started);
      await fail(error, signal.aborted ? "cancelled" : "exception");
    } finally {
      client.calls.delete(callId);
    }
  }

  /**
   * Drive a generator: one item per credit the client granted, so a slow reader slows the
   * generator down instead of filling memory. On cancel the generator is closed (its finally
   * blocks run). Returns the generator's return value.
   */
  async #pump(client: Client, callId: string, state: CallState, generator: AsyncIterator<unknown>): Promise<unknown> {
    const { signal } = state.controller;
    try {
      for (;;) {
        while (state.credit === 0 && !signal.aborted) await new Promise<void>((resolve) => (state.wake = resolve));
        if (signal.aborted) return undefined;
        const next = await generator.next();
        if (next.done) return next.value;
        state.credit--;
        const encoded = encode(next.value, "yielded value");
        await client.send({ type: "yield", callId, value: encoded.value }, encoded.blobs);
      }
    } finally {
      if (signal.aborted) await generator.return?.(undefined);
    }
  }

  /**
   * Run the warm instances' @exit() hooks, once: a client's `stop`, SIGTERM and the end of stdin
   * may all ask, and every one of them must wait for the same run.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#instances.exit((error) => console.error(`flow-agent: an @exit() hook failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
    return this.#shutdown;
  }
}
