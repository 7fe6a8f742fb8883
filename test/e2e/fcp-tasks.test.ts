// Cloud tasks that do everything their config says (issue 13), end to end against one simulator:
// real HTTP, the real startup script under bash, containers made by the simulator's docker shim,
// real SSH, SFTP and port forwarding.
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Flow } from "../../src/client/flow.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { tempDir, until } from "./helpers.ts";

let sim: FcpSimulator;
let root: string;
let env: NodeJS.ProcessEnv;
let flow: Flow;

before(async () => {
  root = tempDir("flow-fcp-tasks-");
  sim = await FcpSimulator.start({ allocationDelayMs: 0, bootStepMs: 0, stateDir: join(root, "sim") });
  env = {
    FLOW_API_URL: sim.url,
    FLOW_API_KEY: sim.apiKey,
    FLOW_PROJECT: sim.project.name,
    FLOW_PROVIDER: "fcp",
    HOME: join(root, "home"),
    FLOW_HOME: join(root, "home", ".flow"),
  };
  flow = new Flow({ provider: "fcp", env, flowHome: env["FLOW_HOME"]!, homeDir: env["HOME"]!, onProgress: () => {} });
});

after(async () => {
  await sim.close();
  if (!process.env["KEEP_SIM"]) rmSync(root, { recursive: true, force: true });
});

/** Nothing of these tasks' bids may be left costing money. */
async function assertNothingLive(bidFids: readonly string[]): Promise<void> {
  await until(() => sim.liveInstances().every((i) => !bidFids.includes(i.bid)), "every instance to be terminated", 30_000);
}

describe("volumes inside containers", () => {
  it("shows block and file volumes at their mountPath inside the task's container: written by one task, read by the next", async () => {
    const disk = await flow.volumes.create({ name: "ckpt-in-container", sizeGb: 1 });
    const share = await flow.volumes.create({ name: "share-in-container", sizeGb: 1, interface: "file" });
    // Simulated mounts are host paths (tools/fcp-sim/disk-shims.ts), so mount paths are temp dirs.
    const diskPath = join(root, "mnt", "ckpt");
    const sharePath = join(root, "mnt", "share");
    mkdirSync(join(root, "mnt"), { recursive: true });
    const volumes = [
      { volumeId: disk.volumeId, mountPath: diskPath },
      { volumeId: share.volumeId, mountPath: sharePath, interface: "file" as const },
    ];
    const run = (command: string) => flow.run({ name: "in-container", instanceType: "a100", command, volumes, uploadCode: false });

    // /.dockerenv: the command runs inside a container, where only what was mounted is there.
    const writer = await run(`test -e /.dockerenv && echo epoch-9 > ${diskPath}/state && echo rows > ${sharePath}/data && echo wrote`);
    await writer.wait();
    assert.equal(writer.status, "completed", `${writer.message}\n${await writer.logs({ stderr: true })}`);
    const [instance] = sim.instances().filter((i) => i.bid === writer.taskId);
    const [container] = await sim.dockerRuns(instance!.fid);
    assert.deepEqual(
      container!.mounts.filter((m) => m.target === diskPath || m.target === sharePath).map((m) => m.target),
      [diskPath, sharePath],
    );

    const reader = await run(`test -e /.dockerenv && cat ${diskPath}/state ${sharePath}/data`);
    await reader.wait();
    assert.equal(reader.status, "completed", reader.message);
    assert.match(await reader.logs(), /epoch-9\s+rows/);
    await assertNothingLive([writer.taskId, reader.taskId]);
    for (const volume of [disk, share]) await flow.volumes.delete(volume.volumeId);
  });
});
