// Remote functions at scale, through real agents: map, streaming, warm classes, retries, payloads.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CancelledError, FunctionTimeoutError } from "flow-sdk";
import { tempDir, until } from "./helpers.ts";

const scaleDir = tempDir("flow-scale-");
process.env.SCALE_DIR = scaleDir;
const { Model, app, crashOnce, echo, failMidStream, failOnOdd, flaky, generate, jittery, limited, sleepy, square, wherever } = await import(
  "../fixtures/e2e/scale.ts"
);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("map", () => {
  it("maps 10,000 inputs in order, and unordered with the same results", async () => {
    await app.run(async () => {
      const ordered = await collect(square.map(range(10_000)));
      assert.deepEqual(ordered, range(10_000).map((x) => x * x));
      const unordered = await collect(jittery.map(range(10_000), { orderOutputs: false, concurrency: 200 }));
      assert.equal(unordered.length, 10_000);
      assert.deepEqual([...unordered].sort((a, b) => a - b), range(10_000));
    });
  });

  it("yields errors in place with returnExceptions, and throws the first one without", async () => {
    await app.run(async () => {
      const results = await collect(failOnOdd.map(range(6), { returnExceptions: true }));
      assert.deepEqual(results.filter((r) => !(r instanceof Error)), [0, 2, 4]);
      assert.ok(results[1] instanceof RangeError && results[1].message === "odd input 1");
      await assert.rejects(collect(failOnOdd.map(range(6))), { name: "RangeError", message: "odd input 1" });
    });
  });

  it("consumes an endless input generator lazily and stops on break", async () => {
    let pulled = 0;
    function* naturals() {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    }
    await app.run(async () => {
      const seen: number[] = [];
      for await (const value of square.map(naturals(), { concurrency: 4 })) {
        seen.push(value);
        if (seen.length === 20) break;
      }
      assert.deepEqual(seen, range(20).map((x) => x * x));
    });
    assert.ok(pulled <= 20 + 4, `pulled ${pulled} inputs for 20 results with concurrency 4`);
  });

  it("surfaces an exception of the input iterator at once", async () => {
    async function* broken() {
      yield 1;
      yield 2;
      throw new SyntaxError("bad input file");
    }
    await app.run(async () => {
      await assert.rejects(collect(square.map(broken())), { name: "SyntaxError", message: "bad input file" });
    });
  });

  it("spreads inputs across up to maxContainers agents", async () => {
    const results = (await app.run(() => collect(wherever.map(range(12)))))!;
    assert.deepEqual(results.map((r) => r.x), range(12));
    const agents = new Set(results.map((r) => r.pid));
    assert.ok(agents.size >= 2 && agents.size <= 3, `${agents.size} agents`);
  });

  it("retries the inputs of an agent killed mid-map on a new agent, delivering each result once", async () => {
    const dir = tempDir();
    const results = await app.run(() => collect(crashOnce.starmap(range(20).map((x) => [dir, x] as [string, number]))));
    assert.deepEqual(results, range(20).map((x) => x * 10));
    assert.ok(existsSync(join(dir, "crashed")), "the agent was killed");
    const attempts = readFileSync(join(dir, "attempts"), "utf8").trim().split("\n").map(Number);
    assert.equal(attempts.filter((x) => x === 5).length, 2, "input 5 ran twice: killed, then retried");
  });
});

describe("streaming generators", () => {
  it("streams what an async generator yields", async () => {
    const dir = tempDir();
    const tokens = await app.run(() => collect(generate.remote(dir, 5)));
    assert.deepEqual(tokens, range(5).map((i) => `token-${i}`));
  });

  it("break stops the remote generator, which produced only a window ahead", async () => {
    const dir = tempDir();
    await app.run(async () => {
      const seen: string[] = [];
      for await (const token of generate.remote(dir, 100_000)) {
        seen.push(token);
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, ["token-0", "token-1", "token-2"]);
      await until(() => existsSync(join(dir, "closed")), "the remote generator's finally block");
      const produced = Number(readFileSync(join(dir, "produced"), "utf8"));
      assert.ok(produced <= 3 + 16 + 1, `produced ${produced} items for 3 read`);
    });
  });

  it("an error mid-stream rejects the iteration with the remote error", async () => {
    await app.run(async () => {
      const seen: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const value of failMidStream.remote()) seen.push(value);
        })(),
        { name: "TypeError", message: "stream broke" },
      );
      assert.deepEqual(seen, [1, 2]);
    });
  });
});

describe("warm classes", () => {
  it("runs @enter once per instance, keeps it warm, separates constructor arguments, runs @exit at shutdown", async () => {
    const [first, second, third, bert] = (await app.run(async () => {
      const model = app.cls(Model);
      return [
        await model.predict.remote(1),
        await model.predict.remote(2),
        await model.predict.remote(3),
        await app.cls(Model, { args: ["bert"] }).predict.remote(4),
      ];
    }))!;
    assert.deepEqual([first.calls, second.calls, third.calls], [1, 2, 3]);
    assert.equal(first.weights, "weights-of-default");
    assert.equal(bert.weights, "weights-of-bert");
    assert.equal(bert.calls, 1);
    const entered = readFileSync(join(scaleDir, "enter"), "utf8").trim().split("\n");
    assert.deepEqual(entered.sort(), [`${first.pid}:bert`, `${first.pid}:default`].sort());
    await until(() => existsSync(join(scaleDir, "exit")) && readFileSync(join(scaleDir, "exit"), "utf8").trim().split("\n").length === 2, "@exit hooks");
  });
});

describe("retries, timeouts, per-call options", () => {
  it("retries application exceptions only when retryOn says so", async () => {
    const dir = tempDir();
    assert.equal(await app.run(() => flaky.remote(dir)), 3);
  });

  it("fn.with({ timeoutMs }) fails with FunctionTimeoutError; an AbortSignal cancels", async () => {
    await app.run(async () => {
      await assert.rejects(sleepy.with({ timeoutMs: 100 }).remote(60_000), FunctionTimeoutError);
      const controller = new AbortController();
      const call = sleepy.with({ signal: controller.signal }).remote(60_000);
      setTimeout(() => controller.abort(new CancelledError("user gave up")), 50);
      await assert.rejects(call, { name: "CancelledError", message: "user gave up" });
      assert.equal(await sleepy.with({ timeoutMs: 10_000 }).remote(1), 1);
    });
  });
});

describe("data plane", () => {
  it("refuses arguments and results over maxPayloadBytes with a clear error", async () => {
    await app.run(async () => {
      const ok = await limited.remote(new Uint8Array(1000), 1000);
      assert.equal(ok.received, 1000);
      await assert.rejects(limited.remote(new Uint8Array(2 << 20), 0), (error: Error) => {
        assert.equal(error.name, "PayloadTooLargeError");
        assert.match(error.message, /^Payload too large: the arguments take 2\.0 MiB, over the limit of 1\.0 MiB\.$/);
        return true;
      });
      await assert.rejects(limited.remote(new Uint8Array(10), 3 << 20), {
        name: "PayloadTooLargeError",
        message: "Payload too large: the result data take 3.0 MiB, over the limit of 1.0 MiB.",
      });
    });
  });

  it("round-trips a 256 MiB Float64Array byte for byte", async () => {
    const big = new Float64Array((256 << 20) / 8);
    for (let i = 0; i < big.length; i += 4093) big[i] = i * Math.PI;
    big[big.length - 1] = -1;
    const back = (await app.run(() => echo.remote(big))) as Float64Array;
    assert.ok(back instanceof Float64Array);
    assert.equal(back.length, big.length);
    assert.equal(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(big.buffer)), 0);
  });
});
