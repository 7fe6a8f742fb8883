/**
 * How the simulator behaves: the spot auction, instances that boot by really running their startup
 * script, the power-off shim, faults that kill whole sandboxes, HTTP faults, and a close() that
 * leaves nothing running. Everything goes over real HTTP, real bash and real SSH.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import type { BidModel, InstanceModel } from "../../tools/fcp-sim/models.ts";
import type { Page } from "../../tools/fcp-sim/pagination.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";
import { A100, api, placeBid, sshExec, waitFor } from "./fcp-sim-helpers.ts";

const { utils } = ssh2;

const A100_2X = "it_5M6aGxGovNeX5ltT";
const H100_PCIE = "it_XqgKWbhZ5gznAYsG";

const bidStatus = (sim: FcpSimulator, fid: string) => sim.bids().find((bid) => bid.fid === fid)?.status;
const instanceOf = (sim: FcpSimulator, fid: string) => sim.instances().find((instance) => instance.fid === fid);

async function runningInstanceOf(sim: FcpSimulator, bidFid: string): Promise<InstanceModel> {
  return waitFor(`a running instance of ${bidFid}`, () => sim.instances().find((instance) => instance.bid === bidFid && instance.status === "STATUS_RUNNING"));
}

async function waitForInstanceStatus(sim: FcpSimulator, fid: string, status: string): Promise<void> {
  await waitFor(`${fid} to be ${status}`, () => (instanceOf(sim, fid)?.status === status ? true : undefined));
}

/** A PID the startup script wrote into the instance root. */
async function pidFrom(sim: FcpSimulator, instanceFid: string, file: string): Promise<number> {
  const path = join(sim.sandboxDir(instanceFid), "flow", file);
  return waitFor(`${file} in the sandbox`, async () => {
    const text = await readFile(path, "utf8").catch(() => "");
    return /^\d+\n$/.test(text) ? Number(text) : undefined;
  });
}

async function a100Capacity(sim: FcpSimulator): Promise<number | undefined> {
  const auctions = (await api<{ instance_type: string; region: string; capacity: number }[]>(sim, "GET", "/v2/spot/availability")).body;
  return auctions.find((auction) => auction.instance_type === A100 && auction.region === "us-central1-b")?.capacity;
}

/** Alive means it exists and is not a zombie waiting for a reaper. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "");
  } catch {
    return false;
  }
}

/** A script that leaves a background sleeper in its group and another escaped with setsid. */
const LINGERING_SCRIPT = `#!/bin/bash
sleep 300 &
echo $! > "$FLOW_INSTANCE_ROOT/group.pid"
setsid sleep 301 &
echo $! > "$FLOW_INSTANCE_ROOT/escaped.pid"
wait
`;

describe("fcp-sim behaviour", () => {
  let sim: FcpSimulator;
  before(async () => {
    sim = await FcpSimulator.start({ allocationDelayMs: 20, bootStepMs: 20 });
  });
  after(() => sim.close());

  it("leaves a bid below the market Open until its price is raised", async () => {
    const cheap = await placeBid(sim, { limitPrice: "$0.50" });
    // A bid placed later at a fair price is allocated first: the cheap one had its chance.
    const fair = await placeBid(sim);
    await waitFor("the fair bid", () => (bidStatus(sim, fair.fid) === "Allocated" ? true : undefined));
    assert.equal(bidStatus(sim, cheap.fid), "Open");
    assert.deepEqual(sim.bids().find((bid) => bid.fid === cheap.fid)?.instances, []);

    const raised = await api<BidModel>(sim, "PATCH", `/v2/spot/bids/${cheap.fid}`, { limit_price: "$2.00" });
    assert.equal(raised.status, 200);
    await waitFor("the raised bid", () => (bidStatus(sim, cheap.fid) === "Allocated" ? true : undefined));
    for (const bid of [cheap, fair]) assert.equal((await api(sim, "DELETE", `/v2/spot/bids/${bid.fid}`)).status, 204);
  });

  it("keeps a bid Open while its auction has no capacity, and allocates when capacity appears", async () => {
    sim.faults.setCapacity(A100_2X, "us-central1-b", 0);
    const waiting = await placeBid(sim, { instanceType: A100_2X, limitPrice: "$9.00" });
    const clock = await placeBid(sim);
    await waitFor("the other bid", () => (bidStatus(sim, clock.fid) === "Allocated" ? true : undefined));
    assert.equal(bidStatus(sim, waiting.fid), "Open");
    const auction = (await api<{ instance_type: string; region: string; capacity: number }[]>(sim, "GET", "/v2/spot/availability")).body.find(
      (entry) => entry.instance_type === A100_2X && entry.region === "us-central1-b",
    );
    assert.equal(auction?.capacity, 0);

    sim.faults.setCapacity(A100_2X, "us-central1-b", 1);
    await waitFor("allocation once capacity exists", () => (bidStatus(sim, waiting.fid) === "Allocated" ? true : undefined));
    const instance = await runningInstanceOf(sim, waiting.fid);
    assert.equal(instance.name, "behaviour-0");
    assert.equal(instance.instance_type, A100_2X);
    assert.equal(instance.created_by, "user_sim0001");
    for (const bid of [waiting, clock]) await api(sim, "DELETE", `/v2/spot/bids/${bid.fid}`);
    // Termination gave the unit back.
    const after = (await api<{ instance_type: string; region: string; capacity: number }[]>(sim, "GET", "/v2/spot/availability")).body;
    assert.equal(after.find((entry) => entry.instance_type === A100_2X && entry.region === "us-central1-b")?.capacity, 1);
  });

  it("boots through the status progression, runs the startup script and serves SSH with the bid's keys", async () => {
    const keyPair = generateEd25519KeyPair(utils);
    const key = await api<{ fid: string }>(sim, "POST", "/v2/ssh-keys", { project: sim.project.fid, name: "behaviour", public_key: keyPair.public });
    const script = `#!/bin/bash
# comment kept verbatim: "quotes" and $dollars
echo "booting as $HOME"
echo "from the script" > "$FLOW_INSTANCE_ROOT/hello"
printf '%s' "$PATH" > "$FLOW_INSTANCE_ROOT/path"
`;
    const bid = await placeBid(sim, { script, sshKeys: [key.body.fid] });
    const seen = new Set<string>();
    const instance = await waitFor("STATUS_RUNNING", async () => {
      const page = await api<Page<InstanceModel>>(sim, "GET", `/v2/instances?project=${sim.project.fid}&bid_fid_in=${bid.fid}`);
      const current = page.body.data[0];
      if (current !== undefined) seen.add(current.status);
      return current?.status === "STATUS_RUNNING" ? current : undefined;
    });
    const order = ["STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING", "STATUS_RUNNING"];
    // Polling may miss short steps, but never sees anything outside the progression.
    for (const status of seen) assert.ok(order.includes(status), status);
    assert.match(instance.ssh_destination ?? "", /^127\.0\.0\.1:\d+$/);

    const sandbox = sim.sandboxDir(instance.fid);
    assert.equal(await readFile(join(sandbox, "startup-script.sh"), "utf8"), script);
    const hello = await waitFor("the script's file", () => readFile(join(sandbox, "flow", "hello"), "utf8").catch(() => undefined));
    assert.equal(hello, "from the script\n");
    assert.ok((await readFile(join(sandbox, "flow", "path"), "utf8")).startsWith(`${join(sandbox, "bin")}:`));
    assert.match(await readFile(join(sandbox, "console.log"), "utf8"), new RegExp(`booting as ${join(sandbox, "home")}`));

    const [host, port] = (instance.ssh_destination ?? "").split(":");
    const output = await sshExec({ host: host ?? "", port: Number(port), privateKey: keyPair.private }, 'cat "$FLOW_INSTANCE_ROOT/hello"');
    assert.equal(output, "from the script\n");
    const stranger = generateEd25519KeyPair(utils);
    await assert.rejects(sshExec({ host: host ?? "", port: Number(port), privateKey: stranger.private }, "true"), /authentication/i);

    await api(sim, "DELETE", `/v2/spot/bids/${bid.fid}`);
    await api(sim, "DELETE", `/v2/ssh-keys/${key.body.fid}`);
  });

  it("terminates the instance and its one-instance bid when the machine powers itself off", async () => {
    const bid = await placeBid(sim, { script: "#!/bin/bash\necho done > \"$FLOW_INSTANCE_ROOT/exit-code\"\nshutdown -h now\nsleep 300\n" });
    // The script may power off before a poll ever sees STATUS_RUNNING.
    const { fid } = await waitFor("the instance", () => sim.instances().find((candidate) => candidate.bid === bid.fid));
    await waitForInstanceStatus(sim, fid, "STATUS_TERMINATED");
    await waitFor("the bid to end", () => (bidStatus(sim, bid.fid) === "Terminated" ? true : undefined));
    assert.notEqual(sim.bids().find((candidate) => candidate.fid === bid.fid)?.deactivated_at, null);
    assert.equal(sim.liveInstances().some((live) => live.fid === fid), false);
    assert.match(await readFile(join(sim.sandboxDir(fid), "powered-off"), "utf8"), /shutdown -h now/);
  });

  it("preemption kills the sandbox, updates the ledger and reopens the bid, which is allocated again", async () => {
    const bid = await placeBid(sim, { script: LINGERING_SCRIPT });
    const first = await runningInstanceOf(sim, bid.fid);
    const grouped = await pidFrom(sim, first.fid, "group.pid");
    const escaped = await pidFrom(sim, first.fid, "escaped.pid");
    assert.ok(isAlive(grouped) && isAlive(escaped));
    assert.deepEqual(
      sim.liveInstances().filter((live) => live.bid === bid.fid),
      [{ fid: first.fid, bid: bid.fid, status: "STATUS_RUNNING", sshDestination: first.ssh_destination }],
    );

    await sim.faults.preempt(first.fid);
    assert.equal(instanceOf(sim, first.fid)?.status, "STATUS_PREEMPTED");
    assert.equal(isAlive(grouped), false);
    assert.equal(isAlive(escaped), false);
    assert.equal(sim.liveInstances().some((live) => live.fid === first.fid), false);
    const status = await api<{ status: string; end_time: string | null }>(sim, "GET", `/v2/instances/${first.fid}/status`);
    assert.equal(status.body.status, "STATUS_PREEMPTED");
    assert.notEqual(status.body.end_time, null);

    // Spot semantics: the bid is Open again and gets a fresh instance.
    const second = await runningInstanceOf(sim, bid.fid);
    assert.notEqual(second.fid, first.fid);
    assert.equal(second.name, "behaviour-1");
    assert.deepEqual(sim.bids().find((candidate) => candidate.fid === bid.fid)?.instances, [first.fid, second.fid]);
    assert.equal((await api(sim, "DELETE", `/v2/spot/bids/${bid.fid}`)).status, 204);
  });

  it("kill() errors the instance and DELETE terminates one, both killing every process of the sandbox", async () => {
    const killed = await placeBid(sim, { instanceType: H100_PCIE, region: "us-central1-a", limitPrice: "$12.00", script: LINGERING_SCRIPT });
    const cancelled = await placeBid(sim, { script: LINGERING_SCRIPT });
    const killedInstance = await runningInstanceOf(sim, killed.fid);
    const cancelledInstance = await runningInstanceOf(sim, cancelled.fid);
    const pids = {
      killed: [await pidFrom(sim, killedInstance.fid, "group.pid"), await pidFrom(sim, killedInstance.fid, "escaped.pid")],
      cancelled: [await pidFrom(sim, cancelledInstance.fid, "group.pid"), await pidFrom(sim, cancelledInstance.fid, "escaped.pid")],
    };

    await sim.faults.kill(killedInstance.fid);
    assert.equal(instanceOf(sim, killedInstance.fid)?.status, "STATUS_ERROR");
    assert.deepEqual(pids.killed.map(isAlive), [false, false]);
    assert.ok(pids.cancelled.every(isAlive), "the other instance is untouched");

    assert.equal((await api(sim, "DELETE", `/v2/spot/bids/${cancelled.fid}`)).status, 204);
    assert.equal(instanceOf(sim, cancelledInstance.fid)?.status, "STATUS_TERMINATED");
    assert.equal(bidStatus(sim, cancelled.fid), "Terminated");
    assert.deepEqual(pids.cancelled.map(isAlive), [false, false]);
    assert.equal(sim.liveInstances().some((live) => live.fid === killedInstance.fid || live.fid === cancelledInstance.fid), false);
    await api(sim, "DELETE", `/v2/spot/bids/${killed.fid}`);
  });

  it("pausing stops the instances and frees capacity; resuming boots them again", async () => {
    const bid = await placeBid(sim, { script: LINGERING_SCRIPT });
    const instance = await runningInstanceOf(sim, bid.fid);
    const pid = await pidFrom(sim, instance.fid, "group.pid");
    const capacityBefore = await a100Capacity(sim);
    const paused = await api<BidModel>(sim, "PATCH", `/v2/spot/bids/${bid.fid}`, { paused: true });
    assert.equal(paused.body.status, "Paused");
    assert.equal(instanceOf(sim, instance.fid)?.status, "STATUS_PAUSED");
    assert.equal(isAlive(pid), false);
    assert.equal(await a100Capacity(sim), (capacityBefore ?? Number.NaN) + 1);

    await api(sim, "PATCH", `/v2/spot/bids/${bid.fid}`, { paused: false });
    const resumed = await runningInstanceOf(sim, bid.fid);
    assert.equal(resumed.fid, instance.fid);
    await api(sim, "DELETE", `/v2/spot/bids/${bid.fid}`);
  });

  it("failNext answers matching requests with the status and Retry-After, then serves normally", async () => {
    sim.faults.failNext({ status: 503, count: 2, retryAfterSeconds: 3, method: "GET", path: "/v2/me" });
    const other = await fetch(`${sim.url}/v2/projects`, { headers: { authorization: `Bearer ${sim.apiKey}` } });
    assert.equal(other.status, 200, "other paths are not affected");
    for (let i = 0; i < 2; i++) {
      const failed = await fetch(`${sim.url}/v2/me`, { headers: { authorization: `Bearer ${sim.apiKey}` } });
      assert.equal(failed.status, 503);
      assert.equal(failed.headers.get("retry-after"), "3");
      assert.ok(typeof ((await failed.json()) as { detail: unknown }).detail === "string");
    }
    assert.equal((await api(sim, "GET", "/v2/me")).status, 200);

    sim.faults.failNext({ status: 429, count: 1, path: /^\/v2\/spot\/bids$/ });
    const before = sim.bids().length;
    assert.equal((await api(sim, "POST", "/v2/spot/bids", {})).status, 429);
    assert.equal(sim.bids().length, before, "a failed request changes nothing");
  });

  it("dropNext cuts the connection before or after the request took effect", async () => {
    const before = sim.bids().length;
    sim.faults.dropNext({ count: 1, method: "POST", path: "/v2/spot/bids" });
    await assert.rejects(placeBid(sim));
    assert.equal(sim.bids().length, before, "dropped before handling: nothing happened");

    sim.faults.dropNext({ count: 1, method: "POST", path: "/v2/spot/bids", afterHandling: true });
    await assert.rejects(placeBid(sim));
    assert.equal(sim.bids().length, before + 1, "dropped after handling: the bid exists, only the answer was lost");
    const recorded = sim.requests.filter((exchange) => exchange.dropped);
    assert.deepEqual(recorded.slice(-2).map((exchange) => exchange.status), [undefined, 201]);

    const orphan = sim.bids().at(-1);
    assert.ok(orphan !== undefined);
    assert.equal((await api(sim, "DELETE", `/v2/spot/bids/${orphan.fid}`)).status, 204);
  });

  it("answers 401 without a valid key", async () => {
    assert.equal((await fetch(`${sim.url}/v2/me`)).status, 401);
    const wrong = await fetch(`${sim.url}/v2/me`, { headers: { authorization: "Bearer fkey_nope" } });
    assert.equal(wrong.status, 401);
    assert.equal(typeof ((await wrong.json()) as { detail: unknown }).detail, "string");
  });
});

describe("fcp-sim close()", () => {
  it("kills every sandbox process and removes its state dir", async () => {
    const sim = await FcpSimulator.start({ allocationDelayMs: 10, bootStepMs: 10 });
    const bids = [await placeBid(sim, { script: LINGERING_SCRIPT }), await placeBid(sim, { script: LINGERING_SCRIPT })];
    const instances = await Promise.all(bids.map((bid) => runningInstanceOf(sim, bid.fid)));
    const pids = (await Promise.all(instances.flatMap((instance) => [pidFrom(sim, instance.fid, "group.pid"), pidFrom(sim, instance.fid, "escaped.pid")]))).flat();
    // One more bid still booting when close() comes: it must not leave a machine behind either.
    await placeBid(sim, { script: LINGERING_SCRIPT });
    const stateDir = join(sim.sandboxDir(instances[0]?.fid ?? ""), "..", "..");
    assert.ok(pids.every(isAlive));

    await sim.close();
    assert.deepEqual(pids.map(isAlive), pids.map(() => false));
    assert.equal(scanForMarker(stateDir), 0, "no process runs with a sandbox's FLOW_INSTANCE_ROOT");
    await assert.rejects(readFile(join(stateDir, "instances", instances[0]?.fid ?? "", "startup-script.sh")));
  });
});

/** Processes anywhere on the machine whose environment points into this state dir. */
function scanForMarker(stateDir: string): number {
  let count = 0;
  for (const entry of readdirOrEmpty("/proc")) {
    if (!/^\d+$/.test(entry) || !isAlive(Number(entry))) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "utf8").includes(`FLOW_INSTANCE_ROOT=${stateDir}`)) count++;
    } catch {
      // Gone or not ours.
    }
  }
  return count;
}

function readdirOrEmpty(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
