/**
 * The agent's control plane: the authenticated WebSocket server, client sessions, heartbeats,
 * validation and routing. It never runs the user's code: that runs in a worker process it
 * supervises (worker-supervisor.ts), so a computation that spins, a crash or an out-of-memory in
 * user code cannot stall the heartbeats or take the connections down with it.
 *
 * Every message a client sends is validated here; a call and its binary frames are then passed to
 * the worker as they came, and the worker's results come back the same way, so values are never
 * decoded on this side. A peer that misbehaves (a reset, a malformed frame, a bad secret) loses
 * its own connection and nothing else.
 */
import type { ChildProcess } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { DEFAULT_MAX_PAYLOAD_BYTES, HEADER_BYTES, payloadTooLarge } from "../src/runtime/channel.ts";
import { toFailure } from "../src/runtime/failure.ts";
import { Liveness } from "../src/runtime/liveness.ts";
import {
  AGENT_MISSED_HEARTBEATS,
  AUTH_HEADER,
  ClientMessage,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  bearer,
  type AgentMessage,
} from "../src/runtime/protocol.ts";
import { agentLog } from "./output.ts";
import { FrameKind } from "./worker-link.ts";
import { WorkerSupervisor } from "./worker-supervisor.ts";

/** Output waiting in one client's socket beyond which the worker's output is no longer read. */
const OUTPUT_HIGH_WATER_BYTES = 32 << 20;
const OUTPUT_LOW_WATER_BYTES = 8 << 20;
const OUTPUT_POLL_MS = 10;

export interface AgentOptions {
  secret: string;
  host: string;
  port: number;
  /** Exit when no client has been connected for this long. */
  idleTimeoutMs: number;
  /** This file: workers run it with --worker. */
  agentFile: string;
  workspace: string;
  /** The environment workers start with. */
  env: Record<string, string>;
  /** Marks every process of this agent's workers (see worker-link.ts WORKER_TAG_VARIABLE). */
  tag: string;
  /** The first worker, started ahead with workerTag(tag, 1) (see main.ts). */
  firstWorker: ChildProcess | undefined;
  /** No client for idleTimeoutMs. */
  onIdle(): void;
}

type InitMessage = Extract<ClientMessage, { type: "init" }>;

/** A blob stream a client is sending: the call it belongs to, and the bytes still due per part. */
interface InboundStream {
  callId: string;
  remaining: number[];
}

class Connection {
  readonly streams = new Map<number, InboundStream>();
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;

  constructor(
    readonly session: number,
    readonly ws: WebSocket,
    readonly liveness: Liveness,
  ) {}

  send(message: AgentMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }
}

export class Agent {
  readonly #options: AgentOptions;
  readonly #connections = new Map<number, Connection>();
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 30 });
  readonly #supervisor: WorkerSupervisor;
  #entry: string | undefined;
  #nextSession = 1;
  #idleTimer: NodeJS.Timeout | undefined;
  #outputPaused = false;
  #shutdown: Promise<void> | undefined;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#supervisor = new WorkerSupervisor({
      agentFile: options.agentFile,
      cwd: options.workspace,
      env: options.env,
      tag: options.tag,
      firstWorker: options.firstWorker,
      output: {
        forward: (session, binary, parts) => this.#forward(session, binary, parts),
        send: (session, message) => this.#send(session, message),
      },
    });
    this.#server = createServer((_req, res) => res.writeHead(426).end("flow agent: WebSocket only\n"));
    this.#server.on("upgrade", (req, socket, head) => this.#upgrade(req, socket, head));
    // A malformed HTTP request closes its own socket, nothing more.
    this.#server.on("clientError", (_error, socket) => socket.destroy());
    this.#wss.on("error", (error) => agentLog(`flow-agent: ${error.message}\n`));
  }

  /** Serve calls of the modules bundled at `entry`. */
  async listen(entry: string): Promise<number> {
    this.#entry = entry;
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off("error", reject);
        this.#server.on("error", (error) => agentLog(`flow-agent: ${error.message}\n`));
        resolve();
      });
    });
    this.#armIdleTimer();
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : this.#options.port;
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // From here on the socket is ours, not the HTTP server's: a reset must close it, not the agent.
    socket.on("error", () => socket.destroy());
    if (!this.#authorized(req.headers[AUTH_HEADER])) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws, socket));
  }

  #authorized(header: string | undefined): boolean {
    const expected = Buffer.from(bearer(this.#options.secret));
    const given = Buffer.from(header ?? "");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #connected(ws: WebSocket, socket: Duplex): void {
    const session = this.#nextSession++;
    const liveness = new Liveness({
      intervalMs: HEARTBEAT_INTERVAL_MS,
      missedLimit: AGENT_MISSED_HEARTBEATS,
      ping: () => {
        if (ws.readyState === ws.OPEN) ws.ping();
      },
      dead: () => ws.terminate(),
    });
    const connection = new Connection(session, ws, liveness);
    this.#connections.set(session, connection);
    clearTimeout(this.#idleTimer);
    // Any byte from the client is a sign of life, including those of a frame still in transfer.
    socket.on("data", () => liveness.heard());
    liveness.start();
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) this.#onBinary(connection, data);
      else this.#onText(connection, data);
    });
    // A malformed frame (bad mask, opcode, UTF-8, close code, length): ws closes this connection.
    ws.on("error", (error) => {
      agentLog(`flow-agent: closing session ${session}: ${error.message}\n`);
      ws.terminate();
    });
    ws.on("close", () => {
      liveness.stop();
      this.#connections.delete(session);
      this.#supervisor.closeSession(session);
      this.#armIdleTimer();
    });
  }

  #armIdleTimer(): void {
    if (this.#connections.size > 0 || this.#shutdown) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      agentLog(`flow-agent: no client for ${this.#options.idleTimeoutMs} ms, exiting\n`);
      this.#options.onIdle();
    }, this.#options.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  #onText(connection: Connection, data: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString("utf8"));
    } catch (error) {
      agentLog(`flow-agent: dropped a message: not JSON: ${(error as Error).message}\n`);
      return;
    }
    const result = ClientMessage.safeParse(parsed);
    if (!result.success) {
      agentLog(`flow-agent: dropped a message: invalid message: ${result.error.message}\n`);
      return;
    }
    const message = result.data;
    const { session } = connection;
    switch (message.type) {
      case "init":
        void this.#init(connection, message);
        return;
      case "call": {
        const lengths = message.blobs ?? [];
        if (lengths.length > 0) {
          if (message.blobStream === undefined || connection.streams.has(message.blobStream)) {
            agentLog(`flow-agent: dropped a call: blobs without a blobStream of its own\n`);
            return;
          }
          // Refused on the announcement, before any of it arrives; nothing is allocated for it.
          const total = lengths.reduce((sum, length) => sum + length, data.byteLength);
          if (total > connection.maxPayloadBytes) {
            const error = payloadTooLarge("call", total, connection.maxPayloadBytes);
            connection.send({ type: "error", callId: message.callId, error: toFailure(error), reason: "bad-arguments" });
            return;
          }
          if (lengths.some((length) => length > 0)) connection.streams.set(message.blobStream, { callId: message.callId, remaining: [...lengths] });
        }
        this.#supervisor.call(session, message.callId, message.functionId, data);
        return;
      }
      case "credit":
        this.#supervisor.toCall(session, message.callId, FrameKind.text, data);
        return;
      case "cancel":
        this.#supervisor.cancel(session, message.callId, message.reason ?? "cancelled by the caller", data);
        return;
      case "stop":
        this.#supervisor.stop(session, data);
        return;
    }
  }

  #onBinary(connection: Connection, frame: Buffer): void {
    const stream = frame.byteLength >= HEADER_BYTES ? connection.streams.get(frame.readUInt32LE(0)) : undefined;
    const index = frame.byteLength >= HEADER_BYTES ? frame.readUInt32LE(4) : -1;
    const bytes = frame.byteLength - HEADER_BYTES;
    const due = stream?.remaining[index];
    if (!stream || due === undefined || bytes > due) {
      agentLog(`flow-agent: dropped an unexpected binary frame\n`);
      return;
    }
    stream.remaining[index] = due - bytes;
    if (stream.remaining.every((left) => left === 0)) connection.streams.delete(frame.readUInt32LE(0));
    this.#supervisor.toCall(connection.session, stream.callId, FrameKind.binary, frame);
  }

  async #init(connection: Connection, message: InitMessage): Promise<void> {
    if (message.maxPayloadBytes !== undefined) connection.maxPayloadBytes = message.maxPayloadBytes;
    this.#supervisor.openSession(connection.session, connection.maxPayloadBytes);
    try {
      const functions = await this.#supervisor.load(connection.session, {
        entry: this.#entry!,
        env: message.env,
        secrets: message.secrets,
        exposeExports: message.exposeExports,
      });
      connection.send({ type: "ready", protocol: PROTOCOL_VERSION, pid: process.pid, nodeVersion: process.version, functions });
    } catch (error) {
      connection.send({ type: "init-error", error: toFailure(error) });
    }
  }

  /** A frame from the worker, to one session or (0) every one. */
  #forward(session: number, binary: boolean, parts: Buffer[]): void {
    if (session === 0) {
      for (const connection of this.#connections.values()) this.#forwardTo(connection, binary, parts);
      return;
    }
    const connection = this.#connections.get(session);
    if (connection) this.#forwardTo(connection, binary, parts);
  }

  #forwardTo(connection: Connection, binary: boolean, parts: Buffer[]): void {
    const { ws, session } = connection;
    if (ws.readyState !== ws.OPEN) return;
    // One piece per message: sent as fragments, the client would copy each piece twice.
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (binary) ws.send(payload, { binary: true }, () => this.#supervisor.delivered(session, payload.byteLength));
    else ws.send(payload, { binary: false });
    if (ws.bufferedAmount > OUTPUT_HIGH_WATER_BYTES) this.#pauseOutput();
  }

  #send(session: number, message: AgentMessage): void {
    if (session === 0) {
      for (const connection of this.#connections.values()) connection.send(message);
    } else {
      this.#connections.get(session)?.send(message);
    }
  }

  /**
   * A client reads slower than the worker writes: stop reading the worker until its socket has
   * drained, so memory stays bounded and the worker's writes wait (see outbox.ts).
   */
  #pauseOutput(): void {
    if (this.#outputPaused) return;
    this.#outputPaused = true;
    this.#supervisor.pauseOutput();
    const poll = setInterval(() => {
      for (const { ws } of this.#connections.values()) if (ws.bufferedAmount > OUTPUT_LOW_WATER_BYTES) return;
      clearInterval(poll);
      this.#outputPaused = false;
      this.#supervisor.resumeOutput();
    }, OUTPUT_POLL_MS);
  }

  /**
   * End the agent's work: the @exit() hooks run (once, bounded in time; a client's `stop` may
   * have run them already), connections close, the worker and everything it started are stopped.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      clearTimeout(this.#idleTimer);
      await this.#supervisor.exitHooks();
      this.#server.close();
      for (const { ws } of this.#connections.values()) ws.terminate();
      await this.#supervisor.shutdown();
    })();
    return this.#shutdown;
  }
}
