// map sends its inputs in batches (a `calls` message) and gets their results back in batches
// (`results`): each input must still fail, be cancelled and be retried on its own. Real agents,
// real worker processes.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FunctionCrashedError } from "flow-sdk";
import { tempDir, until } from "./helpers.ts";

const { app, exitOnFive, halve, held, stubborn } = await import("../fixtures/e2e/map-batches.ts");

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const lines = (file: string) => readFileSync(file, "utf8").split("\n").filter(Boolean);

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("map in batches", () => {
  it("yields each failing input's error in its place among the good ones of its batch, and throws the first without returnExceptions", async () => {
    await app.run(async () => {
      const results = await collect(halve.map(range(100), { returnExceptions: true }));
      assert.equal(results.length, 100);
      for (const [x, result] of results.entries()) {
        if (x % 5 === 2) assert.ok(result instanceof RangeError && result.message === `input ${x} refused`, `input ${x}: ${String(result)}`);
        else assert.equal(result, x / 2);
      }
      await assert.rejects(collect(halve.map(range(100))), { name: "RangeError", message: "input 2 refused" });
    });
  });

  it("cancels the inputs still running when the loop is left mid-batch, and starts no more than the window", async () => {
    const log = join(tempDir("flow-map-batches-"), "held.log");
    writeFileSync(log, "");
    await app.run(async () => {
      function* endless() {
        for (let x = 0; ; x++) yield [log, x] as [string, number];
      }
      for await (const value of held.starmap(endless(), { concurrency: 40 })) {
        assert.equal(value, 0);
        // Input 0 is back; the others of its batch, and the batch after it, are waiting remotely.
        await until(() => lines(log).filter((l) => l.startsWith("start")).length >= 39, "the other inputs to start");
        break;
      }
      // Input 40 may have gone out too, in the slot input 0 freed; nothing beyond it.
      const started = () => lines(log).filter((l) => l.startsWith("start")).map((l) => Number(l.slice(6)));
      await until(() => lines(log).filter((l) => l.startsWith("cancelled")).length === started().length, "every input still running to be cancelled");
      assert.ok(started().every((x) => x >= 1 && x <= 40), `started: ${started().join(" ")}`);
      assert.deepEqual(lines(log).filter((l) => l.startsWith("cancelled")).map((l) => Number(l.slice(10))).sort((a, b) => a - b), started().sort((a, b) => a - b));
    });
  });

  it("runs a batch that arrives while cancelled calls are still returning, once they have", async () => {
    await app.run(async () => {
      for await (const value of stubborn.map(range(20))) {
        assert.equal(value, 0);
        break; // inputs 1 to 19 are cancelled, and take 300 ms to return: new calls wait for them
      }
      // On the same agent: held there, each on its own, until the cancelled ones are over.
      const inputs = range(50).map((x) => (x % 5 === 2 ? -x : 0));
      const results = await collect(stubborn.map(inputs, { returnExceptions: true }));
      for (const [x, result] of results.entries()) {
        if (x % 5 === 2) assert.ok(result instanceof RangeError && result.message === `input ${-x} refused`, `input ${x}: ${String(result)}`);
        else assert.equal(result, 0);
      }
    });
  });

  it("fails only the input that ended the worker; the others of its batch run again and succeed", async () => {
    const log = join(tempDir("flow-map-batches-"), "attempts.log");
    writeFileSync(log, "");
    await app.run(async () => {
      const results = await collect(exitOnFive.starmap(range(10).map((x) => [log, x] as [string, number]), { returnExceptions: true }));
      const crashed = results[5];
      assert.ok(crashed instanceof FunctionCrashedError, `input 5: ${String(crashed)}`);
      assert.match(crashed.message, /exit|3/);
      assert.deepEqual(results.filter((_, x) => x !== 5), range(10).filter((x) => x !== 5));
    });
    const attempts = lines(log);
    assert.equal(attempts.filter((l) => l === "attempt 5").length, 1, "the crash is not retried");
    for (const x of range(10).filter((x) => x !== 5)) {
      assert.equal(attempts.filter((l) => l === `attempt ${x}`).length, 2, `input ${x} ran again after the worker ended`);
    }
  });
});
