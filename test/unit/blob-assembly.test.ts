import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BlobAssembly } from "../../src/runtime/blob-assembly.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);

describe("BlobAssembly", () => {
  test("parts fill from frames in any order of parts, and complete when every byte is in", () => {
    const assembly = new BlobAssembly("msg", [5, 0, 2]);
    assert.equal(assembly.complete, false);
    assert.ok(assembly.add(2, bytes(8, 9)));
    assert.ok(assembly.add(0, bytes(1, 2)));
    assert.equal(assembly.complete, false);
    assert.ok(assembly.add(0, bytes(3, 4, 5)));
    assert.equal(assembly.complete, true);
    assert.deepEqual(assembly.blobs().map((b) => [...b]), [[1, 2, 3, 4, 5], [], [8, 9]]);
  });

  test("refuses a frame for a missing part or past a part's end, keeping what it has", () => {
    const assembly = new BlobAssembly("msg", [3]);
    assert.equal(assembly.add(1, bytes(1)), false);
    assert.ok(assembly.add(0, bytes(1, 2)));
    assert.equal(assembly.add(0, bytes(3, 4)), false);
    assert.ok(assembly.add(0, bytes(3)));
    assert.deepEqual([...assembly.blobs()[0]!], [1, 2, 3]);
  });

  test("memory follows the data: a huge announced part allocates nothing until half of it has arrived", () => {
    const before = process.memoryUsage().arrayBuffers;
    const assembly = new BlobAssembly("msg", [2 ** 31 - 8]);
    assert.ok(assembly.add(0, new Uint8Array(1 << 20)));
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 16 << 20, `grew by ${grown} bytes`);
  });

  test("a part that arrives in one frame is that frame's bytes, as a plain Uint8Array view", () => {
    const frame = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7]);
    const assembly = new BlobAssembly("msg", [4]);
    assert.ok(assembly.add(0, frame.subarray(8)));
    const [part] = assembly.blobs();
    assert.equal(part!.buffer, frame.buffer, "no copy");
    assert.equal(Object.getPrototypeOf(part), Uint8Array.prototype, "slice() must copy, as Buffer's does not");
  });

  test("a part split over many frames is copied once into a buffer of its exact size", () => {
    const whole = Uint8Array.from({ length: 1000 }, (_, i) => i % 256);
    const assembly = new BlobAssembly("msg", [whole.byteLength]);
    for (let offset = 0; offset < whole.byteLength; offset += 99) assert.ok(assembly.add(0, whole.subarray(offset, offset + 99)));
    const [part] = assembly.blobs();
    assert.equal(part!.byteLength, 1000);
    assert.equal(part!.buffer.byteLength, 1000);
    assert.deepEqual(part, whole);
  });
});
