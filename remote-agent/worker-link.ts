/**
 * The link between the agent's control plane and its worker process: length-prefixed frames over
 * two socket pairs, fd 3 (control plane → worker) and fd 4 (worker → control plane).
 *
 *   u32 LE length of the rest | u8 kind | u32 LE session | u16 LE id length | id (UTF-8) | payload
 *
 * Protocol frames (a client's text messages, binary blob frames either way) cross as they are, so
 * the control plane routes calls and results without decoding the values in them. `session` names
 * the client session a frame belongs to (0: every session, or none); `id` is a call id where the
 * frame concerns one call.
 */
import type { FunctionInfo, Failure } from "../src/runtime/protocol.ts";

/**
 * The variable that marks a worker's processes: every process the user's code starts carries it
 * (see child-tag.ts), so the agent can stop the ones that left the worker's process group. Its
 * value is `<agent tag>.<worker number>.`, so one agent's workers all share a prefix and no value
 * is a prefix of another's.
 */
export const WORKER_TAG_VARIABLE = "FLOW_AGENT_TAG";

export const FrameKind = {
  /** A protocol text message: a client's (validated) to the worker, or the worker's to a client. */
  text: 1,
  /** A protocol binary frame (blob stream header and chunk), either way. */
  binary: 2,
  /** JSON between control plane and worker only (ToWorker, FromWorker). */
  control: 3,
  /** What a call (id; "" for none) printed, as UTF-8 text. */
  stdout: 4,
  stderr: 5,
  /** The call `id` has sent its last frame (its result, error, or the last blob of either). */
  ended: 6,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  kind: FrameKind;
  session: number;
  id: string;
  payload: Buffer;
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

/** A protocol binary frame (u32 stream, u32 blob index, chunk) for `session`, built in place. */
export function encodeBlobFrame(session: number, stream: number, index: number, chunk: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + BLOB_HEADER_BYTES + chunk.byteLength);
  frame.writeUInt32LE(frame.byteLength - PREFIX_BYTES, 0);
  frame[4] = FrameKind.binary;
  frame.writeUInt32LE(session, 5);
  frame.writeUInt16LE(0, 9);
  frame.writeUInt32LE(stream, HEADER_BYTES);
  frame.writeUInt32LE(index, HEADER_BYTES + 4);
  frame.set(chunk, HEADER_BYTES + BLOB_HEADER_BYTES);
  return frame;
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

/** Cuts a byte stream into frames. A frame inside one chunk is a view of it; one spanning chunks is copied once. */
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
        this.#frameBytes = PREFIX_BYTES + this.#take(PREFIX_BYTES, false).readUInt32LE(0);
      }
      if (this.#buffered < this.#frameBytes) return;
      const bytes = this.#take(this.#frameBytes, true);
      this.#frameBytes = 0;
      const idBytes = bytes.readUInt16LE(9);
      this.#onFrame({
        kind: bytes[4] as FrameKind,
        session: bytes.readUInt32LE(5),
        id: idBytes === 0 ? "" : bytes.toString("utf8", HEADER_BYTES, HEADER_BYTES + idBytes),
        payload: bytes.subarray(HEADER_BYTES + idBytes),
      });
    }
  }

  /** The next `count` bytes; consumed (removed) or only looked at. */
  #take(count: number, consume: boolean): Buffer {
    const first = this.#chunks[0]!;
    let bytes: Buffer;
    if (first.byteLength >= count) {
      bytes = first.subarray(0, count);
    } else {
      bytes = Buffer.allocUnsafe(count);
      for (let filled = 0, index = 0; filled < count; index++) {
        const chunk = this.#chunks[index]!;
        const part = Math.min(chunk.byteLength, count - filled);
        bytes.set(part === chunk.byteLength ? chunk : chunk.subarray(0, part), filled);
        filled += part;
      }
    }
    if (consume) this.#drop(count);
    return bytes;
  }

  #drop(count: number): void {
    this.#buffered -= count;
    while (count > 0) {
      const chunk = this.#chunks[0]!;
      if (chunk.byteLength <= count) {
        this.#chunks.shift();
        count -= chunk.byteLength;
      } else {
        this.#chunks[0] = chunk.subarray(count);
        count = 0;
      }
    }
  }
}

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
