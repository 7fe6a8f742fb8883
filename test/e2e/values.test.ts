// Values that must cross exactly, through a real agent process and a real WebSocket, both ways.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  Account,
  Model,
  Money,
  PRIORITY,
  addMoney,
  app,
  count,
  describeGraph,
  describeOnAgent,
  echo,
  failingResult,
  inspectOnAgent,
  shapesFromAgent,
  sharedShapes,
} from "../fixtures/e2e/exact-values.ts";

describe("values cross exactly through a real agent", () => {
  it("keeps shared Set members and Map keys in their places, in arguments and in results", async () => {
    const shapes = sharedShapes();
    const expected = describeGraph(shapes);
    const { onAgent, fromAgent, echoed } = (await app.run(async () => ({
      onAgent: await describeOnAgent.remote(shapes),
      fromAgent: await shapesFromAgent.remote(),
      echoed: await echo.remote(shapes),
    })))!;
    assert.equal(onAgent, expected, "as the agent received them");
    assert.equal(describeGraph(fromAgent), expected, "as built on the agent and returned");
    assert.equal(describeGraph(echoed), expected, "there and back");
  });

  it("applies custom transformers, class options and symbols registered at module top level on both sides", async () => {
    const { sum, seen } = (await app.run(async () => ({
      sum: await addMoney.remote(new Money(150n), new Money(275n)),
      seen: await inspectOnAgent.remote(new Account("ada", "hunter2"), PRIORITY),
    })))!;
    assert.ok(sum instanceof Money);
    assert.equal(sum.toString(), "425c");
    assert.deepEqual(seen, { isAccount: true, password: undefined, isPriority: true });
  });

  it("returns an Error with its class, own properties and cause", async () => {
    const error = await app.run(() => failingResult.remote());
    assert.ok(error instanceof RangeError);
    assert.equal(error.message, "quota exceeded");
    assert.equal((error as RangeError & { code: string }).code, "E_QUOTA");
    assert.deepEqual((error as RangeError & { meta: unknown }).meta, { limit: 3, resetAt: new Date(0) });
    assert.equal((error.cause as Error).message, "upstream");
  });

  it("sends a million-element number[] and a large plain array of objects", async () => {
    const xs = Array.from({ length: 1_000_000 }, (_, i) => i * 0.5);
    xs[7] = -0;
    const rows = Array.from({ length: 50_000 }, (_, i) => ({ id: i, name: `row ${i}` }));
    const { counted, echoedNumbers, echoedRows } = (await app.run(async () => ({
      counted: await count.remote(xs),
      echoedNumbers: (await echo.remote(xs)) as number[],
      echoedRows: await echo.remote(rows),
    })))!;
    assert.deepEqual(counted, { length: 1_000_000, isArray: true, last: 499_999.5 });
    assert.equal(echoedNumbers.length, xs.length);
    assert.ok(Object.is(echoedNumbers[7], -0));
    assert.deepEqual(echoedNumbers, xs);
    assert.deepEqual(echoedRows, rows);
  });

  it("keeps one warm instance per distinct constructor arguments, also when they travel as blobs", async () => {
    const weights = (w: number) => Array.from({ length: 1_000 }, () => w);
    const firsts = await app.run(async () => [
      await app.cls(Model, { args: [weights(1), new Float32Array([10])] }).firstWeights.remote(),
      await app.cls(Model, { args: [weights(2), new Float32Array([10])] }).firstWeights.remote(),
      await app.cls(Model, { args: [weights(2), new Float32Array([20])] }).firstWeights.remote(),
    ]);
    assert.deepEqual(firsts, [[1, 10], [2, 10], [2, 20]]);
  });
});
