/**
 * What the agent sent one client session and the client has not acknowledged yet: kept so that it
 * can be sent again when the client reconnects (see RESUME_HEADER in src/runtime/protocol.ts).
 *
 * Frames stay in memory up to `memoryBytes`; beyond that they go to a spill file on disk, up to
 * `diskBytes` (the agent then stops reading the worker's output until the client catches up, so
 * a client away for long makes the work wait rather than fill the disk). Acknowledged frames are
 * let go; once nothing spilled is left unacknowledged, the spill file is emptied.
 */
import { closeSync, ftruncateSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { CHUNK_BYTES, HEADER_BYTES } from "../src/runtime/channel.ts";
import { SpareFrames } from "../src/runtime/spare-frames.ts";

export interface LoggedFrame {
  binary: boolean;
  data: Buffer;
}

interface Entry {
  binary: boolean;
  /** The bytes, or undefined when they are in the spill file at `offset`. */
  data: Buffer | undefined;
  offset: number;
  length: number;
}

export interface SessionLogLimits {
  memoryBytes: number;
  diskBytes: number;
}

/** A frame smaller than this that is a view of a bigger buffer is copied, so it does not keep the buffer alive. */
const COPY_BELOW_BYTES = 64 << 10;

export class SessionLog {
  /** The number of the oldest frame kept (frames are numbered from 1). */
  first = 1;
  readonly #spillPath: string;
  readonly #limits: SessionLogLimits;
  #entries: Entry[] = [];
  #head = 0;
  #memoryBytes = 0;
  #diskBytes = 0;
  #spilled = 0;
  #fd: number | undefined;
  #writeAt = 0;
  /** Full frames the client has acknowledged, to be filled again (see frameBuffer). */
  readonly #spares = new SpareFrames(HEADER_BYTES + CHUNK_BYTES);

  constructor(spillPath: string, limits: SessionLogLimits) {
    this.#spillPath = spillPath;
    this.#limits = limits;
  }

  /** The number of the last frame appended. */
  get sent(): number {
    return this.first - 1 + this.#entries.length - this.#head;
  }

  /** Over its limits: the agent should stop producing output for it. */
  get full(): boolean {
    return this.#diskBytes >= this.#limits.diskBytes;
  }

  /**
   * A buffer of `bytes` for a frame that will be appended to this log only: an acknowledged full
   * frame when there is one, so that a big transfer fills the same couple of dozen megabytes again
   * instead of allocating each one anew (fresh memory costs page faults and collections).
   */
  frameBuffer(bytes: number): Buffer {
    return this.#spares.take(bytes);
  }

  append(data: Buffer, binary: boolean): void {
    const length = data.byteLength;
    if (this.#memoryBytes + length <= this.#limits.memoryBytes) {
      const kept = length < COPY_BELOW_BYTES && data.buffer.byteLength > 2 * length ? Buffer.from(data) : data;
      this.#entries.push({ binary, data: kept, offset: 0, length });
      this.#memoryBytes += length;
      return;
    }
    this.#fd ??= openSync(this.#spillPath, "w+", 0o600);
    let written = 0;
    while (written < length) written += writeSync(this.#fd, data, written, length - written, this.#writeAt + written);
    this.#entries.push({ binary, data: undefined, offset: this.#writeAt, length });
    this.#writeAt += length;
    this.#diskBytes += length;
    this.#spilled++;
  }

  /** The client has received every frame up to number `received`. */
  acknowledge(received: number): void {
    while (this.first <= received && this.#head < this.#entries.length) {
      const entry = this.#entries[this.#head]!;
      this.#entries[this.#head] = undefined as unknown as Entry;
      this.#head++;
      this.first++;
      if (entry.data) {
        this.#memoryBytes -= entry.length;
        this.#spares.giveBack(entry.data);
      } else this.#spilled--;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    if (this.#spilled === 0 && this.#fd !== undefined && this.#diskBytes > 0) {
      ftruncateSync(this.#fd, 0);
      this.#writeAt = 0;
      this.#diskBytes = 0;
    }
  }

  /** The frames after number `received`, in order, spilled ones read back from disk. */
  *after(received: number): Iterable<LoggedFrame> {
    for (let index = this.#head + Math.max(0, received - this.first + 1); index < this.#entries.length; index++) {
      const entry = this.#entries[index]!;
      if (entry.data) {
        yield { binary: entry.binary, data: entry.data };
        continue;
      }
      const data = Buffer.allocUnsafe(entry.length);
      let read = 0;
      while (read < entry.length) {
        const got = readSync(this.#fd!, data, read, entry.length - read, entry.offset + read);
        if (got === 0) throw new Error(`the spill file ${this.#spillPath} is shorter than expected`);
        read += got;
      }
      yield { binary: entry.binary, data };
    }
  }

  /** Let go of everything, and remove the spill file. */
  close(): void {
    this.#entries = [];
    this.#spares.clear();
    this.#head = 0;
    this.#memoryBytes = 0;
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
      rmSync(this.#spillPath, { force: true });
    }
  }
}
