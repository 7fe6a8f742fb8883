/**
 * A typed, validated message channel over one WebSocket, used by both ends of the protocol.
 *
 * Text frames carry JSON messages. A message with binary parts lists their byte lengths in `blobs`
 * and a `blobStream` id; the bytes follow as binary frames of at most CHUNK_BYTES, each prefixed by
 * an 8-byte header (u32 stream, u32 blob index). Chunking keeps memory bounded, and once the
 * socket's buffer is full (MAX_BUFFERED_BYTES) small messages (logs, other calls' results) go out
 * between chunks instead of queueing behind the whole transfer.
 */
import type { WebSocket } from "ws";
import type { z } from "zod";
import { PayloadTooLargeError } from "../errors.ts";
import { BlobAssembly } from "./blob-assembly.ts";

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

export class Channel<In extends WithBlobs, Out extends WithBlobs> {
  /** Largest message (text plus binary parts) sent or accepted; both ends apply it. */
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
  readonly #ws: WebSocket;
  readonly #schema: z.ZodType<In>;
  readonly #handlers: ChannelHandlers<In>;
  readonly #assemblies = new Map<number, BlobAssembly<In>>();
  #nextStream = 1;
  #drainWaiters: (() => void)[] = [];

  constructor(ws: WebSocket, schema: z.ZodType<In>, handlers: ChannelHandlers<In>) {
    this.#ws = ws;
    this.#schema = schema;
    this.#handlers = handlers;
    ws.binaryType = "nodebuffer";
    ws.on("message", (data, isBinary) => {
      if (isBinary) this.#onBinary(data as Buffer);
      else this.#onText(data.toString());
    });
  }

  get open(): boolean {
    return this.#ws.readyState === this.#ws.OPEN;
  }

  /** Send a message and its binary parts. Resolves once everything is handed to the socket. */
  async send(message: Out, blobs: Uint8Array[] = []): Promise<void> {
    const text = JSON.stringify(blobs.length === 0 ? message : { ...message, blobStream: this.#nextStream, blobs: blobs.map((b) => b.byteLength) });
    const bytes = blobs.reduce((sum, blob) => sum + blob.byteLength, text.length);
    if (bytes > this.maxPayloadBytes) throw payloadTooLarge(message.type, bytes, this.maxPayloadBytes);
    this.#ws.send(text);
    if (blobs.length === 0) return;
    const stream = this.#nextStream++;
    for (let index = 0; index < blobs.length; index++) {
      const blob = blobs[index]!;
      for (let offset = 0; offset < blob.byteLength; offset += CHUNK_BYTES) {
        if (!this.open) throw new Error("connection closed while sending");
        const chunk = blob.subarray(offset, Math.min(offset + CHUNK_BYTES, blob.byteLength));
        const frame = Buffer.allocUnsafe(HEADER_BYTES + chunk.byteLength);
        frame.writeUInt32LE(stream, 0);
        frame.writeUInt32LE(index, 4);
        frame.set(chunk, HEADER_BYTES);
        this.#ws.send(frame, () => this.#wakeDrainWaiters());
        if (this.#ws.bufferedAmount > MAX_BUFFERED_BYTES) await this.#drained();
      }
    }
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #wakeDrainWaiters(): void {
    if (this.#ws.bufferedAmount > MAX_BUFFERED_BYTES / 2 && this.open) return;
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
