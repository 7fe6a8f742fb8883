// The `flow` CLI as a user runs it: real processes, real agents, real signals.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import { isAlive, repoRoot, runCli, runNode, startCli, tempDir, until } from "./helpers.ts";

describe("flow run", () => {
  it("runs the local entrypoint of examples/hello.ts", async () => {
    const result = await runCli(["run", "examples/hello.ts"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^49$/m);
    assert.match(result.stdout, /summarising 3 values/);
    assert.match(result.stdout, /n: 3,\s+mean: 2,\s+at: \d{4}-\d\d-\d\dT/);
  });

  it("calls one function with JSON arguments: file.ts::name", async () => {
    const result = await runCli(["run", "examples/hello.ts::square", "7"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), "49");
    const json = await runCli(["run", "examples/hello.ts::Stats.describe", "--json", "[1,2]"]);
    assert.equal(json.code, 0, json.stderr);
    assert.match(json.stdout, /^\{"n":2,"mean":1\.5,"at":"\d{4}-[^"]+"\}$/m);
  });

  it("works with legacy experimentalDecorators", async () => {
    const result = await runCli(["run", "legacy.ts"], { cwd: join(repoRoot, "test/fixtures/legacy-decorators") });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), JSON.stringify({ add: 5, predict: 40 }));
  });

  it("shows remote errors with their class and a stack into the user's .ts file", async () => {
    const result = await runCli(["run", "examples/errors.ts"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /caught TypeError \(instanceof TypeError: true\), code E_CONFIG/);
    assert.match(result.stdout, /cause: SyntaxError/);
    assert.match(result.stdout, /examples\/errors\.ts:\d+:\d+\) \[remote: agent pid \d+\]/);
  });

  it("gives the user's module the SDK the CLI loaded, not a second copy from a tsconfig path to the sources", async () => {
    const result = await runCli(["run", "test/fixtures/e2e/sdk-copy.ts"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${pathToFileURL(join(repoRoot, "dist", "index.js")).href}\n9\n`);
  });

  it("names an unknown function and lists the known ones", async () => {
    const result = await runCli(["run", "examples/hello.ts::cube", "2"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /No remote function 'cube'.*known: square, Stats\.describe/);
  });

  it("passes what follows the file to the local entrypoint, flags included; flow's own options go before the file", async () => {
    const file = "test/fixtures/e2e/entrypoint.ts";
    const result = await runCli(["run", "--provider", "local", file, "--epochs", "3", "--name", "bert", "--json", "--", "x"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${JSON.stringify(["--epochs", "3", "--name", "bert", "--json", "--", "x"])}\ntwice 6\n`);
  });

  it("refuses arguments for an entrypoint that takes none, and says where flow's options go", async () => {
    const result = await runCli(["run", "examples/hello.ts", "--provider", "local"]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      [
        "Error: The local entrypoint of examples/hello.ts takes no arguments, but was given: --provider local",
        "  - Options for flow go before the file: flow run --provider local examples/hello.ts",
        "  - To take arguments, declare them: app.localEntrypoint(async (argv: string[]) => { … })",
        "",
      ].join("\n"),
    );
  });

  it("Ctrl-C cancels in-flight calls (their signal fires), stops the agent and exits 130", async () => {
    const dir = tempDir();
    const cli = startCli(["run", "test/fixtures/e2e/values.ts::waitForCancel", JSON.stringify(dir)]);
    await until(() => existsSync(join(dir, "pid")), "the remote call to start");
    const agentPid = Number(readFileSync(join(dir, "pid"), "utf8"));
    assert.ok(isAlive(agentPid));
    cli.child.kill("SIGINT");
    const result = await cli.done;
    assert.equal(result.code, 130);
    // How fast is the bench's business; here, that the call saw its cancel and nothing is left.
    assert.equal(readFileSync(join(dir, "aborted"), "utf8"), "CancelledError");
    await until(() => !isAlive(agentPid), "the agent to exit");
  });

  it("leaves no agent behind even when the CLI is killed with SIGKILL", async () => {
    const dir = tempDir();
    const cli = startCli(["run", "test/fixtures/e2e/values.ts::waitForCancel", JSON.stringify(dir)]);
    await until(() => existsSync(join(dir, "pid")), "the remote call to start");
    const agentPid = Number(readFileSync(join(dir, "pid"), "utf8"));
    cli.child.kill("SIGKILL");
    await cli.done;
    await until(() => !isAlive(agentPid), "the orphaned agent to exit", 5_000);
  });
});

describe("output", () => {
  it("reaches a slow reader whole: the CLI exits only once what it printed has left through the pipe", async () => {
    const started = startCli(["run", "test/fixtures/e2e/many-lines.ts", "--lines", "200000"]);
    // Read nothing for a while, so that most of the output is still queued when the command ends.
    started.child.stdout!.pause();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    started.child.stdout!.resume();
    const result = await started.done;
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 200_000);
    assert.equal(lines.at(-1), "line 199999");
  });
});

describe("errors a user can act on: one line and what to do, no internals (FLOW_DEBUG=1 shows them)", () => {
  it("a file that does not exist", async () => {
    const result = await runCli(["run", "nope.ts"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `Error: No such file: nope.ts (looked in ${repoRoot}).\n  - flow run takes the path of a .ts file, relative to the current directory.\n`);
  });

  it("a failing ::name call: the remote exception with the user's own remote frames only", async () => {
    const result = await runCli(["run", "test/fixtures/e2e/values.ts::fail", "type"]);
    assert.equal(result.code, 1);
    const frames = result.stderr.split("\n").filter((line) => /^\s+at /.test(line));
    assert.match(result.stderr, /^TypeError: outer problem\n/);
    assert.match(result.stderr, /^Caused by: RangeError: inner problem$/m);
    assert.ok(frames.length > 0 && frames.every((line) => /test\/fixtures\/e2e\/values\.ts:\d+:\d+\) \[remote: agent pid \d+\]$/.test(line)), result.stderr);
    const debug = await runCli(["run", "test/fixtures/e2e/values.ts::fail", "type"], { env: { FLOW_DEBUG: "1" } });
    assert.match(debug.stderr, /dist\/chunk-\w+\.js:\d+:\d+/);
  });

  it("an exception in the local entrypoint: the user's frames only", async () => {
    const result = await runCli(["run", "test/fixtures/e2e/entrypoint.ts", "--fail"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^TypeError: refusing to run\n {4}at refuse \(.*test\/fixtures\/e2e\/entrypoint\.ts:10:9\)\n {4}at .*entrypoint\.ts:16:\d+\)\n$/);
  });

  it("top-level await in a .cts file", async () => {
    const dir = tempDir();
    const file = join(dir, "job.cts");
    writeFileSync(file, "const n = await Promise.resolve(1);\nconsole.log(n);\n");
    const result = await runCli(["run", file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error: Could not load .*job\.cts:\n.*job\.cts:1:11: Top-level await is currently not supported with the "cjs" output format\n {2}- A \.cts file is CommonJS/);
  });
});

describe("script mode", () => {
  it("npx tsx examples/script.ts runs remote calls inside app.run()", async () => {
    const { code, stdout, stderr } = await runNode(["--import", "tsx", "examples/script.ts"]);
    const out = stdout + stderr;
    assert.equal(code, 0, out);
    const local = /caller pid (\d+)/.exec(out)?.[1];
    const remote = /HELLO! \(from pid (\d+)\)/.exec(out)?.[1];
    assert.ok(local && remote, out);
    assert.notEqual(local, remote);
  });
});

describe("examples", () => {
  it("examples/binary.ts moves typed arrays and Buffers as bytes", async () => {
    const result = await runCli(["run", "examples/binary.ts"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Float32Array of 1000000, peak 1$/m);
    assert.match(result.stdout, /sha256\(raw\) = 3b21278178ed3463f3bde3a35f088caf6d99ff1b2f647d9a0c2b8de599ec3dc6/);
  });

  it("examples/invoke.ts calls a file that never imports flow-sdk", async () => {
    const { code, stdout, stderr } = await runNode(["--import", "flow-sdk/register", "examples/invoke.ts"]);
    const out = stdout + stderr;
    assert.equal(code, 0, out);
    assert.match(out, /trained 3 epochs/);
    assert.match(out, /epochs: 3, loss: 0\.125/);
  });

  it("a module that does not compile fails with esbuild's message and file:line", async () => {
    const dir = tempDir();
    const file = join(dir, "broken.ts");
    writeFileSync(file, "// a typo on line 3\n\nexport const f = async () => 1 +;\n");
    const result = await runCli(["run", file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error: Could not load .*broken\.ts:\n.*broken\.ts:3:33: Unexpected ";"$/m);
  });
});
