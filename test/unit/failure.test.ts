import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromFailure, toFailure } from "../../src/runtime/failure.ts";
import { Failure } from "../../src/runtime/protocol.ts";
import { RemoteError } from "../../src/errors.ts";

/** What the wire does: validate against the protocol schema, then go through JSON text. */
function overTheWire(error: unknown): Failure {
  return Failure.parse(JSON.parse(JSON.stringify(toFailure(error))));
}

const hidden = Symbol("hidden");

class QuotaError extends Error {
  code = "E_QUOTA";
  limit = 5;
  retry = () => 0;
  [hidden] = 1;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QuotaError";
  }
}

describe("toFailure", () => {
  test("name, message, stack and JSON-safe own properties", () => {
    const error = Object.assign(new QuotaError("over quota"), { big: 10n, ratio: Number.NaN, at: new Date(0) });
    const failure = toFailure(error);
    assert.equal(failure.name, "QuotaError");
    assert.equal(failure.message, "over quota");
    assert.equal(failure.stack, error.stack);
    assert.deepEqual(failure.props, { code: "E_QUOTA", limit: 5, big: "10", ratio: "NaN", at: "1970-01-01T00:00:00.000Z" });
  });

  test("Node system errors keep code, errno and syscall", async () => {
    const { readFile } = await import("node:fs/promises");
    const error = await readFile("/definitely/not/here").catch((e: unknown) => e);
    const failure = toFailure(error);
    assert.equal(failure.props?.code, "ENOENT");
    assert.equal(failure.props?.syscall, "open");
    assert.equal(failure.props?.errno, -2);
    assert.equal(failure.props?.path, "/definitely/not/here");
  });

  test("property values are capped and cycles marked; conversion never throws", () => {
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 10; i++) deep = { deep };
    const error = Object.assign(new Error("x"), {
      cyclic,
      deep,
      long: "y".repeat(20_000),
      many: Array.from({ length: 150 }, (_, i) => i),
      bytes: Buffer.alloc(4096),
    });
    Object.defineProperty(error, "trap", { enumerable: true, get: () => { throw new Error("getter"); } });
    const props = toFailure(error).props!;
    assert.deepEqual(props.cyclic, { name: "loop", self: "[Circular]" });
    assert.match(JSON.stringify(props.deep), /"\[truncated\]"/);
    assert.equal(props.long, `${"y".repeat(10_000)}… (10000 more characters)`);
    assert.equal((props.many as unknown[]).length, 101);
    assert.equal((props.many as unknown[])[100], "[50 more]");
    assert.equal(props.bytes, "[Buffer of 4096 bytes]");
    assert.equal(props.trap, "[unreadable]");
  });

  test("a thrown string becomes an Error with that message", () => {
    assert.deepEqual(toFailure("boom"), { name: "Error", message: "boom", props: { nonErrorThrow: true } });
    assert.deepEqual(toFailure(42), { name: "Error", message: "42", props: { nonErrorThrow: true } });
    assert.deepEqual(toFailure(undefined), { name: "Error", message: "undefined", props: { nonErrorThrow: true } });
  });

  test("a thrown object keeps its value; an error-like one its name and message", () => {
    assert.deepEqual(toFailure({ status: 503, retry: () => 0 }), {
      name: "Error",
      message: '{"status":503}',
      props: { nonErrorThrow: true, thrownValue: { status: 503 } },
    });
    assert.deepEqual(toFailure({ name: "AbortError", message: "stopped" }), {
      name: "AbortError",
      message: "stopped",
      props: { nonErrorThrow: true, thrownValue: { name: "AbortError", message: "stopped" } },
    });
  });

  test("a thrown value whose properties throw still converts", () => {
    const hostile = new Proxy({}, { get: () => { throw new Error("trap"); } });
    assert.deepEqual(toFailure(hostile), { name: "Error", message: "The error could not be converted: trap" });
  });

  test("a cycle in the cause chain is cut", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    a.cause = b;
    const failure = toFailure(a);
    assert.equal((failure.cause as Failure).message, "b");
    assert.deepEqual((failure.cause as Failure).cause, { value: "[Circular]" });
  });
});

describe("fromFailure", () => {
  for (const BuiltIn of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]) {
    test(`${BuiltIn.name} is rebuilt as a ${BuiltIn.name}`, () => {
      const error = fromFailure(overTheWire(new BuiltIn("bad thing")));
      assert.equal(Object.getPrototypeOf(error), BuiltIn.prototype);
      assert.ok(error instanceof BuiltIn);
      assert.equal(error.name, BuiltIn.name);
      assert.equal(error.message, "bad thing");
      assert.equal(error.stack!.split("\n")[0], `${BuiltIn.name}: bad thing`);
    });
  }

  test("a user error class becomes a RemoteError with the remote name and properties", () => {
    const error = fromFailure(overTheWire(new QuotaError("over quota")));
    assert.ok(error instanceof RemoteError);
    assert.equal(error.name, "QuotaError");
    assert.equal(error.remoteName, "QuotaError");
    assert.equal(error.message, "over quota");
    assert.equal((error as unknown as { code: string }).code, "E_QUOTA");
    assert.equal((error as unknown as { limit: number }).limit, 5);
    assert.equal("retry" in error, false);
    assert.equal(error.stack!.split("\n")[0], "QuotaError: over quota");
  });

  test("a 3-deep cause chain is rebuilt, ending in a non-Error cause", () => {
    const error = new QuotaError("top", {
      cause: new TypeError("middle", { cause: new RangeError("bottom", { cause: { reason: "root" } }) }),
    });
    const rebuilt = fromFailure(overTheWire(error));
    const middle = rebuilt.cause as Error;
    const bottom = middle.cause as Error;
    assert.ok(middle instanceof TypeError);
    assert.equal(middle.message, "middle");
    assert.ok(bottom instanceof RangeError);
    assert.equal(bottom.message, "bottom");
    assert.deepEqual(bottom.cause, { reason: "root" });
    assert.equal(Object.getOwnPropertyDescriptor(rebuilt, "cause")?.enumerable, false);
  });

  test("an AggregateError is rebuilt with its errors", () => {
    const error = new AggregateError([new TypeError("one"), new QuotaError("two"), "three"], "all failed");
    const rebuilt = fromFailure(overTheWire(error));
    assert.ok(rebuilt instanceof AggregateError);
    assert.equal(rebuilt.message, "all failed");
    assert.equal(rebuilt.errors.length, 3);
    assert.ok(rebuilt.errors[0] instanceof TypeError);
    assert.ok(rebuilt.errors[1] instanceof RemoteError);
    assert.equal(rebuilt.errors[1].name, "QuotaError");
    assert.equal(rebuilt.errors[2].message, "three");
  });

  test("a thrown string arrives as an Error with that message", () => {
    const rebuilt = fromFailure(overTheWire("boom"));
    assert.equal(Object.getPrototypeOf(rebuilt), Error.prototype);
    assert.equal(rebuilt.message, "boom");
    assert.equal((rebuilt as unknown as { nonErrorThrow: boolean }).nonErrorThrow, true);
    assert.equal(rebuilt.stack, "Error: boom");
  });

  test("properties never overwrite the error's own fields or prototype", () => {
    const failure = Failure.parse(
      JSON.parse('{"name":"QuotaError","message":"m","props":{"__proto__":{"polluted":1},"message":"x","remoteName":"y","ok":1}}'),
    );
    const rebuilt = fromFailure(failure) as RemoteError & { ok?: number; polluted?: number };
    assert.equal(Object.getPrototypeOf(rebuilt), RemoteError.prototype);
    assert.equal(rebuilt.polluted, undefined);
    assert.equal(rebuilt.message, "m");
    assert.equal(rebuilt.remoteName, "QuotaError");
    assert.equal(rebuilt.ok, 1);
  });
});

describe("fromFailure: the stack", () => {
  const remoteStack = [
    "QuotaError: over quota",
    "  with a second message line",
    "    at checkQuota (file:///tmp/ws/src/gpu.ts:10:11)",
    "    at /tmp/ws/src/gpu.ts:20:3",
    "    at async Promise.all (index 0)",
    "    at Module._compile (node:internal/modules/cjs/loader:1521:14)",
    "    at run (/tmp/ws/dir with space/main.ts:5:9)",
  ].join("\n");
  const localStack = ["Error", "    at Session.call (/home/me/proj/node_modules/flow-sdk/dist/session.js:1:1)", "    at main (/home/me/proj/main.ts:3:7)"].join("\n");
  const failure: Failure = { name: "QuotaError", message: "over quota\n  with a second message line", stack: remoteStack };
  const mapPath = (path: string) => path.replace(/^(file:\/\/)?\/tmp\/ws\//, "/home/me/proj/");

  test("remote frames are path-mapped and marked, then the local frames follow", () => {
    const rebuilt = fromFailure(failure, { mapPath, localStack });
    assert.equal(
      rebuilt.stack,
      [
        "QuotaError: over quota",
        "  with a second message line",
        "    at checkQuota (/home/me/proj/src/gpu.ts:10:11) [remote]",
        "    at /home/me/proj/src/gpu.ts:20:3 [remote]",
        "    at async Promise.all (index 0) [remote]",
        "    at Module._compile (node:internal/modules/cjs/loader:1521:14) [remote]",
        "    at run (/home/me/proj/dir with space/main.ts:5:9) [remote]",
        "    at Session.call (/home/me/proj/node_modules/flow-sdk/dist/session.js:1:1)",
        "    at main (/home/me/proj/main.ts:3:7)",
      ].join("\n"),
    );
  });

  test("mapPath sees each path exactly as written, without line and column", () => {
    const seen: string[] = [];
    fromFailure(failure, { mapPath: (p) => (seen.push(p), p) });
    assert.deepEqual(seen, ["file:///tmp/ws/src/gpu.ts", "/tmp/ws/src/gpu.ts", "/tmp/ws/dir with space/main.ts"]);
  });

  test("remoteLabel goes into the marker; causes are mapped and marked too", () => {
    const withCause: Failure = { name: "Error", message: "outer", cause: { ...failure } };
    const rebuilt = fromFailure(withCause, { remoteLabel: "agent pid 1234", mapPath, localStack });
    assert.equal(rebuilt.stack, "Error: outer\n" + localStack.split("\n").slice(1).join("\n"));
    const causeLines = (rebuilt.cause as Error).stack!.split("\n");
    assert.equal(causeLines[2], "    at checkQuota (/home/me/proj/src/gpu.ts:10:11) [remote: agent pid 1234]");
    assert.equal(causeLines.length, 7); // no local frames on a cause
  });

  test("an empty message gives a bare name as the first line", () => {
    assert.equal(fromFailure({ name: "TypeError", message: "" }).stack, "TypeError");
  });
});
