import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { setImmediate as macrotask } from "node:timers/promises";
import { cleanUpBeforeExit } from "../../src/clean-up-before-exit.ts";

/** process.exit records its codes instead of ending the test run. */
function recordExits(t: TestContext): number[] {
  const codes: number[] = [];
  t.mock.method(process, "exit", (code?: number) => void codes.push(code ?? 0));
  return codes;
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test("after Ctrl-C, an error the cleanup causes in the guarded work waits for the exit with 130 instead of exiting 1 first", async (t) => {
  const exits = recordExits(t);
  const cancelAnswered = deferred();
  const release = cleanUpBeforeExit(() => cancelAnswered.promise);
  // As in a submit: it waits for the bid's instance, and the cancel that Ctrl-C sends makes the
  // bid read Terminated before the cancel itself is answered.
  const bidTerminated = deferred();
  const submit = (async () => {
    try {
      await bidTerminated.promise;
    } finally {
      await release();
    }
  })();
  // What the CLI's main does with the outcome.
  void submit.then(
    () => process.exit(0),
    () => process.exit(1),
  );

  process.emit("SIGINT", "SIGINT");
  bidTerminated.reject(new Error("Bid bid_1 was terminated before its instances were ready."));
  await macrotask();
  assert.deepEqual(exits, [], "the process ended before the cleanup was done");

  cancelAnswered.resolve();
  await macrotask();
  assert.deepEqual(exits, [130]);
});

test("a second signal during the cleanup neither cleans up again nor changes the exit code", async (t) => {
  const exits = recordExits(t);
  const cleanupDone = deferred();
  const reasons: string[] = [];
  const release = cleanUpBeforeExit((reason) => {
    reasons.push(reason);
    return cleanupDone.promise;
  });
  process.emit("SIGINT", "SIGINT");
  process.emit("SIGTERM", "SIGTERM");
  cleanupDone.resolve();
  await macrotask();
  assert.deepEqual(reasons, ["interrupted by SIGINT"]);
  assert.deepEqual(exits, [130]);
  void release();
});

test("without a signal, release removes the handlers and lets the work's outcome through", async () => {
  const before = ["SIGINT", "SIGTERM", "uncaughtException"].map((event) => process.listenerCount(event));
  const release = cleanUpBeforeExit(async () => assert.fail("no cleanup without a signal"));
  await release();
  assert.deepEqual(["SIGINT", "SIGTERM", "uncaughtException"].map((event) => process.listenerCount(event)), before);
});
