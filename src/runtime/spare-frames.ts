/**
 * Binary frames of one size (a header and a whole chunk of a blob, see channel.ts) that the other
 * end has acknowledged, kept to be filled again: a big transfer then reuses the same couple of
 * dozen megabytes instead of allocating each one anew (fresh memory costs page faults, and V8
 * answers each megabyte of new external memory by collecting sooner). The client's channel and
 * the agent's session log each keep one.
 */

/** How many are kept: about what one transfer has unacknowledged at a time. */
const MOST_SPARES = 24;

export class SpareFrames {
  readonly #frameBytes: number;
  #spares: Buffer[] = [];

  constructor(frameBytes: number) {
    this.#frameBytes = frameBytes;
  }

  /** A buffer of `bytes`: a spare one when it is of the size kept. */
  take(bytes: number): Buffer {
    return (bytes === this.#frameBytes && this.#spares.pop()) || Buffer.allocUnsafe(bytes);
  }

  /** `frame` was acknowledged: kept if it is of the size kept and a buffer of its own (a view shares memory with others). */
  giveBack(frame: Buffer): void {
    const own = frame.byteLength === this.#frameBytes && frame.byteOffset === 0 && frame.buffer.byteLength === this.#frameBytes;
    if (own && this.#spares.length < MOST_SPARES) this.#spares.push(frame);
  }

  clear(): void {
    this.#spares = [];
  }
}
