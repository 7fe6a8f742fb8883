/**
 * How the simulator's reservations and market behave: a reservation takes its capacity back from
 * spot (which is preempted, cheapest first) and is never preempted itself; its instances boot
 * like spot instances and are reachable over SSH; capacity is promised over time; pausing stops
 * billing; a rising market outbids a bid. Real HTTP, real bash, real SSH.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import type { BidModel, InstanceModel, ReservationModel } from "../../tools/fcp-sim/models.ts";
import type { Page } from "../../tools/fcp-sim/pagination.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";
import { A100, api, expectApi, placeBid, sshExec, waitFor } from "./fcp-sim-helpers.ts";

const HOUR_MS = 3_600_000;
const REGION = "us-central1-a";
const OTHER_REGION = "us-central1-b";
const iso = (ms: number) => new Date(ms).toISOString();

interface ReservationOptions {
  quantity?: number;
  startMs?: number;
  hours?: number;
  script?: string;
  sshKeys?: string[];
  region?: string;
}

async function reserve(sim: FcpSimulator, options: ReservationOptions = {}): Promise<ReservationModel> {
  const startMs = options.startMs ?? Date.now();
  return expectApi<ReservationModel>(sim, 201, "POST", "/v2/reservation", {
    project: sim.project.fid,
    instance_type: A100,
    region: options.region ?? REGION,
    start_time: iso(startMs),
    end_time: iso(startMs + (options.hours ?? 4) * HOUR_MS),
    instance_quantity: options.quantity ?? 1,
    name: "reserved",
    launch_specification: { volumes: [], ssh_keys: options.sshKeys ?? [], startup_script: options.script ?? "#!/bin/bash\nsleep 300" },
  });
}

const bidOf = (sim: FcpSimulator, fid: string) => sim.bids().find((bid) => bid.fid === fid);
const instanceOf = (sim: FcpSimulator, fid: string) => sim.instances().find((instance) => instance.fid === fid);
const reservationOf = (sim: FcpSimulator, fid: string) => sim.reservations().find((r) => r.fid === fid);
const billOf = (sim: FcpSimulator, fid: string) => sim.billing().find((bill) => bill.instance === fid);

function waitForStatus(sim: FcpSimulator, instanceFid: string, status: string): Promise<InstanceModel> {
  return waitFor(`${instanceFid} to be ${status}`, () => {
    const instance = instanceOf(sim, instanceFid);
    return instance?.status === status ? instance : undefined;
  });
}

function runningInstanceOfBid(sim: FcpSimulator, bidFid: string): Promise<InstanceModel> {
  return waitFor(`a running instance of ${bidFid}`, () => sim.instances().find((i) => i.bid === bidFid && i.status === "STATUS_RUNNING"));
}

async function terminateAll(sim: FcpSimulator, reservation: ReservationModel): Promise<void> {
  await expectApi(sim, 200, "POST", `/v2/reservation/${reservation.fid}/terminate-instances`, { instances: reservation.instances, reduce_capacity: true });
}

describe("fcp-sim reservations", () => {
  let sim: FcpSimulator;
  before(async () => {
    sim = await FcpSimulator.start({
      allocationDelayMs: 10,
      bootStepMs: 10,
      auctions: [
        { instanceType: A100, region: REGION, capacity: 2, lastPrice: 2 },
        { instanceType: A100, region: OTHER_REGION, capacity: 2, lastPrice: 2 },
      ],
    });
  });
  after(() => sim.close());

  it("takes its capacity back from spot, cheapest bid first, and is never preempted itself", async () => {
    const cheap = await placeBid(sim, { region: REGION, limitPrice: "$2.10" });
    const rich = await placeBid(sim, { region: REGION, limitPrice: "$5.00" });
    const elsewhere = await placeBid(sim, { region: OTHER_REGION, limitPrice: "$2.10" });
    const [cheapInstance] = await Promise.all([cheap, rich, elsewhere].map((bid) => runningInstanceOfBid(sim, bid.fid)));

    const reservation = await reserve(sim);
    assert.equal(reservation.status, "Active");
    const reserved = await waitForStatus(sim, reservation.instances[0] ?? "", "STATUS_RUNNING");
    assert.equal(reserved.reservation, reservation.fid);
    assert.equal(instanceOf(sim, cheapInstance?.fid ?? "")?.status, "STATUS_PREEMPTED");
    assert.equal(bidOf(sim, cheap.fid)?.status, "Open", "outbid by the reservation, the bid waits for capacity");
    assert.equal(bidOf(sim, rich.fid)?.status, "Allocated");
    assert.equal(bidOf(sim, elsewhere.fid)?.status, "Allocated", "another region is not touched");
    const history = await expectApi<{ events: { event_type: string }[] }>(sim, 200, "GET", `/v2/spot/bids/${cheap.fid}/history`);
    assert.deepEqual(history.events.map((e) => e.event_type), ["Placed", "Allocated", "Preempted"]);
    await assert.rejects(sim.faults.preempt(reserved.fid), /only a live spot instance can be preempted/);

    // Given back, the unit goes to the waiting spot bid.
    await terminateAll(sim, reservation);
    assert.equal(reservationOf(sim, reservation.fid)?.status, "Canceled");
    await waitFor("the outbid bid to be allocated again", () => (bidOf(sim, cheap.fid)?.status === "Allocated" ? true : undefined));
    for (const bid of [cheap, rich, elsewhere]) await expectApi(sim, 204, "DELETE", `/v2/spot/bids/${bid.fid}`);
    assert.deepEqual(sim.liveInstances(), []);
  });

  it("boots its instances with the reservation's script, reachable with its keys and the project's required keys", async () => {
    const register = async (name: string) => {
      const pair = generateEd25519KeyPair(ssh2.utils, name);
      const key = await expectApi<{ fid: string }>(sim, 201, "POST", "/v2/ssh-keys", { project: sim.project.fid, name, public_key: pair.public });
      return { fid: key.fid, privateKey: pair.private };
    };
    const named = await register("named");
    const required = await register("required");
    const stranger = await register("stranger");
    await expectApi(sim, 200, "PATCH", `/v2/ssh-keys/${required.fid}`, { required: true });

    const reservation = await reserve(sim, { sshKeys: [named.fid], script: '#!/bin/bash\necho reserved > "$FLOW_INSTANCE_ROOT/hello"\nsleep 300' });
    const instance = await waitForStatus(sim, reservation.instances[0] ?? "", "STATUS_RUNNING");
    const [host, port] = (instance.ssh_destination ?? "").split(":");
    const target = (privateKey: string) => ({ host: host ?? "", port: Number(port), privateKey });
    assert.equal(await readFile(join(sim.sandboxDir(instance.fid), "flow", "hello"), "utf8"), "reserved\n");
    assert.equal(await sshExec(target(named.privateKey), 'cat "$FLOW_INSTANCE_ROOT/hello"'), "reserved\n");
    assert.equal(await sshExec(target(required.privateKey), "echo in"), "in\n");
    await assert.rejects(sshExec(target(stranger.privateKey), "echo in"), /authentication/i);

    await expectApi(sim, 200, "PATCH", `/v2/ssh-keys/${required.fid}`, { required: false });
    await terminateAll(sim, reservation);
    assert.deepEqual(sim.liveInstances(), []);
  });

  it("stops an instance that powers off, keeps its place, and starts it again on request", async () => {
    const script = '#!/bin/bash\nif [ ! -f "$FLOW_INSTANCE_ROOT/once" ]; then touch "$FLOW_INSTANCE_ROOT/once"; poweroff; fi\nsleep 300';
    const reservation = await reserve(sim, { script });
    const fid = reservation.instances[0] ?? "";
    await waitForStatus(sim, fid, "STATUS_PAUSED");
    assert.equal(reservationOf(sim, reservation.fid)?.status, "Active");
    assert.equal(billOf(sim, fid)?.billing, false, "a stopped instance is not billed");

    const started = await expectApi<{ instances: Record<string, string> }>(sim, 200, "PATCH", "/v2/instances", { instances: [fid], status: "STATUS_RUNNING" });
    assert.equal(started.instances[fid], "STATUS_CONFIRMED");
    await waitForStatus(sim, fid, "STATUS_RUNNING");
    assert.equal(billOf(sim, fid)?.billing, true);
    assert.equal(billOf(sim, fid)?.periods.length, 2);

    // Paused as a whole, every instance stops and its unit goes back to the auction.
    const capacity = async () => (await expectApi<{ instance_type: string; region: string; capacity: number }[]>(sim, 200, "GET", "/v2/spot/availability")).find((a) => a.region === REGION)?.capacity;
    const before = await capacity();
    await expectApi(sim, 200, "PATCH", `/v2/reservation/${reservation.fid}`, { paused: true });
    assert.equal(instanceOf(sim, fid)?.status, "STATUS_PAUSED");
    assert.equal(await capacity(), (before ?? Number.NaN) + 1);
    await expectApi(sim, 200, "PATCH", `/v2/reservation/${reservation.fid}`, { paused: false });
    await waitForStatus(sim, fid, "STATUS_RUNNING");
    const events = await expectApi<{ events: { event_type: string; pause_credit_cents: number | null }[] }>(sim, 200, "GET", `/v2/reservation/${reservation.fid}/history`);
    assert.deepEqual(events.events.map((e) => e.event_type).slice(-2), ["Paused", "Resumed"]);
    assert.equal(events.events.at(-1)?.pause_credit_cents, 0, "the standard offer pays no pause credit");

    await terminateAll(sim, reservation);
  });

  it("starts at its start time and terminates its instances when it ends", async () => {
    const reservation = await reserve(sim, { startMs: Date.now() + 300 });
    assert.equal(reservation.status, "Pending");
    const fid = reservation.instances[0] ?? "";
    assert.equal(instanceOf(sim, fid)?.status, "STATUS_NEW");
    await waitForStatus(sim, fid, "STATUS_RUNNING");
    assert.equal(reservationOf(sim, reservation.fid)?.status, "Active");

    await sim.faults.expireReservation(reservation.fid);
    assert.equal(reservationOf(sim, reservation.fid)?.status, "Ended");
    assert.equal(instanceOf(sim, fid)?.status, "STATUS_TERMINATED");
    const extend = await api<{ detail: { loc: string[]; msg: string }[] }>(sim, "POST", `/v2/reservation/${reservation.fid}/extend`, { end_time: iso(Date.now() + 10 * HOUR_MS) });
    assert.equal(extend.status, 422);
    assert.match(extend.body.detail[0]?.msg ?? "", /is Ended/);
    assert.deepEqual(sim.liveInstances(), []);
  });

  it("promises capacity over time: overlapping reservations cannot exceed the auction, later ones can", async () => {
    const base = Date.now() + 24 * HOUR_MS;
    const first = await reserve(sim, { startMs: base, quantity: 2 });
    const overlap = await api<{ detail: { loc: string[]; msg: string }[] }>(sim, "POST", "/v2/reservation", {
      project: sim.project.fid,
      instance_type: A100,
      region: REGION,
      start_time: iso(base + HOUR_MS),
      end_time: iso(base + 5 * HOUR_MS),
      instance_quantity: 1,
      name: "overlap",
      launch_specification: { volumes: [], ssh_keys: [] },
    });
    assert.equal(overlap.status, 422);
    assert.deepEqual(overlap.body.detail[0]?.loc, ["body", "instance_quantity"]);
    assert.match(overlap.body.detail[0]?.msg ?? "", /Only 0 /);
    const next = await reserve(sim, { startMs: base + 4 * HOUR_MS, quantity: 2 });

    const query = new URLSearchParams({ project: sim.project.fid, instance_type: A100, region: REGION, mode: "slots", earliest_start_time: iso(base - HOUR_MS), latest_end_time: iso(base + 10 * HOUR_MS) });
    const slots = await expectApi<{ start_time: string; end_time: string; quantity: number }[]>(sim, 200, "GET", `/v2/reservation/availability?${query}`);
    assert.deepEqual(slots, [
      { start_time: iso(base - HOUR_MS), end_time: iso(base), quantity: 2 },
      { start_time: iso(base + 8 * HOUR_MS), end_time: iso(base + 10 * HOUR_MS), quantity: 2 },
    ]);
    const blocked = await expectApi<{ available: boolean; latest_extension_time: string }>(sim, 200, "GET", `/v2/reservation/${first.fid}/extension-availability`);
    assert.deepEqual(blocked, { available: false, latest_extension_time: first.end_time });
    await terminateAll(sim, next);
    const open = await expectApi<{ available: boolean; latest_extension_time: string }>(sim, 200, "GET", `/v2/reservation/${first.fid}/extension-availability`);
    assert.equal(open.available, true);
    assert.equal(Date.parse(open.latest_extension_time), Date.parse(first.end_time) + 336 * HOUR_MS);

    const listed = await expectApi<Page<ReservationModel>>(sim, 200, "GET", `/v2/reservation?project=${sim.project.fid}&status=Pending`);
    assert.deepEqual(listed.data.map((r) => r.fid), [first.fid]);
    await terminateAll(sim, first);
    assert.deepEqual(sim.liveInstances(), []);
  });
});

describe("fcp-sim market", () => {
  let sim: FcpSimulator;
  before(async () => {
    sim = await FcpSimulator.start({ allocationDelayMs: 10, bootStepMs: 10, auctions: [{ instanceType: A100, region: REGION, capacity: 2, lastPrice: 2 }] });
  });
  after(() => sim.close());

  it("bills an instance while it runs: pausing the bid stops billing, resuming starts it again", async () => {
    const bid = await placeBid(sim, { region: REGION });
    const instance = await runningInstanceOfBid(sim, bid.fid);
    assert.equal(billOf(sim, instance.fid)?.billing, true);
    assert.equal(billOf(sim, instance.fid)?.periods[0]?.priceCents, 200, "spot pays the market price, not its limit");

    await expectApi(sim, 200, "PATCH", `/v2/spot/bids/${bid.fid}`, { paused: true });
    assert.equal(billOf(sim, instance.fid)?.billing, false);
    await expectApi(sim, 200, "PATCH", `/v2/spot/bids/${bid.fid}`, { paused: false });
    await waitForStatus(sim, instance.fid, "STATUS_RUNNING");
    const bill = billOf(sim, instance.fid);
    assert.equal(bill?.billing, true);
    assert.equal(bill?.periods.length, 2);
    assert.ok((bill?.periods[0]?.endMs ?? Infinity) <= (bill?.periods[1]?.startMs ?? 0), "nothing billed while paused");
    const pricing = await expectApi<{ instances: { events: unknown[] }[] }>(sim, 200, "GET", `/v2/instances/pricing/history?project=${sim.project.fid}&bid_fid=${bid.fid}`);
    assert.equal(pricing.instances[0]?.events.length, 2);
    await expectApi(sim, 204, "DELETE", `/v2/spot/bids/${bid.fid}`);
    assert.equal(billOf(sim, instance.fid)?.billing, false);
  });

  it("outbids an allocated bid when the market rises above its limit; raising the limit wins it back", async () => {
    const bid = await placeBid(sim, { region: REGION, limitPrice: "$2.50" });
    const first = await runningInstanceOfBid(sim, bid.fid);
    sim.faults.setPrice(A100, REGION, 3);
    await waitForStatus(sim, first.fid, "STATUS_PREEMPTED");
    await waitFor("the bid to be Open", () => (bidOf(sim, bid.fid)?.status === "Open" ? true : undefined));
    const prices = await expectApi<{ spot_price_cents: number; lowest_allocated_bid_cents: number | null }>(sim, 200, "GET", `/v2/pricing/current?instance_type=${A100}&region=${REGION}`);
    assert.equal(prices.spot_price_cents, 300);
    const history = await expectApi<{ series: { spot_prices: string[] }[] }>(sim, 200, "GET", `/v2/pricing/history?instance_types=${A100}&num_samples=10`);
    assert.equal(history.series[0]?.spot_prices.at(-1), "$3.00");

    await expectApi<BidModel>(sim, 200, "PATCH", `/v2/spot/bids/${bid.fid}`, { limit_price: "$3.50" });
    const second = await runningInstanceOfBid(sim, bid.fid);
    assert.notEqual(second.fid, first.fid);
    assert.equal(billOf(sim, second.fid)?.periods[0]?.priceCents, 300);
    const events = await expectApi<{ events: { event_type: string }[] }>(sim, 200, "GET", `/v2/spot/bids/${bid.fid}/history`);
    assert.deepEqual(events.events.map((e) => e.event_type), ["Placed", "Allocated", "Preempted", "Limit Price Changed", "Allocated"]);
    await expectApi(sim, 204, "DELETE", `/v2/spot/bids/${bid.fid}`);
    sim.faults.setPrice(A100, REGION, 2);
  });
});
