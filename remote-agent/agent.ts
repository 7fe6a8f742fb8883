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
 *
 * A session outlives its connection (client-session.ts): one that drops is kept, its calls running
 * and its output buffered, until the client resumes it or its grace window ends; only then are its
 * calls cancelled. Detached calls (detached-call.ts) belong to no session at all.
 */
import type { ChildProcess } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { HEADER_BYTES, payloadTooLarge } from "../src/runtime/channel.ts";
import { toFailure } from "../src/runtime/failure.ts";
import { Liveness } from "../src/runtime/liveness.ts";
import {
  AGENT_MISSED_HEARTBEATS,
  AUTH_HEADER,
  ClientMessage,
  DETACHED_CALL_ID,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  RESUME_HEADER,
  SESSION_HEADER,
  bearer,
  type AgentMessage,
} from "../src/runtime/protocol.ts";
import { ClientSession } from "./client-session.ts";
import { DetachedCall } from "./detached-call.ts";
import { agentLog } from "./output.ts";
import type { SessionLogLimits } from "./session-log.ts";
import { FrameKind } from "./worker-link.ts";
import { WorkerSupervisor } from "./worker-supervisor.ts";

/** Output waiting in one client's socket beyond which the worker's output is no longer read. */
const OUTPUT_HIGH_WATER_BYTES = 32 << 20;
const OUTPUT_LOW_WATER_BYTES = 8 << 20;
const OUTPUT_POLL_MS = 10;
/** What a session keeps for a client that has not acknowledged it: in memory, then on disk. */
const SESSION_LOG_LIMITS: SessionLogLimits = { memoryBytes: 32 << 20, diskBytes: 4 * 2 ** 30 };

export interface AgentOptions {
  secret: string;
  host: string;
  port: number;
  /** Exit when no client has been connected for this long (and no detached call runs or waits to be fetched). */
  idleTimeoutMs: number;
  /** This file: workers run it with --worker. */
  agentFile: string;
  workspace: string;
  /** Where detached calls keep their state, output and outcome (see detached-call.ts). */
  callsDir: string;
  /** Where sessions spill what their clients have not acknowledged. */
  spillDir: string;
  /** The environment workers start with. */
  env: Record<string, string>;
  /** Marks every process of this agent's workers (see worker-link.ts WORKER_TAG_VARIABLE). */
  tag: string;
  /** The first worker, started ahead with workerTag(tag, 1) (see main.ts). */
  firstWorker: ChildProcess | undefined;
  /** No client for idleTimeoutMs, or the result window of the last detached call is over. */
  onIdle(): void;
}

type InitMessage = Extract<ClientMessage, { type: "init" }>;
type CallMessage = Extract<ClientMessage, { type: "call" }>;

export class Agent {
  readonly #options: AgentOptions;
  /** Client sessions by id (what a resuming client names) and by their number on the worker link. */
  readonly #sessions = new Map<string, ClientSession>();
  readonly #byNumber = new Map<number, ClientSession>();
  /** Detached calls by id and by their number on the worker link. */
  readonly #calls = new Map<string, DetachedCall>();
  readonly #callsByNumber = new Map<number, DetachedCall>();
  #detachedRunning = 0;
  #lastDetachedEnd = 0;
  #resultWindowMs = 0;
  /** The session each upgrade in progress is for, so the 101 response can name it. */
  readonly #upgrading = new WeakMap<IncomingMessage, ClientSession>();
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 30 });
  readonly #supervisor: WorkerSupervisor;
  #entry: string | undefined;
  #nextNumber = 1;
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
        forward: (number, binary, parts) => this.#forward(number, binary, parts),
        send: (number, message) => this.#send(number, message),
        ended: (number, callId) => this.#callEnded(number, callId),
      },
    });
    this.#server = createServer((_req, res) => res.writeHead(426).end("flow agent: WebSocket only\n"));
    this.#server.on("upgrade", (req, socket, head) => this.#upgrade(req, socket, head));
    // A malformed HTTP request closes its own socket, nothing more.
    this.#server.on("clientError", (_error, socket) => socket.destroy());
    this.#wss.on("error", (error) => agentLog(`flow-agent: ${error.message}\n`));
    // The 101 response names the session, and how many frames of the client's it has.
    this.#wss.on("headers", (headers, req) => {
      const session = this.#upgrading.get(req);
      if (session) headers.push(`${SESSION_HEADER}: ${session.id} ${session.received}`);
    });
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
    const resume = req.headers[RESUME_HEADER];
    let session: ClientSession;
    let clientReceived = 0;
    if (typeof resume === "string") {
      const [id, received] = resume.split(" ");
      const known = id === undefined ? undefined : this.#sessions.get(id);
      if (!known || received === undefined || !/^\d+$/.test(received) || !known.canResumeFrom(Number(received))) {
        const body = "flow agent: no such session (its grace window is over, or the agent restarted)\n";
        socket.end(`HTTP/1.1 410 Gone\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return;
      }
      session = known;
      clientReceived = Number(received);
      // The old connection is finished before the count goes out: nothing more may arrive on it.
      const old = session.ws;
      session.detach();
      old?.terminate();
    } else {
      const number = this.#nextNumber++;
      session = new ClientSession(number, join(this.#options.spillDir, `session-${number}.spill`), SESSION_LOG_LIMITS);
    }
    this.#upgrading.set(req, session);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws, socket, session, clientReceived));
  }

  #authorized(header: string | undefined): boolean {
    const expected = Buffer.from(bearer(this.#options.secret));
    const given = Buffer.from(header ?? "");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #connected(ws: WebSocket, socket: Duplex, session: ClientSession, clientReceived: number): void {
    if (!this.#sessions.has(session.id)) {
      this.#sessions.set(session.id, session);
      this.#byNumber.set(session.number, session);
    }
    const liveness = new Liveness({
      intervalMs: HEARTBEAT_INTERVAL_MS,
      missedLimit: AGENT_MISSED_HEARTBEATS,
      ping: () => {
        if (ws.readyState === ws.OPEN) ws.ping();
      },
      dead: () => ws.terminate(),
    });
    clearTimeout(this.#idleTimer);
    // Any byte from the client is a sign of life, including those of a frame still in transfer.
    socket.on("data", () => liveness.heard());
    liveness.start();
    ws.binaryType = "nodebuffer";
    session.attach(ws, clientReceived);
    ws.on("message", (data: Buffer, isBinary) => {
      // A replaced connection's last frames are the new one's to send again.
      if (session.ws !== ws) return;
      session.arrived(data.byteLength);
      if (isBinary) this.#onBinary(session, data);
      else this.#onText(session, data);
    });
    ws.on("ping", (data: Buffer) => {
      if (session.ws === ws) session.pinged(data);
    });
    // A malformed frame (bad mask, opcode, UTF-8, close code, length): ws closes this connection.
    ws.on("error", (error) => {
      agentLog(`flow-agent: closing a connection of session ${session.number}: ${error.message}\n`);
      ws.terminate();
    });
    ws.on("close", (code) => {
      liveness.stop();
      if (session.ws !== ws) return;
      session.detach();
      // A client that said goodbye, or never said anything, has nothing to come back for.
      if (code === 1000 || !session.used) this.#endSession(session);
      else session.graceTimer = setTimeout(() => this.#endSession(session), session.graceMs).unref();
      this.#armIdleTimer();
    });
  }

  /** The session is over for good: its calls are cancelled, what it kept is let go. */
  #endSession(session: ClientSession): void {
    if (!this.#sessions.has(session.id)) return;
    this.#sessions.delete(session.id);
    this.#byNumber.delete(session.number);
    for (const call of this.#calls.values()) call.forget(session);
    session.ws?.terminate();
    session.close();
    this.#supervisor.closeSession(session.number);
    this.#armIdleTimer();
  }

  /**
   * Exit once nothing needs the agent: no session (connected, or in its grace window), no
   * detached call running, and the result window of the last one to end is over.
   */
  #armIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    if (this.#sessions.size > 0 || this.#detachedRunning > 0 || this.#shutdown) return;
    const detached = this.#calls.size > 0;
    const delayMs = detached ? Math.max(0, this.#lastDetachedEnd + this.#resultWindowMs - Date.now()) : this.#options.idleTimeoutMs;
    this.#idleTimer = setTimeout(() => {
      agentLog(detached ? `flow-agent: the result window of the detached calls is over, exiting\n` : `flow-agent: no client for ${this.#options.idleTimeoutMs} ms, exiting\n`);
      this.#options.onIdle();
    }, delayMs);
    this.#idleTimer.unref();
  }

  #onText(session: ClientSession, data: Buffer): void {
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
    session.used = true;
    switch (message.type) {
      case "init":
        void this.#init(session, message);
        return;
      case "call": {
        const lengths = message.blobs ?? [];
        if (lengths.length > 0) {
          if (message.blobStream === undefined || session.streams.has(message.blobStream)) {
            agentLog(`flow-agent: dropped a call: blobs without a blobStream of its own\n`);
            return;
          }
          // Refused on the announcement, before any of it arrives; nothing is allocated for it.
          const total = lengths.reduce((sum, length) => sum + length, data.byteLength);
          if (total > session.maxPayloadBytes) {
            const error = payloadTooLarge("call", total, session.maxPayloadBytes);
            session.send({ type: "error", callId: message.callId, error: toFailure(error), reason: "bad-arguments" });
            return;
          }
        }
        const detached = message.detach === undefined ? undefined : this.#startDetached(session, message);
        if (detached === null) return;
        const route = detached?.number ?? session.number;
        if (lengths.some((length) => length > 0)) session.streams.set(message.blobStream!, { callId: message.callId, route, remaining: [...lengths] });
        this.#supervisor.call(route, message.callId, message.functionId, data);
        if (detached) session.send({ type: "accepted", callId: message.callId });
        return;
      }
      case "calls": {
        const { functionId, init, calls } = message;
        // Only while calls must wait for a worker: each is then held (and cancellable) on its own.
        const split = () => calls.map((call) => Buffer.from(JSON.stringify({ type: "call", callId: call.callId, functionId, args: call.args, ...(init ? { init } : {}) })));
        this.#supervisor.callBatch(session.number, functionId, calls.map((call) => call.callId), data, split);
        return;
      }
      case "credit":
        this.#supervisor.toCall(session.number, message.callId, FrameKind.text, data);
        return;
      case "cancel": {
        const detached = this.#calls.get(message.callId);
        if (detached) this.#supervisor.cancel(detached.number, message.callId, message.reason ?? "cancelled", data);
        else this.#supervisor.cancel(session.number, message.callId, message.reason ?? "cancelled by the caller", data);
        return;
      }
      case "stop":
        this.#supervisor.stop(session.number, data);
        return;
      case "attach": {
        const call = this.#calls.get(message.callId);
        if (call) call.attach(session, message.logs);
        else session.send({ type: "error", callId: message.callId, reason: "unknown-call", error: { name: "TaskNotFoundError", message: `This agent has no detached call ${message.callId}.` } });
        return;
      }
    }
  }

  /**
   * Record a detached call and give it a worker session of its own. Null when it is refused (the
   * client is told why); the call then goes no further.
   */
  #startDetached(session: ClientSession, message: CallMessage): DetachedCall | null {
    const refuse = (why: string): null => {
      session.send({ type: "error", callId: message.callId, reason: "bad-arguments", error: { name: "ValidationError", message: why } });
      return null;
    };
    if (!DETACHED_CALL_ID.test(message.callId)) return refuse(`A detached call's id must look like call-<12 hex digits>, not ${JSON.stringify(message.callId)}.`);
    if (this.#calls.has(message.callId) || existsSync(join(this.#options.callsDir, message.callId, "state.json"))) return refuse(`There is a detached call ${message.callId} already.`);
    const detach = message.detach!;
    let call: DetachedCall;
    try {
      call = new DetachedCall(this.#options.callsDir, { callId: message.callId, functionId: message.functionId, number: this.#nextNumber++, resultWindowMs: detach.resultWindowMs });
    } catch (error) {
      return refuse(`The agent could not record the call: ${(error as Error).message}`);
    }
    this.#calls.set(call.callId, call);
    this.#callsByNumber.set(call.number, call);
    this.#detachedRunning++;
    this.#resultWindowMs = Math.max(this.#resultWindowMs, detach.resultWindowMs);
    this.#supervisor.openSession(call.number, session.maxPayloadBytes);
    if (detach.timeoutMs !== undefined) {
      const timer = setTimeout(() => {
        const reason = `${message.functionId} did not finish within timeoutMs=${detach.timeoutMs}; the agent cancelled it.`;
        call.timedOut(reason);
        this.#supervisor.cancel(call.number, call.callId, reason, Buffer.from(JSON.stringify({ type: "cancel", callId: call.callId, reason })));
      }, detach.timeoutMs);
      timer.unref();
      call.onEnd = () => clearTimeout(timer);
    }
    return call;
  }

  #onBinary(session: ClientSession, frame: Buffer): void {
    const streamId = frame.byteLength >= HEADER_BYTES ? frame.readUInt32LE(0) : -1;
    const stream = session.streams.get(streamId);
    const index = frame.byteLength >= HEADER_BYTES ? frame.readUInt32LE(4) : -1;
    const bytes = frame.byteLength - HEADER_BYTES;
    const due = stream?.remaining[index];
    if (!stream || due === undefined || bytes > due) {
      agentLog(`flow-agent: dropped an unexpected binary frame\n`);
      return;
    }
    stream.remaining[index] = due - bytes;
    if (stream.remaining.every((left) => left === 0)) session.streams.delete(streamId);
    this.#supervisor.toCall(stream.route, stream.callId, FrameKind.binary, frame);
  }

  async #init(session: ClientSession, message: InitMessage): Promise<void> {
    if (message.maxPayloadBytes !== undefined) session.maxPayloadBytes = message.maxPayloadBytes;
    if (message.reconnectGraceMs !== undefined) session.graceMs = message.reconnectGraceMs;
    this.#supervisor.openSession(session.number, session.maxPayloadBytes);
    try {
      const functions = await this.#supervisor.load(session.number, {
        entry: this.#entry!,
        env: message.env,
        secrets: message.secrets,
        exposeExports: message.exposeExports,
      });
      session.send({ type: "ready", protocol: PROTOCOL_VERSION, pid: process.pid, nodeVersion: process.version, functions });
    } catch (error) {
      session.send({ type: "init-error", error: toFailure(error) });
    }
  }

  /** A frame from the worker, to one session (or detached call), or (0) every session. */
  #forward(number: number, binary: boolean, parts: Buffer[]): void {
    // One piece per message: sent as fragments, the client would copy each piece twice.
    if (number === 0) {
      const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      for (const session of this.#sessions.values()) this.#forwardTo(session, binary, payload);
      return;
    }
    const session = this.#byNumber.get(number);
    if (session) this.#forwardTo(session, binary, parts.length === 1 ? parts[0]! : concatInto(session.log.frameBuffer(lengthOf(parts)), parts));
    else this.#callsByNumber.get(number)?.onFrame(binary, parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  #forwardTo(session: ClientSession, binary: boolean, payload: Buffer): void {
    const { number } = session;
    session.frame(payload, binary, binary ? () => this.#supervisor.delivered(number, payload.byteLength) : undefined);
    if ((session.ws?.bufferedAmount ?? 0) > OUTPUT_HIGH_WATER_BYTES || session.log.full) this.#pauseOutput();
  }

  #send(number: number, message: AgentMessage): void {
    if (number === 0) {
      for (const session of this.#sessions.values()) session.send(message);
      return;
    }
    const session = this.#byNumber.get(number);
    if (session) session.send(message);
    else this.#callsByNumber.get(number)?.onMessage(message);
  }

  /** A call's last message is out; for a detached call, that is its outcome, now on disk. */
  #callEnded(number: number, callId: string): void {
    const call = this.#callsByNumber.get(number);
    if (!call || call.callId !== callId) return;
    call.finish();
    this.#callsByNumber.delete(number);
    this.#supervisor.closeSession(number);
    this.#detachedRunning--;
    this.#lastDetachedEnd = Date.now();
    this.#armIdleTimer();
  }

  /**
   * A client reads slower than the worker writes, or one away has as much kept as it may: stop
   * reading the worker until it has caught up, so memory and disk stay bounded and the worker's
   * writes wait (see outbox.ts).
   */
  #pauseOutput(): void {
    if (this.#outputPaused) return;
    this.#outputPaused = true;
    this.#supervisor.pauseOutput();
    const poll = setInterval(() => {
      for (const session of this.#sessions.values()) {
        if ((session.ws?.bufferedAmount ?? 0) > OUTPUT_LOW_WATER_BYTES || session.log.full) return;
      }
      clearInterval(poll);
      this.#outputPaused = false;
      this.#supervisor.resumeOutput();
    }, OUTPUT_POLL_MS);
  }

  /**
   * End the agent's work: the @exit() hooks run (once, bounded in time; a client's `stop` may
   * have run them already), connections close, the worker and everything it started are stopped.
   * Detached calls still running end as cancelled, and say so on disk.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      clearTimeout(this.#idleTimer);
      try {
        await this.#supervisor.exitHooks();
        this.#server.close();
        for (const session of this.#sessions.values()) {
          session.ws?.terminate();
          session.close();
        }
      } finally {
        // Whatever failed above, the worker and what it started must not outlive the agent.
        await this.#supervisor.shutdown();
      }
    })();
    return this.#shutdown;
  }
}

/** The directories the agent keeps its own files in, created if need be. */
export function agentStateDirs(workspace: string, callsDir: string | undefined): { callsDir: string; spillDir: string } {
  const own = join(workspace, ".flow-agent");
  const dirs = { callsDir: callsDir ?? join(own, "calls"), spillDir: join(own, "spill") };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dirs;
}

function lengthOf(parts: readonly Buffer[]): number {
  let bytes = 0;
  for (const part of parts) bytes += part.byteLength;
  return bytes;
}

/** `parts` copied one after another into `target`, which is exactly as long. */
function concatInto(target: Buffer, parts: readonly Buffer[]): Buffer {
  let offset = 0;
  for (const part of parts) {
    target.set(part, offset);
    offset += part.byteLength;
  }
  return target;
}
