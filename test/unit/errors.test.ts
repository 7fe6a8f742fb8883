// Error classes: literal names, and `instanceof` that holds across two copies of the SDK in one
// process (a CommonJS module requiring flow-sdk's CommonJS build beside the CLI's ESM copy).
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import * as esm from "../../src/errors.ts";
import { InstanceTypeError } from "../../src/instance-types/parse-instance-type.ts";

// The CommonJS build is a separate copy of every module: its classes are not this file's.
const cjs = createRequire(import.meta.url)("../../dist/cjs/index.cjs") as typeof import("../../src/index.ts");

describe("errors", () => {
  test("have literal names, and none shared with a built-in", () => {
    assert.equal(new esm.TaskNotFoundError("x").name, "TaskNotFoundError");
    assert.match(new esm.TaskNotFoundError("gone").stack ?? "", /^TaskNotFoundError: gone/);
    assert.equal(new InstanceTypeError("b200", "unknown GPU", undefined).name, "InstanceTypeError");
    assert.equal(new esm.FlowTimeoutError("late").name, "FlowTimeoutError");
    assert.notEqual(new esm.FlowTimeoutError("late").name, AbortSignal.timeout(0).reason?.name ?? "TimeoutError");
  });

  test("instanceof sees through copies of the SDK, along the whole hierarchy, and nothing else", () => {
    assert.notEqual(cjs.TaskNotFoundError, esm.TaskNotFoundError, "the two builds must really be two copies");
    const fromCjs = new cjs.TaskNotFoundError("in the other copy");
    assert.ok(fromCjs instanceof esm.TaskNotFoundError);
    assert.ok(fromCjs instanceof esm.ResourceNotFoundError);
    assert.ok(fromCjs instanceof esm.FlowError);
    assert.ok(!(fromCjs instanceof esm.ValidationError));
    assert.ok(new esm.FunctionTimeoutError("t") instanceof cjs.FlowError);
    assert.ok(!(new Error("plain") instanceof esm.FlowError));
    assert.ok(!((undefined as unknown) instanceof esm.FlowError));
    assert.ok(new esm.ValidationAPIError("v", { statusCode: 422, validationErrors: [] }) instanceof cjs.APIError);
  });
});
