import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import {
  APIError,
  AuthenticationError,
  ConflictError,
  NetworkError,
  ProviderError,
  RateLimitError,
  ResourceNotFoundError,
  FlowTimeoutError,
  ValidationAPIError,
  ValidationError,
} from "../../src/errors.ts";
import { FcpClient, type FcpClientOptions, type Bid, collectPages, isoDurationMs, type Reservation } from "../../src/providers/fcp/api/index.ts";
import { backoffDelayMs, parseRetryAfterMs } from "../../src/providers/fcp/api/retry.ts";

const API_KEY = "fkey_s3cr3t-value-never-printed";
const PROJECT = "proj_test0001";

interface Seen {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** What a handler does with a request: answer it, or drop the connection without answering. */
type Handler = (request: Seen, response: ServerResponse) => void | "destroy";

interface FakeApi {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

const servers: FakeApi[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function fakeApi(handler: Handler): Promise<FakeApi> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const request: Seen = { method: req.method ?? "", url: new URL(req.url ?? "/", "http://x"), headers: req.headers, body: text === "" ? undefined : JSON.parse(text) };
      seen.push(request);
      if (handler(request, res) === "destroy") req.socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const api: FakeApi = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(api);
  return api;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

/** A client whose retries wait no time; `delays` records what they would have waited. */
function clientFor(api: FakeApi, options: Partial<FcpClientOptions> = {}): { client: FcpClient; delays: number[] } {
  const delays: number[] = [];
  const client = new FcpClient({
    apiUrl: api.url,
    apiKey: API_KEY,
    apiKeySource: "FLOW_API_KEY",
    sleep: async (ms) => void delays.push(ms),
    ...options,
  });
  after(() => client.close());
  return { client, delays };
}

function bid(fid: string, name: string, overrides: Partial<Bid> = {}): Bid {
  return {
    fid,
    name,
    project: PROJECT,
    created_by: "user_1",
    created_at: "2025-01-01T00:00:00Z",
    limit_price: "$2.25",
    instance_quantity: 1,
    instance_type: "it_MsIRhxj3ccyVWGfP",
    region: "us-central1-a",
    instances: [],
    launch_specification: { volumes: [], ssh_keys: ["sshkey_1"], startup_script: "#!/bin/bash\n" },
    status: "Open",
    ...overrides,
  };
}

const createBidBody = {
  project: PROJECT,
  region: "us-central1-a",
  instance_type: "it_MsIRhxj3ccyVWGfP",
  limit_price: "$2.25",
  instance_quantity: 1,
  name: "train-7f3a",
  launch_specification: { volumes: [], ssh_keys: ["sshkey_1"], startup_script: "#!/bin/bash\necho hi\n" },
};

/** A bids endpoint backed by a list, with `onPost` deciding how each POST ends. */
function bidsApi(onPost: (postNumber: number) => "ok" | "create-then-drop" | "500" | "429"): Handler {
  const bids: Bid[] = [];
  let posts = 0;
  return (req, res) => {
    if (req.method === "GET" && req.url.pathname === "/v2/spot/bids") {
      const name = req.url.searchParams.get("name");
      return json(res, 200, { data: bids.filter((b) => name === null || b.name === name), next_cursor: null });
    }
    if (req.method === "POST" && req.url.pathname === "/v2/spot/bids") {
      const body = req.body as typeof createBidBody;
      const outcome = onPost(++posts);
      if (outcome === "429") return json(res, 429, { detail: "slow down" }, { "retry-after": "1" });
      if (outcome === "500") return json(res, 500, { detail: "database hiccup" });
      const created = bid(`bid_${bids.length + 1}`, body.name, { launch_specification: body.launch_specification });
      bids.push(created);
      if (outcome === "create-then-drop") return "destroy";
      return json(res, 201, created);
    }
    json(res, 404, { detail: "Not Found" });
  };
}

describe("FcpClient requests", () => {
  it("sends the bearer key, a user agent, JSON headers and one request ID per operation, kept across retries", async () => {
    let calls = 0;
    const api = await fakeApi((req, res) => {
      if (req.url.pathname === "/v2/me" && ++calls === 1) return json(res, 503, { detail: "warming up" });
      json(res, 200, { id: "1", fid: "user_1", email: "a@b.c", organization_id: "org_1", user_name: null, future_field: true });
    });
    const { client } = clientFor(api);
    const me = await client.me();
    assert.equal(me.fid, "user_1");
    await client.me();

    assert.equal(api.seen.length, 3);
    const [first, retry, next] = api.seen as [Seen, Seen, Seen];
    assert.equal(first.headers.authorization, `Bearer ${API_KEY}`);
    assert.match(first.headers["user-agent"] ?? "", /^flow-sdk-ts\/\d+\.\d+\.\d+\S* node\/\d+\.\d+\.\d+$/);
    assert.equal(first.headers.accept, "application/json");
    assert.match(String(first.headers["x-request-id"]), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(retry.headers["x-request-id"], first.headers["x-request-id"], "a retry reuses the operation's request ID");
    assert.notEqual(next.headers["x-request-id"], first.headers["x-request-id"], "a new operation gets a new ID");
  });

  it("sends JSON bodies with a content type and comma-separated array filters", async () => {
    const api = await fakeApi((req, res) => {
      if (req.url.pathname === "/v2/instances") return json(res, 200, { data: [] });
      json(res, 200, bid("bid_1", "x", { status: "Paused" }));
    });
    const { client } = clientFor(api);
    await client.updateBid("bid_1", { paused: true });
    await client.listInstances({ project: PROJECT, bidFids: ["bid_1", "bid_2"], statuses: ["STATUS_RUNNING", "STATUS_NEW"] });

    const [patch, list] = api.seen as [Seen, Seen];
    assert.equal(patch.method, "PATCH");
    assert.equal(patch.url.pathname, "/v2/spot/bids/bid_1");
    assert.equal(patch.headers["content-type"], "application/json");
    assert.deepEqual(patch.body, { paused: true });
    assert.equal(list.url.searchParams.get("project"), PROJECT);
    assert.equal(list.url.searchParams.get("bid_fid_in"), "bid_1,bid_2");
    assert.equal(list.url.searchParams.get("status_in"), "STATUS_RUNNING,STATUS_NEW");
    assert.deepEqual(await client.listInstances({ project: PROJECT, bidFids: [] }), [], "an empty filter matches nothing");
    assert.equal(api.seen.length, 2);
  });

  it("follows next_cursor over three pages", async () => {
    const pages: Record<string, { data: Bid[]; next_cursor?: string | null }> = {
      "": { data: [bid("bid_1", "a"), bid("bid_2", "b")], next_cursor: "c2" },
      c2: { data: [bid("bid_3", "c")], next_cursor: "c3" },
      c3: { data: [bid("bid_4", "d")], next_cursor: null },
    };
    const api = await fakeApi((req, res) => json(res, 200, pages[req.url.searchParams.get("next_cursor") ?? ""]));
    const { client } = clientFor(api);

    const bids = await client.listBids({ project: PROJECT, status: "Open", region: "us-central1-a" });
    assert.deepEqual(bids.map((b) => b.fid), ["bid_1", "bid_2", "bid_3", "bid_4"]);
    assert.deepEqual(api.seen.map((s) => s.url.searchParams.get("next_cursor")), [null, "c2", "c3"]);
    for (const { url } of api.seen) {
      assert.equal(url.pathname, "/v2/spot/bids");
      assert.equal(url.searchParams.get("project"), PROJECT);
      assert.equal(url.searchParams.get("status"), "Open");
      assert.equal(url.searchParams.get("region"), "us-central1-a");
      assert.equal(url.searchParams.has("name"), false);
    }
  });

  it("exports a generic paginator that refuses a cursor loop", async () => {
    const items = await collectPages(async (cursor) => (cursor === undefined ? { data: [1, 2], next_cursor: "n" } : { data: [3] }));
    assert.deepEqual(items, [1, 2, 3]);
    await assert.rejects(
      collectPages(async () => ({ data: [1], next_cursor: "same" })),
      (e: unknown) => e instanceof ProviderError && /twice/.test(e.message),
    );
  });

  it("resolves a project from its FID or its name, and lists the names when neither matches", async () => {
    const api = await fakeApi((_req, res) =>
      json(res, 200, [
        { fid: "proj_a", name: "research", created_at: "2025-01-01T00:00:00Z" },
        { fid: "proj_b", name: "prod", created_at: "2025-01-01T00:00:00Z" },
      ]),
    );
    const { client } = clientFor(api);
    assert.equal(await client.resolveProjectId("proj_b"), "proj_b");
    assert.equal(await client.resolveProjectId("research"), "proj_a");
    await assert.rejects(
      client.resolveProjectId("staging"),
      (e: unknown) => e instanceof ResourceNotFoundError && /"staging"/.test(e.message) && /research, prod/.test(e.describe()),
    );
  });
});

describe("FcpClient errors", () => {
  it("401 names where the key came from, never the key, and is not retried", async () => {
    const api = await fakeApi((_req, res) => json(res, 401, { detail: "Invalid API key" }));
    const { client } = clientFor(api);
    const error = await client.listProjects().then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AuthenticationError);
    assert.match(error.message, /The API rejected the API key from FLOW_API_KEY \(401 Unauthorized\)/);
    assert.match(error.describe(), /flow init/);
    const everything = `${error.describe()} ${JSON.stringify(error)} ${String(error.stack)}`;
    assert.equal(everything.includes(API_KEY), false, "the key must not appear in the error");
    assert.equal(api.seen.length, 1);
  });

  it("404 is ResourceNotFoundError naming the resource", async () => {
    const api = await fakeApi((_req, res) => json(res, 404, { detail: "Bid not found" }));
    const { client } = clientFor(api);
    await assert.rejects(client.getBid("bid_missing"), (e: unknown) => e instanceof ResourceNotFoundError && /bid bid_missing/.test(e.message));
    assert.equal(api.seen.length, 1);
  });

  it("422 lists each field without the body/query prefix and keeps the raw entries", async () => {
    const detail = [
      { loc: ["body", "launch_specification", "startup_script"], msg: "script exceeds 10000 characters", type: "value_error" },
      { loc: ["body", "launch_specification", "ssh_keys", 0], msg: "unknown SSH key", type: "value_error" },
    ];
    const api = await fakeApi((_req, res) => json(res, 422, { detail }));
    const { client } = clientFor(api);
    const error = await client.createBid(createBidBody).then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ValidationAPIError);
    assert.equal(error.statusCode, 422);
    assert.match(error.message, /launch_specification\.startup_script: script exceeds 10000 characters/);
    assert.match(error.message, /launch_specification\.ssh_keys\[0\]: unknown SSH key/);
    assert.deepEqual(error.validationErrors, detail);
    assert.equal(api.seen.length, 1, "a 422 is final");
  });

  it("409 is a ConflictError with the status, body and request ID", async () => {
    const api = await fakeApi((_req, res) => json(res, 409, { detail: "A volume named data already exists" }));
    const { client } = clientFor(api);
    const error = await client.createVolume({ name: "data", project: PROJECT, disk_interface: "Block", region: "us-central1-a", size_gb: 10 }).then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConflictError && error instanceof APIError);
    assert.equal(error.statusCode, 409);
    assert.match(error.message, /already exists/);
    assert.match(error.responseBody ?? "", /already exists/);
    assert.equal(error.requestId, api.seen[0]?.headers["x-request-id"]);
    assert.equal(api.seen.length, 1);
  });

  it("a response that fails its model is a ProviderError naming the operation and the field", async () => {
    const api = await fakeApi((_req, res) => json(res, 200, { data: [bid("bid_1", "a", { status: "Exploded" as Bid["status"] })] }));
    const { client } = clientFor(api);
    await assert.rejects(
      client.listBids({ project: PROJECT }),
      (e: unknown) => e instanceof ProviderError && /listBids/.test(e.message) && /data\.0\.status/.test(e.message),
    );
  });

  it("rejects a malformed request before sending it", async () => {
    const api = await fakeApi((_req, res) => json(res, 500, {}));
    const { client } = clientFor(api);
    await assert.rejects(
      client.createVolume({ name: "Bad_Name", project: PROJECT, disk_interface: "Block", region: "us-central1-a", size_gb: 10 }),
      (e: unknown) => e instanceof ValidationError && e.issues[0]?.path === "name",
    );
    await assert.rejects(client.createBid({ ...createBidBody, limit_price: "2.25" }), (e: unknown) => e instanceof ValidationError && /limit_price/.test(e.message));
    assert.equal(api.seen.length, 0);
  });

  it("DELETE of something already gone resolves", async () => {
    const api = await fakeApi((req, res) => (req.url.pathname.endsWith("gone") ? json(res, 404, { detail: "Not found" }) : json(res, 204, undefined)));
    const { client } = clientFor(api);
    await client.cancelBid("bid_gone");
    await client.deleteVolume("vol_present");
    await client.deleteSshKey("sshkey_gone");
    assert.deepEqual(
      api.seen.map((s) => `${s.method} ${s.url.pathname}`),
      ["DELETE /v2/spot/bids/bid_gone", "DELETE /v2/volumes/vol_present", "DELETE /v2/ssh-keys/sshkey_gone"],
    );
  });

  it("an unreachable API is a NetworkError naming the host", async () => {
    const api = await fakeApi(() => {});
    const url = api.url;
    await api.close();
    const { client } = clientFor({ ...api, url }, { maxRetries: 2 });
    await assert.rejects(client.listProjects(), (e: unknown) => e instanceof NetworkError && e.message.includes(new URL(url).host) && /FLOW_API_URL/.test(e.describe()));
  });

  it("an API that never answers is a FlowTimeoutError", async () => {
    const api = await fakeApi(() => {}); // never responds
    const { client } = clientFor(api, { requestTimeoutMs: 150, maxRetries: 1 });
    await assert.rejects(client.listProjects(), (e: unknown) => e instanceof FlowTimeoutError && /listProjects/.test(e.message));
    assert.equal(api.seen.length, 2, "a timed-out GET is retried");
  });
});

describe("FcpClient retries", () => {
  it("429 waits out Retry-After, then succeeds; a POST is retried on 429 too", async () => {
    const api = await fakeApi(bidsApi((n) => (n === 1 ? "429" : "ok")));
    const { client, delays } = clientFor(api);
    const created = await client.createBid(createBidBody);
    assert.equal(created.name, createBidBody.name);
    assert.deepEqual(delays, [1000]);
    assert.deepEqual(api.seen.map((s) => s.method), ["POST", "POST"], "a 429 needs no lookup: nothing was created");
  });

  it("Retry-After as an HTTP date is honoured; one longer than a minute fails at once", async () => {
    let calls = 0;
    const api = await fakeApi((req, res) => {
      calls++;
      if (req.url.pathname === "/v2/projects" && calls === 1) return json(res, 429, {}, { "retry-after": new Date(Date.now() + 30_000).toUTCString() });
      if (req.url.pathname === "/v2/me") return json(res, 429, {}, { "retry-after": "3600" });
      json(res, 200, []);
    });
    const { client, delays } = clientFor(api);
    assert.deepEqual(await client.listProjects(), []);
    assert.equal(delays.length, 1);
    assert.ok(delays[0]! > 20_000 && delays[0]! <= 30_000, `waited ${delays[0]} ms`);
    await assert.rejects(client.me(), (e: unknown) => e instanceof RateLimitError && /3600s/.test(e.message));
  });

  it("a 503 storm is ridden out with capped, jittered backoff", async () => {
    let calls = 0;
    const api = await fakeApi((_req, res) => (++calls <= 4 ? json(res, 503, { detail: "overloaded" }) : json(res, 200, [])));
    const { client, delays } = clientFor(api, { initialRetryDelayMs: 100, maxRetryDelayMs: 250 });
    assert.deepEqual(await client.listSpotAvailability(), []);
    assert.equal(delays.length, 4);
    delays.forEach((d, i) => assert.ok(d >= 0 && d <= Math.min(250, 100 * 2 ** i), `retry ${i} waited ${d} ms`));
  });

  it("gives up after maxRetries with an APIError carrying the status and request ID", async () => {
    const api = await fakeApi((_req, res) => json(res, 502, { detail: "bad gateway" }));
    const { client } = clientFor(api, { maxRetries: 3 });
    const error = await client.listInstanceTypes().then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof APIError);
    assert.equal(error.statusCode, 502);
    assert.equal(error.requestId, api.seen[0]?.headers["x-request-id"]);
    assert.equal(api.seen.length, 4);
  });

  it("a GET whose connection is reset is retried", async () => {
    let calls = 0;
    const api = await fakeApi((_req, res) => (++calls === 1 ? "destroy" : json(res, 200, bid("bid_1", "a"))));
    const { client, delays } = clientFor(api);
    assert.equal((await client.getBid("bid_1")).fid, "bid_1");
    assert.equal(api.seen.length, 2);
    assert.equal(delays.length, 1);
  });

  it("a bid whose create response is lost is found by name, not placed twice", async () => {
    const api = await fakeApi(bidsApi(() => "create-then-drop"));
    const { client } = clientFor(api);
    const created = await client.createBid(createBidBody);
    assert.equal(created.fid, "bid_1");
    assert.equal(created.name, createBidBody.name);

    const posts = api.seen.filter((s) => s.method === "POST");
    assert.equal(posts.length, 1, "exactly one POST");
    const lookup = api.seen.find((s) => s.method === "GET");
    assert.equal(lookup?.url.searchParams.get("name"), createBidBody.name);
    assert.equal(lookup?.url.searchParams.get("project"), PROJECT);
    assert.equal(lookup?.headers["x-request-id"], posts[0]?.headers["x-request-id"], "the lookup belongs to the create");
    const all = await client.listBids({ project: PROJECT });
    assert.equal(all.length, 1, "exactly one bid exists");
  });

  it("a create that failed with a 5xx is posted again only after the lookup finds nothing", async () => {
    const api = await fakeApi(bidsApi((n) => (n === 1 ? "500" : "ok")));
    const { client } = clientFor(api);
    const created = await client.createBid(createBidBody);
    assert.equal(created.fid, "bid_1");
    assert.deepEqual(api.seen.map((s) => s.method), ["POST", "GET", "POST"]);
  });

  it("a lost create whose lookup fails too says the outcome is unknown instead of posting again", async () => {
    const api = await fakeApi((req, res) => (req.method === "POST" ? "destroy" : json(res, 403, { detail: "no" })));
    const { client } = clientFor(api);
    await assert.rejects(
      client.createSshKey({ project: PROJECT, name: "laptop", public_key: "ssh-ed25519 AAAA" }),
      (e: unknown) => e instanceof ProviderError && e.errorCode === "outcome_unknown" && /SSH key "laptop"/.test(e.describe()),
    );
    assert.deepEqual(api.seen.map((s) => s.method), ["POST", "GET"]);
  });

  it("out of retries, a create is still looked up once before failing", async () => {
    const api = await fakeApi((req, res) => (req.method === "POST" ? "destroy" : json(res, 200, [])));
    const { client } = clientFor(api, { maxRetries: 0 });
    await assert.rejects(
      client.createVolume({ name: "data", project: PROJECT, disk_interface: "Block", region: "us-central1-a", size_gb: 10 }),
      (e: unknown) => e instanceof NetworkError,
    );
    assert.deepEqual(api.seen.map((s) => `${s.method} ${s.url.pathname}${s.url.search}`), ["POST /v2/volumes", `GET /v2/volumes?project=${PROJECT}&region=us-central1-a`]);
  });

  it("backoff is full jitter under the cap and Retry-After accepts seconds or a date", () => {
    const policy = { initialRetryDelayMs: 500, maxRetryDelayMs: 20_000 };
    assert.equal(backoffDelayMs(0, { ...policy, random: () => 0.999 }), 499);
    assert.equal(backoffDelayMs(10, { ...policy, random: () => 0.5 }), 10_000);
    assert.equal(backoffDelayMs(3, { ...policy, random: () => 0 }), 0);
    assert.equal(parseRetryAfterMs("2"), 2000);
    assert.equal(parseRetryAfterMs("Wed, 21 Oct 2015 07:28:30 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")), 30_000);
    assert.equal(parseRetryAfterMs("soon"), undefined);
    assert.equal(parseRetryAfterMs(undefined), undefined);
  });
});

function reservation(fid: string, name: string, overrides: Partial<Reservation> = {}): Reservation {
  return {
    fid,
    name,
    project: PROJECT,
    created_by: "user_1",
    created_at: "2025-01-01T00:00:00Z",
    instance_quantity: 2,
    instance_type: "it_MsIRhxj3ccyVWGfP",
    region: "us-central1-a",
    instances: ["inst_1", "inst_2"],
    launch_specification: { volumes: [], ssh_keys: [] },
    status: "Pending",
    start_time: "2025-02-01T00:00:00Z",
    end_time: "2025-02-01T06:00:00Z",
    total_price: "$26.40",
    unit_price: "$2.20",
    ...overrides,
  };
}

const reservationRequest = {
  project: PROJECT,
  instance_type: "it_MsIRhxj3ccyVWGfP",
  region: "us-central1-a",
  start_time: new Date("2025-02-01T00:00:00Z"),
  end_time: "2025-02-01T06:00:00+00:00",
  instance_quantity: 2,
  name: "train-window",
  launch_specification: { volumes: [], ssh_keys: [] },
};

describe("FcpClient cloud operations", () => {
  const market = { project: PROJECT, instanceType: "it_MsIRhxj3ccyVWGfP", region: "us-central1-a" };

  it("asks availability in each mode with ISO times, and reads the spec's slot lists as well as the mode models", async () => {
    const answers: Record<string, unknown> = {
      slots: { data: [{ start_time: "2025-02-01T00:00:00Z", end_time: "2025-02-02T00:00:00Z", quantity: 3 }] },
      latest_end_time: { latest_end_time: "2025-02-08T00:00:00Z", available: true },
      check: { available: false },
    };
    const api = await fakeApi((req, res) => json(res, 200, answers[req.url.searchParams.get("mode") ?? ""]));
    const { client } = clientFor(api);
    const start = new Date("2025-02-01T00:00:00Z");
    const slots = await client.findReservationSlots({ ...market, earliestStartTime: start, latestEndTime: "2025-02-03T00:00:00Z" });
    assert.equal(slots[0]?.quantity, 3);
    assert.equal(await client.getReservationLatestEndTime({ ...market, startTime: start, quantity: 2 }), "2025-02-08T00:00:00Z");
    assert.equal(await client.checkReservationAvailability({ ...market, startTime: start, endTime: "2025-02-01T06:00:00Z", quantity: 2 }), false);

    const [slotsQuery, latestQuery, checkQuery] = api.seen.map((seen) => Object.fromEntries(seen.url.searchParams)) as [Record<string, string>, Record<string, string>, Record<string, string>];
    assert.deepEqual(slotsQuery, { ...marketQuery(), mode: "slots", earliest_start_time: "2025-02-01T00:00:00.000Z", latest_end_time: "2025-02-03T00:00:00Z" });
    assert.deepEqual(latestQuery, { ...marketQuery(), mode: "latest_end_time", start_time: "2025-02-01T00:00:00.000Z", quantity: "2" });
    assert.deepEqual(checkQuery, { ...marketQuery(), mode: "check", start_time: "2025-02-01T00:00:00.000Z", end_time: "2025-02-01T06:00:00Z", quantity: "2" });

    answers["latest_end_time"] = [];
    answers["check"] = [{ start_time: "2025-02-01T00:00:00Z", end_time: "2025-02-01T06:00:00Z", quantity: 2 }];
    assert.equal(await client.getReservationLatestEndTime({ ...market, startTime: start, quantity: 2 }), undefined);
    assert.equal(await client.checkReservationAvailability({ ...market, startTime: start, endTime: start, quantity: 2 }), true);
  });

  it("follows reservation pages with the filters, and instance history pages keyed `instances`", async () => {
    const api = await fakeApi((req, res) => {
      const cursor = req.url.searchParams.get("next_cursor");
      if (req.url.pathname === "/v2/reservation") {
        return json(res, 200, cursor === null ? { data: [reservation("res_1", "a")], next_cursor: "p2" } : { data: [reservation("res_2", "b")], next_cursor: null });
      }
      const history = (fid: string) => ({ instance_fid: fid, events: [{ price_cents: 220, start_time: "2025-02-01T00:00:00Z", end_time: null }], reservation_fid: "res_1" });
      json(res, 200, cursor === null ? { instances: [history("inst_1")], next_cursor: "h2" } : { instances: [history("inst_2")] });
    });
    const { client } = clientFor(api);
    assert.deepEqual((await client.listReservations({ project: PROJECT, status: "Active", region: "us-central1-a" })).map((r) => r.fid), ["res_1", "res_2"]);
    for (const seen of api.seen) {
      assert.equal(seen.url.searchParams.get("status"), "Active");
      assert.equal(seen.url.searchParams.get("limit"), "100");
    }
    const billed = await client.listInstancePricingHistory({ project: PROJECT, reservationFid: "res_1", startTime: new Date("2025-02-01T00:00:00Z") });
    assert.deepEqual(billed.map((h) => h.instance_fid), ["inst_1", "inst_2"]);
    const historyQueries = api.seen.slice(2).map((seen) => seen.url.searchParams);
    assert.deepEqual(historyQueries.map((q) => q.get("next_cursor")), [null, "h2"]);
    assert.equal(historyQueries[0]?.get("reservation_fid"), "res_1");
    assert.equal(historyQueries[0]?.get("start_time"), "2025-02-01T00:00:00.000Z");
  });

  it("a reservation whose create response is lost is found by name and terms, not reserved twice", async () => {
    const stored: Reservation[] = [reservation("res_old", "train-window", { start_time: "2025-01-01T00:00:00Z", end_time: "2025-01-01T06:00:00Z", status: "Ended" })];
    const api = await fakeApi((req, res) => {
      if (req.method === "GET") return json(res, 200, { data: stored });
      const body = req.body as { name: string; start_time: string; end_time: string };
      assert.equal(body.start_time, "2025-02-01T00:00:00.000Z", "a Date is sent as ISO");
      stored.push(reservation("res_new", body.name, { start_time: body.start_time, end_time: body.end_time }));
      return "destroy";
    });
    const { client } = clientFor(api);
    const created = await client.createReservation(reservationRequest);
    assert.equal(created.fid, "res_new", "the old reservation of the same name has other terms");
    assert.deepEqual(api.seen.map((seen) => seen.method), ["POST", "GET"]);
  });

  it("a lost extension counts once the reservation ends at or after the requested time", async () => {
    let endTime = "2025-02-01T06:00:00Z";
    const api = await fakeApi((req, res) => {
      if (req.method === "GET") return json(res, 200, { data: [reservation("res_1", "a", { end_time: endTime })] });
      endTime = (req.body as { end_time: string }).end_time;
      return "destroy";
    });
    const { client } = clientFor(api);
    const extended = await client.extendReservation(PROJECT, "res_1", { end_time: "2025-02-01T09:00:00Z" });
    assert.equal(extended.end_time, "2025-02-01T09:00:00Z");
    assert.deepEqual(api.seen.map((seen) => `${seen.method} ${seen.url.pathname}`), ["POST /v2/reservation/res_1/extend", "GET /v2/reservation"]);
  });

  it("terminating reservation instances: a 200 with any body means all, a 207 names what was terminated", async () => {
    let partial = false;
    const api = await fakeApi((req, res) => {
      const body = req.body as { instances: string[]; reduce_capacity: boolean };
      assert.equal(body.reduce_capacity, true);
      if (partial) return json(res, 207, { terminated_instances: body.instances.slice(1) });
      res.writeHead(200, { "content-type": "application/json" }).end("null");
    });
    const { client } = clientFor(api);
    assert.deepEqual(await client.terminateReservationInstances(PROJECT, "res_1", ["inst_1", "inst_2"]), { terminated: ["inst_1", "inst_2"], notTerminated: [] });
    partial = true;
    assert.deepEqual(await client.terminateReservationInstances(PROJECT, "res_1", ["inst_1", "inst_2"]), { terminated: ["inst_2"], notTerminated: ["inst_1"] });
    await assert.rejects(client.terminateReservationInstances(PROJECT, "res_1", ["inst_1", "inst_1"]), (e: unknown) => e instanceof ValidationError && /twice/.test(e.message));
    assert.equal(api.seen.length, 2);
  });

  it("409 on a PATCH suggests waiting for the resource, 501 says the API does not support it; neither is retried", async () => {
    const api = await fakeApi((req, res) =>
      (req.body as { instances: string[] }).instances[0] === "inst_booting"
        ? json(res, 409, { detail: "Instance inst_booting is still starting" })
        : json(res, 501, { detail: "Spot bids are not yet supported." }),
    );
    const { client } = clientFor(api);
    const busy = await client.setInstancesStatus(["inst_booting"], "STATUS_PAUSED").then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(busy instanceof ConflictError);
    assert.match(busy.describe(), /not in a state that allows this/);
    const spot = await client.setInstancesStatus(["inst_spot"], "STATUS_PAUSED").then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(spot instanceof APIError && spot.errorCode === "not_supported" && /Spot bids are not yet supported/.test(spot.message));
    assert.equal(api.seen.length, 2);
  });

  it("validates request bodies and times before sending", async () => {
    const api = await fakeApi((_req, res) => json(res, 500, {}));
    const { client } = clientFor(api);
    const refused = async (call: Promise<unknown>, path: string) => assert.rejects(call, (e: unknown) => e instanceof ValidationError && e.issues.some((issue) => issue.path === path));
    await refused(client.createReservation({ ...reservationRequest, start_time: "2025-02-01 00:00" }), "start_time");
    await refused(client.createReservation({ ...reservationRequest, start_time: new Date(Number.NaN) }), "start_time");
    await refused(client.createReservation({ ...reservationRequest, price_specification: { max_unit_price: -1 } }), "price_specification.max_unit_price");
    await refused(client.getReservationQuote({ ...market, startTime: "soon", endTime: "2025-02-01T06:00:00Z", quantity: 1 }), "startTime");
    await refused(client.updateVolume("vol_1", { name: "Has Spaces" }), "name");
    await assert.rejects(client.updateReservation("res_1", { paused: null }), (e: unknown) => e instanceof ValidationError && /nothing to change/.test(e.message));
    assert.equal(api.seen.length, 0);
  });

  it("reads ISO 8601 durations as the API writes them", () => {
    const table: [string, number | undefined][] = [
      ["PT3H", 3 * 3_600_000],
      ["P1DT2H30M", (26 * 60 + 30) * 60_000],
      ["PT0.5S", 500],
      ["PT0S", 0],
      ["P2W", 14 * 86_400_000],
      ["P1M", undefined],
      ["PT", undefined],
      ["3 hours", undefined],
    ];
    for (const [text, ms] of table) assert.equal(isoDurationMs(text), ms, text);
  });
});

function marketQuery(): Record<string, string> {
  return { project: PROJECT, instance_type: "it_MsIRhxj3ccyVWGfP", region: "us-central1-a" };
}
