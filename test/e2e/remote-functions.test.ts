// Remote functions through real agent processes and real WebSockets, driven from this process.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CancelledError, FunctionTimeoutError, RemoteError, SerializationError, invoke } from "flow-sdk";
import { Counter, app, barrier, chatty, echo, fail, slow, waitForCancel, whoami } from "../fixtures/e2e/values.ts";
import { isAlive, repoRoot, tempDir, until } from "./helpers.ts";

process.env.E2E_SECRET = "s3cret-value";

/** Capture what the run prints (remote logs are written to this process's stdout/stderr). */
function captureOutput(): { text: () => string; restore: () => void } {
  let text = "";
  const originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  for (const stream of ["stdout", "stderr"] as const) {
    process[stream].write = ((chunk: string | Uint8Array) => {
      text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
  }
  return {
    text: () => text,
    restore: () => Object.assign(process.stdout, { write: originals.stdout }) && Object.assign(process.stderr, { write: originals.stderr }),
  };
}

describe("remote functions on the local provider", () => {
  it("runs in a different process with env and secrets delivered over the wire", async () => {
    const result = await app.run(() => whoami.remote());
    assert.ok(result);
    assert.notEqual(result.pid, process.pid);
    assert.equal(result.greeting, "hi");
    assert.equal(result.secretLength, "s3cret-value".length);
  });

  it("round-trips every value type", async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const floats = new Float64Array([Math.PI, -0, Number.NaN, 1e308]);
    const view = new Int16Array(new ArrayBuffer(64), 6, 5).fill(-7);
    const value = {
      date: new Date("2026-01-02T03:04:05.006Z"),
      map: new Map<unknown, unknown>([["a", 1], [2, new Set(["x"])]]),
      set: new Set([1, 2, 3]),
      big: 12345678901234567890n,
      undef: undefined,
      regex: /fl(o)w/gi,
      nested: { deep: [{ deeper: [1, "two", null, true] }] },
      buffer: Buffer.from("hello, bytes"),
      bytes,
      clamped: new Uint8ClampedArray([1, 300 % 256]),
      i8: new Int8Array([-1, 127]),
      u16: new Uint16Array([65535]),
      i32: new Int32Array([-2147483648]),
      u32: new Uint32Array([4294967295]),
      f32: new Float32Array([1.5, -2.25]),
      floats,
      bi64: new BigInt64Array([-(2n ** 63n)]),
      bu64: new BigUint64Array([2n ** 64n - 1n]),
      view,
      arrayBuffer: new Uint8Array([9, 8, 7]).buffer,
      dataView: new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2),
    };
    const back = (await app.run(() => echo.remote(value))) as typeof value;
    assert.deepEqual(back, value);
    assert.ok(Buffer.isBuffer(back.buffer));
    assert.ok(back.view instanceof Int16Array && back.view.length === 5);
    assert.ok(back.arrayBuffer instanceof ArrayBuffer);
    assert.ok(back.dataView instanceof DataView);
    assert.deepEqual([...new Uint8Array(back.dataView.buffer, back.dataView.byteOffset, back.dataView.byteLength)], [2, 3]);
  });

  it("refuses values that cannot cross, naming where they are, before sending", async () => {
    await app.run(async () => {
      await assert.rejects(echo.remote({ model: { forward: () => 1 } }), (error: Error) => {
        assert.ok(error instanceof SerializationError);
        assert.equal(error.path, "args[0].model.forward");
        return true;
      });
    });
  });

  it("rethrows remote errors with their class, properties, cause chain and a .ts stack", async () => {
    await app.run(async () => {
      const error = await fail.remote("type").catch((e: unknown) => e);
      assert.ok(error instanceof TypeError);
      assert.equal(error.message, "outer problem");
      assert.equal((error as TypeError & { code: string }).code, "E_OUTER");
      const middle = error.cause as Error;
      assert.equal(middle.message, "middle");
      assert.ok(middle.cause instanceof RangeError);
      assert.match(error.stack ?? "", /test\/fixtures\/e2e\/values\.ts:\d+/);
      assert.match(error.stack ?? "", /values\.ts:\d+:\d+\) \[remote: agent pid \d+\]/);
      assert.match(error.stack ?? "", /remote-functions\.test\.ts:\d+:\d+\)$/m, "the local call site follows the remote frames");

      const custom = await fail.remote("custom").catch((e: unknown) => e);
      assert.ok(custom instanceof RemoteError);
      assert.equal(custom.name, "QuotaError");
      assert.equal((custom as RemoteError & { limit: number }).limit, 3);

      const thrown = await fail.remote("a plain string").catch((e: unknown) => e);
      assert.ok(thrown instanceof Error);
      assert.match(thrown.message, /a plain string/);
    });
  });

  it("streams stdout, stderr and child-process output while the call runs", async () => {
    const dir = tempDir();
    const output = captureOutput();
    try {
      await app.run(async () => {
        const call = chatty.spawn(dir);
        await until(() => output.text().includes("from-child"), "live output");
        assert.equal(call.status, "running");
        assert.match(output.text(), /first line/);
        assert.match(output.text(), /to stderr/);
        writeFileSync(join(dir, "go"), "");
        assert.equal(await call.result(), "done");
      });
    } finally {
      output.restore();
    }
  });

  it("cancels a call: the remote AbortSignal fires and result() rejects with CancelledError", async () => {
    const dir = tempDir();
    await app.run(async () => {
      const call = waitForCancel.spawn(dir);
      await until(() => existsSync(join(dir, "pid")), "the call to start");
      call.cancel();
      await assert.rejects(call.result(), CancelledError);
      assert.equal(call.status, "cancelled");
      await until(() => existsSync(join(dir, "aborted")), "the remote signal");
      assert.equal(readFileSync(join(dir, "aborted"), "utf8"), "CancelledError");
    });
  });

  it("runs calls concurrently on one agent", async () => {
    const dir = tempDir();
    const ids = await app.run(() => Promise.all([0, 1, 2, 3, 4].map((id) => barrier.remote(dir, id, 5))));
    assert.deepEqual(ids, [0, 1, 2, 3, 4]);
  });

  it("times out with FunctionTimeoutError", async () => {
    await app.run(async () => {
      await assert.rejects(slow.remote(), FunctionTimeoutError);
    });
  });

  it("calls decorated instance and static methods through app.cls, keeping one warm instance", async () => {
    const { first, second, doubled } = (await app.run(async () => {
      const counter = app.cls(Counter);
      return {
        first: await counter.increment.remote(2),
        second: await counter.increment.remote(3),
        doubled: await counter.double.remote(21),
      };
    }))!;
    assert.equal(first.count, 2);
    assert.equal(second.count, 5);
    assert.equal(first.pid, second.pid);
    assert.equal(doubled, 42);
  });

  it("stops every agent when the run ends", async () => {
    const dir = tempDir();
    await app.run(async () => {
      const call = waitForCancel.spawn(dir);
      await until(() => existsSync(join(dir, "pid")), "the call to start");
      call.cancel();
      await call.result().catch(() => {});
    });
    const pid = Number(readFileSync(join(dir, "pid"), "utf8"));
    await until(() => !isAlive(pid), "the agent to exit", 5_000);
  });

  it("invoke() runs an export of a file that never imports flow-sdk", async () => {
    const result = await invoke<{ epochs: number; loss: number; pid: number }>(join(repoRoot, "examples/plain.ts"), "train", {
      args: [3],
      gpu: "a100",
    });
    assert.equal(result.epochs, 3);
    assert.equal(result.loss, 0.125);
    assert.notEqual(result.pid, process.pid);
  });
});

after(() => {
  delete process.env.E2E_SECRET;
});
