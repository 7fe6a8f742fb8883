// The cloud account through the CLI, against the simulator (tools/fcp-sim): reservations and
// tasks and functions on them, pause/resume/reprice, prices and quotas, SSH keys, volumes,
// `flow init`, dev machines and the rest of `flow run`'s flags. Every step is a `flow` process;
// every bad input must fail naming the value, exit non-zero, and leave nothing behind in the
// simulator's ledger.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Flow } from "../../src/client/flow.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { repoRoot, runCli, simulatorEnv, startCli, tempDir, until, type CliResult } from "./helpers.ts";

const execFileAsync = promisify(execFile);

let sim: FcpSimulator;
let root: string;
let env: NodeJS.ProcessEnv;
const A100 = "a100-80gb.sxm.1x";

before(async () => {
  root = tempDir("flow-fcp-account-");
  sim = await FcpSimulator.start({ allocationDelayMs: 50, bootStepMs: 30, stateDir: join(root, "sim") });
  env = simulatorEnv(sim, root);
});

after(async () => {
  await sim.close();
});

const flow = (args: string[], extra: NodeJS.ProcessEnv = {}, cwd = root): Promise<CliResult> => runCli(args, { cwd, env: { ...env, ...extra } });

/** Runs `flow … --json` and parses what it printed; a failure shows its stderr. */
async function json<T>(args: string[], extra: NodeJS.ProcessEnv = {}, cwd = root): Promise<T> {
  const result = await flow([...args, "--json"], extra, cwd);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

/** A bad input: exit 1, and the error says `expected`. */
async function refused(args: string[], expected: RegExp, extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const result = await flow(args, extra);
  assert.equal(result.code, 1, `${args.join(" ")} did not fail:\n${result.stdout}${result.stderr}`);
  assert.match(result.stderr, expected);
  return result;
}

interface TaskJson {
  taskId: string;
  status: string;
  message?: string;
  costPerHour: string;
  providerMetadata: Record<string, unknown>;
}

interface ReservationJson {
  reservationId: string;
  status: string;
  endTime: string;
  instances: string[];
}

/** Nothing of these bids or reservations costs money any more. */
async function assertReleased(ids: readonly string[]): Promise<void> {
  const live = () => sim.liveInstances().filter((i) => ids.includes(i.bid) || ids.includes(i.reservation ?? ""));
  await until(() => live().length === 0, `the instances of ${ids.join(", ")} to be released`, 30_000);
}

async function waitForStatus(taskId: string, status: string): Promise<TaskJson> {
  let task: TaskJson | undefined;
  const deadline = Date.now() + 30_000;
  while ((task = await json<TaskJson>(["status", taskId])).status !== status) {
    if (Date.now() > deadline) assert.fail(`${taskId} stayed ${task.status} (${task.message}), not ${status}`);
  }
  return task;
}

describe("reservations", () => {
  it("quotes, creates, lists, shows, extends and cancels a reservation, and runs tasks on it (by id, and chosen by auto)", async () => {
    const quote = await json<{ available: boolean; offers: { key: string; unitPrice: number }[] }>(["reserve", "quote", "-i", "a100", "--hours", "3", "--region", "us-central1-a"]);
    assert.equal(quote.available, true);
    assert.deepEqual(quote.offers.map((o) => o.key), ["standard", "flex"]);

    const bids = sim.bids().length;
    const created = await flow(["reserve", "create", "-i", "a100", "--hours", "3", "--region", "us-central1-a", "--name", "train-res"]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /^flow: reserving 1 × 1xa100 \(a100-80gb\.sxm\.1x\) in us-central1-a from now for 3 h: \$\d+\.\d\d\/h per instance, \$\d+\.\d\d in all \(standard\)$/m);
    const id = /^Reserved (res_\w+) \(train-res\)/m.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    const listed = (await json<ReservationJson[]>(["reserve", "list"])).filter((r) => r.reservationId === id);
    assert.deepEqual(listed.map((r) => r.status), ["active"]);
    const runs = join(sim.sandboxDir(listed[0]!.instances[0]!), "flow", "runs");

    const onIt = await flow(["run", "echo on $FLOW_TASK_NAME; exit 3", "--reservation", id, "--wait"]);
    assert.equal(onIt.code, 3, onIt.stderr);
    assert.match(onIt.stdout, /^Submitted rtask_\w+ .*reserved \(res_\w+\) at \$/m);
    assert.match(onIt.stdout, /^on flow-task-\w+$/m);
    // Ended, its output is still on the reservation's instance, and a follow prints it.
    const onItId = /^Submitted (rtask_\w+)/m.exec(onIt.stdout)![1]!;
    assert.match((await flow(["logs", onItId, "-f"])).stdout, /^on flow-task-\w+\n$/);
    const auto = await flow(["run", "echo chosen", "-i", "a100", "--region", "us-central1-a", "--allocation-mode", "auto", "--wait"]);
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(auto.stderr, new RegExp(`^flow: allocation auto: using reservation ${id} \\(train-res, until `, "m"));
    assert.match(auto.stdout, /^chosen$/m);
    assert.equal(sim.bids().length, bids, "a task on the reservation placed a bid");

    // A task that runs on: status, logs, cancel stop its processes and leave the reservation running.
    const long = await json<TaskJson>(["run", "echo working; sleep 600", "--reservation", id]);
    assert.match(long.taskId, /^rtask_/);
    // The file exists from the moment the run redirects into it; the command writes a moment later.
    const longStdout = join(runs, long.taskId, "task", "stdout.log");
    await until(() => existsSync(longStdout) && readFileSync(longStdout, "utf8") !== "", "the task's output");
    assert.equal((await flow(["logs", long.taskId])).stdout, "working\n");
    assert.match((await flow(["status", long.taskId])).stdout, new RegExp(`status\\s+running \\(running on reservation ${id}\\)`));
    assert.equal((await json<TaskJson>(["cancel", long.taskId])).status, "cancelled");
    const exitCode = join(runs, long.taskId, "exit-code");
    await until(() => existsSync(exitCode), "the cancelled run to record how it ended");
    assert.equal(readFileSync(exitCode, "utf8"), "143\n");
    assert.equal(sim.liveInstances().filter((i) => i.reservation === id).length, 1, "cancelling a task on it ended the reservation's instance");

    const shown = await flow(["reserve", "show", id]);
    assert.match(shown.stdout, /cost so far\s+\$\d+\.\d\d committed/);
    assert.match(shown.stdout, /Placed/);
    const before = await json<ReservationJson>(["reserve", "show", id]);
    const extended = await json<ReservationJson>(["reserve", "extend", id, "--hours", "3"]);
    assert.equal(Date.parse(extended.endTime) - Date.parse(before.endTime), 3 * 3_600_000);
    assert.equal((await json<ReservationJson>(["reserve", "cancel", id])).status, "canceled");
    await assertReleased([id]);
  });

  it("refuses a start in the past and a window longer than 336 hours, creating nothing", async () => {
    const reservations = sim.reservations().length;
    await refused(["reserve", "create", "-i", "a100", "--hours", "3", "--start", "2020-01-01T00:00:00Z"], /start at 2020-01-01T00:00:00\.000Z, which is in the past[\s\S]*leave the start time out to start now/);
    await refused(["reserve", "create", "-i", "a100", "--hours", "400"], /400 hours is too long: reservations last 3 to 336 whole hours[\s\S]*reserve 336 hours and extend it later/);
    await refused(["run", "true", "-i", "a100", "--reserved-hours", "400"], /reservedDurationHours: must be between 3 and 336 hours/);
    assert.equal(sim.reservations().length, reservations);
  });

  it("refuses to extend a reservation that has ended", async () => {
    const created = await json<ReservationJson>(["reserve", "create", "-i", "a100", "--hours", "3"]);
    await sim.faults.expireReservation(created.reservationId);
    await refused(["reserve", "extend", created.reservationId, "--hours", "3"], new RegExp(`Reservation ${created.reservationId} ended at .*; it cannot be extended[\\s\\S]*flow reserve create`));
    assert.equal((await json<ReservationJson>(["reserve", "show", created.reservationId])).endTime, created.endTime);
  });

  it("reserves capacity for a task that asks for it, runs it there, and gives it back when the task is cancelled", async () => {
    const result = await flow(["run", "echo reserved for me", "-i", "a100", "--reserved-hours", "3", "--wait"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^reserved for me$/m);
    const taskId = /Submitted (res_\w+)/.exec(result.stdout)?.[1];
    assert.ok(taskId, result.stdout);
    assert.equal(sim.reservations().find((r) => r.fid === taskId)?.status, "Active");
    assert.equal((await json<TaskJson>(["status", taskId])).status, "completed");
    await flow(["cancel", taskId]);
    assert.equal(sim.reservations().find((r) => r.fid === taskId)?.status, "Canceled");
    await assertReleased([taskId]);
  });

  it("reads a task whose reservation flow cancel gave back as cancelled by the user, even before the cancel's answer", async () => {
    const run = startCli(["run", "echo up; sleep 600", "-i", "a100", "--reserved-hours", "3", "--wait"], { cwd: root, env });
    let cancel: ReturnType<typeof startCli> | undefined;
    try {
      await until(() => /^up$/m.test(run.output()), "the task to run", 60_000);
      const taskId = /Submitted (res_\w+)/.exec(run.output())?.[1];
      assert.ok(taskId, run.output());
      // The API gives the reservation back, and its answer is held until the cancelling process is gone.
      sim.faults.holdNext({ method: "POST", path: `/v2/reservation/${taskId}/terminate-instances`, count: 1, ms: 120_000 });
      cancel = startCli(["cancel", taskId], { cwd: root, env });
      await until(() => sim.reservations().find((r) => r.fid === taskId)?.status === "Canceled", "the reservation to be given back", 60_000);
      const waited = await run.done;
      assert.match(waited.stdout + waited.stderr, new RegExp(`${taskId} cancelled.*: cancelled by the user$`, "m"));
      cancel.child.kill("SIGKILL");
      await cancel.done;
      assert.equal((await json<TaskJson>(["status", taskId])).message, "cancelled by the user");
      await assertReleased([taskId]);
    } finally {
      cancel?.child.kill("SIGKILL");
      run.child.kill("SIGKILL");
    }
  });

  it("bids on the spot market with allocation mode auto when no reservation fits, and says so", async () => {
    const result = await flow(["run", "true", "-i", "2xa100", "--allocation-mode", "auto", "--no-upload-code", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /allocation auto: no active reservation has 1 × 2xa100 for this task; bidding on the spot market/);
    const { taskId } = JSON.parse(result.stdout) as TaskJson;
    assert.match(taskId, /^bid_/);
    await flow(["cancel", taskId]);
    await assertReleased([taskId]);
  });

  it("gives some instances back through the SDK, and reports the history and usage", async () => {
    const flow = new Flow({ provider: "fcp", env, homeDir: env["HOME"]!, flowHome: env["FLOW_HOME"]!, onProgress: () => {} });
    const reservation = await flow.reservations.create({ instanceType: "a100", durationHours: 3, quantity: 2, region: "us-central1-b" });
    const given = reservation.instances[1];
    await assert.rejects(flow.reservations.terminateInstances(reservation.reservationId, ["inst_nope"]), /inst_nope is not an instance of reservation/);
    assert.deepEqual(await flow.reservations.terminateInstances(reservation.reservationId, [given!]), { terminated: [given], notTerminated: [] });
    const after = await flow.reservations.get(reservation.reservationId);
    assert.deepEqual({ quantity: after.quantity, status: after.status }, { quantity: 1, status: "active" });
    assert.deepEqual((await flow.reservations.history(reservation.reservationId)).map((e) => e.event), ["Placed", "Terms Set", "Active", "Terms Changed"]);
    const usage = await flow.reservations.usage(reservation.reservationId);
    assert.ok(usage.committedCost > 0 && usage.credits > 0 && usage.netCost < usage.committedCost, JSON.stringify(usage));
    await flow.reservations.cancel(reservation.reservationId);
    await assertReleased([reservation.reservationId]);
  });

  it("runs a function's agents on a reservation, without a bid, and stops them after", async () => {
    const reservation = await json<ReservationJson>(["reserve", "create", "-i", "a100", "--hours", "3"]);
    const bids = sim.bids().length;
    const result = await flow(["run", "test/fixtures/e2e/reserved-functions.ts::where", "--json"], { FLOW_E2E_RESERVATION: reservation.reservationId }, repoRoot);
    assert.equal(result.code, 0, result.stderr);
    const [instance] = reservation.instances;
    const workspace = JSON.parse(result.stdout) as string;
    assert.ok(workspace.startsWith(join(sim.sandboxDir(instance!), "flow", "runs", "agent-")), workspace);
    assert.match(result.stderr, new RegExp(`agent for where ready on ${instance} \\(reservation ${reservation.reservationId}\\)`));
    assert.equal(sim.bids().length, bids);
    // The run stopped its agent; the reservation runs on.
    await until(() => existsSync(join(workspace, "..", "exit-code")), "the agent to be stopped");
    assert.equal(sim.liveInstances().filter((i) => i.reservation === reservation.reservationId).length, 1);
    await flow(["reserve", "cancel", reservation.reservationId]);
    await assertReleased([reservation.reservationId]);
  });
  it("resumes a call on a reservation's agent after its SSH connection dropped: the call ran once", async () => {
    const reservation = await json<ReservationJson>(["reserve", "create", "-i", "a100", "--hours", "3"]);
    const [instance] = reservation.instances;
    const executions = join(root, "reserved-executions.log");
    writeFileSync(executions, "");
    const running = flow(["run", "test/fixtures/e2e/reserved-functions.ts::slowDouble", "21", "3000", "--json"], { FLOW_E2E_RESERVATION: reservation.reservationId, FLOW_E2E_EXECUTIONS: executions }, repoRoot);
    await until(() => readFileSync(executions, "utf8") !== "", "the call to start", 60_000);
    sim.faults.dropSshConnections(instance!);
    const result = await running;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout), 42);
    assert.equal(readFileSync(executions, "utf8"), "double 21\n", "the call ran once");
    await flow(["reserve", "cancel", reservation.reservationId]);
    await assertReleased([reservation.reservationId]);
  });
});

describe("pause, resume and reprice", () => {
  it("pauses a running task (billing stops) and resumes it; an outbid task says so, cannot be paused, and is repriced", async () => {
    const started = await json<TaskJson>(["run", "echo started; sleep 600", "-i", "a100", "--region", "us-central1-b", "--no-upload-code"]);
    const { taskId } = started;
    await waitForStatus(taskId, "running");
    const paused = await json<TaskJson>(["pause", taskId]);
    assert.equal(paused.status, "paused");
    const [bill] = sim.billing().filter((b) => b.bid === taskId);
    assert.equal(bill?.billing, false, "a paused instance is still billed");
    await refused(["pause", taskId], new RegExp(`Task ${taskId} is paused .*only a running task can be paused[\\s\\S]*flow resume ${taskId}`));
    assert.notEqual((await json<TaskJson>(["resume", taskId])).status, "paused");
    await waitForStatus(taskId, "running");

    // The market moves above the bid's limit: the bid is outbid and waits.
    sim.faults.setPrice(A100, "us-central1-b", 3.5);
    try {
      const outbid = await waitForStatus(taskId, "pending");
      assert.match(outbid.message ?? "", new RegExp(`^outbid: the spot price is \\$3\\.50/h, above this bid's limit of \\$2\\.50/h; raise it with \`flow reprice ${taskId} 4\\.38\`$`));
      assert.match((await flow(["status"])).stdout, new RegExp(`${taskId} .* pending \\(outbid\\)[\\s\\S]*${taskId} is outbid: the spot price is \\$3\\.50/h`));
      // Pending, it has no instance to pause.
      await refused(["pause", taskId], new RegExp(`Task ${taskId} is pending \\(outbid: .*\\): only a running task can be paused[\\s\\S]*flow cancel ${taskId}`));
      assert.equal(sim.bids().find((b) => b.fid === taskId)?.status, "Open");
      await refused(["reprice", taskId, "3"], new RegExp(`\\$3\\.00/h is below the spot price of ${A100} in us-central1-b, \\$3\\.50/h: the bid would stay outbid[\\s\\S]*flow reprice ${taskId} 4\\.38`));
      assert.equal(sim.bids().find((b) => b.fid === taskId)?.limit_price, "$2.50");
      const repriced = await flow(["reprice", taskId, "4.38"]);
      assert.equal(repriced.code, 0, repriced.stderr);
      assert.match(repriced.stdout, new RegExp(`^${taskId} now bids up to \\$4\\.38/h`));
      await waitForStatus(taskId, "running");
    } finally {
      sim.faults.setPrice(A100, "us-central1-b", 2);
    }
    await flow(["cancel", taskId]);
    await assertReleased([taskId]);
  });
});

describe("prices, quotas and the catalog", () => {
  it("shows prices now, charts their history, lists quotas and the catalog's regions side by side", async () => {
    const [now, prices, history, quotas, catalog] = await Promise.all([
      flow(["pricing", "--gpu", "a100"]),
      json<{ instanceType: string; region: string; spotPrice: number; reservedPrice: number }[]>(["pricing", "-i", "a100"]),
      flow(["pricing", "-i", "a100", "--region", "us-central1-a", "--history", "7d"]),
      // Only the cloud has quotas: a configured local provider does not stand in its way.
      flow(["quotas"], { FLOW_PROVIDER: "local" }),
      flow(["catalog", "--gpu", "a100"]),
    ]);
    assert.match(now.stdout, /^INSTANCE TYPE\s+REGION\s+SPOT\s+RESERVED\s+MINIMUM BID\s+AVAILABLE$/m);
    assert.match(now.stdout, /^a100-80gb\.sxm\.8x\s+us-central1-b\s+\$\d+\.\d\d\/h/m);
    assert.deepEqual(prices.map((p) => p.region).sort(), ["us-central1-a", "us-central1-b"]);
    assert.ok(prices.every((p) => p.instanceType === A100 && p.reservedPrice > p.spotPrice), JSON.stringify(prices));
    assert.match(history.stdout, /^a100-80gb\.sxm\.1x in us-central1-a: spot \$\d+\.\d\d\/h now, \$\d+\.\d\d to \$\d+\.\d\d since 7d ago$/m);
    assert.match(history.stdout, /^\$\d+\.\d\d ┤[ ▁▂▃▄▅▆▇█]+$/m);
    assert.match(history.stdout, /^ +└─+$/m);
    assert.match(quotas.stdout, /^a100-80gb\.sxm\.1x spot instances\s+spot\s+\d+ of 64 instances/m);
    assert.match(quotas.stdout, /^Storage\s+storage\s+\d+ of 100000 GB/m);
    assert.match(catalog.stdout, /^NAME\s+GPUS\s+GPU MEMORY\s+US-CENTRAL1-A\s+US-CENTRAL1-B$/m);
    assert.match(catalog.stdout, /^a100-80gb\.sxm\.1x\s+1× A100\s+80 GB\s+\$\d+\.\d\d\/h · \d+ free\s+\$\d+\.\d\d\/h · \d+ free$/m);
  });
});

describe("SSH keys and volumes", () => {
  it("adds, lists and deletes SSH keys; one a running task uses is refused, naming the task", async () => {
    const keyPath = join(root, "laptop-key");
    await execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", keyPath]);
    const added = await flow(["ssh-keys", "add", "laptop", `${keyPath}.pub`]);
    assert.equal(added.code, 0, added.stderr);
    await refused(["ssh-keys", "add", "laptop", `${keyPath}.pub`], /An SSH key named "laptop" is already registered/);
    const { taskId } = await json<TaskJson>(["run", "sleep 600", "-i", "a100", "--ssh-key", "laptop", "--no-upload-code"]);
    const listed = await json<{ name: string; usedBy: string[] }[]>(["ssh-keys", "list"]);
    assert.deepEqual(listed.find((k) => k.name === "laptop")?.usedBy, [taskId]);
    await refused(["ssh-keys", "delete", "laptop"], new RegExp(`SSH key laptop \\(sshkey_\\w+\\) is used by ${taskId} \\(flow-task-\\w+\\), which is not over[\\s\\S]*flow cancel ${taskId}`));
    assert.ok((await json<{ name: string }[]>(["ssh-keys", "list"])).some((k) => k.name === "laptop"));
    await flow(["cancel", taskId]);
    assert.equal((await flow(["ssh-keys", "delete", "laptop"])).code, 0);
    assert.ok(!(await json<{ name: string }[]>(["ssh-keys", "list"])).some((k) => k.name === "laptop"));
    await assertReleased([taskId]);
  });

  it("creates, lists, renames and deletes volumes; a name that exists and deleting one in use are refused", async () => {
    const created = await json<{ volumeId: string; sizeGb: number; region: string }>(["volumes", "create", "ckpt", "--size-gb", "2", "--region", "us-central1-a"]);
    assert.deepEqual({ sizeGb: created.sizeGb, region: created.region }, { sizeGb: 2, region: "us-central1-a" });
    await refused(["volumes", "create", "ckpt", "--size-gb", "5"], new RegExp(`A volume named "ckpt" already exists \\(${created.volumeId}, 2 GB in us-central1-a\\)[\\s\\S]*pick another name`));
    const mount = join(root, "mnt", "ckpt");
    mkdirSync(join(root, "mnt"), { recursive: true });
    const { taskId } = await json<TaskJson>(["run", `echo kept > ${mount}/f; sleep 600`, "-i", "a100", "--volume", `ckpt:${mount}`, "--no-upload-code"]);
    assert.match((await flow(["volumes", "list"])).stdout, new RegExp(`^ckpt\\s+${created.volumeId}\\s+2 GB\\s+us-central1-a\\s+block\\s+\\S+\\s+${taskId}$`, "m"));
    await refused(["volumes", "delete", "ckpt"], new RegExp(`Volume ckpt \\(${created.volumeId}\\) is in use by task ${taskId}[\\s\\S]*flow cancel ${taskId}`));
    await flow(["cancel", taskId]);
    const renamed = await json<{ name: string }>(["volumes", "rename", "ckpt", "checkpoints"]);
    assert.equal(renamed.name, "checkpoints");
    assert.equal((await flow(["volumes", "delete", "checkpoints"])).code, 0);
    assert.deepEqual(await json<unknown[]>(["volumes", "list"]), []);
    await assertReleased([taskId]);
  });

  it("lists tasks fine while a teammate's task (another key) runs in the project", async () => {
    const { taskId } = await json<TaskJson>(["run", "sleep 600", "-i", "a100", "--no-upload-code"]);
    await waitForStatus(taskId, "running");
    const teammate = { HOME: join(root, "teammate"), FLOW_HOME: join(root, "teammate", ".flow") };
    const listed = await flow(["status"], teammate);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${taskId} .* running`, "m"));
    await flow(["cancel", taskId]);
    await assertReleased([taskId]);
  });
});

describe("flow init", () => {
  it("checks the key and the project with the API before writing anything, and sets the default provider", async () => {
    const home = join(root, "init-home");
    const fresh = { HOME: home, FLOW_HOME: join(home, ".flow"), FLOW_PROVIDER: "", FLOW_API_KEY: "", FLOW_PROJECT: "" };
    const file = join(home, ".flow", "config.yaml");
    await refused(["init", "--api-key", sim.apiKey, "--project", "nope"], /The API key of sim@example\.com has no project "nope"[\s\S]*its projects: sim-project \(proj_sim0001\)/, fresh);
    await refused(["init", "--api-key", "fkey_wrong", "--project", sim.project.name], /The API rejected the API key from --api-key \(401/, fresh);
    assert.ok(!existsSync(file), "a refused init wrote a config");
    const written = await flow(["init", "--api-key", sim.apiKey, "--project", sim.project.fid, "--provider", "fcp"], fresh);
    assert.equal(written.code, 0, written.stderr);
    assert.match(written.stdout, /of sim@example\.com, project sim-project, .*provider fcp/);
    assert.match(readFileSync(file, "utf8"), /^provider: fcp$/m);
    // The stored provider and key are all a command needs now.
    const catalog = await flow(["catalog", "--gpu", "a100"], fresh);
    assert.match(catalog.stdout, /US-CENTRAL1-A/, catalog.stderr);
  });
});

describe("dev machines", () => {
  it("starts a dev machine with the code synced, reuses it without a new bid, says when it stops, and stops", async () => {
    const project = join(root, "dev-project");
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "hello.txt"), "hello from the laptop\n");
    const first = await flow(["dev", "--idle-minutes", "30", "--", "cat hello.txt; exit 4"], {}, project);
    assert.equal(first.code, 4, first.stderr);
    assert.equal(first.stdout, "hello from the laptop\n");
    const id = /^flow: started dev machine (bid_\w+) \(a100-80gb\.sxm\.1x in [\w-]+\); stops at \S+ unless used \(after 30 minutes without a session\)$/m.exec(first.stderr)?.[1];
    assert.ok(id, first.stderr);

    const bids = sim.bids().length;
    writeFileSync(join(project, "hello.txt"), "edited\n");
    const second = await flow(["dev", "--", "cat hello.txt"], {}, project);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, "edited\n", "the code was not synced again");
    assert.match(second.stderr, new RegExp(`^flow: using dev machine ${id} `, "m"));
    assert.equal(sim.bids().length, bids, "the second run placed a bid");

    // Paused (billing stopped), it boots again for the next session.
    assert.equal((await json<TaskJson>(["pause", id])).status, "paused");
    const resumed = await flow(["dev", "--", "cat hello.txt"], {}, project);
    assert.equal(resumed.stdout, "edited\n", resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`^flow: resuming your paused dev machine ${id}$`, "m"));

    assert.match((await flow(["status"])).stdout, new RegExp(`^Dev machine ${id} .*; stops at \\S+ unless used \\(after 30 minutes without a session\\)$`, "m"));
    assert.match((await flow(["status", id])).stdout, /^ {2}autostop +stops at \S+ unless used \(after 30 minutes without a session\)$/m);
    await refused(["dev", "-i", "2xa100", "--", "true"], new RegExp(`Your dev machine ${id} is running with instance type a100-80gb\\.sxm\\.1x, not 2xa100[\\s\\S]*flow dev --stop`));

    const stopped = await flow(["dev", "--stop"]);
    assert.equal(stopped.stdout, `Stopped dev machine ${id}.\n`);
    await assertReleased([id]);
  });

  it("stops by itself on the instance after the idle time, with no client around", async () => {
    const result = await flow(["dev", "--idle-minutes", "0.05", "--no-sync", "--", "true"]);
    assert.equal(result.code, 0, result.stderr);
    const id = /dev machine (bid_\w+)/.exec(result.stderr)![1]!;
    await assertReleased([id]);
    assert.equal(sim.bids().find((b) => b.fid === id)?.status, "Terminated");
  });
});

describe("flow run's flags", () => {
  it("sets env from a file and flags, nodes, priority and image from flags", async () => {
    const project = join(root, "flags-project");
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "train.env"), "A=from-file\nB=from-file\n# a comment\n");
    const result = await flow(
      ["run", "echo $A $B $FLOW_NUM_NODES", "-i", "a100", "--region", "us-central1-a", "--env-file", "train.env", "-e", "B=from-flag", "--num-instances", "2", "--priority", "high", "--image", "example/image:1", "--no-upload-code", "--wait"],
      {},
      project,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^from-file from-flag 2$/m);
    const taskId = /Submitted (bid_\w+)/.exec(result.stdout)![1]!;
    const bid = sim.bids().find((b) => b.fid === taskId)!;
    assert.deepEqual({ quantity: bid.instance_quantity, limit: bid.limit_price }, { quantity: 2, limit: "$2.70" }, "high priority bids 1.5 × the $1.80 market");
    assert.match(result.stdout, new RegExp(`^Submitted ${taskId} .*, up to \\$2\\.70/h$`, "m"), "the submitted line says the bid's limit, not the market price");
    assert.match(bid.launch_specification.startup_script ?? "", /IMAGE='example\/image:1'/);
    await flow(["cancel", taskId]);
    await assertReleased([taskId]);
  });

  it("refuses flags it cannot honour, naming them, before bidding", async () => {
    const bids = sim.bids().length;
    await refused(["run", "true", "-i", "a100", "--data", "/data=s3://bucket/prefix"], /dataMounts\[0\] reads from S3, but no AWS credentials were found[\s\S]*AWS_ACCESS_KEY_ID/);
    await refused(["run", "true", "-i", "a100", "--volume", "Bad Name"], /--volume: must be NAME:\/MOUNT\/PATH\[:SIZE_GB\]/);
    await refused(["run", "examples/hello.ts::square", "--num-instances", "2", "2"], /task options \(numInstances\) do not apply to it/);
    assert.equal(sim.bids().length, bids);
  });

  it("lists every command in groups in --help", async () => {
    const help = (await flow(["--help"])).stdout;
    const groups = ["Run:", "Tasks:", "Cloud account:", "Setup:"].map((group) => help.indexOf(`\n${group}\n`));
    assert.ok(groups.every((at, i) => at !== -1 && (i === 0 || at > groups[i - 1]!)), help);
    for (const command of ["run", "dev", "status", "logs", "list", "cancel", "ssh", "pause", "resume", "reprice", "reserve", "pricing", "quotas", "catalog", "volumes", "ssh-keys", "init"]) {
      assert.match(help, new RegExp(`^  ${command} `, "m"));
    }
  });
});
