// How users lay out their code: functions in their own modules, scripts that carry on after
// app.run(), code after app.localEntrypoint(). Real CLI, real agents; what runs where is counted
// with a log file each process appends to.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot, runCli, runNode, tempDir } from "./helpers.ts";

const dir = join(repoRoot, "test/fixtures/e2e/layouts");

function logFile(): { path: string; lines: () => string[] } {
  const path = join(tempDir(), "log.txt");
  return { path, lines: () => readFileSync(path, "utf8").trim().split("\n") };
}

describe("code layouts", () => {
  it("runs functions defined in an imported module, exported or not, and never loads the entry on the agent", async () => {
    const log = logFile();
    const result = await runCli(["run", "main.ts"], { cwd: dir, env: { LAYOUTS_LOG: log.path } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), ["HELLO!", "300", "1.5", "pong", "Model unloaded"]);
    // main.ts ran once, here; the exit hook ran once, on the agent, and its output reached us.
    const pids = (what: string) => log.lines().filter((l) => l.startsWith(what)).map((l) => l.split(" in ")[1]);
    const [client, ...more] = pids("main.ts top level");
    assert.deepEqual(more, []);
    const [agent, ...moreHooks] = pids("exit hook");
    assert.deepEqual(moreHooks, []);
    assert.ok(agent !== undefined && agent !== client);
  });

  it("calls a function of an imported module by name", async () => {
    const result = await runCli(["run", "main.ts::shout", '"by name"'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), "'BY NAME!'");
  });

  it("says to export the class when a method's class cannot be found on the agent", async () => {
    const result = await runCli(["run", "main.ts"], { cwd: dir, env: { LAYOUTS_MISTAKE: "unexported-class" } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Remote function Unexported\.peek \(defined at .*functions\.ts:35\) does not exist on the agent/);
    assert.match(result.stderr, /Export the class that holds it: `export class Unexported`/);
  });

  it("says where to define a function created inside the entrypoint", async () => {
    const result = await runCli(["run", "main.ts"], { cwd: dir, env: { LAYOUTS_MISTAKE: "inner-function" } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /The remote function \(defined at .*main\.ts:14\) does not exist on the agent/);
    assert.match(result.stderr, /at the top level of a module, not inside a function or callback/);
  });

  it("runs a script's own code after app.run() once, in the script, even a trailing process.exit()", async () => {
    const log = logFile();
    const result = await runNode(["--import", "flow-sdk/register", "script.ts"], { cwd: dir, env: { LAYOUTS_LOG: log.path } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), "2,4,6 42");
    assert.deepEqual(log.lines(), [`after app.run in ${log.lines()[0]?.split(" in ")[1]}`]);
  });

  it("does not run the code after app.localEntrypoint() on the agent", async () => {
    const log = logFile();
    const result = await runCli(["run", "entrypoint-last.ts"], { cwd: dir, env: { LAYOUTS_LOG: log.path } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), "15");
    assert.equal(log.lines().length, 1);
  });
});
