// Archives built to exhaust the agent: a zip bomb and a flood of entries are refused, early and
// before anything is written.
import assert from "node:assert/strict";
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, test } from "node:test";
import { createGzip } from "node:zlib";
import { Header } from "tar";
import { FlowError } from "../../src/errors.ts";
import { MAX_ENTRIES, expansionLimit, extractArchive, unpackArchive } from "../../src/bundler/unpack.ts";

const MiB = 1 << 20;

function header(entryPath: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  new Header({ path: entryPath, mode: 0o644, size, type: "File", mtime: new Date(0), uid: 0, gid: 0 }).encode(block, 0);
  return block;
}

/** The header of an empty file: a copy of one encoded header with its name and checksum redone (Header is slow). */
const emptyFile = (() => {
  const template = header("x", 0);
  return (entryPath: string) => {
    const block = Buffer.from(template);
    block.fill(0, 0, 100);
    block.write(entryPath, 0, "ascii");
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += block[i]!;
    block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
    return block;
  };
})();

/** A tar.gz streamed from `blocks` (never held in memory whole), ended by the two zero blocks. */
async function tarGz(blocks: Iterable<Buffer>): Promise<string> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), "flow-unpack-")), "archive.tar.gz");
  function* all() {
    yield* blocks;
    yield Buffer.alloc(1024);
  }
  await pipeline(Readable.from(all()), createGzip({ level: 1 }), createWriteStream(file));
  return file;
}

async function refused(archive: string, message: RegExp, unpackers = [unpackArchive, extractArchive]): Promise<void> {
  const out = path.join(await mkdtemp(path.join(tmpdir(), "flow-unpack-out-")), "ws");
  for (const unpack of unpackers) {
    await assert.rejects(unpack(archive, out), (error: unknown) => {
      assert.ok(error instanceof FlowError, String(error));
      assert.match(error.message, message);
      return true;
    });
    assert.equal(existsSync(out), false, "nothing may be written");
  }
}

describe("archive limits", () => {
  test("a zip bomb (a small archive of 400 MB of zeros) is refused at its header, before anything is written", async () => {
    const bomb = await tarGz(
      (function* () {
        yield header("weights.bin", 400 * MiB);
        const zeros = Buffer.alloc(MiB);
        for (let i = 0; i < 400; i++) yield zeros;
      })(),
    );
    const { size } = await stat(bomb);
    assert.ok(size < 2 * MiB, `the bomb is ${size} bytes`);
    assert.ok(expansionLimit(size) < 400 * MiB);
    await refused(bomb, /expands to more than 256 MiB \(at entry "weights\.bin"\); refused/);
  });

  test(`an archive of 200,000 empty files is refused at entry ${MAX_ENTRIES.toLocaleString("en-US")}`, async () => {
    const flood = await tarGz(
      (function* () {
        for (let i = 0; i < 200_000; i++) yield emptyFile(`f/${i}`);
      })(),
    );
    await refused(flood, /has more than 100,000 entries; refused/, [unpackArchive]);
  });

  test("an archive may expand to 100× its size, and always to 256 MiB", () => {
    assert.equal(expansionLimit(1000), 256 * MiB);
    assert.equal(expansionLimit(10 * MiB), 1000 * MiB);
  });
});
