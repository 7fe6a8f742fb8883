import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { loadError } from "../../src/cli/commands/load-error.ts";
import { formatError } from "../../src/cli/error-output.ts";
import { FlowError } from "../../src/errors.ts";
import { tempDir } from "../e2e/helpers.ts";

function withCode(message: string, code: string, name = "Error"): Error {
  return Object.assign(new Error(message), { code, name });
}

function describeError(error: unknown): string {
  assert.ok(error instanceof FlowError, String(error));
  return error.describe();
}

describe("loadError", () => {
  it("a package that is not installed, imported by an ES module", () => {
    const error = withCode("Cannot find package 'left-pad' imported from /work/app/main.ts", "ERR_MODULE_NOT_FOUND");
    assert.match(describeError(loadError("main.ts", error)), /^\/work\/app\/main\.ts imports 'left-pad', but the package left-pad is not installed\.\n {2}- npm install left-pad$/);
  });

  it("a subpath of a scoped package, required by CommonJS code", () => {
    const error = withCode("Cannot find module '@scope/pkg/sub'\nRequire stack:\n- /work/app/main.ts\n- /work/app/x.js", "MODULE_NOT_FOUND");
    assert.match(describeError(loadError("main.ts", error)), /imports '@scope\/pkg\/sub', but the package @scope\/pkg is not installed\.\n {2}- npm install @scope\/pkg$/);
  });

  it("a relative import of a file that does not exist, resolved from the importing file", () => {
    const esm = withCode("Cannot find module '/work/app/lib/util.ts' imported from /work/app/main.ts", "ERR_MODULE_NOT_FOUND");
    assert.match(describeError(loadError("main.ts", esm)), /^\/work\/app\/main\.ts imports \/work\/app\/lib\/util\.ts, which does not exist\./);
    const cjs = withCode("Cannot find module './lib/util'\nRequire stack:\n- /work/app/main.ts", "MODULE_NOT_FOUND");
    assert.match(describeError(loadError("main.ts", cjs)), /^\/work\/app\/main\.ts imports \/work\/app\/lib\/util, which does not exist\./);
  });

  it("esbuild's syntax error, with columns counted from 1 and the .cts file named as it is", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src", "job.cts"), "");
    const message = `Transform failed with 1 error:\n${join(dir, "src", "job.ts")}:1:10: ERROR: Top-level await is currently not supported with the "cjs" output format`;
    const text = describeError(loadError("src/job.cts", withCode(message, "ERR_REQUIRE_ASYNC_MODULE", "TransformError")));
    assert.match(text, new RegExp(`^Could not load src/job\\.cts:\\n${join(dir, "src", "job.cts")}:1:11: Top-level await`));
    assert.match(text, /A \.cts file is CommonJS, which has no top-level await: rename src\/job\.cts to \.mts/);
  });

  it("leaves any other error (the user's own code failing) as it is", () => {
    const error = new TypeError("x is not a function");
    assert.equal(loadError("main.ts", error), error);
  });
});

describe("formatError", () => {
  const sdkFile = pathToFileURL("/home/u/app/node_modules/flow-sdk/dist/cli.js").href;
  const remote = Object.assign(new RangeError("n must be at most 1"), {
    stack: [
      "RangeError: n must be at most 1",
      "    at check (/home/u/app/fails.ts:4:20) [remote: agent pid 7]",
      "    at <anonymous> (/home/u/app/fails.ts:7:59) [remote: agent pid 7]",
      "    at file:///home/u/app/node_modules/flow-sdk/dist/chunk-ABC.js:1353:54",
      "    at new Promise (<anonymous>)",
      "    at async AppRunner.call (file:///home/u/app/node_modules/flow-sdk/dist/chunk-ABC.js:1863:16)",
      "    at async Command.parseAsync (/home/u/app/node_modules/commander/lib/command.js:1122:5)",
      "    at resolve (file:///home/u/app/node_modules/tsx/dist/register.mjs:2:15453)",
      "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
      "    at useLibrary (/home/u/app/node_modules/some-lib/index.js:1:1)",
    ].join("\n"),
  });

  it("keeps the user's frames, remote ones included, and their libraries'; drops the SDK's, its dependencies' and Node's", () => {
    assert.equal(
      formatError(remote, sdkFile, false),
      [
        "RangeError: n must be at most 1",
        "    at check (/home/u/app/fails.ts:4:20) [remote: agent pid 7]",
        "    at <anonymous> (/home/u/app/fails.ts:7:59) [remote: agent pid 7]",
        "    at useLibrary (/home/u/app/node_modules/some-lib/index.js:1:1)",
      ].join("\n"),
    );
  });

  it("prints the cause chain; says how to see more when no frame is left", () => {
    const error = new Error("outer", { cause: new Error("inner") });
    error.stack = "Error: outer\n    at x (node:internal/a:1:1)";
    (error.cause as Error).stack = "Error: inner";
    assert.equal(formatError(error, sdkFile, false), "Error: outer\nCaused by: Error: inner\n(FLOW_DEBUG=1 shows where it came from)");
  });

  it("our own errors as their message and suggestions", () => {
    assert.equal(formatError(new FlowError("No such file: a.ts", { suggestions: ["Check it."] }), sdkFile, false), "Error: No such file: a.ts\n  - Check it.");
  });

  it("with FLOW_DEBUG=1, everything", () => {
    const text = formatError(remote, sdkFile, true);
    assert.match(text, /chunk-ABC\.js:1353:54/);
    assert.match(text, /node:internal\/process/);
  });
});
