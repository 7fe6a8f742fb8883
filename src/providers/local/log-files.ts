/**
 * Reading a task's log files: the last N lines, and following new lines as they are written (by
 * polling, which works the same whether the writer is a child of this process or not).
 */
import { open, stat } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { sleep } from "../../sleep.ts";

const CHUNK_BYTES = 64 * 1024;

/**
 * The last `count` lines of `file` (a final line without a newline counts), its size then, and
 * whether that last line was still unfinished.
 */
export async function tailLines(file: string, count: number): Promise<{ lines: string[]; size: number; unfinished: boolean }> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    if (count <= 0) return { lines: [], size, unfinished: false };
    const chunks: Buffer[] = [];
    let position = size;
    let newlines = 0;
    // One newline more than lines wanted, so the first line we keep is known to be whole.
    while (position > 0 && newlines <= count) {
      const length = Math.min(CHUNK_BYTES, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      await handle.read(chunk, 0, length, position);
      chunks.unshift(chunk);
      for (const byte of chunk) if (byte === 0x0a) newlines++;
    }
    const lines = Buffer.concat(chunks).toString("utf8").split("\n");
    const unfinished = lines.at(-1) !== "";
    if (!unfinished) lines.pop();
    return { lines: lines.slice(-count), size, unfinished };
  } finally {
    await handle.close();
  }
}

export interface FollowOptions {
  tail: number;
  /** Whether the writer has finished: once true, what is left is read and the iteration ends. */
  isDone: () => Promise<boolean>;
  pollIntervalMs: number;
  signal?: AbortSignal;
}

export async function* followLines(file: string, options: FollowOptions): AsyncIterable<string> {
  const { lines, size, unfinished } = await tailLines(file, options.tail);
  // An unfinished last line is held back until the rest of it arrives.
  let partial = unfinished ? (lines.pop() ?? "") : "";
  yield* lines;
  let offset = size;
  const decoder = new StringDecoder("utf8");
  const handle = await open(file, "r");
  try {
    for (;;) {
      if (options.signal?.aborted) return;
      // Checked before reading: whatever was written before the task ended is then read below.
      const done = await options.isDone();
      const { size: now } = await stat(file);
      while (offset < now) {
        const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, now - offset));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        const text = partial + decoder.write(chunk.subarray(0, bytesRead));
        const parts = text.split("\n");
        partial = parts.pop() ?? "";
        yield* parts;
      }
      if (done) {
        const rest = partial + decoder.end();
        if (rest !== "") yield rest;
        return;
      }
      await sleep(options.pollIntervalMs);
    }
  } finally {
    await handle.close();
  }
}
