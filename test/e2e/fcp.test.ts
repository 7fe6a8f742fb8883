// The FCP provider end to end against the simulator (tools/fcp-sim): real HTTP, real bash running
// the generated startup scripts, real SSH (key auth, SFTP, port forwarding), real agents. Every
// step a user takes is a separate `flow` process pointed at the simulator by FLOW_API_URL.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import { loadConfig } from "../../src/config/load-config.ts";
import { FcpProvider } from "../../src/providers/fcp/fcp-provider.ts";
import { FcpTaskProvider } from "../../src/providers/fcp/fcp-task-provider.ts";
import { instancePaths } from "../../src/providers/fcp/instance-layout.ts";
import { Flow } from "../../src/client/flow.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { repoRoot, runCli, runNode, simulatorEnv, startCli, tempDir, until, type CliResult } from "./helpers.ts";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";

const execFileAsync = promisify(execFile);

let sim: FcpSimulator;
let root: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  root = tempDir("flow-fcp-");
  sim = await FcpSimulator.start({ allocationDelayMs: 50, bootStepMs: 30, stateDir: join(root, "sim") });
  env = simulatorEnv(sim, root);
});

after(async () => {
  await sim.close();
  rmSync(root, { recursive: true, force: true });
});

const flow = (args: string[], extra: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<CliResult> => runCli(args, { cwd, env: { ...env, ...extra } });

/** A provider on the simulator that counts agents coming up, and the bids placed since it was made. */
function watchedProvider() {
  let ready = 0;
  const provider = new FcpProvider({
    config: loadConfig({ env: { FLOW_API_URL: sim.url, FLOW_API_KEY: sim.apiKey, FLOW_PROJECT: sim.project.name }, homeDir: join(root, "home") }),
    flowHome: join(root, "home", ".flow"),
    pollIntervalMs: 50,
    onProgress: (message) => void (message.includes(" ready on ") && ready++),
  });
  const earlier = new Set(sim.bids().map((bid) => bid.fid));
  return { provider, agentsReady: () => ready, earlier, ours: () => sim.bids().filter((bid) => !earlier.has(bid.fid)) };
}

/** Nothing may be left costing money once a test is done: of these tasks' bids, or at all. */
async function assertNothingLive(bidFids?: readonly string[]): Promise<void> {
  const live = () => sim.liveInstances().filter((instance) => bidFids === undefined || bidFids.includes(instance.bid));
  await until(() => live().length === 0, "every instance to be terminated", 30_000);
}

/** What differs between two runs of the same example: timestamps and process ids. */
const normalized = (text: string) =>
  text.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<date>").replace(/pid:? \d+/g, "pid <n>");

/** Every function example, started the way its header says; stdout must not depend on the provider. */
const EXAMPLES: { name: string; args: string[]; node?: true }[] = [
  { name: "hello.ts", args: ["run", "examples/hello.ts"] },
  { name: "errors.ts", args: ["run", "examples/errors.ts"] },
  { name: "binary.ts", args: ["run", "examples/binary.ts"] },
  { name: "script.ts", args: ["--import", "tsx", "examples/script.ts"], node: true },
  { name: "invoke.ts", args: ["--import", "flow-sdk/register", "examples/invoke.ts"], node: true },
];

describe("functions on fcp", () => {
  for (const example of EXAMPLES) {
    it(`runs examples/${example.name} with the same output as the local provider, and leaves nothing running`, async () => {
      const start = (provider: string) => (example.node ? runNode : runCli)(example.args, { cwd: repoRoot, env: { ...env, FLOW_PROVIDER: provider } });
      const local = await start("local");
      assert.equal(local.code, 0, local.stderr);
      const cloud = await start("fcp");
      assert.equal(cloud.code, 0, cloud.stderr);
      assert.equal(normalized(cloud.stdout), normalized(local.stdout));
      assert.match(cloud.stderr, /flow: bid bid_\w+ for 1 × /);
      await assertNothingLive();
    });
  }

  it("calls one function by name, saying what it bids for and at what price before it bids", async () => {
    const result = await flow(["run", "examples/hello.ts::square", "7"]);
    assert.equal(result.stdout.trim(), "49", result.stderr);
    const said = result.stderr.search(/^flow: bidding for 1 × A100 at up to \$\d+\.\d\d\/h \(a100-80gb\.sxm\.1x in us-central1-\w; spot price now \$/m);
    assert.ok(said !== -1 && said < result.stderr.search(/^flow: bid bid_/m), result.stderr);
    await assertNothingLive();
    // The ended bid lists no instance any more; its billing still says when it ran (flow list's RAN FOR).
    const bidId = /^flow: bid (bid_\w+)/m.exec(result.stderr)![1]!;
    const info = JSON.parse((await flow(["status", bidId, "--json"])).stdout) as { status: string; message: string; createdAt: string; startedAt?: string; completedAt?: string };
    assert.equal(info.status, "cancelled");
    assert.ok(info.startedAt !== undefined && info.completedAt !== undefined, JSON.stringify(info));
    assert.ok(info.createdAt <= info.startedAt && info.startedAt < info.completedAt, JSON.stringify(info));
    // An agent's bid is not a task: no command, no exit code to wait for.
    assert.equal(info.message, "flow's agent for a function of a run: the run cancels the bid when it ends");
    assert.match((await flow(["status", bidId])).stdout, /^ {2}command +\(flow's agent for a function\)$/m);
  });

  it("runs on the cloud when ~/.flow/config.yaml says `provider: fcp`: flow run, an app run and invoke", async () => {
    const home = join(root, "configured-home");
    mkdirSync(join(home, ".flow"), { recursive: true });
    writeFileSync(join(home, ".flow", "config.yaml"), `provider: fcp\napi_url: ${sim.url}\napi_key: ${sim.apiKey}\nproject: ${sim.project.name}\n`);
    // Nothing in the environment says fcp (an empty variable is an unset one).
    const configured = { HOME: home, FLOW_HOME: join(home, ".flow"), FLOW_PROVIDER: "", FLOW_API_URL: "", FLOW_API_KEY: "", FLOW_PROJECT: "" };
    const project = join(root, "configured-project");
    mkdirSync(project, { recursive: true });
    const task = await flow(["run", "echo configured", "-i", "a100", "--wait"], configured, project);
    assert.equal(task.code, 0, task.stderr);
    assert.match(task.stdout, /^Submitted bid_\w+ /m);
    assert.match(task.stdout, /^configured$/m);
    const app = await flow(["run", "examples/hello.ts::square", "3"], configured);
    assert.equal(app.stdout.trim(), "9", app.stderr);
    assert.match(app.stderr, /^flow: bid bid_\w+ for 1 × /m);
    const invoked = await runNode(["--import", "flow-sdk/register", "examples/invoke.ts"], { cwd: repoRoot, env: { ...env, ...configured } });
    assert.equal(invoked.code, 0, invoked.stderr);
    assert.match(invoked.stderr, /^flow: bid bid_\w+ for 1 × /m);
    await flow(["cancel", /Submitted (bid_\w+)/.exec(task.stdout)![1]!], configured);
    await assertNothingLive();
  });

  it("logs in with the user's own key from FLOW_SSH_KEY, registering it once", async () => {
    const { private: privateKey, public: publicKey } = generateEd25519KeyPair(ssh2.utils, "me@laptop");
    const keyPath = join(root, "own-key");
    writeFileSync(keyPath, privateKey, { mode: 0o600 });
    const body = publicKey.split(" ").slice(0, 2).join(" ");
    const flowHome = join(root, "own-key-home");
    for (const x of [3, 4]) {
      const result = await flow(["run", "examples/hello.ts::square", String(x)], { FLOW_SSH_KEY: keyPath, FLOW_HOME: flowHome });
      assert.equal(result.stdout.trim(), String(x * x), result.stderr);
    }
    const registered = sim.requests.filter((r) => r.method === "POST" && r.path === "/v2/ssh-keys" && JSON.stringify(r.requestBody).includes(body));
    assert.equal(registered.length, 1);
    assert.ok(!existsSync(join(flowHome, "keys")), "no key was generated");
    await assertNothingLive();
  });

  it("uses a passphrase-protected FLOW_SSH_KEY through ssh-agent, and says what to do without one", async () => {
    const keyPath = join(root, "sealed-key");
    await execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "a passphrase", "-C", "sealed@laptop", "-f", keyPath]);
    const flowHome = join(root, "sealed-key-home");
    const withoutAgent = await flow(["run", "examples/hello.ts::square", "2"], { FLOW_SSH_KEY: keyPath, FLOW_HOME: flowHome, SSH_AUTH_SOCK: "" });
    assert.equal(withoutAgent.code, 1);
    assert.match(withoutAgent.stderr, /protected by a passphrase[\s\S]*ssh-add/);

    const socket = join(root, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    try {
      await until(() => existsSync(socket), "ssh-agent's socket");
      // ssh-add reads the passphrase from SSH_ASKPASS when it has no terminal.
      const askpass = join(root, "askpass.sh");
      writeFileSync(askpass, "#!/bin/sh\necho 'a passphrase'\n", { mode: 0o700 });
      await execFileAsync("ssh-add", [keyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" } });
      const result = await flow(["run", "examples/hello.ts::square", "6"], { FLOW_SSH_KEY: keyPath, FLOW_HOME: flowHome, SSH_AUTH_SOCK: socket });
      assert.equal(result.stdout.trim(), "36", result.stderr);
    } finally {
      agent.kill();
    }
    await assertNothingLive();
  });

  it("sends secrets over the tunnel, never in the startup script", async () => {
    const secret = `s3cret-${randomBytes(8).toString("hex")}`;
    const result = await flow(["run", "test/fixtures/e2e/fcp-functions.ts::secretLength"], { FCP_E2E_SECRET: secret });
    assert.equal(result.stdout.trim(), String(secret.length), result.stderr);
    for (const exchange of sim.requests) assert.ok(!JSON.stringify(exchange).includes(secret), `${exchange.method} ${exchange.path} carried the secret`);
    for (const exchange of sim.requests) assert.ok(!JSON.stringify(exchange.requestBody ?? "").includes(sim.apiKey));
    await assertNothingLive();
  });

  const FAULTS: { what: string; inflict: (instanceFid: string) => Promise<void> | void }[] = [
    { what: "is preempted", inflict: (fid) => sim.faults.preempt(fid) },
    { what: "dies (STATUS_ERROR)", inflict: (fid) => sim.faults.kill(fid) },
  ];
  for (const fault of FAULTS) {
    it(`retries a call whose instance ${fault.what} mid-call on a fresh instance, and cancels the old bid`, async () => {
      const { app, slowDouble } = await import("../fixtures/e2e/fcp-functions.ts");
      const { provider, agentsReady, earlier, ours } = watchedProvider();
      const result = await app.run(
        async () => {
          const call = slowDouble.remote(21, 3_000);
          await until(() => agentsReady() === 1, "the first agent", 60_000);
          // The call is on the instance now (it takes 3 s); take the instance away under it.
          await new Promise((resolve) => setTimeout(resolve, 500));
          const [instance] = sim.liveInstances().filter((i) => !earlier.has(i.bid));
          await fault.inflict(instance!.fid);
          return call;
        },
        { provider, entry: join(repoRoot, "test/fixtures/e2e/fcp-functions.ts") },
      );
      assert.equal(result, 42);
      assert.equal(agentsReady(), 2, "the retry ran on a fresh agent");
      assert.equal(ours().length, 2, "one bid for the lost instance, one for the retry");
      assert.deepEqual(ours().map((bid) => bid.status), ["Terminated", "Terminated"]);
      await assertNothingLive(ours().map((bid) => bid.fid));
    });
  }
});

describe("a dropped SSH connection on fcp", () => {
  it("resumes a call, a map of 1,000 inputs and a stream on the same instance: every input ran once, every result arrived once", async () => {
    const log = join(root, "durable-executions.log");
    writeFileSync(log, "");
    process.env.DURABLE_LOG = log;
    const { app, countUp, slowSquare, triple } = await import("../fixtures/e2e/durable.ts");
    const executions = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
    const count = (line: string) => executions().filter((l) => l === line).length;
    const { provider, agentsReady, earlier, ours } = watchedProvider();
    const dropAll = () => {
      for (const instance of sim.liveInstances().filter((i) => !earlier.has(i.bid))) sim.faults.dropSshConnections(instance.fid);
    };
    const { square, tripled, counted } = await app.run(
      async () => {
        const call = slowSquare.remote(9, 2_000);
        await until(() => count("square 9") === 1, "the call to start", 60_000);
        dropAll();
        const square = await call;
        const tripled: number[] = [];
        for await (const value of triple.map(Array.from({ length: 1_000 }, (_, i) => i), { orderOutputs: false })) {
          tripled.push(value);
          if (tripled.length === 400) dropAll();
        }
        // Several drops: the items made while each was down are sent again at once on the resume,
        // in the same reads as the 101 response.
        const counted: number[] = [];
        for await (const item of countUp.remote(120, 20)) {
          counted.push(item);
          if (counted.length % 20 === 10) dropAll();
        }
        return { square, tripled, counted };
      },
      { provider, entry: join(repoRoot, "test/fixtures/e2e/durable.ts") },
    );
    assert.equal(square.square, 81);
    assert.equal(count("square 9"), 1, "the call ran once");
    assert.deepEqual([...tripled].sort((a, b) => a - b), Array.from({ length: 1_000 }, (_, i) => i * 3));
    for (let i = 0; i < 1_000; i++) assert.equal(count(`triple ${i}`), 1, `input ${i} ran once`);
    assert.deepEqual(counted, Array.from({ length: 120 }, (_, i) => i));
    assert.equal(count("countUp"), 1);
    assert.equal(agentsReady(), 3, "one agent per function, none started again");
    assert.equal(ours().length, 3, "no bid for a retry");
    await assertNothingLive(ours().map((bid) => bid.fid));
  });
});

describe("command tasks on fcp", () => {
  it("runs a command, follows its logs and cancels it", async () => {
    const started = await flow(["run", "echo hello from the cloud; sleep 600", "--instance-type", "a100", "--json"]);
    assert.equal(started.code, 0, started.stderr);
    const taskId = (JSON.parse(started.stdout) as { taskId: string }).taskId;
    assert.match(taskId, /^bid_/);

    const follow = startCli(["logs", taskId, "-f"], { cwd: repoRoot, env });
    await until(() => follow.output().includes("hello from the cloud"), "the task's output", 60_000);
    const ssh = await flow(["ssh", taskId, "--", "echo $((6 * 7)) from $FLOW_INSTANCE_ROOT"]);
    assert.equal(ssh.code, 0, ssh.stderr);
    assert.match(ssh.stdout, /^42 from \//);
    const status = await flow(["status", taskId]);
    assert.match(status.stdout, /status\s+running/);
    // The bid_ id says where the task lives: no --provider, no FLOW_PROVIDER.
    const cancelled = await flow(["cancel", taskId, "--json"], { FLOW_PROVIDER: "" });
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal((JSON.parse(cancelled.stdout) as { status: string }).status, "cancelled");
    await follow.done;
    await assertNothingLive();
  });

  it("ends the follow of a running task that flow cancel stopped with how long it ran", async () => {
    const run = startCli(["run", "echo up; sleep 600", "-i", "a100", "--wait"], { cwd: repoRoot, env });
    await until(() => /^up$/m.test(run.output()), "the task's output", 60_000);
    const taskId = /Submitted (bid_\w+)/.exec(run.output())?.[1];
    assert.ok(taskId, run.output());
    const cancelled = await flow(["cancel", taskId]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    const waited = await run.done;
    assert.match(waited.stdout, new RegExp(`^${taskId} cancelled after \\d+s: cancelled by the user$`, "m"));
    await assertNothingLive([taskId]);
  });

  it("waits for a command and exits with its exit code, then keeps its logs and releases its instance", async () => {
    const result = await flow(["run", "echo done; exit 3", "-i", "a100", "--wait"]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stdout, /done/);
    const taskId = /Submitted (bid_\w+)/.exec(result.stdout)?.[1];
    assert.ok(taskId, result.stdout);
    // Seeing the end, the client copied the logs and the exit code, and released the instance.
    await assertNothingLive([taskId]);
    const listed = JSON.parse((await flow(["list", "--json"])).stdout) as { taskId: string; status: string; exitCode?: number }[];
    assert.deepEqual(
      listed.filter((task) => task.taskId === taskId).map(({ status, exitCode }) => ({ status, exitCode })),
      [{ status: "failed", exitCode: 3 }],
    );
    const logs = await flow(["logs", taskId]);
    assert.equal(logs.stdout, "done\n", logs.stderr);
    const again = await flow(["cancel", taskId]);
    assert.match(again.stdout, /had already ended \(failed\); nothing is left running/);
  });

  it("answers status and listings from the API and the records; reconcile asks the instance and records the outcome", async () => {
    const started = await flow(["run", "exit 5", "-i", "a100", "--no-upload-code", "--json"]);
    assert.equal(started.code, 0, started.stderr);
    const taskId = (JSON.parse(started.stdout) as { taskId: string }).taskId;
    const exitCodeFile = () => {
      const [instance] = sim.liveInstances().filter((i) => i.bid === taskId);
      return instance === undefined ? undefined : instancePaths(join(sim.sandboxDir(instance.fid), "flow")).exitCode;
    };
    await until(() => existsSync(exitCodeFile() ?? "/nonexistent"), "the command to end on its instance", 60_000);
    const provider = new FcpTaskProvider({ config: loadConfig({ env }), flowHome: env["FLOW_HOME"]!, onProgress: () => {} });
    try {
      const record = join(env["FLOW_HOME"]!, "fcp", "tasks", `${taskId}.json`);
      const recorded = readFileSync(record, "utf8");
      const cancelsBefore = sim.bids().filter((bid) => bid.status === "Terminated").length;
      // Reads: the instance lingers, so the API says running, and nothing asks it otherwise.
      assert.equal((await provider.getTask(taskId)).status, "running");
      const listed = await provider.listTasks({ limit: 100 });
      assert.deepEqual(listed.filter((task) => task.taskId === taskId).map((task) => task.status), ["running"]);
      assert.equal(readFileSync(record, "utf8"), recorded, "a read wrote the task's record");
      assert.equal(sim.bids().filter((bid) => bid.status === "Terminated").length, cancelsBefore);
      // Reconciling reads the completion marker and keeps the exit code, which outlives the instance.
      const reconciled = await provider.reconcile(taskId);
      assert.deepEqual({ status: reconciled.status, exitCode: reconciled.exitCode }, { status: "failed", exitCode: 5 });
      const read = await provider.getTask(taskId);
      assert.deepEqual({ status: read.status, exitCode: read.exitCode }, { status: "failed", exitCode: 5 });
    } finally {
      provider.close();
    }
    assert.equal((await flow(["cancel", taskId])).code, 0);
    await assertNothingLive([taskId]);
  });

  it('says before bidding what a task buys and may cost: a bare "h100" is 8 × H100', async () => {
    const result = await flow(["run", "true", "-i", "h100", "--no-upload-code", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const taskId = (JSON.parse(result.stdout) as { taskId: string }).taskId;
    const lines = result.stderr.split("\n");
    const note = lines.indexOf('flow: "h100" means 8 × H100 (a whole node); for one GPU use "1xh100" (from $10.00/h)');
    const bidding = lines.findIndex((line) => /^flow: bidding for 8 × H100 at up to \$30\.00\/h \(h100-80gb\.sxm\.8x in us-central1-\w; spot price now \$24\.00\/h\)$/.test(line));
    const placed = lines.findIndex((line) => line.startsWith(`flow: bid ${taskId} `));
    assert.ok(note !== -1 && note < bidding && bidding < placed, result.stderr);
    await flow(["cancel", taskId]);
    await assertNothingLive([taskId]);
  });

  it("gives each node of a multi-node task its rank, the node count, the leader's address and the task id", async () => {
    const project = join(root, "multinode");
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, "job.yaml"),
      [
        "name: multinode",
        "instance_type: a100",
        "num_instances: 2",
        "upload_code: false",
        'command: echo "rank $FLOW_NODE_RANK of $FLOW_NUM_NODES, leader $FLOW_MAIN_IP, task $FLOW_TASK_ID"',
        "",
      ].join("\n"),
    );
    const result = await flow(["run", "job.yaml", "--wait"], {}, project);
    assert.equal(result.code, 0, result.stderr);
    const taskId = /Submitted (bid_\w+)/.exec(result.stdout)?.[1];
    assert.match(result.stdout, new RegExp(`rank 0 of 2, leader 127\\.0\\.0\\.1, task ${taskId}`));
    // Each node's logs are kept when the task ends.
    const second = await flow(["logs", taskId!, "--node", "1"]);
    assert.match(second.stdout, new RegExp(`rank 1 of 2, leader 127\\.0\\.0\\.1, task ${taskId}`), second.stderr);
    await flow(["cancel", taskId!]);
    await assertNothingLive([taskId!]);
  });

  it("cancels the bid when Ctrl-C interrupts a submit that still has to upload secrets", async () => {
    // A slow API keeps the submit in its wait for the instance long enough to interrupt it.
    sim.faults.setLatencyMs(150);
    try {
      const run = startCli(["run", "sleep 600", "-i", "a100", "--env", "HF_TOKEN=hf_e2e"], { cwd: repoRoot, env });
      await until(() => /flow: bid (bid_\w+) for/.test(run.output()), "the bid", 30_000);
      const bidFid = /flow: bid (bid_\w+) for/.exec(run.output())![1]!;
      run.child.kill("SIGINT");
      const result = await run.done;
      assert.equal(result.code, 130, result.stderr);
      assert.equal(sim.bids().find((bid) => bid.fid === bidFid)?.status, "Terminated");
      await assertNothingLive([bidFid]);
    } finally {
      sim.faults.setLatencyMs(0);
    }
  });

  it("stops a task whose secrets went over SSH when a preemption restarts it elsewhere", async () => {
    const started = await flow(["run", "echo started; sleep 600", "-i", "a100", "--env", "HF_TOKEN=hf_e2e", "--json"]);
    assert.equal(started.code, 0, started.stderr);
    const taskId = (JSON.parse(started.stdout) as { taskId: string }).taskId;
    const [first] = sim.liveInstances().filter((i) => i.bid === taskId);
    await sim.faults.preempt(first!.fid);
    // The bid is open again; the simulator allocates it a fresh machine, which waits for uploads.
    await until(() => sim.liveInstances().some((i) => i.bid === taskId && i.fid !== first!.fid), "the replacement instance", 30_000);
    const status = await flow(["status", taskId, "--json"]);
    const info = JSON.parse(status.stdout) as { status: string; message: string };
    assert.equal(info.status, "failed");
    assert.match(info.message, /preempted; the replacement instance inst_\w+ cannot get the code archive or secret env/);
    await assertNothingLive([taskId]);
  });

  it("uploads a large code archive over SFTP and boots a script that was over 10,000 bytes", async () => {
    const project = join(root, "big-project");
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "weights.bin"), randomBytes(200_000));
    // Compressible but long: the plain startup script exceeds the FCP limit.
    const longEnv = Array.from({ length: 12 }, (_, i) => ["--env", `SETTING_${i}=${"x".repeat(900)}`]).flat();
    const result = await flow(["run", "wc -c < weights.bin; echo ${#SETTING_11}", "-i", "a100", "--wait", ...longEnv], {}, project);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n").map((line) => line.trim());
    assert.ok(lines.includes("200000") && lines.includes("900"), result.stdout);
    const posted = sim.requests.filter((r) => r.method === "POST" && r.path === "/v2/spot/bids").at(-1);
    const script = (posted?.requestBody as { launch_specification: { startup_script: string } }).launch_specification.startup_script;
    assert.ok(Buffer.byteLength(script) <= 10_000, `startup script is ${Buffer.byteLength(script)} bytes`);
    assert.ok(!script.includes("SETTING_11=xxx"), "the script was sent compressed");
  });
});

describe("following a task before it has an instance", () => {
  // Allocation and boot take time here, as on the real cloud (minutes there). While a follower
  // is being started the test holds the bid back by taking the capacity away; giving it back lets
  // the bid be allocated.
  let slow: FcpSimulator;
  let slowEnv: NodeJS.ProcessEnv;
  let project: string;
  const A100 = "a100-80gb.sxm.1x";

  before(async () => {
    slow = await FcpSimulator.start({ allocationDelayMs: 3_000, bootStepMs: 200, stateDir: join(root, "slow-sim") });
    const home = join(root, "slow-home");
    slowEnv = { ...env, FLOW_API_URL: slow.url, FLOW_API_KEY: slow.apiKey, FLOW_PROJECT: slow.project.name, HOME: home, FLOW_HOME: join(home, ".flow") };
    // A small project: its code rides in the startup script, so `flow run` returns once the bid is placed.
    project = join(root, "small-project");
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "hello.sh"), "echo hi from the cloud\n");
  });

  after(async () => {
    await slow.close();
  });

  /** Starts `flow run … --wait`; resolves once its bid is placed and held open. */
  async function submitHeld(command: string): Promise<{ run: ReturnType<typeof startCli>; taskId: string }> {
    const earlier = new Set(slow.bids().map((bid) => bid.fid));
    const run = startCli(["run", command, "-i", "a100", "--wait"], { cwd: project, env: slowEnv });
    await until(() => slow.bids().some((bid) => !earlier.has(bid.fid)), "the bid", 60_000);
    slow.faults.setCapacity(A100, undefined, 0);
    const bid = slow.bids().find((b) => !earlier.has(b.fid))!;
    assert.equal(bid.status, "Open");
    return { run, taskId: bid.fid };
  }

  it("flow run --wait, flow logs -f and task.logs({ follow: true }) wait through the open bid and the boot, then stream", async () => {
    const { run, taskId } = await submitHeld("bash hello.sh; exit 7");
    try {
      await until(() => /waiting for an instance \(bid Open, up to \$\d+\.\d\d\/h\)/.test(run.output()), "flow run --wait to say what it waits for", 60_000);
      const logs = startCli(["logs", taskId, "-f"], { cwd: project, env: slowEnv });
      const flow = new Flow({ provider: "fcp", env: slowEnv, cwd: project, homeDir: slowEnv["HOME"]!, flowHome: slowEnv["FLOW_HOME"]!, onProgress: () => {} });
      const task = await flow.getTask(taskId);
      const waitedFor: string[] = [];
      const followed = (async () => {
        const lines: string[] = [];
        for await (const line of task.logs({ follow: true, onWaiting: (t) => waitedFor.push(t.message ?? "") })) lines.push(line);
        return lines;
      })();
      await until(() => /waiting for an instance \(bid Open/.test(logs.output()) && waitedFor.length > 0, "the followers to wait", 60_000);
      assert.equal(slow.bids().find((bid) => bid.fid === taskId)?.status, "Open", "everyone started following before the bid had an instance");

      slow.faults.setCapacity(A100, undefined, 4);
      const waited = await run.done;
      assert.equal(waited.code, 7, waited.stderr);
      assert.match(waited.stdout, /^hi from the cloud$/m);
      assert.match(waited.stdout, new RegExp(`^${taskId} failed after \\d+s: exited with code 7$`, "m"));
      const logged = await logs.done;
      assert.equal(logged.code, 0, logged.stderr);
      assert.equal(logged.stdout, "hi from the cloud\n");
      assert.deepEqual(await followed, ["hi from the cloud"]);
      assert.match(waitedFor[0] ?? "", /^waiting for an instance \(bid Open, up to \$/);
      assert.equal(task.status, "failed");
      assert.equal(task.exitCode, 7);
      await runCli(["cancel", taskId], { cwd: project, env: slowEnv });
    } finally {
      slow.faults.setCapacity(A100, undefined, 4);
    }
    await until(() => slow.liveInstances().length === 0, "the instance to be released", 30_000);
  });

  it("ends a follow with what happened when the bid is cancelled before it ever ran", async () => {
    const { run, taskId } = await submitHeld("bash hello.sh");
    try {
      await until(() => /waiting for an instance/.test(run.output()), "flow run --wait to wait", 60_000);
      const logs = startCli(["logs", taskId, "-f"], { cwd: project, env: slowEnv });
      await until(() => /waiting for an instance/.test(logs.output()), "flow logs -f to wait", 60_000);
      const early = await runCli(["logs", taskId], { cwd: project, env: slowEnv });
      assert.equal(early.code, 1);
      assert.match(early.stderr, new RegExp(`^Error: Task ${taskId} has not started yet: waiting for an instance \\(bid Open, up to \\$[\\d.]+/h\\)\\.\\n.*flow logs ${taskId} -f`));
      const cancelled = await runCli(["cancel", taskId], { cwd: project, env: slowEnv });
      assert.equal(cancelled.stdout, `${taskId} cancelled\n`, cancelled.stderr);
      const waited = await run.done;
      assert.equal(waited.code, 1, waited.stderr);
      assert.match(waited.stdout, new RegExp(`^${taskId} cancelled before it started: cancelled by the user$`, "m"));
      const logged = await logs.done;
      assert.equal(logged.code, 0, logged.stderr);
      assert.equal(logged.stdout, "");
      assert.match(logged.stderr, new RegExp(`^${taskId} cancelled before it started: cancelled by the user$`, "m"));
      assert.deepEqual(slow.liveInstances(), []);
    } finally {
      slow.faults.setCapacity(A100, undefined, 4);
    }
  });

  it("reads a bid ended by flow cancel as cancelled by the user, even before (or without) the cancel's answer", async () => {
    const { run, taskId } = await submitHeld("bash hello.sh");
    let cancel: ReturnType<typeof startCli> | undefined;
    try {
      await until(() => /waiting for an instance/.test(run.output()), "flow run --wait to wait", 60_000);
      // The API ends the bid, and its answer is held until the cancelling process is gone: the
      // follower sees the bid end while `flow cancel` has not returned, and never will.
      slow.faults.holdNext({ method: "DELETE", path: `/v2/spot/bids/${taskId}`, count: 1, ms: 120_000 });
      cancel = startCli(["cancel", taskId], { cwd: project, env: slowEnv });
      await until(() => slow.bids().find((bid) => bid.fid === taskId)?.status === "Terminated", "the bid to end", 60_000);
      const waited = await run.done;
      assert.equal(waited.code, 1, waited.stderr);
      assert.match(waited.stdout, new RegExp(`^${taskId} cancelled before it started: cancelled by the user$`, "m"));
      cancel.child.kill("SIGKILL");
      await cancel.done;
      const status = await runCli(["status", taskId, "--json"], { cwd: project, env: slowEnv });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /"message": ?"cancelled by the user"/);
      assert.deepEqual(slow.liveInstances(), []);
    } finally {
      cancel?.child.kill("SIGKILL");
      slow.faults.setCapacity(A100, undefined, 4);
    }
  });

  it("takes a refused cancel back: a bid ended elsewhere afterwards is not read as the user's cancel", async () => {
    const { run, taskId } = await submitHeld("bash hello.sh");
    try {
      await until(() => /waiting for an instance/.test(run.output()), "flow run --wait to wait", 60_000);
      // Refused every time the client asks (its first try and five retries).
      slow.faults.failNext({ status: 429, count: 6, retryAfterSeconds: 0, method: "DELETE", path: `/v2/spot/bids/${taskId}` });
      const refused = await runCli(["cancel", taskId], { cwd: project, env: slowEnv });
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /429/);
      assert.equal(slow.bids().find((bid) => bid.fid === taskId)?.status, "Open");
      // Someone else ends it (the console, a teammate's script).
      const ended = await fetch(`${slow.url}/v2/spot/bids/${taskId}`, { method: "DELETE", headers: { authorization: `Bearer ${slow.apiKey}` } });
      assert.equal(ended.ok, true, await ended.text());
      const status = await runCli(["status", taskId, "--json"], { cwd: project, env: slowEnv });
      assert.match(status.stdout, /"message": ?"the bid was terminated before the task reported an exit code"/);
      const waited = await run.done;
      assert.match(waited.stdout, new RegExp(`^${taskId} cancelled before it started: the bid was terminated before the task reported an exit code$`, "m"));
    } finally {
      slow.faults.setCapacity(A100, undefined, 4);
    }
  });
});

describe("volumes on fcp", () => {
  it("formats a new block volume once, mounts it and a file share, and keeps their files for the next task", async () => {
    const flow = new Flow({ provider: "fcp", env, flowHome: env["FLOW_HOME"]!, homeDir: env["HOME"]! });
    const disk = await flow.volumes.create({ name: "checkpoints", sizeGb: 10 });
    const share = await flow.volumes.create({ name: "datasets", sizeGb: 10, interface: "file" });
    // Simulated mounts are host paths (tools/fcp-sim/disk-shims.ts), so mount paths are temp dirs.
    const diskPath = join(root, "mnt", "checkpoints");
    const sharePath = join(root, "mnt", "datasets");
    const volumes = [
      { volumeId: disk.volumeId, mountPath: diskPath },
      { volumeId: share.volumeId, mountPath: sharePath, interface: "file" as const },
    ];
    const onVolumes = (command: string) => flow.run({ name: "volume-user", instanceType: "a100", command, volumes, uploadCode: false });

    const writer = await onVolumes(`mountpoint -q ${diskPath} && echo epoch-7 > ${diskPath}/state && echo rows > ${sharePath}/data && echo wrote`);
    await writer.wait();
    assert.equal(writer.status, "completed", await writer.logs());
    // A finished task lingers for `flow ssh`, holding its volumes; cancelling releases both and
    // keeps the outcome.
    await writer.cancel();
    assert.equal(writer.status, "completed");

    const reader = await onVolumes(`cat ${diskPath}/state ${sharePath}/data`);
    await reader.wait();
    assert.equal(reader.status, "completed", reader.message);
    // Had the second boot formatted the disk again, the file would be gone.
    assert.match(await reader.logs(), /epoch-7\s+rows/);
    await reader.cancel();
    await assertNothingLive([writer.taskId, reader.taskId]);
    for (const volume of [disk, share]) await flow.volumes.delete(volume.volumeId);
    assert.deepEqual((await flow.volumes.list()).map((v) => v.volumeId), []);
  });

  it("places a task in the region of the volume it mounts", async () => {
    // No provider given: FLOW_PROVIDER=fcp in env picks the cloud.
    const flow = new Flow({ env, flowHome: env["FLOW_HOME"]!, homeDir: env["HOME"]! });
    const elsewhere = "us-central1-a"; // the configured (default) region is us-central1-b
    const volume = await flow.volumes.create({ name: "far", sizeGb: 1, region: elsewhere });
    const task = await flow.run({ name: "far-user", instanceType: "a100", command: "true", volumes: [{ volumeId: volume.volumeId, mountPath: join(root, "mnt", "far") }], uploadCode: false });
    assert.equal(task.region, elsewhere);
    await task.wait();
    assert.equal(task.status, "completed");
    await task.cancel();
    await flow.volumes.delete(volume.volumeId);
  });
});

describe("errors and faults on fcp", () => {
  it("names where a rejected API key came from", async () => {
    const result = await flow(["catalog"], { FLOW_API_KEY: "fkey_wrong" });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /AuthenticationError|API key/);
    assert.match(result.stderr, /FLOW_API_KEY/);
    assert.ok(!result.stderr.includes("fkey_wrong"));
  });

  it("lists the catalog with regions, capacity and prices", async () => {
    const result = await flow(["catalog", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const entries = JSON.parse(result.stdout) as { name: string; region?: string; pricePerHour?: number }[];
    assert.ok(entries.some((e) => e.name === "a100-80gb.sxm.1x" && e.region !== undefined && e.pricePerHour !== undefined));
  });

  it("refuses a price below the market before bidding", async () => {
    const bids = sim.bids().length;
    const result = await flow(["run", "echo hi", "-i", "8xh100", "--max-price-per-hour", "1"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /below the spot price/);
    assert.match(result.stderr, /raise maxPricePerHour to at least \$/);
    assert.equal(sim.bids().length, bids);
  });

  it("says where there is capacity instead of bidding where there is none", async () => {
    const bids = sim.bids().length;
    sim.faults.setCapacity("a100-80gb.sxm.8x", "us-central1-a", 0);
    try {
      const result = await flow(["run", "echo hi", "-i", "8xa100", "--region", "us-central1-a"]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /No capacity for 1 × 8xa100 \(a100-80gb\.sxm\.8x\) in us-central1-a right now/);
      assert.match(result.stderr, /capacity elsewhere: us-central1-b/);
      assert.equal(sim.bids().length, bids);
    } finally {
      sim.faults.setCapacity("a100-80gb.sxm.8x", "us-central1-a", 4);
    }
  });

  it("rides out 429 and 5xx storms and lost responses without placing a bid twice", async () => {
    sim.faults.failNext({ status: 429, count: 2, retryAfterSeconds: 0, method: "POST", path: "/v2/spot/bids" });
    sim.faults.failNext({ status: 503, count: 3, method: "GET" });
    sim.faults.dropNext({ count: 1, method: "POST", path: "/v2/spot/bids", afterHandling: true });
    const name = `storm-${randomBytes(3).toString("hex")}`;
    const result = await flow(["run", "echo calm", "-i", "a100", "--name", name, "--wait"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /calm/);
    assert.equal(sim.bids().filter((b) => b.name.startsWith(name)).length, 1);
  });

  const STOPS: { how: string; signal: NodeJS.Signals; code: number }[] = [
    { how: "on Ctrl-C", signal: "SIGINT", code: 130 },
    { how: "on SIGTERM", signal: "SIGTERM", code: 143 },
    { how: "when the caller crashes", signal: "SIGUSR2", code: 1 },
  ];
  for (const stop of STOPS) {
    it(`cancels the run's instances ${stop.how}`, async () => {
      // Earlier command tasks may still be powering off on their own; only this run's bids count.
      const earlier = new Set(sim.bids().map((bid) => bid.fid));
      const ours = () => sim.liveInstances().filter((instance) => !earlier.has(instance.bid));
      const run = startCli(["run", "test/fixtures/e2e/fcp-functions.ts"], { cwd: repoRoot, env });
      await until(() => run.output().includes("doubling 1"), "the remote call to start", 60_000);
      assert.equal(ours().length, 1);
      run.child.kill(stop.signal);
      const result = await run.done;
      assert.equal(result.code, stop.code, result.stderr);
      assert.deepEqual(ours(), []);
    });
  }

  it("cancels the bids of a run that was SIGKILLed when the next run starts", async () => {
    const earlier = new Set(sim.bids().map((bid) => bid.fid));
    const ours = () => sim.liveInstances().filter((instance) => !earlier.has(instance.bid));
    const killed = startCli(["run", "test/fixtures/e2e/fcp-functions.ts"], { cwd: repoRoot, env });
    await until(() => killed.output().includes("doubling 1"), "the remote call to start", 60_000);
    const [orphan] = ours();
    killed.child.kill("SIGKILL");
    await killed.done;
    assert.ok(orphan !== undefined && sim.liveInstances().some((i) => i.fid === orphan.fid), "nothing cleaned up after SIGKILL");

    const next = await flow(["run", "examples/hello.ts::square", "5"]);
    assert.equal(next.stdout.trim(), "25", next.stderr);
    assert.match(next.stderr, new RegExp(`cancelled bid ${orphan.bid}, left open by an earlier run`));
    assert.deepEqual(ours(), []);
  });
});
