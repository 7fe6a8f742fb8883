/**
 * Reading a task's log files: the last N lines, and following new lines as they are written (by
 * polling, which works the same whether the writer is a child of this process or not). What a
 * line is, and why memory stays bounded however the task writes: ../log-lines.ts.
 */
import { open, type FileHandle } from "node:fs/promises";
import { sleep } from "../../sleep.ts";
import { decodingSplitter, lastLines, READ_CHUNK_BYTES, tailStart, type ByteSource } from "../log-lines.ts";

/** The last `count` lines of `file` (a final line without a line break counts). */
export async function tailLines(file: string, count: number): Promise<string[]> {
  const handle = await open(file, "r");
  try {
    return await lastLines(fileSource(handle), count);
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

/** The last `tail` lines, then each line as it is completed; an unfinished one is held until then (or the end). */
export async function* followLines(file: string, options: FollowOptions): AsyncIterable<string> {
  const handle = await open(file, "r");
  try {
    const source = fileSource(handle);
    let offset = await tailStart(source, options.tail, await source.size());
    const lines: string[] = [];
    const splitter = decodingSplitter(lines, offset);
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    for (;;) {
      if (options.signal?.aborted) return;
      // Checked before reading: whatever was written before the task ended is then read below.
      const done = await options.isDone();
      const size = await source.size();
      while (offset < size) {
        const read = await source.read(buffer.subarray(0, Math.min(READ_CHUNK_BYTES, size - offset)), offset);
        if (read === 0) break;
        offset += read;
        splitter.push(buffer.subarray(0, read));
        for (const line of lines) yield line;
        lines.length = 0;
        if (options.signal?.aborted) return;
      }
      if (done) {
        splitter.end();
        for (const line of lines) yield line;
        return;
      }
      await sleep(options.pollIntervalMs);
    }
  } finally {
    await handle.close();
  }
}

function fileSource(handle: FileHandle): ByteSource {
  return {
    size: async () => (await handle.stat()).size,
    read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
  };
}
