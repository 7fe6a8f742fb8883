/**
 * The simulator must not drift from the real API: a scripted session drives every operation the
 * SDK uses over real HTTP, and then every recorded request and response body is checked against
 * mithril-openapi.json for the status code the spec documents. Objects are closed for the check
 * (no field the spec does not name), so neither side can invent fields.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Ajv, type ValidateFunction } from "ajv";
import ssh2 from "ssh2";
import type { ValidationIssue } from "../../tools/fcp-sim/api-error.ts";
import type { BidModel, InstanceModel, MeResponse, ProjectModel, SshKeyModel, VolumeModel } from "../../tools/fcp-sim/models.ts";
import type { Page } from "../../tools/fcp-sim/pagination.ts";
import { FcpSimulator, type RecordedExchange } from "../../tools/fcp-sim/simulator.ts";
import type { AuctionModel } from "../../src/instance-types/from-api.ts";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";

const SPEC_PATH = "/work/shared/fcp/mithril-openapi.json";
const A100 = "it_MsIRhxj3ccyVWGfP";
const REGION = "us-central1-a";

/** The operations the SDK uses, each with the success status the spec documents. */
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
];

/** Statuses the spec leaves undocumented but the API sends with a `{"detail": "..."}` body. */
const DETAIL_STATUSES = new Set([400, 401, 404]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type CreatedSshKey = SshKeyModel & { private_key: string | null };
type Invalid = { detail: ValidationIssue[] };
type SpecOperation = { requestBody?: { content: { "application/json": { schema: Json } } }; responses: Record<string, { content?: { "application/json": { schema: Json } } }> };

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
    const cheap = await expectStatus<BidModel>(201, "POST", "/v2/spot/bids", bidBody({ name: "too-cheap", limit_price: "$0.01" }));
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
    assert.equal((await expectStatus<BidModel>(200, "PATCH", `/v2/spot/bids/${cheap.fid}`, { limit_price: "$0.02" })).limit_price, "$0.02");
    assert.equal((await expectStatus<BidModel>(200, "PATCH", `/v2/spot/bids/${cheap.fid}`, { paused: true })).status, "Paused");
    await expectStatus(422, "PATCH", `/v2/spot/bids/${cheap.fid}`, { limit_price: 3 });

    // Unknown FIDs and resources in use.
    await expectStatus(404, "GET", "/v2/spot/bids/bid_doesnotexist");
    await expectStatus(404, "GET", "/v2/spot/bids/bid_doesnotexist/status");
    await expectStatus(404, "PATCH", "/v2/spot/bids/bid_doesnotexist", { paused: true });
    await expectStatus(404, "DELETE", "/v2/spot/bids/bid_doesnotexist");
    await expectStatus(404, "GET", "/v2/instances/inst_doesnotexist/status");
    await expectStatus(404, "DELETE", "/v2/ssh-keys/sshkey_doesnotexist");
    await expectStatus(404, "DELETE", "/v2/volumes/vol_doesnotexist");
    await expectStatus(400, "DELETE", `/v2/ssh-keys/${key.fid}`);
    await expectStatus(400, "DELETE", `/v2/volumes/${volume.fid}`);

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
      if (responseSchema === undefined) {
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
    for (const [method, template, status] of OPERATIONS) assert.ok(seen.has(`${method} ${template} ${status}`), `session never exercised ${method} ${template} → ${status}`);
    for (const [method, template] of [["POST", "/v2/spot/bids"], ["GET", "/v2/spot/bids"], ["GET", "/v2/instances"], ["PATCH", "/v2/spot/bids/{bid_fid}"]] as const) {
      assert.ok(seen.has(`${method} ${template} 422`), `session never exercised ${method} ${template} → 422`);
    }
  });
});
