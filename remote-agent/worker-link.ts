/**
 * The link between the agent's control plane and its worker process: length-prefixed frames over
 * two socket pairs, fd 3 (control plane → worker) and fd 4 (worker → control plane).
 *
 *   u32 LE length of the rest | u8 kind | u32 LE session | u16 LE id length | id (UTF-8) | payload
 *
 * Protocol frames (a client's text messages, binary blob frames either way) cross as they are, so
 * the control plane routes calls and results without decoding the values in them. `session` names
 * the client session a frame belongs to (0: every session, or none). `id` is a call id: on output,
 * the call that printed it; on a protocol frame from the worker, the call whose last frame it is.
 */
import type { FunctionInfo, Failure } from "../src/runtime/protocol.ts";

/**
 * The variable that marks a worker's processes: every process the user's code starts carries it
 * (see child-tag.ts), so the agent can stop the ones that left the worker's process group. Its
 * value is `<agent tag>.<worker number>.`, so one agent's workers all share a prefix and no value
 * is a prefix of another's.
 */
export const WORKER_TAG_VARIABLE = "FLOW_AGENT_TAG";

/** The tag value of an agent's `generation`-th worker. */
export function workerTag(agentTag: string, generation: number): string {
  return `${agentTag}.${generation}.`;
}

export const FrameKind = {
  /** A protocol text message: a client's (validated) to the worker, or the worker's to a client (`id`: the call it ends). */
  text: 1,
  /** A protocol binary frame (blob stream header and chunk), either way (`id`: the call it ends). */
  binary: 2,
  /** JSON between control plane and worker only (ToWorker, FromWorker). */
  control: 3,
  /** What a call (id; "" for none) printed, as UTF-8 text. */
  stdout: 4,
  stderr: 5,
  /** The call `id` is over without a last frame to mark (its client was gone). */
  ended: 6,
  /** A protocol text message that is the last of several calls (a `results` message): `id` holds their ids, one a line. */
  textEndingMany: 7,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  kind: FrameKind;
  session: number;
  id: string;
  /**
   * The payload, as the views of the chunks it arrived in (one, unless it spanned reads): a
   * megabyte frame is never copied just to be put in one piece. See payloadOf.
   */
  parts: Buffer[];
}

/** A frame's payload in one buffer (copied only if it came in several parts). */
export function payloadOf(frame: Frame): Buffer {
  return frame.parts.length === 1 ? frame.parts[0]! : Buffer.concat(frame.parts);
}

const PREFIX_BYTES = 4;
const HEADER_BYTES = PREFIX_BYTES + 1 + 4 + 2;
/** The protocol's own header of a binary frame (see channel.ts). */
const BLOB_HEADER_BYTES = 8;

/** One frame in one buffer: the text or bytes are copied once, into place. */
export function encodeFrame(kind: FrameKind, session: number, id: string, payload: string | Uint8Array): Buffer {
  const idBytes = id === "" ? 0 : Buffer.byteLength(id);
  const payloadBytes = typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
  const frame = Buffer.allocUnsafe(HEADER_BYTES + idBytes + payloadBytes);
  frame.writeUInt32LE(frame.byteLength - PREFIX_BYTES, 0);
  frame[4] = kind;
  frame.writeUInt32LE(session, 5);
  frame.writeUInt16LE(idBytes, 9);
  if (idBytes > 0) frame.write(id, HEADER_BYTES, "utf8");
  if (typeof payload === "string") frame.write(payload, HEADER_BYTES + idBytes, "utf8");
  else frame.set(payload, HEADER_BYTES + idBytes);
  return frame;
}

/**
 * Everything of a protocol binary frame (u32 stream, u32 blob index, chunk) for `session` but the
 * chunk itself, which is written after it as it is (no copy).
 */
export function blobFrameHeader(session: number, id: string, stream: number, index: number, chunkBytes: number): Buffer {
  const idBytes = id === "" ? 0 : Buffer.byteLength(id);
  const start = HEADER_BYTES + idBytes;
  const header = Buffer.allocUnsafe(start + BLOB_HEADER_BYTES);
  header.writeUInt32LE(header.byteLength + chunkBytes - PREFIX_BYTES, 0);
  header[4] = FrameKind.binary;
  header.writeUInt32LE(session, 5);
  header.writeUInt16LE(idBytes, 9);
  if (idBytes > 0) header.write(id, HEADER_BYTES, "utf8");
  header.writeUInt32LE(stream, start);
  header.writeUInt32LE(index, start + 4);
  return header;
}

/** The header of a frame whose payload is written separately (to forward a buffer without copying it). */
export function frameHeader(kind: FrameKind, session: number, payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(HEADER_BYTES - PREFIX_BYTES + payloadBytes, 0);
  header[4] = kind;
  header.writeUInt32LE(session, 5);
  header.writeUInt16LE(0, 9);
  return header;
}

/** Cuts a byte stream into frames, without copying their payloads (see Frame.parts). */
export class FrameReader {
  readonly #onFrame: (frame: Frame) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes of the frame being read, prefix included; 0 until its prefix has arrived. */
  #frameBytes = 0;

  constructor(onFrame: (frame: Frame) => void) {
    this.#onFrame = onFrame;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    for (;;) {
      if (this.#frameBytes === 0) {
        if (this.#buffered < PREFIX_BYTES) return;
        this.#frameBytes = PREFIX_BYTES + Buffer.concat(this.#peek(PREFIX_BYTES)).readUInt32LE(0);
      }
      if (this.#buffered < this.#frameBytes) return;
      const frameBytes = this.#frameBytes;
      this.#frameBytes = 0;
      const header = Buffer.concat(this.#take(HEADER_BYTES));
      const idBytes = header.readUInt16LE(9);
      const id = idBytes === 0 ? "" : Buffer.concat(this.#take(idBytes)).toString("utf8");
      this.#onFrame({
        kind: header[4] as FrameKind,
        session: header.readUInt32LE(5),
        id,
        parts: this.#take(frameBytes - HEADER_BYTES - idBytes),
      });
    }
  }

  /** The next `count` bytes, as views of the chunks they are in, left in place. */
  #peek(count: number): Buffer[] {
    const parts: Buffer[] = [];
    for (let index = 0, left = count; left > 0; index++) {
      const chunk = this.#chunks[index]!;
      parts.push(chunk.byteLength <= left ? chunk : chunk.subarray(0, left));
      left -= Math.min(left, chunk.byteLength);
    }
    return parts;
  }

  /** The next `count` bytes, as views of the chunks they are in, consumed. */
  #take(count: number): Buffer[] {
    const parts: Buffer[] = [];
    this.#buffered -= count;
    while (count > 0) {
      const chunk = this.#chunks[0]!;
      if (chunk.byteLength <= count) {
        parts.push(chunk);
        this.#chunks.shift();
        count -= chunk.byteLength;
      } else {
        parts.push(chunk.subarray(0, count));
        this.#chunks[0] = chunk.subarray(count);
        count = 0;
      }
    }
    if (parts.length === 0) parts.push(EMPTY);
    return parts;
  }
}

const EMPTY = Buffer.alloc(0);

// ---- control messages ------------------------------------------------------------------------

/** What the control plane tells the worker. */
export type ToWorker =
  /** Import the user's modules; their top-level output goes to `session`. */
  | { type: "load"; session: number; entry: string; env: Record<string, string>; secrets: Record<string, string>; exposeExports: boolean }
  /** A client session began: the largest message it may be sent. */
  | { type: "session"; session: number; maxPayloadBytes: number }
  /** A client session ended: its calls are cancelled. */
  | { type: "closed"; session: number }
  /** `bytes` of binary frames for `session` have been handed to its socket (see the worker's send window). */
  | { type: "delivered"; session: number; bytes: number }
  /** Run the warm instances' @exit() hooks (once), then answer exit-hooks-done. */
  | { type: "exit-hooks" };

/** What the worker tells the control plane. */
export type FromWorker =
  | { type: "hello"; pid: number; heapLimitBytes: number }
  | { type: "loaded"; functions: FunctionInfo[] }
  | { type: "load-failed"; error: Failure }
  | { type: "exit-hooks-done" }
  /**
   * Written just before the worker ends itself: the user's code called process.exit(), or an
   * exception nothing caught. The call whose code did it (if any) and whether it was still running.
   */
  | {
      type: "dying";
      how: "exit" | "uncaught-exception";
      exitCode: number;
      session?: number;
      callId?: string;
      functionId?: string;
      callRunning?: boolean;
      error?: Failure;
    };
