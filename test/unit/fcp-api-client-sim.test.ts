/**
 * The client's cloud-account operations against the simulator over real HTTP: prices, quotas,
 * keys and volumes, bid pause/reprice/history, and the whole life of a reservation, including
 * the API's refusals as the SDK's errors (field named, nothing half-done).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import { APIError, ResourceNotFoundError, ValidationAPIError, ValidationError } from "../../src/errors.ts";
import { FcpClient, isoDurationMs, type Reservation } from "../../src/providers/fcp/api/index.ts";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";

const A100 = "it_MsIRhxj3ccyVWGfP";
const REGION = "us-central1-a";
const HOUR_MS = 3_600_000;

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The rejection, asserted to be of `type`. */
async function rejection<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => assert.fail(`expected a ${type.name}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
  return error;
}

const locs = (error: ValidationAPIError) => error.validationErrors.map((issue) => issue.loc.join("."));

describe("FcpClient against the simulator", () => {
  let sim: FcpSimulator;
  let client: FcpClient;
  let project: string;
  before(async () => {
    sim = await FcpSimulator.start({
      allocationDelayMs: 10,
      bootStepMs: 10,
      auctions: [
        { instanceType: A100, region: REGION, capacity: 2, lastPrice: 2 },
        { instanceType: A100, region: "us-central1-b", capacity: 2, lastPrice: 2.2 },
      ],
    });
    client = new FcpClient({ apiUrl: sim.url, apiKey: sim.apiKey, maxRetries: 0 });
    project = sim.project.fid;
  });
  after(async () => {
    await client.close();
    await sim.close();
  });

  it("reads current prices, a price history to chart, and quotas", async () => {
    const prices = await client.getCurrentPrices({ instanceType: A100, region: REGION });
    assert.equal(prices.spot_price_cents, 200);
    assert.equal(prices.minimum_price_cents, 50);
    assert.equal(prices.available_capacity, 2);
    assert.equal((await client.getCurrentPrices({ instanceType: A100 })).total_capacity, 4, "every region without one");

    const history = await client.getPriceHistory({ instanceTypes: [A100], region: REGION, numSamples: 12, startTime: new Date(Date.now() - 6 * HOUR_MS) });
    const [series] = history.series;
    assert.equal(history.series.length, 1);
    assert.equal(series?.timestamps.length, 12);
    assert.equal(series?.spot_prices.at(-1), "$2.00");
    assert.ok(series?.spot_prices.some((price) => price !== "$2.00"), "the past moves");

    const quotas = await client.listQuotas(project);
    assert.ok(quotas.some((q) => q.product_type === "Spot" && q.instance_type === A100 && q.used_quantity === 0));

    const unknown = await rejection(client.getCurrentPrices({ instanceType: "it_nope" }), ValidationAPIError);
    assert.deepEqual(locs(unknown), ["query.instance_type"]);
    const badTime = await rejection(client.getPriceHistory({ startTime: "yesterday" }), ValidationError);
    assert.equal(badTime.issues[0]?.path, "startTime");
  });

  it("updates SSH keys and renames volumes; a name that exists and a key in use are refused", async () => {
    const pair = generateEd25519KeyPair(ssh2.utils, "client@test");
    const key = await client.createSshKey({ project, name: "client-key", public_key: pair.public });
    assert.equal((await client.updateSshKey(key.fid, { required: true })).required, true);
    assert.equal((await client.updateSshKey(key.fid, { required: false })).required, false);
    await rejection(client.updateSshKey("sshkey_missing", { required: true }), ResourceNotFoundError);

    const data = await client.createVolume({ name: "client-data", project, disk_interface: "Block", region: REGION, size_gb: 5 });
    await client.createVolume({ name: "client-other", project, disk_interface: "Block", region: REGION, size_gb: 5 });
    assert.equal((await client.updateVolume(data.fid, { name: "client-renamed" })).name, "client-renamed");
    const taken = await rejection(client.updateVolume(data.fid, { name: "client-other" }), ValidationAPIError);
    assert.deepEqual(locs(taken), ["body.name"]);
    assert.match(taken.message, /client-other already exists/);
    const duplicate = await rejection(client.createVolume({ name: "client-renamed", project, disk_interface: "File", region: REGION, size_gb: 5 }), ValidationAPIError);
    assert.deepEqual(locs(duplicate), ["body.name"]);
    await rejection(client.updateVolume(data.fid, { name: "Not_Valid" }), ValidationError);

    const bid = await client.createBid({
      project,
      region: REGION,
      instance_type: A100,
      limit_price: "$1.00",
      instance_quantity: 1,
      name: "client-key-user",
      launch_specification: { volumes: [data.fid], ssh_keys: [key.fid] },
    });
    const keyInUse = await rejection(client.deleteSshKey(key.fid), ValidationAPIError);
    assert.match(keyInUse.message, new RegExp(`used by bid ${bid.fid}`));
    const volumeInUse = await rejection(client.deleteVolume(data.fid), ValidationAPIError);
    assert.match(volumeInUse.message, new RegExp(`in use by bid ${bid.fid}`));
    await client.cancelBid(bid.fid);
    await client.deleteSshKey(key.fid);
    for (const volume of await client.listVolumes(project)) await client.deleteVolume(volume.fid);
    assert.deepEqual(await client.listVolumes(project), []);
  });

  it("reprices, pauses and resumes a bid and reads its history; what cannot be done is refused", async () => {
    const bid = await client.createBid({
      project,
      region: REGION,
      instance_type: A100,
      limit_price: "$1.00",
      instance_quantity: 1,
      name: "client-outbid",
      launch_specification: { volumes: [], ssh_keys: [] },
    });
    // Below the market it waits (outbid); below the floor it is refused; an Open bid has nothing to pause.
    assert.equal((await client.getBidStatus(bid.fid)).status, "Open");
    assert.deepEqual(locs(await rejection(client.updateBid(bid.fid, { limit_price: "$0.10" }), ValidationAPIError)), ["body.limit_price"]);
    assert.deepEqual(locs(await rejection(client.updateBid(bid.fid, { paused: true }), ValidationAPIError)), ["body.paused"]);
    await rejection(client.updateBid(bid.fid, {}), ValidationError);

    await client.updateBid(bid.fid, { limit_price: "$2.50" });
    await until("the bid to be allocated", async () => ((await client.getBidStatus(bid.fid)).status === "Allocated" ? true : undefined));
    assert.equal((await client.updateBid(bid.fid, { paused: true })).status, "Paused");
    assert.equal((await client.updateBid(bid.fid, { paused: false })).status, "Open");
    const history = await client.getBidHistory(bid.fid);
    // Resumed, the bid bids again: an "Allocated" may follow at any moment.
    assert.deepEqual(history.events.map((e) => e.event_type).slice(0, 5), ["Placed", "Limit Price Changed", "Allocated", "Paused", "Resumed"]);
    assert.equal(history.events[1]?.limit_price, "$2.50");
    await client.cancelBid(bid.fid);
    await rejection(client.getBidHistory("bid_missing"), ResourceNotFoundError);
    await rejection(client.updateBid(bid.fid, { limit_price: "$3.00" }), ValidationAPIError);
  });

  it("quotes, checks availability, reserves, and runs a reservation's instance to the end", async () => {
    assert.ok((await client.listReservationInstanceTypes()).some((type) => type.fid === A100));
    const market = { project, instanceType: A100, region: REGION };
    const start = new Date();
    const end = new Date(start.getTime() + 4 * HOUR_MS);
    const quote = await client.getReservationQuote({ ...market, startTime: start, endTime: end, quantity: 1 });
    assert.deepEqual(quote.offers.map((offer) => offer.key), ["standard", "flex"]);
    const slots = await client.findReservationSlots({ ...market, earliestStartTime: start, latestEndTime: new Date(start.getTime() + 48 * HOUR_MS) });
    assert.equal(slots[0]?.quantity, 2);
    const latest = await client.getReservationLatestEndTime({ ...market, startTime: start, quantity: 2 });
    assert.equal(Date.parse(latest ?? ""), start.getTime() + 336 * HOUR_MS);
    assert.equal(await client.checkReservationAvailability({ ...market, startTime: start, endTime: end, quantity: 2 }), true);
    assert.equal(await client.checkReservationAvailability({ ...market, startTime: start, endTime: end, quantity: 3 }), false);
    assert.equal(await client.getReservationLatestEndTime({ ...market, startTime: start, quantity: 3 }), undefined);

    const request = {
      project,
      instance_type: A100,
      region: REGION,
      start_time: start,
      end_time: end,
      instance_quantity: 1,
      name: "client-reservation",
      launch_specification: { volumes: [], ssh_keys: [], startup_script: "#!/bin/bash\nsleep 300" },
    };
    const past = await rejection(client.createReservation({ ...request, start_time: new Date(start.getTime() - 24 * HOUR_MS) }), ValidationAPIError);
    assert.deepEqual(locs(past), ["body.start_time"]);
    assert.match(past.message, /in the past/);
    const tooLong = await rejection(client.createReservation({ ...request, end_time: new Date(start.getTime() + 400 * HOUR_MS) }), ValidationAPIError);
    assert.match(tooLong.message, /end_time: .*from 3 to 336 hours/);
    await rejection(client.createReservation({ ...request, start_time: "tomorrow at noon" }), ValidationError);
    assert.deepEqual(sim.reservations(), [], "nothing half-created");

    const reservation = await client.createReservation(request);
    assert.equal(reservation.status, "Active");
    assert.deepEqual((await client.listReservations({ project, status: "Active" })).map((r) => r.fid), [reservation.fid]);
    assert.equal((await client.getReservation(project, reservation.fid)).name, "client-reservation");
    await rejection(client.getReservation(project, "res_missing"), ResourceNotFoundError);

    const [instanceFid = ""] = reservation.instances;
    await until("the reserved instance to run", async () => (await client.listInstances({ project, reservationFids: [reservation.fid], statuses: ["STATUS_RUNNING"] }))[0]);
    assert.deepEqual((await client.listInstances({ project, orderTypes: ["Reservation"] })).map((i) => i.fid), [instanceFid]);
    assert.deepEqual(await client.setInstancesStatus([instanceFid], "STATUS_PAUSED"), { [instanceFid]: "STATUS_STOPPING" });
    await until("the instance to pause", async () => ((await client.getInstanceStatus(instanceFid)).status === "STATUS_PAUSED" ? true : undefined));
    assert.deepEqual(await client.setInstancesStatus([instanceFid], "STATUS_RUNNING"), { [instanceFid]: "STATUS_CONFIRMED" });
    await rejection(client.setInstancesStatus([], "STATUS_RUNNING"), ValidationError);

    const extension = await client.getReservationExtensionAvailability(reservation.fid);
    assert.equal(extension.available, true);
    const extended = await client.extendReservation(project, reservation.fid, { end_time: new Date(end.getTime() + HOUR_MS) });
    assert.equal(Date.parse(extended.end_time), end.getTime() + HOUR_MS);
    assert.deepEqual(locs(await rejection(client.extendReservation(project, reservation.fid, { end_time: end }), ValidationAPIError)), ["body.end_time"]);

    assert.equal((await client.updateReservation(reservation.fid, { paused: true })).status, "Paused");
    assert.equal((await client.updateReservation(reservation.fid, { paused: false })).status, "Active");
    await rejection(client.updateReservation(reservation.fid, {}), ValidationError);
    await until("the instance to run again", async () => ((await client.getInstanceStatus(instanceFid)).status === "STATUS_RUNNING" ? true : undefined));

    const statuses = await client.listInstanceStatusHistory({ project, reservationFid: reservation.fid });
    assert.ok(statuses[0]?.events.some((event) => event.status === "STATUS_PAUSED"));
    const billed = await client.listInstancePricingHistory({ project, instanceFid, startTime: start });
    assert.ok((billed[0]?.events.length ?? 0) >= 3, "billed, paused, billed, paused, billed");
    assert.equal(billed[0]?.events.at(-1)?.end_time, null, "billed now");
    const events = await client.getReservationHistory(reservation.fid);
    assert.deepEqual(events.events.map((e) => e.event_type), ["Placed", "Terms Set", "Active", "Terms Changed", "Paused", "Resumed"]);
    const usage = await client.getReservationUsage(reservation.fid);
    assert.equal(usage.grants.length, 2);
    assert.ok((isoDurationMs(usage.summary.active_instance_hours) ?? -1) > 0);

    const result = await client.terminateReservationInstances(project, reservation.fid, [instanceFid]);
    assert.deepEqual(result, { terminated: [instanceFid], notTerminated: [] });
    assert.equal((await client.getReservation(project, reservation.fid)).status, "Canceled");
    const again = await rejection(client.terminateReservationInstances(project, reservation.fid, [instanceFid]), APIError);
    assert.equal(again.statusCode, 400);
    assert.match((await rejection(client.extendReservation(project, reservation.fid, { end_time: new Date(end.getTime() + 5 * HOUR_MS) }), ValidationAPIError)).message, /is Canceled/);
    assert.deepEqual(sim.liveInstances(), []);
  });

  it("gives back part of a reservation, says which instances it could not, and refuses spot instances one by one", async () => {
    const start = Date.now() + 24 * HOUR_MS;
    const later: Reservation = await client.createReservation({
      project,
      instance_type: A100,
      region: REGION,
      start_time: new Date(start).toISOString(),
      end_time: new Date(start + 3 * HOUR_MS).toISOString(),
      instance_quantity: 2,
      name: "client-later",
      launch_specification: { volumes: [], ssh_keys: [] },
      price_specification: { offer_key: "flex" },
    });
    assert.equal(later.status, "Pending");
    const [first = "", second = ""] = later.instances;
    await assert.rejects(client.setInstancesStatus([first], "STATUS_RUNNING"), (e: unknown) => e instanceof APIError && e.statusCode === 409 && /starts at/.test(e.message));
    assert.deepEqual(await client.terminateReservationInstances(project, later.fid, [first]), { terminated: [first], notTerminated: [] });
    assert.deepEqual(await client.terminateReservationInstances(project, later.fid, [first, second]), { terminated: [second], notTerminated: [first] });

    const bid = await client.createBid({
      project,
      region: REGION,
      instance_type: A100,
      limit_price: "$3.00",
      instance_quantity: 1,
      name: "client-spot",
      launch_specification: { volumes: [], ssh_keys: [] },
    });
    const spot = await until("the spot instance", async () => (await client.listInstances({ project, bidFids: [bid.fid], orderTypes: ["Bid"] }))[0]);
    const refused = await rejection(client.setInstancesStatus([spot.fid], "STATUS_PAUSED"), APIError);
    assert.equal(refused.statusCode, 501);
    assert.equal(refused.errorCode, "not_supported");
    assert.match(refused.message, /PATCH \/v2\/spot\/bids/);
    await client.cancelBid(bid.fid);
    assert.deepEqual(sim.liveInstances(), []);
  });
});
