/**
 * The binary parts of one message, put together as their frames arrive (see channel.ts).
 *
 * Memory follows the data, never the announcement: a peer that announces gigabytes and sends
 * nothing costs nothing. A part's chunks are kept as they come until half of it has arrived; then
 * the part is allocated at its final size (at most twice what was received) and later chunks are
 * copied straight in. So every byte is copied once, the peak is 1.5× the part, and a part that
 * arrives in a single frame is used as it is, without a copy.
 */
export class BlobAssembly<T> {
  readonly message: T;
  readonly #parts: Part[];
  #remaining: number;

  constructor(message: T, lengths: readonly number[]) {
    this.message = message;
    this.#parts = lengths.map((length) => new Part(length));
    this.#remaining = lengths.reduce((sum, length) => sum + length, 0);
  }

  get complete(): boolean {
    return this.#remaining === 0;
  }

  /** Adds a frame's payload to part `index`; false (and nothing added) if there is no such part or it would overflow. */
  add(index: number, payload: Uint8Array): boolean {
    const part = this.#parts[index];
    if (!part || !part.add(payload)) return false;
    this.#remaining -= payload.byteLength;
    return true;
  }

  /** The parts, once complete. */
  blobs(): Uint8Array[] {
    return this.#parts.map((part) => part.bytes());
  }
}

class Part {
  readonly #length: number;
  #received = 0;
  #chunks: Uint8Array[] = [];
  #buffer: Uint8Array | undefined;

  constructor(length: number) {
    this.#length = length;
  }

  add(payload: Uint8Array): boolean {
    const received = this.#received + payload.byteLength;
    if (received > this.#length) return false;
    if (this.#buffer) {
      this.#buffer.set(payload, this.#received);
    } else {
      // A plain Uint8Array view, even of a Buffer: the decoder copies misaligned bytes with
      // slice(), which for a Buffer would be another view.
      this.#chunks.push(payload instanceof Buffer ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) : payload);
      if (received * 2 >= this.#length && !(this.#chunks.length === 1 && received === this.#length)) {
        const buffer = new Uint8Array(this.#length);
        let offset = 0;
        for (const chunk of this.#chunks) {
          buffer.set(chunk, offset);
          offset += chunk.byteLength;
        }
        this.#buffer = buffer;
        this.#chunks = [];
      }
    }
    this.#received = received;
    return true;
  }

  bytes(): Uint8Array {
    return this.#buffer ?? this.#chunks[0] ?? new Uint8Array(0);
  }
}
