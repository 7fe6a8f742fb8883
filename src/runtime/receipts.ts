/**
 * The receiving half of the frame count (see RESUME_HEADER in protocol.ts): counts the frames that
 * arrive and acknowledges them in a ping's payload (ACK_BYTES: the count as a float64, little
 * endian) after ACK_EVERY_FRAMES frames or ACK_EVERY_BYTES bytes, or ACK_DELAY_MS after the first
 * unacknowledged one. The client's channel and the agent's session each keep one, so both ends
 * acknowledge alike and each can let go of what the other has.
 */
import { ACK_BYTES } from "./protocol.ts";

const ACK_EVERY_FRAMES = 128;
const ACK_EVERY_BYTES = 4 << 20;
const ACK_DELAY_MS = 200;

/** What an acknowledgement goes out on: an open WebSocket, or none while disconnected. */
interface PingTarget {
  readonly readyState: number;
  readonly OPEN: number;
  ping(data: Buffer): void;
}

export class Receipts {
  /** Frames received, in all. */
  #received = 0;
  #framesSinceAck = 0;
  #bytesSinceAck = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #target: () => PingTarget | undefined;

  constructor(target: () => PingTarget | undefined) {
    this.#target = target;
  }

  get received(): number {
    return this.#received;
  }

  /** A frame of `bytes` arrived; acknowledge in batches. */
  arrived(bytes: number): void {
    this.#received++;
    this.#framesSinceAck++;
    this.#bytesSinceAck += bytes;
    if (this.#framesSinceAck >= ACK_EVERY_FRAMES || this.#bytesSinceAck >= ACK_EVERY_BYTES) this.acknowledge();
    else this.#timer ??= setTimeout(() => this.acknowledge(), ACK_DELAY_MS).unref();
  }

  /** Tell the other end how many frames arrived, so it can let go of them. */
  acknowledge(): void {
    this.pause();
    this.#framesSinceAck = 0;
    this.#bytesSinceAck = 0;
    const target = this.#target();
    if (!target || target.readyState !== target.OPEN) return;
    const ack = Buffer.allocUnsafe(ACK_BYTES);
    ack.writeDoubleLE(this.#received, 0);
    target.ping(ack);
  }

  /** The connection went: no acknowledgement is due until frames arrive on the next one. */
  pause(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The count a ping acknowledges, or undefined for a heartbeat (no payload). */
export function acknowledged(data: Buffer): number | undefined {
  return data.byteLength === ACK_BYTES ? data.readDoubleLE(0) : undefined;
}
