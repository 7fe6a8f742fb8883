import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { decodingSplitter, lastLines, LineSplitter, MAX_LINE_BYTES, tailStart, type ByteSource } from "../../src/providers/log-lines.ts";
import { followLines, tailLines } from "../../src/providers/local/log-files.ts";

const scratch = mkdtempSync(join(tmpdir(), "flow-log-lines-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function split(chunks: Buffer[]): string[] {
  const lines: string[] = [];
  const splitter = decodingSplitter(lines);
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

/** Every way of cutting `bytes` in two, plus one byte at a time. */
function cuttings(bytes: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[bytes], [...bytes].map((byte) => Buffer.from([byte]))];
  for (let at = 1; at < bytes.length; at++) ways.push([bytes.subarray(0, at), bytes.subarray(at)]);
  return ways;
}

/** An in-memory file that counts what is read of it. */
function memorySource(bytes: Buffer): ByteSource & { bytesRead: number } {
  const source = {
    bytesRead: 0,
    size: async () => bytes.length,
    read: async (buffer: Buffer, position: number) => {
      const copied = bytes.copy(buffer, 0, position, Math.min(bytes.length, position + buffer.length));
      source.bytesRead += copied;
      return copied;
    },
  };
  return source;
}

/** `count` tqdm-style redraws: `\r` before each, no newline. */
function progressBar(count: number): string {
  return Array.from({ length: count }, (_, i) => `\r${String(i % 100).padStart(3)}%|${"█".repeat(i % 10)}| ${i}/${count}`).join("");
}

describe("what a line is", () => {
  test("\\n, \\r\\n and a lone \\r end a line; a \\r on an empty line ends nothing; an unfinished line counts at the end", () => {
    const text = Buffer.from("a\nb\r\nc\rd\r\n\re\n\n\r\nf");
    for (const chunks of cuttings(text)) assert.deepEqual(split(chunks), ["a", "b", "c", "d", "e", "", "", "f"], `cut as ${chunks.map((c) => JSON.stringify(c.toString())).join(" + ")}`);
  });

  test("a progress bar is one line per redraw, each as soon as its \\r arrives", () => {
    const lines: string[] = [];
    const splitter = decodingSplitter(lines);
    splitter.push(Buffer.from("\r 10%|#"));
    assert.deepEqual(lines, []);
    splitter.push(Buffer.from("\r 20%|##\r"));
    assert.deepEqual(lines, [" 10%|#", " 20%|##"]);
    splitter.push(Buffer.from("\n100%|###\n"));
    assert.deepEqual(lines, [" 10%|#", " 20%|##", "100%|###"], "the \\n completes the \\r\\n whose \\r ended the line");
  });

  test("a line longer than MAX_LINE_BYTES comes in pieces, cut between characters, that add up to it", () => {
    // 2- and 3-byte characters, so a cut at exactly MAX_LINE_BYTES would split one.
    const line = "é€".repeat(Math.ceil((3 * MAX_LINE_BYTES) / 5));
    for (const chunkBytes of [MAX_LINE_BYTES - 1, 4096, 7]) {
      const bytes = Buffer.from(`${line}\nnext\n`);
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += chunkBytes) chunks.push(bytes.subarray(at, at + chunkBytes));
      const lines = split(chunks);
      assert.equal(lines.at(-1), "next");
      const pieces = lines.slice(0, -1);
      assert.ok(pieces.length >= 3, `${pieces.length} pieces`);
      for (const piece of pieces) {
        assert.ok(Buffer.byteLength(piece) <= MAX_LINE_BYTES + 3, `a piece of ${Buffer.byteLength(piece)} bytes`);
        assert.ok(!piece.includes("\uFFFD"), "no character cut in two");
      }
      assert.equal(pieces.join(""), line);
    }
  });

  test("bytes that are not UTF-8 are cut into bounded pieces too", () => {
    // Nothing but continuation bytes: no character boundary anywhere.
    const bytes = Buffer.alloc(5 * MAX_LINE_BYTES, 0x80);
    for (const chunkBytes of [bytes.length, 1000]) {
      const lengths: number[] = [];
      const splitter = new LineSplitter((_buffer, from, to) => lengths.push(to - from));
      for (let at = 0; at < bytes.length; at += chunkBytes) splitter.push(bytes.subarray(at, at + chunkBytes));
      splitter.end();
      assert.ok(lengths.every((length) => length <= MAX_LINE_BYTES + 6), `pieces of ${lengths.join(", ")}`);
      assert.equal(lengths.reduce((a, b) => a + b), bytes.length);
    }
  });

  test("lines start where the splitter says", () => {
    const starts: number[] = [];
    const splitter = new LineSplitter((_buffer, _from, _to, start) => starts.push(start), 100);
    splitter.push(Buffer.from("ab\r\ncd\r"));
    splitter.push(Buffer.from("\nef\rgh"));
    splitter.end();
    assert.deepEqual(starts, [100, 104, 108, 111]);
  });
});

describe("the last lines of a file", () => {
  test("are the same as splitting it all and keeping the end, for every tail length", async () => {
    const text = Buffer.from(`x\r\n\rfirst\r\n${progressBar(30)}\nmiddle\n\n${"long ".repeat(30_000)}\r\r\nend\rpart`);
    const all = split([text]);
    for (let count = 0; count <= all.length + 2; count++) {
      assert.deepEqual(await lastLines(memorySource(text), count), count === 0 ? [] : all.slice(-count), `tail ${count}`);
    }
  });

  test("are read from the end: a 10 MB progress bar without a newline is not read whole", async () => {
    const bar = Buffer.from(progressBar(300_000));
    assert.ok(bar.length > 10_000_000);
    const source = memorySource(bar);
    const lines = await lastLines(source, 100);
    assert.equal(lines.length, 100);
    assert.equal(lines.at(-1), split([bar]).at(-1));
    assert.ok(source.bytesRead < 1_000_000, `read ${source.bytesRead} bytes`);
  });

  test("of a file that is one 20 MB line are its last pieces, read from the end", async () => {
    const line = Buffer.alloc(20_000_000, "x");
    const source = memorySource(line);
    const lines = await lastLines(source, 3);
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => l.length <= MAX_LINE_BYTES && /^x+$/.test(l)));
    assert.ok(source.bytesRead < 20 * MAX_LINE_BYTES, `read ${source.bytesRead} bytes`);
  });

  test("start at a line's first byte", async () => {
    const text = Buffer.from("one\ntwo\r\nthree\rfour");
    assert.equal(await tailStart(memorySource(text), 2, text.length), "one\ntwo\r\n".length);
    assert.equal(await tailStart(memorySource(text), 1, text.length), "one\ntwo\r\nthree\r".length);
    assert.equal(await tailStart(memorySource(text), 10, text.length), 0);
    assert.equal(await tailStart(memorySource(text), 0, text.length), text.length);
  });

  test("tailLines reads a local file the same way", async () => {
    const file = join(scratch, "bar.log");
    writeFileSync(file, `epoch 1\n${progressBar(1000)}\nepoch 2\n\r  5%|`);
    assert.deepEqual(await tailLines(file, 3), [" 99%|█████████| 999/1000", "epoch 2", "  5%|"]);
  });
});

describe("following a file", () => {
  test("each redraw of a progress bar is a line as it is written, not one line at the end", async () => {
    const file = join(scratch, "follow-bar.log");
    writeFileSync(file, "start\n");
    let done = false;
    const seen: string[] = [];
    const reading = (async () => {
      for await (const line of followLines(file, { tail: 10, pollIntervalMs: 5, isDone: async () => done })) seen.push(line);
    })();
    await until(() => seen.includes("start"));
    appendFileSync(file, "\r 10%|#");
    appendFileSync(file, "\r 20%|##");
    await until(() => seen.includes(" 10%|#"));
    appendFileSync(file, "\r\n");
    await until(() => seen.includes(" 20%|##"));
    appendFileSync(file, "done\n");
    done = true;
    await reading;
    assert.deepEqual(seen, ["start", " 10%|#", " 20%|##", "done"]);
  });

  test("a line without a break is followed in pieces of at most MAX_LINE_BYTES", async () => {
    const file = join(scratch, "follow-long.log");
    writeFileSync(file, "");
    const seen: string[] = [];
    let done = false;
    const reading = (async () => {
      for await (const line of followLines(file, { tail: Number.MAX_SAFE_INTEGER, pollIntervalMs: 5, isDone: async () => done })) seen.push(line);
    })();
    for (let i = 0; i < 20; i++) appendFileSync(file, "y".repeat(50_000));
    done = true;
    await reading;
    assert.ok(seen.every((line) => line.length <= MAX_LINE_BYTES), `lines of ${seen.map((l) => l.length).join(", ")}`);
    assert.ok(seen.join("") === "y".repeat(1_000_000), `${seen.join("").length} characters in all`);
  });
});

async function until(condition: () => boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("gave up waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
