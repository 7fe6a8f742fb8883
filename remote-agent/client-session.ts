/**
 * One client session on the agent, as it outlives its connections: the frames sent to the client
 * and not yet acknowledged (session-log.ts), how many frames arrived from it, and the connection
 * it is on now, if any. When a connection drops the session waits for the client to resume it
 * (RESUME_HEADER) for its grace window; its calls run on meanwhile, their output kept.
 */
import { randomBytes } from "node:crypto";
import type { WebSocket } from "ws";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../src/runtime/channel.ts";
import { DEFAULT_RECONNECT_GRACE_MS, type AgentMessage } from "../src/runtime/protocol.ts";
import { acknowledged, Receipts } from "../src/runtime/receipts.ts";
import { SessionLog, type SessionLogLimits } from "./session-log.ts";


/** A blob stream a client is sending: the call it belongs to, the worker session it goes to, and the bytes still due per part. */
export interface InboundStream {
  callId: string;
  /** The worker session of the call: the client's, or a detached call's own. */
  route: number;
  remaining: number[];
}

export class ClientSession {
  /** What the client names the session by when it resumes it. */
  readonly id = randomBytes(16).toString("hex");
  /** The session's number on the link to the worker (see worker-link.ts). */
  readonly number: number;
  readonly log: SessionLog;
  readonly streams = new Map<number, InboundStream>();
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
  /** How long the session is kept after its connection drops; the client says (init). */
  graceMs = DEFAULT_RECONNECT_GRACE_MS;
  /** It sent something valid: there is something to resume. */
  used = false;
  graceTimer: NodeJS.Timeout | undefined;
  /** Frames received from the client, and their acknowledgements. */
  readonly #receipts = new Receipts(() => this.#ws);
  #ws: WebSocket | undefined;

  constructor(number: number, spillPath: string, limits: SessionLogLimits) {
    this.number = number;
    this.log = new SessionLog(spillPath, limits);
  }

  /** The connection the session is on now. */
  get ws(): WebSocket | undefined {
    return this.#ws;
  }

  /**
   * Carry on over `ws`: the client has received `clientReceived` frames, so everything after
   * those is sent again.
   */
  attach(ws: WebSocket, clientReceived: number): void {
    this.#ws = ws;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.log.acknowledge(clientReceived);
    for (const frame of this.log.after(clientReceived)) ws.send(frame.data, { binary: frame.binary });
  }

  /** The connection is gone (or replaced); frames are kept for the next one. */
  detach(): void {
    this.#ws = undefined;
    this.#receipts.pause();
  }

  /** Whether `resumed` frames received is a count the session can resume from. */
  canResumeFrom(received: number): boolean {
    return received >= this.log.first - 1 && received <= this.log.sent;
  }

  send(message: AgentMessage): void {
    this.frame(Buffer.from(JSON.stringify(message)), false);
  }

  /**
   * A frame for the client: kept until it is acknowledged, and sent now if the session has a
   * connection. `handedOver` runs once the connection took it, or at once without one (the frame
   * is safe in the log either way).
   */
  frame(data: Buffer, binary: boolean, handedOver?: () => void): void {
    this.log.append(data, binary);
    const ws = this.#ws;
    if (ws && ws.readyState === ws.OPEN) ws.send(data, { binary }, handedOver);
    else handedOver?.();
  }

  /** A frame of `bytes` arrived from the client; acknowledge in batches. */
  arrived(bytes: number): void {
    this.#receipts.arrived(bytes);
  }

  /** Frames received from the client, in all. */
  get received(): number {
    return this.#receipts.received;
  }

  /** A ping from the client: with a payload, it acknowledges frames. */
  pinged(data: Buffer): void {
    const count = acknowledged(data);
    if (count !== undefined) this.log.acknowledge(count);
  }

  close(): void {
    this.detach();
    clearTimeout(this.graceTimer);
    this.log.close();
  }

}
