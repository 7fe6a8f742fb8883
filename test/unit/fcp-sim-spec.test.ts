/**
 * The simulator must not drift from the real API: a scripted session drives every operation the
 * simulator serves over real HTTP, and then every recorded request and response body is checked
 * against mithril-openapi.json for the status code the spec documents. Objects are closed for the
 * check (no field the spec does not name), so neither side can invent fields.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Ajv, type ValidateFunction } from "ajv";
import ssh2 from "ssh2";
import type { ValidationIssue } from "../../tools/fcp-sim/api-error.ts";
import type { BidModel, InstanceModel, MeResponse, ProjectModel, QuotaModel, ReservationModel, SshKeyModel, VolumeModel } from "../../tools/fcp-sim/models.ts";
import type { Page } from "../../tools/fcp-sim/pagination.ts";
import { FcpSimulator, type RecordedExchange } from "../../tools/fcp-sim/simulator.ts";
import type { AuctionModel } from "../../src/instance-types/from-api.ts";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";

const SPEC_PATH = "/work/shared/fcp/mithril-openapi.json";
const A100 = "it_MsIRhxj3ccyVWGfP";
const REGION = "us-central1-a";

/** The operations the simulator serves, each with the success status the spec documents. */
const OPERATIONS: readonly [string, string, number][] = [
  ["GET", "/v2/me", 200],
  ["GET", "/v2/projects", 200],
  ["GET", "/v2/instance-types", 200],
  ["GET", "/v2/spot/availability", 200],
  ["GET", "/v2/spot/bids", 200],
  ["POST", "/v2/spot/bids", 201],
  ["GET", "/v2/spot/bids/{bid_fid}", 200],
  ["PATCH", "/v2/spot/bids/{bid_fid}", 200],
  ["DELETE", "/v2/spot/bids/{bid_fid}", 204],
  ["GET", "/v2/spot/bids/{bid_fid}/status", 200],
  ["GET", "/v2/instances", 200],
  ["GET", "/v2/instances/{instance_fid}/status", 200],
  ["GET", "/v2/ssh-keys", 200],
  ["POST", "/v2/ssh-keys", 201],
  ["DELETE", "/v2/ssh-keys/{ssh_key_fid}", 204],
  ["GET", "/v2/volumes", 200],
  ["POST", "/v2/volumes", 201],
  ["DELETE", "/v2/volumes/{volume_fid}", 204],
  ["PATCH", "/v2/volumes/{volume_fid}", 200],
  ["PATCH", "/v2/ssh-keys/{ssh_key_fid}", 200],
  ["GET", "/v2/spot/bids/{bid_fid}/history", 200],
  ["PATCH", "/v2/instances", 200],
  ["GET", "/v2/instances/status/history", 200],
  ["GET", "/v2/instances/pricing/history", 200],
  ["GET", "/v2/pricing/current", 200],
  ["GET", "/v2/pricing/history", 200],
  ["GET", "/v2/quotas", 200],
  ["GET", "/v2/reservation/instance-types", 200],
  ["GET", "/v2/reservation/quote", 200],
  ["GET", "/v2/reservation/availability", 200],
  ["POST", "/v2/reservation", 201],
  ["GET", "/v2/reservation", 200],
  ["GET", "/v2/reservation/{reservation_fid}/extension-availability", 200],
  ["POST", "/v2/reservation/{reservation_fid}/extend", 200],
  ["PATCH", "/v2/reservation/{reservation_fid}", 200],
  ["POST", "/v2/reservation/{reservation_fid}/terminate-instances", 200],
  ["POST", "/v2/reservation/{reservation_fid}/terminate-instances", 207],
  ["GET", "/v2/reservation/{reservation_fid}/history", 200],
  ["GET", "/v2/reservation/{reservation_fid}/usage", 200],
];

/** Error statuses the spec documents, besides the 422s every operation with input has. */
const DOCUMENTED_ERRORS: readonly [string, string, number][] = [
  ["PATCH", "/v2/instances", 404],
  ["PATCH", "/v2/instances", 409],
  ["PATCH", "/v2/instances", 501],
  ["POST", "/v2/reservation/{reservation_fid}/terminate-instances", 400],
  ["POST", "/v2/reservation/{reservation_fid}/terminate-instances", 404],
];

/** Statuses the spec leaves undocumented but the API sends with a `{"detail": "..."}` body. */
const DETAIL_STATUSES = new Set([400, 401, 404]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type CreatedSshKey = SshKeyModel & { private_key: string | null };
type Slot = { start_time: string; end_time: string; quantity: number };
type Invalid = { detail: ValidationIssue[] };
type SpecOperation = { parameters?: { in: string }[]; requestBody?: { content: { "application/json": { schema: Json } } }; responses: Record<string, { content?: { "application/json": { schema: Json } } }> };

const spec = JSON.parse(readFileSync(SPEC_PATH, "utf8")) as { paths: Record<string, Record<string, SpecOperation>>; components: { schemas: JsonObject } };

/** OpenAPI 3.0 `nullable` becomes a JSON Schema union with null; objects with properties are closed. */
function toJsonSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (schema === null || typeof schema !== "object") return schema;
  const converted: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    // `properties` maps names to schemas; every other keyword holds a schema (or plain data).
    converted[key] = key === "properties" ? Object.fromEntries(Object.entries(value as JsonObject).map(([name, sub]) => [name, toJsonSchema(sub)])) : toJsonSchema(value);
  }
  if (converted["type"] === "object" && converted["properties"] !== undefined && converted["additionalProperties"] === undefined) converted["additionalProperties"] = false;
  if (converted["nullable"] === true) {
    delete converted["nullable"];
    return { anyOf: [converted, { type: "null" }] };
  }
  return converted;
}

function specValidators() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat("datetime", (value: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value)));
  ajv.addFormat("email", /^[^@\s]+@[^@\s]+$/);
  // pydantic writes a timedelta as an ISO 8601 duration: "PT3H", "P1DT2H30M", "PT0S".
  ajv.addFormat("duration", /^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/);
  ajv.addFormat("uuid", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  ajv.addSchema({ $id: "mithril", components: { schemas: toJsonSchema(spec.components.schemas) } });
  const cache = new Map<string, ValidateFunction>();
  return (schema: Json): ValidateFunction => {
    const key = JSON.stringify(schema);
    let validate = cache.get(key);
    if (validate === undefined) {
      const rooted = JSON.parse(key.replaceAll('"#/components/', '"mithril#/components/')) as Json;
      validate = ajv.compile(toJsonSchema(rooted) as object);
      cache.set(key, validate);
    }
    return validate;
  };
}

function operationFor(exchange: RecordedExchange): { template: string; operation: SpecOperation } {
  for (const [template, operations] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, "[^/]+")}$`);
    const operation = operations[exchange.method.toLowerCase()];
    if (pattern.test(exchange.path) && operation !== undefined) return { template, operation };
  }
  throw new Error(`no spec operation for ${exchange.method} ${exchange.path}`);
}

describe("fcp-sim against mithril-openapi.json", () => {
  let sim: FcpSimulator;
  before(async () => {
    sim = await FcpSimulator.start({ allocationDelayMs: 20, bootStepMs: 20 });
  });
  after(() => sim.close());

  const call = async (method: string, path: string, body?: unknown, apiKey: string | null = sim.apiKey) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (apiKey !== null) headers["authorization"] = `Bearer ${apiKey}`;
    const response = await fetch(`${sim.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as unknown };
  };
  /** The body typed as the caller expects; the recorded-exchange check below judges the real shape. */
  const expectStatus = async <Body = unknown>(status: number, method: string, path: string, body?: unknown, apiKey?: string | null): Promise<Body> => {
    const response = await call(method, path, body, apiKey);
    assert.equal(response.status, status, `${method} ${path}: ${JSON.stringify(response.body)}`);
    return response.body as Body;
  };
  const until = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    for (let attempt = 0; attempt < 400; attempt++) {
      const value = await probe();
      if (value !== undefined) return value;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`gave up waiting for ${what}`);
  };

  it("serves every SDK operation with the spec's shapes and status codes", async () => {
    const project = sim.project.fid;
    const bidBody = (overrides: Record<string, unknown> = {}) => ({
      project,
      region: REGION,
      instance_type: A100,
      limit_price: "$5.00",
      instance_quantity: 1,
      name: "spec-run",
      launch_specification: { volumes: [], ssh_keys: [], startup_script: "#!/bin/bash\necho hi" },
      ...overrides,
    });

    // Authentication.
    await expectStatus(401, "GET", "/v2/me", undefined, null);
    await expectStatus(401, "GET", "/v2/me", undefined, "fkey_wrong");

    // Account and catalog.
    const me = await expectStatus<MeResponse>(200, "GET", "/v2/me");
    assert.equal(me.fid, "user_sim0001");
    assert.deepEqual((await expectStatus<ProjectModel[]>(200, "GET", "/v2/projects")).map((p) => p.fid), [project]);
    assert.ok((await expectStatus<{ fid: string }[]>(200, "GET", "/v2/instance-types")).some((type) => type.fid === A100));
    const auctions = await expectStatus<AuctionModel[]>(200, "GET", "/v2/spot/availability");
    assert.ok(auctions.some((auction) => auction.instance_type === A100 && auction.region === REGION));

    // SSH keys: one of ours, one generated by the API.
    const userKey = generateEd25519KeyPair(ssh2.utils, "spec@test");
    const key = await expectStatus<CreatedSshKey>(201, "POST", "/v2/ssh-keys", { project, name: "spec-key", public_key: userKey.public });
    assert.equal(key.private_key, null);
    const generated = await expectStatus<CreatedSshKey>(201, "POST", "/v2/ssh-keys", { project, name: "generated" });
    assert.match(String(generated.private_key), /PRIVATE KEY/);
    assert.equal((await expectStatus<SshKeyModel[]>(200, "GET", `/v2/ssh-keys?project=${project}`)).length, 2);
    await expectStatus(422, "GET", "/v2/ssh-keys");
    await expectStatus(422, "POST", "/v2/ssh-keys", { project, name: "bad", public_key: "not a key" });

    // Volumes.
    const volume = await expectStatus<VolumeModel>(201, "POST", "/v2/volumes", { name: "spec-data", project, disk_interface: "Block", region: REGION, size_gb: 100 });
    await expectStatus(422, "POST", "/v2/volumes", { name: "Not_Valid", project, disk_interface: "Tape", region: REGION, size_gb: 0 });
    assert.equal((await expectStatus<VolumeModel[]>(200, "GET", `/v2/volumes?project=${project}&region=${REGION}`)).length, 1);

    // Invalid bids: every field problem lands at its location.
    const missing = await expectStatus<Invalid>(422, "POST", "/v2/spot/bids", { ...bidBody(), limit_price: undefined });
    assert.deepEqual(missing.detail[0]?.loc, ["body", "limit_price"]);
    const badPrice = await expectStatus<Invalid>(422, "POST", "/v2/spot/bids", bidBody({ limit_price: "12.34" }));
    assert.deepEqual(badPrice.detail[0]?.loc, ["body", "limit_price"]);
    const unknownType = await expectStatus<Invalid>(422, "POST", "/v2/spot/bids", bidBody({ instance_type: "it_doesnotexist" }));
    assert.deepEqual(unknownType.detail[0]?.loc, ["body", "instance_type"]);
    const longScript = await expectStatus<Invalid>(422, "POST", "/v2/spot/bids", bidBody({ launch_specification: { volumes: [], ssh_keys: [], startup_script: "x".repeat(10_001) } }));
    assert.deepEqual(longScript.detail[0]?.loc, ["body", "launch_specification", "startup_script"]);
    await expectStatus(422, "POST", "/v2/spot/bids", bidBody({ launch_specification: { volumes: ["vol_nope"], ssh_keys: ["sshkey_nope"] } }));

    // A bid that is allocated and boots, and one priced below the market that stays Open.
    const bid = await expectStatus<BidModel>(201, "POST", "/v2/spot/bids", bidBody({ launch_specification: { volumes: [volume.fid], ssh_keys: [key.fid], startup_script: "#!/bin/bash\necho hi" } }));
    assert.equal(bid.status, "Open");
    const cheap = await expectStatus<BidModel>(201, "POST", "/v2/spot/bids", bidBody({ name: "too-cheap", limit_price: "$0.50" }));
    // Under the auction's floor a bid is refused rather than left waiting.
    const underFloor = await expectStatus<Invalid>(422, "POST", "/v2/spot/bids", bidBody({ name: "under-floor", limit_price: "$0.01" }));
    assert.deepEqual(underFloor.detail[0]?.loc, ["body", "limit_price"]);
    await until("the bid to be allocated", async () => ((await call("GET", `/v2/spot/bids/${bid.fid}/status`)).body as { status: string }).status === "Allocated" || undefined);
    const running = await until("a running instance", async () => {
      const page = await call("GET", `/v2/instances?project=${project}&bid_fid_in=${bid.fid}&status_in=STATUS_RUNNING`);
      return (page.body as Page<InstanceModel>).data[0];
    });
    assert.match(String(running.ssh_destination), /^127\.0\.0\.1:\d+$/);
    assert.equal((await expectStatus<BidModel>(200, "GET", `/v2/spot/bids/${bid.fid}`)).instances[0], running.fid);
    assert.equal((await expectStatus<{ status: string }>(200, "GET", `/v2/instances/${running.fid}/status`)).status, "STATUS_RUNNING");
    assert.equal((await expectStatus<{ status: string }>(200, "GET", `/v2/spot/bids/${cheap.fid}/status`)).status, "Open");

    // Listings: filters, cursor pagination, bad queries.
    const firstPage = await expectStatus<Page<BidModel>>(200, "GET", `/v2/spot/bids?project=${project}&limit=1&sort_by=created_at&sort_dir=asc`);
    assert.equal(firstPage.data[0]?.fid, bid.fid);
    const secondPage = await expectStatus<Page<BidModel>>(200, "GET", `/v2/spot/bids?project=${project}&limit=1&sort_by=created_at&sort_dir=asc&next_cursor=${firstPage.next_cursor}`);
    assert.equal(secondPage.data[0]?.fid, cheap.fid);
    assert.equal(secondPage.next_cursor, null);
    assert.deepEqual((await expectStatus<Page<BidModel>>(200, "GET", "/v2/spot/bids?status=Open")).data.map((b) => b.fid), [cheap.fid]);
    await expectStatus(422, "GET", "/v2/spot/bids?limit=101");
    await expectStatus(422, "GET", "/v2/spot/bids?next_cursor=garbage");
    await expectStatus(200, "GET", `/v2/instances?project=${project}&status_in=STATUS_RUNNING,STATUS_NEW&order_type_in=Bid&limit=1`);
    const badStatus = await expectStatus<Invalid>(422, "GET", `/v2/instances?project=${project}&status_in=STATUS_RUNNING,STATUS_BOGUS`);
    assert.deepEqual(badStatus.detail[0]?.loc, ["query", "status_in", 1]);
    await expectStatus(422, "GET", "/v2/instances");

    // Updates.
    assert.equal((await expectStatus<BidModel>(200, "PATCH", `/v2/spot/bids/${cheap.fid}`, { limit_price: "$0.60" })).limit_price, "$0.60");
    const pauseOpen = await expectStatus<Invalid>(422, "PATCH", `/v2/spot/bids/${cheap.fid}`, { paused: true });
    assert.deepEqual(pauseOpen.detail[0]?.loc, ["body", "paused"]);
    const belowFloor = await expectStatus<Invalid>(422, "PATCH", `/v2/spot/bids/${cheap.fid}`, { limit_price: "$0.01" });
    assert.deepEqual(belowFloor.detail[0]?.loc, ["body", "limit_price"]);
    assert.equal((await expectStatus<BidModel>(200, "PATCH", `/v2/spot/bids/${bid.fid}`, { paused: true })).status, "Paused");
    await expectStatus(422, "PATCH", `/v2/spot/bids/${cheap.fid}`, { limit_price: 3 });
    const history = await expectStatus<{ events: { event_type: string }[] }>(200, "GET", `/v2/spot/bids/${bid.fid}/history`);
    assert.deepEqual(history.events.map((event) => event.event_type), ["Placed", "Allocated", "Paused"]);
    await expectStatus(404, "GET", "/v2/spot/bids/bid_doesnotexist/history");

    // Unknown FIDs and resources in use.
    await expectStatus(404, "GET", "/v2/spot/bids/bid_doesnotexist");
    await expectStatus(404, "GET", "/v2/spot/bids/bid_doesnotexist/status");
    await expectStatus(404, "PATCH", "/v2/spot/bids/bid_doesnotexist", { paused: true });
    await expectStatus(404, "DELETE", "/v2/spot/bids/bid_doesnotexist");
    await expectStatus(404, "GET", "/v2/instances/inst_doesnotexist/status");
    await expectStatus(404, "DELETE", "/v2/ssh-keys/sshkey_doesnotexist");
    await expectStatus(404, "DELETE", "/v2/volumes/vol_doesnotexist");
    const keyInUse = await expectStatus<Invalid>(422, "DELETE", `/v2/ssh-keys/${key.fid}`);
    assert.match(keyInUse.detail[0]?.msg ?? "", new RegExp(bid.fid));
    const volumeInUse = await expectStatus<Invalid>(422, "DELETE", `/v2/volumes/${volume.fid}`);
    assert.deepEqual(volumeInUse.detail[0]?.loc, ["path", "volume_fid"]);

    // Cleanup through the API.
    await expectStatus(204, "DELETE", `/v2/spot/bids/${bid.fid}`);
    await expectStatus(204, "DELETE", `/v2/spot/bids/${cheap.fid}`);
    assert.equal((await expectStatus<BidModel>(200, "GET", `/v2/spot/bids/${bid.fid}`)).status, "Terminated");
    assert.equal((await expectStatus<{ status: string }>(200, "GET", `/v2/instances/${running.fid}/status`)).status, "STATUS_TERMINATED");
    await expectStatus(204, "DELETE", `/v2/ssh-keys/${key.fid}`);
    await expectStatus(204, "DELETE", `/v2/volumes/${volume.fid}`);
    assert.notEqual((await expectStatus<VolumeModel[]>(200, "GET", `/v2/volumes?project=${project}&include_deleted=true`))[0]?.deleted_at, null);
    assert.deepEqual(sim.liveInstances(), []);
  });

  it("serves reservations, prices, quotas, key and volume updates and histories with the spec's shapes", async () => {
    const project = sim.project.fid;
    const iso = (ms: number) => new Date(ms).toISOString();
    const hours = (n: number) => n * 3_600_000;
    const q = (params: Record<string, string | number | undefined>) => new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
    const market = { project, instance_type: A100, region: REGION };

    // Prices: the live market, a history to chart, and refusals of unknown types and bad ranges.
    const current = await expectStatus<Record<string, number | null>>(200, "GET", `/v2/pricing/current?${q({ instance_type: A100, region: REGION })}`);
    assert.equal(current["spot_price_cents"], 180);
    assert.ok((current["minimum_price_cents"] ?? 0) > 0 && (current["minimum_price_cents"] ?? 0) < 180);
    await expectStatus(200, "GET", `/v2/pricing/current?${q({ instance_type: A100, instance_quantity: 2 })}`);
    await expectStatus(422, "GET", `/v2/pricing/current?${q({ instance_type: "it_doesnotexist" })}`);
    const history = await expectStatus<{ series: { spot_prices: string[]; timestamps: string[] }[] }>(200, "GET", `/v2/pricing/history?${q({ instance_types: A100, region: REGION, num_samples: 24 })}`);
    assert.equal(history.series.length, 1);
    assert.equal(history.series[0]?.timestamps.length, 24);
    assert.equal(history.series[0]?.spot_prices.at(-1), "$1.80", "history ends at the live price");
    await expectStatus(200, "GET", "/v2/pricing/history");
    await expectStatus(422, "GET", `/v2/pricing/history?${q({ num_samples: 2000 })}`);
    await expectStatus(422, "GET", `/v2/pricing/history?${q({ start_time: iso(Date.now()), end_time: iso(Date.now() - hours(1)) })}`);

    // Quotas.
    const quotas = await expectStatus<QuotaModel[]>(200, "GET", `/v2/quotas?${q({ project })}`);
    assert.ok(quotas.some((quota) => quota.product_type === "Storage" && quota.units === "GB"));
    await expectStatus(422, "GET", "/v2/quotas");
    await expectStatus(404, "GET", `/v2/quotas?${q({ project: "proj_doesnotexist" })}`);

    // An SSH key made required; a volume renamed; names that exist are refused.
    const userKey = generateEd25519KeyPair(ssh2.utils, "spec-res@test");
    const key = await expectStatus<CreatedSshKey>(201, "POST", "/v2/ssh-keys", { project, name: "spec-res-key", public_key: userKey.public });
    assert.equal((await expectStatus<SshKeyModel>(200, "PATCH", `/v2/ssh-keys/${key.fid}`, { required: true })).required, true);
    assert.equal((await expectStatus<SshKeyModel>(200, "PATCH", `/v2/ssh-keys/${key.fid}`, { required: false })).required, false);
    await expectStatus(422, "PATCH", `/v2/ssh-keys/${key.fid}`, { required: "yes" });
    await expectStatus(404, "PATCH", "/v2/ssh-keys/sshkey_doesnotexist", { required: true });
    const volume = await expectStatus<VolumeModel>(201, "POST", "/v2/volumes", { name: "spec-res-data", project, disk_interface: "Block", region: REGION, size_gb: 10 });
    const other = await expectStatus<VolumeModel>(201, "POST", "/v2/volumes", { name: "spec-res-other", project, disk_interface: "File", region: REGION, size_gb: 10 });
    const duplicate = await expectStatus<Invalid>(422, "POST", "/v2/volumes", { name: "spec-res-data", project, disk_interface: "Block", region: REGION, size_gb: 10 });
    assert.deepEqual(duplicate.detail[0]?.loc, ["body", "name"]);
    assert.equal((await expectStatus<VolumeModel>(200, "PATCH", `/v2/volumes/${volume.fid}`, { name: "spec-res-renamed" })).name, "spec-res-renamed");
    await expectStatus(422, "PATCH", `/v2/volumes/${volume.fid}`, { name: "spec-res-other" });
    await expectStatus(422, "PATCH", `/v2/volumes/${volume.fid}`, { name: "Not Valid" });
    await expectStatus(404, "PATCH", "/v2/volumes/vol_doesnotexist", { name: "whatever" });
    await expectStatus(422, "POST", "/v2/volumes", { name: "too-big", project, disk_interface: "Block", region: REGION, size_gb: 1_000_000 });
    await expectStatus(422, "GET", `/v2/volumes?${q({ project, include_deleted: "maybe" })}`);

    // Reservation catalog, quotes and availability.
    assert.ok((await expectStatus<{ fid: string }[]>(200, "GET", "/v2/reservation/instance-types")).some((type) => type.fid === A100));
    const now = Date.now();
    const window = { start_time: iso(now), end_time: iso(now + hours(4)) };
    const quote = await expectStatus<{ offers: { key: string; total_price: string }[] }>(200, "GET", `/v2/reservation/quote?${q({ ...market, ...window, quantity: 1 })}`);
    assert.deepEqual(quote.offers.map((offer) => offer.key), ["standard", "flex"]);
    const past = await expectStatus<Invalid>(422, "GET", `/v2/reservation/quote?${q({ ...market, start_time: iso(now - hours(24)), end_time: iso(now), quantity: 1 })}`);
    assert.deepEqual(past.detail[0]?.loc, ["query", "start_time"]);
    const tooLong = await expectStatus<Invalid>(422, "GET", `/v2/reservation/quote?${q({ ...market, start_time: iso(now), end_time: iso(now + hours(400)), quantity: 1 })}`);
    assert.deepEqual(tooLong.detail[0]?.loc, ["query", "end_time"]);
    await expectStatus(422, "GET", `/v2/reservation/quote?${q({ ...market, start_time: "tomorrow", end_time: iso(now), quantity: 1 })}`);
    await expectStatus(404, "GET", `/v2/reservation/quote?${q({ ...market, project: "proj_doesnotexist", ...window, quantity: 1 })}`);
    const latest = await expectStatus<Slot[]>(200, "GET", `/v2/reservation/availability?${q({ ...market, start_time: window.start_time, quantity: 1 })}`);
    assert.equal(latest.length, 1);
    const slots = await expectStatus<Slot[]>(200, "GET", `/v2/reservation/availability?${q({ ...market, mode: "slots", earliest_start_time: window.start_time, latest_end_time: iso(now + hours(48)) })}`);
    assert.equal(slots[0]?.quantity, 4, "the whole auction can be reserved");
    assert.deepEqual(await expectStatus<Slot[]>(200, "GET", `/v2/reservation/availability?${q({ ...market, mode: "check", ...window, quantity: 1000 })}`), []);
    const missing = await expectStatus<Invalid>(422, "GET", `/v2/reservation/availability?${q({ ...market, mode: "check", start_time: window.start_time, quantity: 1 })}`);
    assert.deepEqual(missing.detail[0]?.loc, ["query", "end_time"]);
    await expectStatus(422, "GET", `/v2/reservation/availability?${q({ ...market, mode: "sometimes" })}`);

    // Creating reservations: bad windows and quantities are refused field by field.
    const reservationBody = (overrides: Record<string, unknown> = {}) => ({
      ...market,
      ...window,
      instance_quantity: 1,
      name: "spec-reservation",
      launch_specification: { volumes: [volume.fid], ssh_keys: [key.fid], startup_script: "#!/bin/bash\necho reserved" },
      ...overrides,
    });
    const inPast = await expectStatus<Invalid>(422, "POST", "/v2/reservation", reservationBody({ start_time: iso(now - hours(24)), end_time: iso(now) }));
    assert.deepEqual(inPast.detail[0]?.loc, ["body", "start_time"]);
    const twoWeeksAndMore = await expectStatus<Invalid>(422, "POST", "/v2/reservation", reservationBody({ end_time: iso(now + hours(337)) }));
    assert.deepEqual(twoWeeksAndMore.detail[0]?.loc, ["body", "end_time"]);
    const tooMany = await expectStatus<Invalid>(422, "POST", "/v2/reservation", reservationBody({ instance_quantity: 5 }));
    assert.deepEqual(tooMany.detail[0]?.loc, ["body", "instance_quantity"]);
    const badOffer = await expectStatus<Invalid>(422, "POST", "/v2/reservation", reservationBody({ price_specification: { offer_key: "premium" } }));
    assert.deepEqual(badOffer.detail[0]?.loc, ["body", "price_specification", "offer_key"]);
    await expectStatus(422, "POST", "/v2/reservation", reservationBody({ price_specification: { max_unit_price: 1 } }));
    await expectStatus(422, "POST", "/v2/reservation", reservationBody({ instance_type: "it_doesnotexist" }));

    const active = await expectStatus<ReservationModel>(201, "POST", "/v2/reservation", reservationBody({ price_specification: { offer_key: "flex", max_unit_price: 1000 } }));
    assert.equal(active.status, "Active");
    assert.equal(active.instances.length, 1);
    const pending = await expectStatus<ReservationModel>(201, "POST", "/v2/reservation", reservationBody({ name: "later", start_time: iso(now + hours(24)), end_time: iso(now + hours(30)), instance_quantity: 2 }));
    assert.equal(pending.status, "Pending");
    const [pendingFirst, pendingSecond] = pending.instances;

    // Listing: project required, filters, pages.
    const first = await expectStatus<Page<ReservationModel>>(200, "GET", `/v2/reservation?${q({ project, limit: 1 })}`);
    assert.equal(first.data[0]?.fid, pending.fid, "newest first");
    const second = await expectStatus<Page<ReservationModel>>(200, "GET", `/v2/reservation?${q({ project, limit: 1, next_cursor: String(first.next_cursor) })}`);
    assert.equal(second.data[0]?.fid, active.fid);
    assert.equal(second.next_cursor, null);
    assert.deepEqual((await expectStatus<Page<ReservationModel>>(200, "GET", `/v2/reservation?${q({ project, status: "Pending" })}`)).data.map((r) => r.fid), [pending.fid]);
    await expectStatus(422, "GET", `/v2/reservation?${q({ project, status: "Bogus" })}`);
    await expectStatus(422, "GET", "/v2/reservation");

    // The reservation's instance boots like a spot instance and says whose it is.
    const reserved = await until("a running reserved instance", async () => {
      const page = await call("GET", `/v2/instances?${q({ project, reservation_fid_in: active.fid, status_in: "STATUS_RUNNING", order_type_in: "Reservation" })}`);
      return (page.body as Page<InstanceModel>).data[0];
    });
    assert.equal(reserved.reservation, active.fid);
    assert.equal(reserved.bid, null);
    assert.equal((await expectStatus<{ reservation: string }>(200, "GET", `/v2/instances/${reserved.fid}/status`)).reservation, active.fid);

    // Pausing and starting one reserved instance; what cannot be done is refused as the spec says.
    const stopping = await expectStatus<{ instances: Record<string, string> }>(200, "PATCH", "/v2/instances", { instances: [reserved.fid], status: "STATUS_PAUSED" });
    assert.equal(stopping.instances[reserved.fid], "STATUS_STOPPING");
    await until("the instance to pause", async () => ((await call("GET", `/v2/instances/${reserved.fid}/status`)).body as { status: string }).status === "STATUS_PAUSED" || undefined);
    const starting = await expectStatus<{ instances: Record<string, string> }>(200, "PATCH", "/v2/instances", { instances: [reserved.fid], status: "STATUS_RUNNING" });
    assert.equal(starting.instances[reserved.fid], "STATUS_CONFIRMED");
    await expectStatus(404, "PATCH", "/v2/instances", { instances: ["inst_doesnotexist"], status: "STATUS_PAUSED" });
    await expectStatus(409, "PATCH", "/v2/instances", { instances: [String(pendingFirst)], status: "STATUS_RUNNING" });
    const spotBid = sim.bids().find((b) => b.instances.length > 0);
    await expectStatus(501, "PATCH", "/v2/instances", { instances: [String(spotBid?.instances[0])], status: "STATUS_PAUSED" });
    await expectStatus(422, "PATCH", "/v2/instances", { instances: [reserved.fid], status: "STATUS_NEW" });

    // Extending.
    const extension = await expectStatus<{ latest_extension_time: string; available: boolean }>(200, "GET", `/v2/reservation/${active.fid}/extension-availability`);
    assert.equal(extension.available, true);
    const extended = await expectStatus<ReservationModel>(200, "POST", `/v2/reservation/${active.fid}/extend`, { end_time: iso(Date.parse(active.end_time) + hours(2)) });
    assert.equal(Date.parse(extended.end_time), Date.parse(active.end_time) + hours(2));
    const notLater = await expectStatus<Invalid>(422, "POST", `/v2/reservation/${active.fid}/extend`, { end_time: active.end_time });
    assert.deepEqual(notLater.detail[0]?.loc, ["body", "end_time"]);
    await expectStatus(422, "POST", `/v2/reservation/${active.fid}/extend`, { end_time: iso(Date.parse(extended.end_time) + hours(400)) });
    await expectStatus(422, "POST", `/v2/reservation/${active.fid}/extend`, {});
    await expectStatus(404, "POST", "/v2/reservation/res_doesnotexist/extend", { end_time: iso(now + hours(10)) });

    // Pausing and resuming the whole reservation; a reservation that has not started has nothing to pause.
    assert.equal((await expectStatus<ReservationModel>(200, "PATCH", `/v2/reservation/${active.fid}`, { paused: true })).status, "Paused");
    assert.equal((await expectStatus<ReservationModel>(200, "PATCH", `/v2/reservation/${active.fid}`, { paused: false })).status, "Active");
    assert.deepEqual((await expectStatus<ReservationModel>(200, "PATCH", `/v2/reservation/${active.fid}`, { volumes: [volume.fid, other.fid] })).launch_specification.volumes, [volume.fid, other.fid]);
    const notStarted = await expectStatus<Invalid>(422, "PATCH", `/v2/reservation/${pending.fid}`, { paused: true });
    assert.deepEqual(notStarted.detail[0]?.loc, ["body", "paused"]);
    await expectStatus(422, "PATCH", `/v2/reservation/${active.fid}`, { volumes: ["vol_doesnotexist"] });
    await expectStatus(404, "PATCH", "/v2/reservation/res_doesnotexist", { paused: true });
    const volumeInUse = await expectStatus<Invalid>(422, "DELETE", `/v2/volumes/${other.fid}`);
    assert.match(volumeInUse.detail[0]?.msg ?? "", new RegExp(active.fid));
    await expectStatus(422, "DELETE", `/v2/ssh-keys/${key.fid}`);

    // History and usage.
    const events = await expectStatus<{ events: { event_type: string }[] }>(200, "GET", `/v2/reservation/${active.fid}/history`);
    assert.deepEqual(events.events.map((e) => e.event_type), ["Placed", "Terms Set", "Active", "Terms Changed", "Paused", "Resumed"]);
    const usage = await expectStatus<{ grants: unknown[]; summary: { committed_cost_cents: number } }>(200, "GET", `/v2/reservation/${active.fid}/usage`);
    assert.equal(usage.grants.length, 2, "the reservation and its extension");
    assert.ok(usage.summary.committed_cost_cents > 0);
    await expectStatus(404, "GET", "/v2/reservation/res_doesnotexist/usage");
    await expectStatus(404, "GET", "/v2/reservation/res_doesnotexist/history");
    const statusHistory = await expectStatus<{ instances: { instance_fid: string; events: { status: string }[] }[] }>(200, "GET", `/v2/instances/status/history?${q({ project, reservation_fid: active.fid })}`);
    assert.ok(statusHistory.instances[0]?.events.some((e) => e.status === "STATUS_PAUSED"));
    const pricing = await expectStatus<{ instances: { events: { end_time: string | null }[] }[] }>(200, "GET", `/v2/instances/pricing/history?${q({ project, instance_fid: reserved.fid })}`);
    assert.ok((pricing.instances[0]?.events.length ?? 0) >= 2, "billed, paused, billed again");
    await expectStatus(200, "GET", `/v2/instances/status/history?${q({ project, limit: 1, start_time: iso(now), end_time: iso(Date.now()) })}`);
    await expectStatus(422, "GET", "/v2/instances/pricing/history");
    await expectStatus(422, "GET", `/v2/instances/status/history?${q({ project, limit: 0 })}`);
    await expectStatus(404, "GET", `/v2/instances/status/history?${q({ project, bid_fid: "bid_doesnotexist" })}`);

    // Giving instances back: one of two (200), then both (207: one was already gone), then nothing left.
    await expectStatus(422, "POST", `/v2/reservation/${pending.fid}/terminate-instances`, { instances: [], reduce_capacity: true });
    await expectStatus(422, "POST", `/v2/reservation/${pending.fid}/terminate-instances`, { instances: [pendingFirst], reduce_capacity: false });
    await expectStatus(404, "POST", `/v2/reservation/${pending.fid}/terminate-instances`, { instances: [reserved.fid], reduce_capacity: true });
    assert.deepEqual(
      await expectStatus(200, "POST", `/v2/reservation/${pending.fid}/terminate-instances`, { instances: [pendingFirst], reduce_capacity: true }),
      { terminated_instances: [pendingFirst] },
    );
    assert.deepEqual(
      await expectStatus(207, "POST", `/v2/reservation/${pending.fid}/terminate-instances`, { instances: [pendingFirst, pendingSecond], reduce_capacity: true }),
      { terminated_instances: [pendingSecond] },
    );
    const canceled = (await expectStatus<Page<ReservationModel>>(200, "GET", `/v2/reservation?${q({ project, status: "Canceled" })}`)).data;
    assert.deepEqual(canceled.map((r) => r.fid), [pending.fid]);
    await expectStatus(400, "POST", `/v2/reservation/${pending.fid}/terminate-instances`, { instances: [pendingFirst], reduce_capacity: true });
    const over = await expectStatus<Invalid>(422, "POST", `/v2/reservation/${pending.fid}/extend`, { end_time: iso(now + hours(40)) });
    assert.deepEqual(over.detail[0]?.loc, ["path", "reservation_fid"]);
    await expectStatus(422, "GET", `/v2/reservation/${pending.fid}/extension-availability`);
    await expectStatus(422, "PATCH", `/v2/reservation/${pending.fid}`, { paused: false });

    await expectStatus(200, "POST", `/v2/reservation/${active.fid}/terminate-instances`, { instances: [reserved.fid], reduce_capacity: true });
    await expectStatus(204, "DELETE", `/v2/ssh-keys/${key.fid}`);
    await expectStatus(204, "DELETE", `/v2/volumes/${volume.fid}`);
    await expectStatus(204, "DELETE", `/v2/volumes/${other.fid}`);
    assert.deepEqual(sim.liveInstances(), []);
  });

  it("recorded every request and response in the spec's shapes", () => {
    const compile = specValidators();
    const errorDetail = compile({ type: "object", properties: { detail: { type: "string" } }, required: ["detail"], additionalProperties: false });
    const seen = new Set<string>();
    assert.ok(sim.requests.length > 40);
    for (const exchange of sim.requests) {
      const where = `${exchange.method} ${exchange.path} → ${exchange.status}`;
      assert.equal(exchange.dropped, false, where);
      const { template, operation } = operationFor(exchange);
      const status = exchange.status ?? 0;
      const documented = operation.responses[String(status)];
      if (documented === undefined) {
        assert.ok(DETAIL_STATUSES.has(status), `${where}: status not in the spec`);
        assert.ok(errorDetail(exchange.responseBody), `${where}: ${JSON.stringify(errorDetail.errors)}`);
        continue;
      }
      const responseSchema = documented.content?.["application/json"].schema;
      if (responseSchema === undefined && status >= 400) {
        // An error the spec names without a schema is FastAPI's HTTPException: `{"detail": "..."}`.
        assert.ok(errorDetail(exchange.responseBody), `${where}: ${JSON.stringify(errorDetail.errors)}`);
      } else if (responseSchema === undefined) {
        assert.equal(exchange.responseBody, undefined, `${where}: documented without a body`);
      } else {
        const validate = compile(responseSchema);
        assert.ok(validate(exchange.responseBody), `${where} response: ${JSON.stringify(validate.errors)}\n${JSON.stringify(exchange.responseBody)}`);
      }
      const requestSchema = operation.requestBody?.content["application/json"].schema;
      if (requestSchema !== undefined && status < 300) {
        const validate = compile(requestSchema);
        assert.ok(validate(exchange.requestBody), `${where} request: ${JSON.stringify(validate.errors)}`);
      }
      seen.add(`${exchange.method} ${template} ${status}`);
    }
    // The check is not vacuous: drifted copies of a recorded bid fail it.
    const bidSchema = compile({ $ref: "#/components/schemas/BidModel" });
    const recordedBid = sim.requests.find((exchange) => exchange.method === "POST" && exchange.path === "/v2/spot/bids" && exchange.status === 201)?.responseBody as JsonObject;
    assert.ok(bidSchema(recordedBid));
    assert.equal(bidSchema({ ...recordedBid, status: "Running" }), false);
    assert.equal(bidSchema({ ...recordedBid, limitPrice: "$1.00" }), false);
    assert.equal(bidSchema({ ...recordedBid, instances: undefined }), false);
    assert.ok(bidSchema({ ...recordedBid, region: null }));
    const reservationSchema = compile({ $ref: "#/components/schemas/ReservationModel" });
    const recordedReservation = sim.requests.find((exchange) => exchange.method === "POST" && exchange.path === "/v2/reservation" && exchange.status === 201)?.responseBody as JsonObject;
    assert.ok(reservationSchema(recordedReservation));
    assert.equal(reservationSchema({ ...recordedReservation, status: "Allocated" }), false);
    assert.equal(reservationSchema({ ...recordedReservation, unit_price: 2.2 }), false);
    for (const [method, template, status] of [...OPERATIONS, ...DOCUMENTED_ERRORS]) {
      assert.ok(seen.has(`${method} ${template} ${status}`), `session never exercised ${method} ${template} → ${status}`);
    }
    // Every operation that takes a body or a query was shown bad input (a path FID alone cannot be malformed).
    for (const [method, template] of OPERATIONS) {
      const operation = spec.paths[template]?.[method.toLowerCase()];
      const takesInput = operation?.requestBody !== undefined || (operation?.parameters ?? []).some((parameter) => parameter.in === "query");
      if (takesInput) assert.ok(seen.has(`${method} ${template} 422`), `session never exercised ${method} ${template} → 422`);
    }
  });
});
