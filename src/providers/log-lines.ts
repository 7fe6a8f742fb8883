/**
 * What a line of a task's output is, for `flow logs` (tail and follow) on every provider: the text
 * up to a line break, where `\n`, `\r\n` and a lone `\r` each end a line. A lone `\r` is how
 * progress bars (tqdm and the like) redraw themselves, so each redraw is a line of its own and
 * `--tail 5` shows the last five states of the bar; a `\r` that ends an empty line (a bar's first
 * `\r` after a newline) ends nothing, as it shows nothing. A line longer than MAX_LINE_BYTES is
 * cut into pieces of that size (at a UTF-8 character boundary), each a line of its own.
 *
 * So however a task writes, reading its output takes one pass over the bytes and memory for the
 * lines held, each at most MAX_LINE_BYTES: a 200 MB progress bar without a single newline is read
 * at disk speed in a few megabytes.
 */

/** Lines longer than this (in bytes) are cut into pieces. */
export const MAX_LINE_BYTES = 64 * 1024;
/** How much is read at a time. */
export const READ_CHUNK_BYTES = 256 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** Random access to a file's bytes: a local file, or one on a cloud instance over SFTP. */
export interface ByteSource {
  size(): Promise<number>;
  /** Reads up to `buffer.length` bytes at `position`; fewer only at the end of the file. */
  read(buffer: Buffer, position: number): Promise<number>;
}

/** Called with each line: `buffer[from, to)` holds its bytes; `start` is its offset in the file. */
export type OnLine = (buffer: Buffer, from: number, to: number, start: number) => void;

/** Cuts a stream of bytes into lines (see the file comment), in one pass. */
export class LineSplitter {
  readonly #onLine: OnLine;
  /** The unfinished line's bytes from earlier chunks (copies: a reader may reuse its buffer). */
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** The last chunk ended with a `\r` that ended a line: a `\n` next completes that `\r\n`. */
  #afterCr = false;
  /** The file offset of the next byte pushed, and of the unfinished line's first byte. */
  #position: number;
  #lineStart: number;

  /** `position`: the file offset of the first byte that will be pushed. */
  constructor(onLine: OnLine, position = 0) {
    this.#onLine = onLine;
    this.#position = position;
    this.#lineStart = position;
  }

  /** Whether bytes of an unfinished line are held. */
  get unfinished(): boolean {
    return this.#heldBytes > 0;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    const base = this.#position;
    let i = 0;
    if (this.#afterCr) {
      this.#afterCr = false;
      if (chunk[0] === LF) {
        i = 1;
        this.#lineStart = base + 1;
      }
    }
    // The next \n and \r at or after i (n: none); each search resumes where the last one stopped.
    let lf = -1;
    let cr = -1;
    while (i < n) {
      if (lf < i) lf = indexOrEnd(chunk, LF, i);
      if (cr < i) cr = indexOrEnd(chunk, CR, i);
      const stop = Math.min(lf, cr);
      i = this.#cutLongLine(chunk, i, stop, base);
      if (stop === n) {
        this.#hold(chunk.subarray(i, n));
        break;
      }
      const crlf = stop === cr && stop + 1 < n && chunk[stop + 1] === LF;
      const loneCr = stop === cr && !crlf;
      const empty = this.#heldBytes === 0 && i === stop;
      if (!(loneCr && empty)) {
        this.#emit(chunk, i, stop);
        if (loneCr && stop + 1 === n) this.#afterCr = true;
      }
      i = stop + (crlf ? 2 : 1);
      this.#lineStart = base + i;
    }
    this.#position = base + n;
  }

  /** The end of the input: an unfinished line is a line. */
  end(): void {
    if (this.#heldBytes === 0) return;
    const line = Buffer.concat(this.#held, this.#heldBytes);
    this.#held = [];
    this.#heldBytes = 0;
    this.#onLine(line, 0, line.length, this.#lineStart);
  }

  /**
   * Emits full pieces of the current line while it, with `chunk[from, to)`, is longer than
   * MAX_LINE_BYTES. A piece ends at the first character boundary at or after the limit (or 3 bytes
   * after it, in bytes that are not UTF-8). Returns
   * where the rest of the line starts in `chunk`.
   */
  #cutLongLine(chunk: Buffer, from: number, to: number, base: number): number {
    let i = from;
    while (this.#heldBytes + (to - i) > MAX_LINE_BYTES) {
      let cut = i + Math.max(0, MAX_LINE_BYTES - this.#heldBytes);
      // A character has at most 3 continuation bytes; past that it is not UTF-8, and cut anywhere.
      const last = cut + 3;
      while (cut < to && cut < last && (chunk[cut]! & 0xc0) === 0x80) cut++;
      if (cut === to) break;
      this.#emit(chunk, i, cut);
      i = cut;
      this.#lineStart = base + cut;
    }
    return i;
  }

  #emit(chunk: Buffer, from: number, to: number): void {
    if (this.#heldBytes === 0) {
      this.#onLine(chunk, from, to, this.#lineStart);
      return;
    }
    const line = Buffer.concat([...this.#held, chunk.subarray(from, to)]);
    this.#held = [];
    this.#heldBytes = 0;
    this.#onLine(line, 0, line.length, this.#lineStart);
  }

  #hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#held.push(Buffer.from(bytes));
    this.#heldBytes += bytes.length;
  }
}

function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at === -1 ? chunk.length : at;
}

/** A splitter whose lines are decoded (UTF-8) into `lines`. */
export function decodingSplitter(lines: string[], position = 0): LineSplitter {
  return new LineSplitter((buffer, from, to) => lines.push(buffer.toString("utf8", from, to)), position);
}

/**
 * Where the last `count` lines of the first `size` bytes of `source` begin (an unfinished last
 * line counts). Reads back from the end only as far as those lines reach.
 */
export async function tailStart(source: ByteSource, count: number, size: number): Promise<number> {
  if (count <= 0 || size === 0) return size;
  // Every line takes at least a byte, so a count this large takes everything.
  if (count >= size) return 0;
  const from = await windowStart(source, count, size);
  let lines = 0;
  await readRange(source, from, size, new LineSplitter(() => lines++, from));
  if (lines <= count) return from;
  let index = 0;
  let start = from;
  const skip = lines - count;
  await readRange(
    source,
    from,
    size,
    new LineSplitter((_buffer, _from, _to, lineStart) => {
      if (index++ === skip) start = lineStart;
    }, from),
    () => index > skip,
  );
  return start;
}

/** The last `count` lines of `source` (an unfinished last line included). */
export async function lastLines(source: ByteSource, count: number): Promise<string[]> {
  const size = await source.size();
  const start = await tailStart(source, count, size);
  const lines: string[] = [];
  await readRange(source, start, size, decodingSplitter(lines, start));
  return lines;
}

/**
 * A start from which at least `count` lines reach `size`: just after the line break before them,
 * found by reading back from the end. Line breaks are counted only where they certainly are (a
 * `\r` at a chunk's start, whose byte before is not read yet, is not), so the count never runs
 * ahead of the splitter's; and it reads back no further than `count` + 1 lines of the longest
 * length can take.
 */
async function windowStart(source: ByteSource, count: number, size: number): Promise<number> {
  const limit = Math.max(0, size - (count + 1) * (MAX_LINE_BYTES + 8));
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let end = size;
  let found = 0;
  /** The byte after the chunk being scanned (-1 past the end of the file). */
  let next = -1;
  while (end > limit) {
    const length = Math.min(READ_CHUNK_BYTES, end - limit);
    const position = end - length;
    const chunk = buffer.subarray(0, await readFully(source, buffer.subarray(0, length), position));
    let j = chunk.length - 1;
    while (j >= 0) {
      const at = Math.max(chunk.lastIndexOf(LF, j), chunk.lastIndexOf(CR, j));
      if (at < 0) break;
      const after = at + 1 < chunk.length ? chunk[at + 1] : next;
      const before = at > 0 ? chunk[at - 1] : undefined;
      const isBreak = chunk[at] === LF || (after !== LF && before !== undefined && before !== LF && before !== CR);
      if (isBreak && ++found > count) return position + at + 1;
      j = at - 1;
    }
    next = chunk[0] ?? -1;
    end = position;
  }
  return limit;
}

/** Feeds `source[from, to)` to `splitter`, then ends it; stops early once `enough()` holds. */
async function readRange(source: ByteSource, from: number, to: number, splitter: LineSplitter, enough: () => boolean = () => false): Promise<void> {
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let position = from;
  while (position < to && !enough()) {
    const read = await source.read(buffer.subarray(0, Math.min(READ_CHUNK_BYTES, to - position)), position);
    if (read === 0) break;
    splitter.push(buffer.subarray(0, read));
    position += read;
  }
  splitter.end();
}

async function readFully(source: ByteSource, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const read = await source.read(buffer.subarray(filled), position + filled);
    if (read === 0) break;
    filled += read;
  }
  return filled;
}
