import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { mapCalls } from "../../src/app/map.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap in use after a full collection: what is really kept. */
function liveHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe("mapCalls", () => {
  for (const orderOutputs of [true, false]) {
    test(`runs an endless input generator in flat memory (${orderOutputs ? "ordered" : "unordered"})`, async () => {
      const samples = new Map<number, number>();
      // Sampled after a warm-up (code compiled by then counts as heap too).
      const marks = new Set([150_000, 750_000]);
      function* endless() {
        for (let i = 0; ; i++) {
          if (marks.has(i)) samples.set(i, liveHeap());
          yield [i];
        }
      }
      let count = 0;
      for await (const _ of mapCalls(endless(), async ([x]) => x, { concurrency: 16, orderOutputs, returnExceptions: false })) {
        if (++count === 760_000) break;
      }
      // 600,000 inputs apart: bookkeeping of ~10 bytes per input would be 6 MB; what V8 itself
      // keeps meanwhile (feedback, code) has been seen to reach 1.5 MB.
      const grown = samples.get(750_000)! - samples.get(150_000)!;
      assert.ok(grown < 3 << 20, `the heap grew by ${(grown / 1024).toFixed(0)} KiB over 600,000 inputs`);
    });
  }
});

describe("mapCalls over a sync iterable", () => {
  test("awaits a promise among the inputs, as for await would", async () => {
    const inputs: (unknown[] | Promise<unknown[]>)[] = [[1], Promise.resolve([2]), [3]];
    const results: unknown[] = [];
    for await (const value of mapCalls(inputs, async ([x]) => x, { concurrency: 2, orderOutputs: true, returnExceptions: false })) results.push(value);
    assert.deepEqual(results, [1, 2, 3]);
  });

  test("a rejected input fails the loop with its error", async () => {
    const inputs: (unknown[] | Promise<unknown[]>)[] = [[1], Promise.reject(new Error("input 2 failed"))];
    await assert.rejects(async () => {
      for await (const _ of mapCalls(inputs, async ([x]) => x, { concurrency: 4, orderOutputs: true, returnExceptions: false })) {
        // drained
      }
    }, /input 2 failed/);
  });

  test("reads no further ahead than the window", async () => {
    let read = 0;
    function* counted() {
      for (let i = 0; i < 100; i++) {
        read++;
        yield [i];
      }
    }
    for await (const value of mapCalls(counted(), async ([x]) => x, { concurrency: 8, orderOutputs: true, returnExceptions: false })) {
      // Each result handed out frees one permit: at most the window beyond what was yielded.
      assert.ok(read <= (value as number) + 1 + 8, `${read} inputs read when input ${value} was yielded`);
    }
  });
});
