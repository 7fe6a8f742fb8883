// Every TaskConfig field × each provider: an observable effect (in a real local run, or in the
// simulator: what was bid, what ran in the container, what the task printed) or a refusal whose
// message names the field. A field without a row fails here; README.md and docs/cloud.md carry
// the table as rendered from these rows.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { Flow } from "../../src/client/flow.ts";
import type { Task } from "../../src/client/task.ts";
import { TaskConfigSchema, type TaskConfigInput } from "../../src/task/task-config.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { repoRoot, tempDir, until } from "./helpers.ts";

let sim: FcpSimulator;
/** Bids here are never allocated: what a task would bid, without anything running. */
let held: FcpSimulator;
let heldFcp: Flow;
let s3: S3rver;
let root: string;
let fcp: Flow;
let local: Flow;
let code: string;

before(async () => {
  root = tempDir("flow-fields-");
  sim = await FcpSimulator.start({ allocationDelayMs: 0, bootStepMs: 0, stateDir: join(root, "sim") });
  held = await FcpSimulator.start({ allocationDelayMs: 3_600_000, bootStepMs: 0, stateDir: join(root, "held-sim") });
  s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: join(root, "s3"), configureBuckets: [{ name: "fields", configs: [] }] });
  const { port } = await s3.run();
  const aws = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_REGION: "us-east-1" };
  const client = new S3Client({ region: "us-east-1", endpoint: aws.AWS_ENDPOINT_URL, forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
  await client.send(new PutObjectCommand({ Bucket: "fields", Key: "in/data.txt", Body: "from s3\n" }));
  client.destroy();
  const home = join(root, "home");
  const env = { ...aws, FLOW_API_URL: sim.url, FLOW_API_KEY: sim.apiKey, FLOW_PROJECT: sim.project.name, HOME: home, FLOW_HOME: join(home, ".flow"), PATH: process.env["PATH"] ?? "" };
  code = join(root, "code");
  mkdirSync(code, { recursive: true });
  writeFileSync(join(code, "marker.txt"), "code is here\n");
  fcp = new Flow({ provider: "fcp", env, flowHome: env.FLOW_HOME, homeDir: home, cwd: code, onProgress: () => {} });
  local = new Flow({ provider: "local", env, flowHome: join(root, "local-home"), homeDir: home, cwd: code });
  const heldEnv = { ...env, FLOW_API_URL: held.url, FLOW_HOME: join(home, ".flow-held") };
  heldFcp = new Flow({ provider: "fcp", env: heldEnv, flowHome: heldEnv.FLOW_HOME, homeDir: home, cwd: code, onProgress: () => {} });
});

after(async () => {
  await s3.close();
  await Promise.all([sim.close(), held.close()]);
  rmSync(root, { recursive: true, force: true });
});

type Flows = "local" | "fcp";

interface Row {
  field: keyof typeof TaskConfigSchema.shape;
  /** What the field does there, for the README's table. */
  local: string;
  fcp: string;
  check: Record<Flows, () => Promise<void>>;
}

const BASE = { instanceType: "a100", uploadCode: false } satisfies TaskConfigInput;

/** Runs to its end; its stdout. */
async function ran(where: Flows, config: TaskConfigInput): Promise<{ task: Task; stdout: string }> {
  const task = await (where === "fcp" ? fcp : local).run({ ...BASE, ...config });
  await task.wait({ timeoutMs: 120_000 });
  return { task, stdout: await task.logs({ tail: 1000 }) };
}

async function completed(where: Flows, config: TaskConfigInput): Promise<{ task: Task; stdout: string }> {
  const result = await ran(where, config);
  assert.equal(result.task.status, "completed", `${result.task.message}\n${await result.task.logs({ stderr: true }).catch(() => "")}`);
  return result;
}

/** Refused before anything runs (or is bid), naming the field. */
async function refused(where: Flows, config: TaskConfigInput, field: string): Promise<void> {
  const bids = sim.bids().length;
  await assert.rejects((where === "fcp" ? fcp : local).run({ ...BASE, ...config }), (error: Error) => {
    assert.ok(error.message.includes(field) || JSON.stringify(error).includes(field), `${error.message} does not name ${field}`);
    return true;
  });
  assert.equal(sim.bids().length, bids, "nothing was bid");
}

/** What the task bids for, on a simulator that never allocates it (nothing runs); the bid is cancelled. */
async function bidFor(config: TaskConfigInput): Promise<{ body: BidBody; script: string }> {
  const task = await heldFcp.run({ ...BASE, ...config });
  await heldFcp.cancel(task.taskId);
  const body = bidBody(task.taskId, held);
  return { body, script: scriptOf(body) };
}

interface BidBody {
  name: string;
  region: string;
  instance_type: string;
  limit_price: string;
  instance_quantity: number;
  launch_specification: { ssh_keys: string[]; volumes: string[]; startup_script: string };
}

function bidBody(taskId: string, on: FcpSimulator = sim): BidBody {
  const exchange = on.requests.find((r) => r.method === "POST" && r.path === "/v2/spot/bids" && (r.responseBody as { fid?: string } | undefined)?.fid === taskId);
  assert.ok(exchange, `no bid request for ${taskId}`);
  return exchange.requestBody as BidBody;
}

/** The plain startup script, unwrapped when it was sent compressed. */
function scriptOf(body: BidBody): string {
  const script = body.launch_specification.startup_script;
  const payload = /<<'FLOW_SCRIPT' \| gunzip\n([\s\S]*?)\nFLOW_SCRIPT/.exec(script)?.[1];
  return payload === undefined ? script : gunzipSync(Buffer.from(payload, "base64")).toString("utf8");
}

async function cancelAll(): Promise<void> {
  for (const bid of sim.bids().filter((b) => b.status !== "Terminated")) await fcp.cancel(bid.fid).catch(() => {});
}

function instanceTypeFid(name: string): string {
  return (held.requests.find((r) => r.path === "/v2/instance-types")?.responseBody as { fid: string; name: string }[]).find((t) => t.name === name)!.fid;
}

async function running(task: Task): Promise<void> {
  while (task.status !== "running") {
    assert.ok(!task.isTerminal, task.message);
    await new Promise((r) => setTimeout(r, 100));
    await task.refresh();
  }
}

/** Accepted locally, and said (at submit, in `flow status`) not to apply. */
const notApplied = (config: TaskConfigInput, said: string) => async () => {
  const task = await local.run({ uploadCode: false, command: "true", ...config });
  await task.wait();
  assert.ok((task.providerMetadata["notApplied"] as string[]).includes(said), `${JSON.stringify(task.providerMetadata["notApplied"])} lacks ${said}`);
};

const ROWS: Row[] = [
  {
    field: "name",
    local: "the task's name, with a unique suffix",
    fcp: "the bid's name, with a unique suffix",
    check: {
      local: async () => assert.match((await completed("local", { name: "named", command: "true" })).task.name, /^named-[0-9a-f]{6}$/),
      fcp: async () => assert.match(bidBody((await completed("fcp", { name: "named", command: "true" })).task.taskId).name, /^named-[0-9a-f]{6}$/),
    },
  },
  {
    field: "uniqueName",
    local: "`false`: the name as given",
    fcp: "`false`: the bid's name as given",
    check: {
      local: async () => assert.equal((await completed("local", { name: "exact-local", uniqueName: false, command: "true" })).task.name, "exact-local"),
      fcp: async () => assert.equal(bidBody((await completed("fcp", { name: "exact-fcp", uniqueName: false, command: "true" })).task.taskId).name, "exact-fcp"),
    },
  },
  {
    field: "instanceType",
    local: "checked, not applied (said at submit)",
    fcp: "the bid's instance type",
    check: {
      local: notApplied({ instanceType: "a100" }, "instance type a100"),
      fcp: async () => assert.equal((await bidFor({ instanceType: "8xa100", command: "true" })).body.instance_type, instanceTypeFid("a100-80gb.sxm.8x")),
    },
  },
  {
    field: "minGpuMemoryGb",
    local: "checked, not applied (said at submit)",
    fcp: "the cheapest type with that much memory per GPU",
    check: {
      local: async () => {
        const task = await local.run({ minGpuMemoryGb: 40, uploadCode: false, command: "true" });
        await task.wait();
        assert.deepEqual(task.providerMetadata["notApplied"], ["40 GB of GPU memory"]);
      },
      fcp: async () => {
        const task = await fcp.run({ minGpuMemoryGb: 80, uploadCode: false, command: "true" });
        assert.match(task.instanceType, /80gb/);
        await task.cancel();
      },
    },
  },
  {
    field: "command",
    local: "runs (argv, shell line or script)",
    fcp: "runs in the container (argv, shell line or script)",
    check: {
      local: async () => assert.equal((await completed("local", { command: ["echo", "argv"] })).stdout, "argv\n"),
      fcp: async () => assert.equal((await completed("fcp", { command: "echo one\necho two\n" })).stdout, "one\ntwo\n"),
    },
  },
  {
    field: "image",
    local: "not applied: runs on this machine (said at submit)",
    fcp: "the container's image (`docker run`)",
    check: {
      local: notApplied({ ...BASE, image: "python:3.12" }, "image python:3.12"),
      fcp: async () => {
        const { task } = await completed("fcp", { image: "python:3.12", command: "true" });
        const [instance] = sim.instances().filter((i) => i.bid === task.taskId);
        assert.equal((await sim.dockerRuns(instance!.fid))[0]?.image, "python:3.12");
      },
    },
  },
  {
    field: "env",
    local: "the command's environment",
    fcp: "the container's environment; secret-looking values go over SSH, never in the script",
    check: {
      local: async () => assert.equal((await completed("local", { env: { GREETING: "hi" }, command: 'echo "$GREETING"' })).stdout, "hi\n"),
      fcp: async () => {
        const secret = `tok-${randomBytes(4).toString("hex")}`;
        const { task, stdout } = await completed("fcp", { env: { GREETING: "hi", API_TOKEN: secret }, command: 'echo "$GREETING ${#API_TOKEN}"' });
        assert.equal(stdout, `hi ${secret.length}\n`);
        assert.ok(!JSON.stringify(bidBody(task.taskId)).includes(secret));
      },
    },
  },
  {
    field: "workingDir",
    local: "the workspace stands in for it (mount targets under it land in the workspace)",
    fcp: "the container's working directory, holding the code",
    check: {
      local: async () => {
        const { task, stdout } = await completed("local", { workingDir: "/app", command: "pwd" });
        assert.equal(stdout.trim(), String(task.providerMetadata["workspace"]));
      },
      fcp: async () => assert.equal((await completed("fcp", { workingDir: "/app", uploadCode: true, command: "pwd; cat marker.txt" })).stdout, "/app\ncode is here\n"),
    },
  },
  {
    field: "volumes",
    local: "a local volume, linked at `mountPath` in the workspace; created by name if missing",
    fcp: "mounted on the machine and in the container at `mountPath`; created by name if missing",
    check: {
      local: async () => {
        const volumes = [{ name: "field-vol", mountPath: "/workspace/vol" }];
        await completed("local", { volumes, command: "echo kept > vol/f" });
        assert.equal((await completed("local", { volumes, command: "cat vol/f" })).stdout, "kept\n");
      },
      fcp: async () => {
        const mountPath = join(root, "mnt-vol");
        const { task } = await completed("fcp", { volumes: [{ name: "field-vol", mountPath }], command: `echo kept > ${mountPath}/f` });
        const volume = bidBody(task.taskId).launch_specification.volumes[0]!;
        assert.equal(readFileSync(join(root, "sim", "volumes", volume, "fs", "f"), "utf8"), "kept\n");
      },
    },
  },
  {
    field: "dataMounts",
    local: "`s3://` copied into the workspace, `volume://` a local volume, a path linked",
    fcp: "`s3://` copied in read-only before the command, `volume://` a volume; a local path is refused",
    check: {
      local: async () => assert.equal((await completed("local", { dataMounts: [{ source: "s3://fields/in", target: "/workspace/in" }], command: "cat in/data.txt" })).stdout, "from s3\n"),
      fcp: async () => {
        assert.equal((await completed("fcp", { dataMounts: [{ source: "s3://fields/in", target: "/in" }], command: "cat /in/data.txt" })).stdout, "from s3\n");
        await refused("fcp", { dataMounts: [{ source: "/etc", target: "/host-etc" }], command: "true" }, "dataMounts[0]");
      },
    },
  },
  {
    field: "ports",
    local: "this machine's ports: `endpoints` name them while it runs",
    fcp: "`forwardPorts()` / `flow port-forward`: SSH forwards, URLs in `endpoints`",
    check: {
      local: async () => {
        const task = await local.run({ ...BASE, ports: [18767], command: "sleep 30" });
        await running(task);
        assert.deepEqual(task.endpoints, { "18767": "http://127.0.0.1:18767" });
        await task.cancel();
      },
      fcp: async () => {
        const task = await fcp.run({ ...BASE, ports: [18768], command: "echo ok > index.html && exec python3 -m http.server 18768 --bind 127.0.0.1" });
        await running(task);
        const forwards = await task.forwardPorts();
        let body: string | undefined;
        for (let i = 0; i < 100 && body !== "ok\n"; i++) {
          body = await fetch(`${task.endpoints["18768"]}/index.html`).then((r) => r.text(), () => undefined);
          if (body !== "ok\n") await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(body, "ok\n");
        await forwards.close();
        await task.cancel();
      },
    },
  },
  {
    field: "allowDockerCache",
    local: "allows a volume at /var/lib/docker (no Docker locally: it is just linked in the workspace)",
    fcp: "allows a volume at /var/lib/docker, mounted before the image is pulled",
    check: {
      local: async () => {
        const { stdout } = await completed("local", { allowDockerCache: true, volumes: [{ name: "docker-cache", mountPath: "/var/lib/docker" }], command: "test -d var/lib/docker && echo linked" });
        assert.equal(stdout, "linked\n");
      },
      fcp: async () => {
        // Only bid for: on the simulator a mount path is this machine's path.
        const { script } = await bidFor({ allowDockerCache: true, volumes: [{ name: "docker-cache", mountPath: "/var/lib/docker" }], command: "true" });
        assert.ok(script.indexOf("/var/lib/docker") < script.indexOf("== image =="), "the cache volume is mounted before the pull");
        assert.ok(script.indexOf("== volumes ==") < script.indexOf("== image =="));
      },
    },
  },
  {
    field: "retries",
    local: "accepted: nothing preempts a local task",
    fcp: "a preempted or lost attempt restarts on a new bid, uploads redone, up to `maxRetries`",
    check: {
      local: async () => assert.equal((await completed("local", { retries: { maxRetries: 2 }, command: "echo once" })).stdout, "once\n"),
      fcp: async () => {
        const task = await fcp.run({ ...BASE, retries: { maxRetries: 1, initialDelayMs: 0 }, command: "sleep 600" });
        await running(task);
        await sim.faults.preempt(sim.liveInstances().find((i) => i.bid === task.taskId)!.fid);
        while (task.attempt !== 2 || task.status !== "running") {
          await new Promise((r) => setTimeout(r, 100));
          await task.refresh();
        }
        await task.cancel();
      },
    },
  },
  {
    field: "maxPricePerHour",
    local: "not applied: local tasks are free (said at submit)",
    fcp: "the bid's limit price (refused below the market)",
    check: {
      local: notApplied({ ...BASE, maxPricePerHour: 5 }, "maxPricePerHour $5"),
      fcp: async () => {
        assert.equal((await bidFor({ maxPricePerHour: 7.5, command: "true" })).body.limit_price, "$7.50");
      },
    },
  },
  {
    field: "maxRunTimeHours",
    local: "the task is stopped after it, and fails saying so",
    fcp: "the command is stopped after it, and the task fails saying so",
    check: {
      local: async () => assert.match((await ran("local", { maxRunTimeHours: 0.0003, command: "sleep 60" })).task.message ?? "", /maxRunTimeHours/),
      fcp: async () => assert.match((await ran("fcp", { maxRunTimeHours: 0.0003, command: "sleep 60" })).task.message ?? "", /^stopped after running longer than maxRunTimeHours/),
    },
  },
  {
    field: "minRunTimeHours",
    local: "accepted: nothing interrupts a local task",
    fcp: "refused: a spot instance can be reclaimed at any time",
    check: {
      local: async () => void (await completed("local", { minRunTimeHours: 1, command: "true" })),
      fcp: () => refused("fcp", { minRunTimeHours: 1, command: "true" }, "minRunTimeHours"),
    },
  },
  {
    field: "deadlineHours",
    local: "not started after it; stopped at it (fails saying so)",
    fcp: "not started after it; stopped at it (fails saying so)",
    check: {
      local: async () => assert.match((await ran("local", { deadlineHours: 0.0003, command: "sleep 60" })).task.message ?? "", /^stopped at its deadline/),
      fcp: async () => assert.match((await ran("fcp", { deadlineHours: 0.0003, command: "sleep 60" })).task.message ?? "", /deadline/),
    },
  },
  {
    field: "sshKeys",
    local: "refused: no SSH",
    fcp: "more keys (name or FID) that may log in",
    check: {
      local: () => refused("local", { sshKeys: ["mine"], command: "true" }, "sshKeys"),
      fcp: async () => {
        const response = await fetch(`${held.url}/v2/ssh-keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${held.apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({ project: held.project.fid, name: "teammate", public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl teammate" }),
        });
        const key = (await response.json()) as { fid: string };
        assert.ok((await bidFor({ sshKeys: ["teammate"], command: "true" })).body.launch_specification.ssh_keys.includes(key.fid));
      },
    },
  },
  {
    field: "allocationMode",
    local: "refused unless `spot`",
    fcp: "`spot` bids; `auto` uses a matching active reservation, else bids (and says which); `reserved` runs on reserved capacity",
    check: {
      local: () => refused("local", { allocationMode: "auto", command: "true" }, "allocationMode"),
      // No reservation fits on this simulator: auto bids on the spot market.
      fcp: async () => assert.equal((await bidFor({ allocationMode: "auto", command: "true" })).body.instance_quantity, 1),
    },
  },
  {
    field: "reservationId",
    local: "refused (reserved capacity only)",
    fcp: "runs on that reservation's instances (the task is `rtask_…`)",
    check: {
      local: () => refused("local", { reservationId: "res_1", command: "true" }, "reservationId"),
      fcp: async () => {
        const reservation = await fcp.reservations.create({ instanceType: "a100", durationHours: 3, quantity: 1, region: "us-central1-b" });
        try {
          const { task } = await completed("fcp", { allocationMode: "reserved", reservationId: reservation.reservationId, command: "echo on the reservation" });
          assert.match(task.taskId, /^rtask_/);
          assert.equal(await task.logs(), "on the reservation\n");
        } finally {
          await fcp.reservations.cancel(reservation.reservationId);
        }
      },
    },
  },
  ...(["scheduledStartTime", "reservedDurationHours"] as const).map(
    (field): Row => ({
      field,
      local: "refused (reserved capacity only)",
      fcp: field === "reservedDurationHours" ? "reserves capacity for the task that long (the task is the reservation, `res_…`)" : "with reservedDurationHours: when the task's reservation starts",
      check: {
        local: () => refused("local", { [field]: field === "scheduledStartTime" ? "2030-01-01T00:00:00Z" : 3, command: "true" }, field),
        fcp: async () => {
          const start = new Date(Date.now() + 2 * 3_600_000);
          start.setUTCMinutes(0, 0, 0);
          const task = await heldFcp.run({ ...BASE, allocationMode: "reserved", reservedDurationHours: 3, scheduledStartTime: start.toISOString(), uploadCode: false, command: "true" });
          try {
            assert.match(task.taskId, /^res_/);
            const reservation = held.reservations().find((r) => r.fid === task.taskId);
            assert.equal(Date.parse(reservation?.start_time ?? ""), start.getTime());
            assert.equal(Date.parse(reservation?.end_time ?? "") - start.getTime(), 3 * 3_600_000);
          } finally {
            await heldFcp.cancel(task.taskId);
          }
        },
      },
    }),
  ),
  {
    field: "region",
    local: "not applied (said at submit)",
    fcp: "the bid's region",
    check: {
      local: notApplied({ ...BASE, region: "us-central1-a" }, "region us-central1-a"),
      fcp: async () => assert.equal((await bidFor({ region: "us-central1-a", command: "true" })).body.region, "us-central1-a"),
    },
  },
  {
    field: "numInstances",
    local: "refused above 1",
    fcp: "instances of the bid, each with its rank (FLOW_NODE_RANK)",
    check: {
      local: () => refused("local", { numInstances: 2, command: "true" }, "numInstances"),
      fcp: async () => {
        const { task } = await completed("fcp", { numInstances: 2, command: 'echo "rank $FLOW_NODE_RANK of $FLOW_NUM_NODES"' });
        assert.equal(await task.logs({ node: 1 }), "rank 1 of 2\n");
      },
    },
  },
  {
    field: "priority",
    local: "not applied (said at submit)",
    fcp: "the limit price without `maxPricePerHour`: market × 1, 1.25, 1.5",
    check: {
      local: notApplied({ ...BASE, priority: "high" }, "priority high"),
      fcp: async () => {
        const { task } = await completed("fcp", { priority: "high", command: "true" });
        const market = sim.billing().find((bill) => bill.bid === task.taskId)!.periods[0]!.priceCents;
        assert.equal(bidBody(task.taskId).limit_price, `$${((market * 1.5) / 100).toFixed(2)}`);
      },
    },
  },
  {
    field: "distributedMode",
    local: "one node: rank 0 either way",
    fcp: "`manual`: no rank or leader address is set for you",
    check: {
      local: async () => assert.equal((await completed("local", { distributedMode: "manual", command: 'echo "$FLOW_NODE_RANK"' })).stdout, "0\n"),
      fcp: async () => assert.equal((await completed("fcp", { numInstances: 2, distributedMode: "manual", command: 'echo "[$FLOW_NODE_RANK]"' })).stdout, "[]\n"),
    },
  },
  {
    field: "internodeInterconnect",
    local: "refused",
    fcp: "filters the instance type by its network (refused when it lacks it)",
    check: {
      local: () => refused("local", { internodeInterconnect: "InfiniBand", command: "true" }, "internodeInterconnect"),
      fcp: async () => {
        await refused("fcp", { internodeInterconnect: "InfiniBand", command: "true" }, "internodeInterconnect");
        assert.equal((await bidFor({ instanceType: "8xa100", internodeInterconnect: "InfiniBand", command: "true" })).body.instance_type, instanceTypeFid("a100-80gb.sxm.8x"));
      },
    },
  },
  {
    field: "intranodeInterconnect",
    local: "refused",
    fcp: "filters the instance type by its GPU socket (refused when it lacks it)",
    check: {
      local: () => refused("local", { intranodeInterconnect: "SXM", command: "true" }, "intranodeInterconnect"),
      fcp: async () => {
        await refused("fcp", { intranodeInterconnect: "PCIe", command: "true" }, "intranodeInterconnect");
        assert.equal((await bidFor({ intranodeInterconnect: "SXM4", command: "true" })).body.instance_type, instanceTypeFid("a100-80gb.sxm.1x"));
      },
    },
  },
  {
    field: "uploadCode",
    local: "`false`: no code in the workspace",
    fcp: "`false`: no code on the instance",
    check: {
      local: async () => assert.equal((await completed("local", { uploadCode: false, command: "ls" })).stdout, ""),
      fcp: async () => assert.equal((await completed("fcp", { uploadCode: false, command: "ls" })).stdout, ""),
    },
  },
  {
    field: "devVm",
    local: "no code upload",
    fcp: "no code upload, and the command runs on the machine itself, not in a container",
    check: {
      local: async () => assert.equal((await completed("local", { devVm: true, uploadCode: true, command: "ls" })).stdout, ""),
      fcp: async () => {
        const { task, stdout } = await completed("fcp", { devVm: true, uploadCode: true, command: "ls; test -n \"$FLOW_INSTANCE_ROOT\" && echo on-host" });
        assert.equal(stdout, "on-host\n");
        const [instance] = sim.instances().filter((i) => i.bid === task.taskId);
        assert.deepEqual(await sim.dockerRuns(instance!.fid), []);
      },
    },
  },
  {
    field: "uploadStrategy",
    local: "`none`: no code; the others: unpacked from disk",
    fcp: "`embedded` in the script, `scp` over SFTP, `auto` by size, `none`: no code",
    check: {
      local: async () => assert.equal((await completed("local", { uploadStrategy: "none", uploadCode: true, command: "ls" })).stdout, ""),
      fcp: async () => {
        assert.equal((await completed("fcp", { uploadStrategy: "none", uploadCode: true, command: "ls" })).stdout, "");
        const { task, stdout } = await completed("fcp", { uploadStrategy: "embedded", uploadCode: true, command: "cat marker.txt" });
        assert.equal(stdout, "code is here\n");
        assert.match(scriptOf(bidBody(task.taskId)), /== code ==/);
      },
    },
  },
  {
    field: "terminateOnExit",
    local: "accepted: the task ends with its command",
    fcp: "an unwatched instance powers off 30 s after the command (not 10 minutes)",
    check: {
      local: async () => void (await completed("local", { terminateOnExit: true, command: "true" })),
      fcp: async () => {
        assert.match((await bidFor({ terminateOnExit: true, command: "true" })).script, /powering off in 30 s/);
      },
    },
  },
  {
    field: "uploadTimeoutMs",
    local: "accepted: nothing is uploaded (the code is unpacked from disk)",
    fcp: "how long the instance waits for the client's uploads",
    check: {
      local: async () => void (await completed("local", { uploadTimeoutMs: 60_000, command: "true" })),
      fcp: async () => {
        // A secret makes the instance wait for the client's upload.
        const { task } = await completed("fcp", { uploadTimeoutMs: 90_000, env: { A_TOKEN: "x" }, command: "true" });
        assert.match(scriptOf(bidBody(task.taskId)), /nothing was uploaded within 90 s/);
      },
    },
  },
  {
    field: "codeRoot",
    local: "the directory packaged into the workspace",
    fcp: "the directory packaged and sent to the instance",
    check: {
      local: async () => assert.equal((await completed("local", { uploadCode: true, codeRoot: code, command: "cat marker.txt" })).stdout, "code is here\n"),
      fcp: async () => assert.equal((await completed("fcp", { uploadCode: true, codeRoot: code, command: "cat marker.txt" })).stdout, "code is here\n"),
    },
  },
  {
    field: "keepAliveMinutes",
    local: "not applied: the workspace and logs stay anyway (said at submit)",
    fcp: "keeps a finished task's instance up for `flow ssh`; by default it is released at once",
    check: {
      local: notApplied({ ...BASE, keepAliveMinutes: 5 }, "keepAliveMinutes 5"),
      fcp: async () => {
        const { task } = await completed("fcp", { keepAliveMinutes: 5, command: "true" });
        assert.equal(sim.liveInstances().filter((i) => i.bid === task.taskId).length, 1, "kept up");
        await task.cancel();
        await until(() => sim.liveInstances().every((i) => i.bid !== task.taskId), "the release");
      },
    },
  },
];

/** The table as README.md and docs/cloud.md carry it. */
export function fieldTable(): string {
  const escape = (text: string) => text.replaceAll("|", "\\|");
  return [
    "| Field | local | fcp |",
    "| --- | --- | --- |",
    ...ROWS.map((row) => `| \`${row.field}\` | ${escape(row.local)} | ${escape(row.fcp)} |`),
  ].join("\n");
}

describe("every TaskConfig field on each provider", () => {
  it("has a row for every field", () => {
    assert.deepEqual(ROWS.map((row) => row.field).sort(), Object.keys(TaskConfigSchema.shape).sort());
  });

  for (const where of ["local", "fcp"] as const) {
    for (const row of ROWS) {
      it(`${row.field} on ${where}: ${row[where]}`, async () => {
        await row.check[where]();
      });
    }
  }

  it("README.md and docs/cloud.md carry the table", () => {
    for (const file of ["README.md", "docs/cloud.md"]) assert.ok(readFileSync(join(repoRoot, file), "utf8").includes(fieldTable()), `${file} lacks the current table:\n${fieldTable()}`);
  });

  after(async () => {
    await cancelAll();
    await until(() => sim.liveInstances().length === 0, "every instance to be released", 60_000).catch(() => {});
    assert.ok(existsSync(root));
  });
});
