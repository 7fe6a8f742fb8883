// The `flow` CLI as a user runs it: real processes, real agents, real signals.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

  it("names an unknown function and lists the known ones", async () => {
    const result = await runCli(["run", "examples/hello.ts::cube", "2"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /No remote function 'cube'.*known: square, Stats\.describe/);
  });

  it("Ctrl-C cancels in-flight calls, stops the agent and exits non-zero within 2 s", async () => {
    const dir = tempDir();
    const cli = startCli(["run", "test/fixtures/e2e/values.ts::waitForCancel", JSON.stringify(dir)]);
    await until(() => existsSync(join(dir, "pid")), "the remote call to start");
    const agentPid = Number(readFileSync(join(dir, "pid"), "utf8"));
    assert.ok(isAlive(agentPid));
    const sentAt = Date.now();
    cli.child.kill("SIGINT");
    const result = await cli.done;
    assert.ok(Date.now() - sentAt < 2_000, `exited after ${Date.now() - sentAt} ms`);
    assert.equal(result.code, 130);
    await until(() => !isAlive(agentPid), "the agent to exit", 2_000);
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
    assert.match(result.stderr, /^Error: Could not load .*broken\.ts:\n.*broken\.ts:3:32: ERROR: Unexpected ";"$/m);
  });
});
