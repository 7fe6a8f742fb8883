/**
 * A typed, validated message channel over a WebSocket, used by the client end of the protocol (and
 * by tests on both ends).
 *
 * Text frames carry JSON messages. A message with binary parts lists their byte lengths in `blobs`
 * and a `blobStream` id; the bytes follow as binary frames of at most CHUNK_BYTES, each prefixed by
 * an 8-byte header (u32 stream, u32 blob index). Chunking keeps memory bounded, and once the
 * socket's buffer is full (MAX_BUFFERED_BYTES) small messages (logs, other calls' results) go out
 * between chunks instead of queueing behind the whole transfer.
 *
 * The channel outlives its WebSocket: frames are counted both ways and acknowledged (see
 * RESUME_HEADER in protocol.ts), each frame sent is kept until the other end acknowledges it, and
 * `attach` puts the channel on a new WebSocket, sending again what the other end had not received.
 * A message whose binary frames were cut by a dropped connection carries on where it stopped, on
 * either side.
 */
import type { WebSocket } from "ws";
import type * as z from "zod";
import { PayloadTooLargeError } from "../errors.ts";
import { BlobAssembly } from "./blob-assembly.ts";
import { acknowledged, Receipts } from "./receipts.ts";
import { SpareFrames } from "./spare-frames.ts";

/** The most bytes of a blob one binary frame carries. */
export const CHUNK_BYTES = 1 << 20;
/** A binary frame starts with u32 stream and u32 blob index, little-endian. */
export const HEADER_BYTES = 8;
/** How many bytes we let ws buffer before waiting for the socket to drain. */
const MAX_BUFFERED_BYTES = 16 << 20;

interface WithBlobs {
  type: string;
  blobs?: number[] | undefined;
  blobStream?: number | undefined;
}

export interface ChannelHandlers<In> {
  message(message: In, blobs: Uint8Array[]): void;
  /** A frame that failed validation; the channel drops it and keeps going. */
  invalid(error: Error): void;
}

/** Default limit of one message with its binary parts: 2 GiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 2 ** 31;

const WHAT: Record<string, string> = { call: "arguments", result: "result data", yield: "yielded data" };

/** The error for a message of `type` that takes `bytes`, over `limit`. */
export function payloadTooLarge(type: string, bytes: number, limit: number): PayloadTooLargeError {
  const what = WHAT[type] ?? `'${type}' message`;
  return new PayloadTooLargeError(`Payload too large: the ${what} take ${formatBytes(bytes)}, over the limit of ${formatBytes(limit)}.`, {
    suggestions: ["Send less per call (split the data, or use map over chunks),", "or raise the function's `maxPayloadBytes` option."],
  });
}


/**
 * Frames sent and not acknowledged yet, oldest first; `first` is the number of the oldest.
 * Acknowledged full blob frames are reused for the next chunks (see spare-frames.ts).
 */
class SentFrames {
  first = 1;
  #frames: (string | Buffer | undefined)[] = [];
  #head = 0;
  readonly #spares = new SpareFrames(HEADER_BYTES + CHUNK_BYTES);

  get count(): number {
    return this.#frames.length - this.#head;
  }

  push(frame: string | Buffer): void {
    this.#frames.push(frame);
  }

  /** A buffer for a binary frame of `bytes`: a spare one if it is a full frame. */
  binaryFrame(bytes: number): Buffer {
    return this.#spares.take(bytes);
  }

  /** Drops the frames up to and including number `received`. */
  acknowledge(received: number): void {
    const drop = Math.min(received - this.first + 1, this.count);
    if (drop <= 0) return;
    for (let index = this.#head; index < this.#head + drop; index++) {
      const frame = this.#frames[index];
      if (typeof frame !== "string" && frame !== undefined) this.#spares.giveBack(frame);
      // Cleared, not only skipped: the slots would otherwise keep up to 1,024 frames (a GiB of
      // blob chunks) alive until the array is compacted.
      this.#frames[index] = undefined;
    }
    this.#head += drop;
    this.first += drop;
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#head = 0;
    }
  }

  *all(): Iterable<string | Buffer> {
    for (let index = this.#head; index < this.#frames.length; index++) yield this.#frames[index]!;
  }

  /** Let go of the spares too (the channel is closed). */
  clear(): void {
    this.#spares.clear();
  }
}

export class Channel<In extends WithBlobs, Out extends WithBlobs> {
  /** Largest message (text plus binary parts) sent or accepted; both ends apply it. */
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
  readonly #schema: z.ZodType<In>;
  readonly #handlers: ChannelHandlers<In>;
  readonly #assemblies = new Map<number, BlobAssembly<In>>();
  #ws: WebSocket | undefined;
  #closed: Error | undefined;
  #nextStream = 1;
  #drainWaiters: (() => void)[] = [];
  readonly #sent = new SentFrames();
  readonly #receipts = new Receipts(() => this.#ws);
  readonly #onMessage = (data: Buffer, isBinary: boolean) => {
    this.#receipts.arrived(data.byteLength);
    if (isBinary) this.#onBinary(data);
    else this.#onText(data.toString());
  };
  readonly #onPing = (data: Buffer) => {
    const count = acknowledged(data);
    if (count !== undefined) this.#sent.acknowledge(count);
  };

  /** With `ws`, the channel starts on it (a new session: neither end has received anything). */
  constructor(ws: WebSocket | undefined, schema: z.ZodType<In>, handlers: ChannelHandlers<In>) {
    this.#schema = schema;
    this.#handlers = handlers;
    if (ws) this.attach(ws, 0);
  }

  /** Whether messages can still be sent: now, or once a new connection is attached. */
  get open(): boolean {
    return this.#closed === undefined;
  }

  /** Whether a connection is attached now. */
  get attached(): boolean {
    return this.#ws !== undefined && this.#ws.readyState === this.#ws.OPEN;
  }

  /** How many frames arrived in all (what a new connection tells the other end). */
  get received(): number {
    return this.#receipts.received;
  }

  /**
   * Carry on over `ws`, which is open: the other end has received `peerReceived` frames, so the
   * frames after those are sent again, in order.
   */
  attach(ws: WebSocket, peerReceived: number): void {
    if (peerReceived < this.#sent.first - 1 || peerReceived > this.#sent.first - 1 + this.#sent.count) {
      throw new Error(`the other end says it received ${peerReceived} frames, but ${this.#sent.first - 1 + this.#sent.count} were sent and ${this.#sent.first - 1} acknowledged`);
    }
    this.detach();
    this.#sent.acknowledge(peerReceived);
    this.#ws = ws;
    ws.binaryType = "nodebuffer";
    ws.on("message", this.#onMessage);
    ws.on("ping", this.#onPing);
    for (const frame of this.#sent.all()) ws.send(frame, () => this.#wakeDrainWaiters());
    this.#wakeDrainWaiters();
  }

  /** Stop using the current connection (it dropped); what is sent meanwhile waits for the next one. */
  detach(): void {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = undefined;
    ws.off("message", this.#onMessage);
    ws.off("ping", this.#onPing);
    this.#receipts.pause();
  }

  /** For good: senders still waiting fail with `error`. */
  close(error: Error): void {
    this.#closed ??= error;
    this.#sent.clear();
    this.detach();
    this.#wakeDrainWaiters();
  }

  /** Send a message and its binary parts. Resolves once everything is handed to the connection (or kept for the next one). */
  async send(message: Out, blobs: Uint8Array[] = []): Promise<void> {
    if (this.#closed) throw this.#closed;
    const text = JSON.stringify(blobs.length === 0 ? message : { ...message, blobStream: this.#nextStream, blobs: blobs.map((b) => b.byteLength) });
    const bytes = blobs.reduce((sum, blob) => sum + blob.byteLength, text.length);
    if (bytes > this.maxPayloadBytes) throw payloadTooLarge(message.type, bytes, this.maxPayloadBytes);
    this.#frame(text);
    if (blobs.length === 0) return;
    const stream = this.#nextStream++;
    for (let index = 0; index < blobs.length; index++) {
      const blob = blobs[index]!;
      for (let offset = 0; offset < blob.byteLength; offset += CHUNK_BYTES) {
        // Without a connection nothing drains: a big transfer waits for the next one rather than pile up here.
        while (!this.#ws || this.#ws.bufferedAmount > MAX_BUFFERED_BYTES) {
          await this.#drained();
          this.#throwIfClosed();
        }
        const chunk = blob.subarray(offset, Math.min(offset + CHUNK_BYTES, blob.byteLength));
        const frame = this.#sent.binaryFrame(HEADER_BYTES + chunk.byteLength);
        frame.writeUInt32LE(stream, 0);
        frame.writeUInt32LE(index, 4);
        frame.set(chunk, HEADER_BYTES);
        this.#frame(frame);
      }
    }
  }

  #throwIfClosed(): void {
    if (this.#closed) throw new Error(`connection closed while sending: ${this.#closed.message}`);
  }

  #frame(frame: string | Buffer): void {
    this.#sent.push(frame);
    const ws = this.#ws;
    if (ws && ws.readyState === ws.OPEN) {
      if (typeof frame === "string") ws.send(frame);
      else ws.send(frame, () => this.#wakeDrainWaiters());
    }
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #wakeDrainWaiters(): void {
    if (!this.#closed && (!this.#ws || this.#ws.bufferedAmount > MAX_BUFFERED_BYTES / 2)) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  #onText(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      this.#handlers.invalid(new Error(`not JSON: ${(error as Error).message}`));
      return;
    }
    const result = this.#schema.safeParse(parsed);
    if (!result.success) {
      this.#handlers.invalid(new Error(`invalid message: ${result.error.message}`));
      return;
    }
    const message = result.data;
    const lengths = message.blobs ?? [];
    if (lengths.length === 0) {
      this.#handlers.message(message, []);
      return;
    }
    if (message.blobStream === undefined) {
      this.#handlers.invalid(new Error(`message '${message.type}' has blobs but no blobStream`));
      return;
    }
    const total = lengths.reduce((sum, length) => sum + length, text.length);
    if (total > this.maxPayloadBytes) {
      // Refused on the announcement; its frames are then dropped as unexpected.
      this.#handlers.invalid(new PayloadTooLargeError(`a '${message.type}' message of ${formatBytes(total)} exceeds the payload limit`));
      return;
    }
    if (this.#assemblies.has(message.blobStream)) {
      this.#handlers.invalid(new Error(`message '${message.type}' reuses blobStream ${message.blobStream} still in transfer`));
      return;
    }
    // Nothing is allocated yet: memory follows the bytes that arrive (see blob-assembly.ts).
    const assembly = new BlobAssembly(message, lengths);
    if (assembly.complete) this.#handlers.message(message, assembly.blobs());
    else this.#assemblies.set(message.blobStream, assembly);
  }

  #onBinary(frame: Buffer): void {
    if (frame.byteLength < HEADER_BYTES) {
      this.#handlers.invalid(new Error("binary frame shorter than its header"));
      return;
    }
    const stream = frame.readUInt32LE(0);
    const index = frame.readUInt32LE(4);
    const assembly = this.#assemblies.get(stream);
    if (!assembly?.add(index, frame.subarray(HEADER_BYTES))) {
      this.#handlers.invalid(new Error(`unexpected binary frame for stream ${stream} part ${index}`));
      return;
    }
    if (assembly.complete) {
      this.#assemblies.delete(stream);
      this.#handlers.message(assembly.message, assembly.blobs());
    }
  }
}

export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
