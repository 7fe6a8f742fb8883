import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { backendFor } from "../../src/backends.ts";
import { Flow } from "../../src/client/flow.ts";
import { AuthenticationError } from "../../src/errors.ts";
import { FcpProvider } from "../../src/providers/fcp/fcp-provider.ts";
import { FcpTaskProvider } from "../../src/providers/fcp/fcp-task-provider.ts";
import { LocalProvider } from "../../src/providers/local/local-provider.ts";
import { LocalTaskRunner } from "../../src/providers/local/task-runner.ts";

const scratch = mkdtempSync(join(tmpdir(), "flow-backends-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
/** No FLOW_API_KEY, no config files: a machine that has never been set up for the cloud. */
const bare = { env: {}, homeDir: scratch, cwd: scratch, flowHome: join(scratch, ".flow") };

describe("backendFor", () => {
  test("local: agents as child processes, tasks under the given flow home", () => {
    const backend = backendFor("local", { flowHome: join(scratch, "home-a"), env: {} });
    assert.equal(backend.name, "local");
    assert.ok(backend.agents instanceof LocalProvider);
    assert.ok(backend.tasks instanceof LocalTaskRunner);
    assert.equal((backend.tasks as LocalTaskRunner).home, join(scratch, "home-a"));
  });

  test("local: FLOW_HOME from the given env when no flow home is given", () => {
    const backend = backendFor("local", { env: { FLOW_HOME: join(scratch, "home-b") } });
    assert.equal((backend.tasks as LocalTaskRunner).home, join(scratch, "home-b"));
  });

  test("fcp: functions and tasks share one FcpContext, and each half is built once", () => {
    const backend = backendFor("fcp", { env: {} });
    assert.ok(backend.agents instanceof FcpProvider);
    assert.ok(backend.tasks instanceof FcpTaskProvider);
    assert.equal(backend.agents.context, backend.tasks.context);
    assert.equal(backend.agents, backend.agents);
    assert.equal(backend.tasks, backend.tasks);
  });

  test("fcp without an API key builds, and fails with AuthenticationError only once it talks to the cloud", async () => {
    const backend = backendFor("fcp", { env: {}, onProgress: () => {} });
    assert.equal(backend.tasks.name, "fcp");
    await assert.rejects(backend.tasks.catalog(), AuthenticationError);
  });
});

describe("new Flow() on the cloud", () => {
  test("without cloud config it is created, and fails with AuthenticationError only when the cloud is used", async () => {
    const flow = new Flow({ ...bare, provider: "fcp", onProgress: () => {} });
    assert.equal(flow.provider.name, "fcp");
    await assert.rejects(flow.listTasks(), AuthenticationError);
    await assert.rejects(flow.volumes.list(), AuthenticationError);
  });
});
