// Cloud tasks that do everything their config says (issue 13), end to end against one simulator:
// real HTTP, the real startup script under bash, containers made by the simulator's docker shim,
// real SSH, SFTP and port forwarding.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { Flow } from "../../src/client/flow.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { createServer, type AddressInfo } from "node:net";
import { repoRoot, runCli, runNode, startCli, tempDir, until } from "./helpers.ts";

let sim: FcpSimulator;
let root: string;
let env: NodeJS.ProcessEnv;
let flow: Flow;
let s3: S3rver;
let s3Env: NodeJS.ProcessEnv;

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
  // A real S3-compatible server; its one account is S3RVER / S3RVER.
  s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: join(root, "s3"), configureBuckets: [{ name: "datasets", configs: [] }] });
  const { port } = await s3.run();
  s3Env = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_REGION: "us-east-1" };
  const client = new S3Client({ region: "us-east-1", endpoint: s3Env["AWS_ENDPOINT_URL"]!, forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
  await client.send(new PutObjectCommand({ Bucket: "datasets", Key: "mnist/train.csv", Body: "1,2,3\n" }));
  await client.send(new PutObjectCommand({ Bucket: "datasets", Key: "mnist/labels/all.txt", Body: "seven\n" }));
  client.destroy();
});

after(async () => {
  await s3.close();
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

    // In a container (no FLOW_INSTANCE_ROOT: not the machine's environment), only what was mounted is there.
    const writer = await run(`test -z "$FLOW_INSTANCE_ROOT" && echo epoch-9 > ${diskPath}/state && echo rows > ${sharePath}/data && echo wrote`);
    await writer.wait();
    assert.equal(writer.status, "completed", `${writer.message}\n${await writer.logs({ stderr: true })}`);
    const [instance] = sim.instances().filter((i) => i.bid === writer.taskId);
    const [container] = await sim.dockerRuns(instance!.fid);
    assert.deepEqual(
      container!.mounts.filter((m) => m.target === diskPath || m.target === sharePath).map((m) => m.target),
      [diskPath, sharePath],
    );

    const reader = await run(`test -z "$FLOW_INSTANCE_ROOT" && cat ${diskPath}/state ${sharePath}/data`);
    await reader.wait();
    assert.equal(reader.status, "completed", reader.message);
    assert.match(await reader.logs(), /epoch-9\s+rows/);
    await assertNothingLive([writer.taskId, reader.taskId]);
    for (const volume of [disk, share]) await flow.volumes.delete(volume.volumeId);
  });
});

/** A Flow whose environment has these AWS settings (the S3 server's by default). */
function flowWith(extra: NodeJS.ProcessEnv): Flow {
  return new Flow({ provider: "fcp", env: { ...env, ...extra }, flowHome: env["FLOW_HOME"]!, homeDir: env["HOME"]!, onProgress: () => {} });
}

describe("data mounts", () => {
  it("copies an S3 prefix in read-only before the command starts, with credentials that never reach the API", async () => {
    const task = await flowWith(s3Env).submit('test -z "$FLOW_INSTANCE_ROOT" && cat /data/train.csv /data/labels/all.txt && (touch /data/new 2>/dev/null && echo writable || echo read-only)', {
      gpu: "a100",
      data: "s3://datasets/mnist",
      uploadCode: false,
    });
    await task.wait();
    assert.equal(task.status, "completed", `${task.message}\n${await task.logs({ source: "startup" })}`);
    assert.equal(await task.logs(), "1,2,3\nseven\nread-only\n");
    for (const exchange of sim.requests) assert.ok(!JSON.stringify(exchange).includes(s3Env["AWS_ENDPOINT_URL"]!), `${exchange.method} ${exchange.path} carried S3 settings`);
    await assertNothingLive([task.taskId]);
  });

  it("fails a task whose S3 key is refused, or whose bucket does not exist, saying why in its status", async () => {
    const wrongKey = await flowWith({ ...s3Env, AWS_ACCESS_KEY_ID: "NOT-A-KEY" }).submit("echo never", { gpu: "a100", data: "s3://datasets/mnist", uploadCode: false });
    const noBucket = await flowWith(s3Env).submit("echo never", { gpu: "a100", data: { "/in": "s3://no-such-bucket/x" }, uploadCode: false });
    await Promise.all([wrongKey.wait(), noBucket.wait()]);
    assert.equal(wrongKey.status, "failed");
    assert.match(wrongKey.message ?? "", /^data mount s3:\/\/datasets\/mnist: S3 refused the access key \(InvalidAccessKeyId\): check AWS_ACCESS_KEY_ID/);
    assert.equal(noBucket.status, "failed");
    assert.match(noBucket.message ?? "", /^data mount s3:\/\/no-such-bucket\/x: the bucket does not exist \(NoSuchBucket\)/);
    assert.equal(await wrongKey.logs(), "", "the command never ran");
    await assertNothingLive([wrongKey.taskId, noBucket.taskId]);
  });

  it("refuses an S3 mount without credentials before bidding, naming the field", async () => {
    const bids = sim.bids().length;
    const bare = flowWith({ AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_PROFILE: "no-such-profile", AWS_SHARED_CREDENTIALS_FILE: join(root, "none"), AWS_CONFIG_FILE: join(root, "none") });
    await assert.rejects(bare.submit("true", { gpu: "a100", data: "s3://datasets/mnist", uploadCode: false }), /dataMounts\[0\] reads from S3, but no AWS credentials were found/);
    assert.equal(sim.bids().length, bids);
  });

  it("mounts volume://name, creating the volume in the task's region the first time", async () => {
    const mount = join(root, "mnt", "cache");
    mkdirSync(join(root, "mnt"), { recursive: true });
    const first = await flow.submit(`echo warm > ${mount}/state`, { gpu: "a100", data: { [mount]: "volume://build-cache" }, uploadCode: false });
    await first.wait();
    assert.equal(first.status, "completed", first.message);
    const volume = (await flow.volumes.list()).find((v) => v.name === "build-cache");
    assert.equal(volume?.region, first.region);
    const second = await flow.submit(`cat ${mount}/state`, { gpu: "a100", data: { [mount]: "volume://build-cache" }, uploadCode: false });
    await second.wait();
    assert.equal(await second.logs(), "warm\n");
    await assertNothingLive([first.taskId, second.taskId]);
    await flow.volumes.delete("build-cache");
  });
});

describe("ports and endpoints", () => {
  it("examples/ports.ts serves HTTP from a task and fetches it through the task's endpoint, here and on the cloud", async () => {
    for (const provider of ["local", "fcp"]) {
      const result = await runNode(["--import", "flow-sdk/register", "examples/ports.ts"], { cwd: repoRoot, env: { ...env, FLOW_PROVIDER: provider } });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "hello over HTTP\n", `${provider}: ${result.stderr}`);
    }
    await assertNothingLive(sim.bids().map((bid) => bid.fid));
  });

  it("flow port-forward holds a task's port open on a chosen local port until Ctrl-C", async () => {
    const task = await flow.run({ name: "web", instanceType: "a100", command: "echo up > index.html && exec python3 -m http.server 8766 --bind 127.0.0.1", ports: [8766], uploadCode: false });
    while (task.status !== "running") {
      assert.ok(!task.isTerminal, task.message);
      await new Promise((r) => setTimeout(r, 100));
      await task.refresh();
    }
    const localPort = await freePort();
    const forwarding = startCli(["port-forward", task.taskId, "8766", "--local-port", String(localPort)], { cwd: repoRoot, env });
    await until(() => /-> http|Error/.test(forwarding.output()), "the forward", 60_000);
    assert.match(forwarding.output(), new RegExp(`^8766 -> http://127\\.0\\.0\\.1:${localPort}$`, "m"));
    let body: string | undefined;
    for (let i = 0; i < 100 && body !== "up\n"; i++) {
      body = await fetch(`http://127.0.0.1:${localPort}/index.html`).then((r) => r.text(), () => undefined);
      if (body !== "up\n") await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(body, "up\n");
    forwarding.child.kill("SIGINT");
    const ended = await forwarding.done;
    assert.equal(ended.code, 0, ended.stderr);
    await task.cancel();
    await assertNothingLive([task.taskId]);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe("retries, logs and cost", () => {
  it("retries a preempted task on a new bid, uploading code and secrets again, keeping one task id and its attempt history", async () => {
    const code = join(root, "retry-code");
    mkdirSync(code, { recursive: true });
    writeFileSync(join(code, "weights.bin"), randomBytes(8_192));
    const task = await flow.run({
      name: "retried",
      instanceType: "a100",
      command: 'echo "$FLOW_TASK_ID ${#HF_TOKEN} $(wc -c < weights.bin)"; sleep 600',
      env: { HF_TOKEN: "hf_secret" },
      codeRoot: code,
      retries: { maxRetries: 1, initialDelayMs: 0 },
    });
    const expected = `${task.taskId} 9 8192\n`;
    await until(() => sim.liveInstances().some((i) => i.bid === task.taskId), "the first instance");
    await untilAsync(async () => (await task.logs().catch(() => "")) === expected, "the first attempt's output");
    await sim.faults.preempt(sim.liveInstances().find((i) => i.bid === task.taskId)!.fid);
    await untilAsync(async () => (await task.refresh(), task.attempt === 2 && task.status === "running"), "the second attempt to run");
    await untilAsync(async () => (await task.logs()) === expected, "the second attempt's output: code and secret uploaded again");
    assert.equal(task.taskId, task.attempts![0]!.id);
    assert.deepEqual(task.attempts!.map((a) => [a.attempt, a.outcome]), [[1, "preempted"], [2, undefined]]);
    const [first, second] = task.attempts!.map((a) => sim.bids().find((bid) => bid.fid === a.id)!);
    assert.equal(first!.status, "Terminated", "the lost attempt's bid is cancelled, not restarted by the cloud");
    assert.equal(second!.name, `${task.name}-a2`);

    const status = await runCli(["status", task.taskId], { cwd: repoRoot, env });
    assert.match(status.stdout, new RegExp(`attempt 1\\s+${first!.fid} from \\S+ for \\S+: preempted`));
    assert.match(status.stdout, new RegExp(`attempt 2\\s+${second!.fid} from \\S+ \\(current\\)`));
    const listed = JSON.parse((await runCli(["list", "--json"], { cwd: repoRoot, env })).stdout) as { taskId: string }[];
    assert.deepEqual(listed.filter((t) => [first!.fid, second!.fid].includes(t.taskId)).map((t) => t.taskId), [task.taskId], "listed once, by its id");

    await sim.faults.preempt(sim.liveInstances().find((i) => i.bid === second!.fid)!.fid);
    await untilAsync(async () => (await task.refresh(), task.isTerminal), "the task to give up");
    assert.equal(task.status, "failed");
    assert.equal(task.message, "preempted on attempt 2 of 2; no retries left");
    await assertNothingLive([first!.fid, second!.fid]);
  });

  it("keeps a task's logs and exit code after its instance is released, its boot log too, and says what it paid", async () => {
    const task = await flow.run({ name: "paid", instanceType: "a100", command: "echo out; echo err >&2; sleep 1; exit 4", uploadCode: false });
    await task.wait();
    assert.deepEqual([task.status, task.exitCode, task.message], ["failed", 4, "exited with code 4"]);
    await assertNothingLive([task.taskId]);
    assert.equal(await task.logs(), "out\n");
    assert.equal(await task.logs({ stderr: true }), "err\n");
    assert.match(await task.logs({ source: "startup", tail: 1000 }), /\[flow\] == header ==[\s\S]*\[flow\] ready[\s\S]*the workload exited with code 4/);
    // The price actually paid (the market's), not the bid's limit; the total is what was billed.
    const billed = sim.billing().filter((bill) => bill.bid === task.taskId);
    const paid = billed[0]!.periods[0]!;
    assert.equal(task.costPerHour, dollars(paid.priceCents));
    assert.notEqual(task.costPerHour, task.providerMetadata["limitPrice"]);
    assert.equal(task.totalCost, dollars(billed.reduce((sum, bill) => sum + bill.accruedCents, 0)));
    const status = await runCli(["status", task.taskId], { cwd: repoRoot, env });
    assert.match(status.stdout, new RegExp(`cost\\s+\\${task.costPerHour}/h paid \\(bid up to \\$[\\d.]+/h\\), \\${task.totalCost} in all`));
    const list = await runCli(["list"], { cwd: repoRoot, env });
    assert.match(list.stdout, new RegExp(`${task.taskId}.*\\${task.costPerHour}\\s+\\${task.totalCost}`));
  });

  it("gives a follower in another process every line, even when the watching client releases the instance under it", async () => {
    // More than a follower holds unread (4 MiB), so the instance waits on it when it stops reading.
    const task = await flow.run({ name: "cut", instanceType: "a100", command: "seq 1 300000 | sed 's/^/a line of the log, number /'; echo last", uploadCode: false });
    const follower = await flowWith({}).getTask(task.taskId);
    let released: () => void = () => {};
    const resume = new Promise<void>((resolve) => (released = resolve));
    let count = 0;
    let last = "";
    const followed = (async () => {
      for await (const line of follower.logs({ follow: true, tail: Number.MAX_SAFE_INTEGER })) {
        // A reader that stops after its first line, until the instance is gone.
        if (count++ === 0) await resume;
        last = line;
      }
    })();
    await until(() => count > 0, "the follower's first line", 60_000);
    await task.wait();
    await assertNothingLive([task.taskId]);
    released();
    await followed;
    assert.deepEqual([count, last], [300_001, "last"]);
  });

  it("shows why a task never started in its boot log and status: a deadline that passed before it could start", async () => {
    const task = await flow.run({ name: "too-late", instanceType: "a100", command: "echo never", deadlineHours: 0.000001, uploadCode: false });
    await task.wait();
    assert.equal(task.status, "failed");
    assert.match(task.message ?? "", /^the deadline \(deadlineHours, \S+\) passed before the task could start$/);
    assert.match(await task.logs({ source: "startup" }), /the deadline \(deadlineHours, \S+\) passed before the task could start/);
    assert.equal(await task.logs(), "");
    await assertNothingLive([task.taskId]);
  });
});

/** "$1.80" from cents, as the API writes prices. */
function dollars(cents: number): string {
  return `$${(Math.round(cents) / 100).toFixed(2)}`;
}

async function untilAsync(check: () => Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
