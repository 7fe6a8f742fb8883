import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProviderError, ResourceNotFoundError, ValidationError } from "../../src/errors.ts";
import {
  AuctionModelSchema,
  InstanceCatalog,
  InstanceTypeError,
  InstanceTypeModelSchema,
  SEED_AUCTIONS,
  SEED_INSTANCE_TYPES,
  catalogEntryFromApi,
  catalogFromApi,
  parseDollars,
  parseInstanceType,
  seedCatalog,
  tryParseInstanceType,
  type AuctionModel,
  type InstanceTypeModel,
  type InstanceTypeSpec,
} from "../../src/instance-types/index.ts";

describe("parseInstanceType: accepted formats", () => {
  const rows: { input: string; expect: InstanceTypeSpec }[] = [
    { input: "a100", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 1, canonical: "1xa100" } },
    // The seed's table maps plain "h100" to the 8x node.
    { input: "h100", expect: { kind: "gpu", gpuModel: "h100", gpuCount: 8, canonical: "8xh100" } },
    { input: "1xa100", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 1, canonical: "1xa100" } },
    { input: "2xa100", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 2, canonical: "2xa100" } },
    { input: "4xa100", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 4, canonical: "4xa100" } },
    { input: "8xa100", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 8, canonical: "8xa100" } },
    { input: "8xh100", expect: { kind: "gpu", gpuModel: "h100", gpuCount: 8, canonical: "8xh100" } },
    { input: "1xh100", expect: { kind: "gpu", gpuModel: "h100", gpuCount: 1, canonical: "1xh100" } },
    { input: "a100:4", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 4, canonical: "4xa100" } },
    { input: "a100-80gb.sxm.1x", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 1, gpuMemoryGb: 80, interconnect: "sxm", canonical: "a100-80gb.sxm.1x" } },
    { input: "a100-80gb.sxm.2x", expect: { kind: "gpu", gpuModel: "a100", gpuCount: 2, gpuMemoryGb: 80, interconnect: "sxm", canonical: "a100-80gb.sxm.2x" } },
    { input: "h100-80gb.pcie.1x", expect: { kind: "gpu", gpuModel: "h100", gpuCount: 1, gpuMemoryGb: 80, interconnect: "pcie", canonical: "h100-80gb.pcie.1x" } },
    { input: "h100-80gb.sxm.8x", expect: { kind: "gpu", gpuModel: "h100", gpuCount: 8, gpuMemoryGb: 80, interconnect: "sxm", canonical: "h100-80gb.sxm.8x" } },
    // Full names are copied from the live listing, so models newer than KNOWN_GPU_MODELS pass.
    { input: "gh200-96gb.sxm.1x", expect: { kind: "gpu", gpuModel: "gh200", gpuCount: 1, gpuMemoryGb: 96, interconnect: "sxm", canonical: "gh200-96gb.sxm.1x" } },
    // The OpenAPI spec's InstanceTypeModel example name.
    { input: "h100.80gb.sxm", expect: { kind: "gpu", gpuModel: "h100", gpuCount: 8, gpuMemoryGb: 80, interconnect: "sxm", canonical: "h100.80gb.sxm" } },
    { input: "it_MsIRhxj3ccyVWGfP", expect: { kind: "fid", fid: "it_MsIRhxj3ccyVWGfP", canonical: "it_MsIRhxj3ccyVWGfP" } },
    { input: "it_abc123456", expect: { kind: "fid", fid: "it_abc123456", canonical: "it_abc123456" } },
  ];
  for (const row of rows) {
    test(row.input, () => assert.deepEqual(parseInstanceType(row.input), row.expect));
  }
});

describe("parseInstanceType: rejected formats", () => {
  const rows: { input: string; reason: RegExp; suggestion: string }[] = [
    { input: "a100x8", reason: /count goes first/, suggestion: '"8xa100"' },
    { input: "a100*8", reason: /count goes first/, suggestion: '"8xa100"' },
    { input: "a100 x 8", reason: /count goes first/, suggestion: '"8xa100"' },
    { input: "a100-80gb", reason: /incomplete/, suggestion: '"a100-80gb.sxm.1x"' },
    { input: "h100-80gb", reason: /incomplete/, suggestion: '"h100-80gb.sxm.8x"' },
    { input: "a100-80gb.pcie", reason: /incomplete/, suggestion: '"a100-80gb.pcie.1x"' },
    { input: "gpu.nvidia.a100", reason: /vendor prefix/, suggestion: '"a100"' },
    { input: "nvidia-a100", reason: /vendor prefix/, suggestion: '"a100"' },
    { input: "A100", reason: /lowercase/, suggestion: '"a100"' },
    { input: "H100", reason: /lowercase/, suggestion: '"h100"' },
    { input: "2XA100", reason: /lowercase/, suggestion: '"2xa100"' },
    { input: "NVIDIA-A100x8", reason: /lowercase; .*vendor prefix; .*count goes first/, suggestion: '"8xa100"' },
    { input: " a100", reason: /whitespace/, suggestion: '"a100"' },
    { input: "b200x", reason: /unknown GPU model "b200x"/, suggestion: 'did you mean "b200"? known models: a100, h100, h200, b200' },
    { input: "v100", reason: /unknown GPU model "v100"/, suggestion: "known models: a100, h100, h200, b200" },
    { input: "3xa100", reason: /1, 2, 4 or 8 \(got 3\)/, suggestion: '"4xa100"' },
    { input: "0xa100", reason: /1, 2, 4 or 8 \(got 0\)/, suggestion: '"1xa100"' },
    { input: "a100:3", reason: /1, 2, 4 or 8/, suggestion: '"4xa100"' },
    { input: "a100:16", reason: /1, 2, 4 or 8 \(got 16\)/, suggestion: '"8xa100" with numInstances: 2' },
    { input: "a100-80gb.sxm.3x", reason: /1, 2, 4 or 8/, suggestion: '"a100-80gb.sxm.4x"' },
    { input: "", reason: /empty/, suggestion: '"a100"' },
    { input: "big gpu please", reason: /not a recognized instance type format/, suggestion: '"a100-80gb.sxm.1x"' },
  ];
  for (const row of rows) {
    test(JSON.stringify(row.input), () => {
      const result = tryParseInstanceType(row.input);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.match(result.reason, row.reason);
      assert.ok(result.suggestion?.includes(row.suggestion), `suggestion ${JSON.stringify(result.suggestion)} lacks ${row.suggestion}`);
    });
  }

  test("parseInstanceType throws an InstanceTypeError, a ValidationError with one issue", () => {
    assert.throws(
      () => parseInstanceType("A100"),
      (error: unknown) => {
        assert.ok(error instanceof InstanceTypeError);
        assert.ok(error instanceof ValidationError);
        assert.equal(error.input, "A100");
        assert.equal(error.message, 'Invalid instance type "A100": instance types are lowercase; did you mean "a100"?');
        assert.deepEqual(error.issues, [{ path: "instanceType", message: "instance types are lowercase", suggestion: 'did you mean "a100"?' }]);
        return true;
      },
    );
  });
});

describe("InstanceCatalog.find: the seed's resolution table", () => {
  const catalog = seedCatalog();
  const rows: { query: string; fid: string }[] = [
    { query: "a100", fid: "it_MsIRhxj3ccyVWGfP" },
    { query: "1xa100", fid: "it_MsIRhxj3ccyVWGfP" },
    { query: "2xa100", fid: "it_5M6aGxGovNeX5ltT" },
    { query: "4xa100", fid: "it_fK7Cx6TVhOK5ZfXT" },
    { query: "8xa100", fid: "it_J7OyNf9idfImLIFo" },
    { query: "a100-80gb.sxm.1x", fid: "it_MsIRhxj3ccyVWGfP" },
    { query: "h100", fid: "it_5ECSoHQjLBzrp5YM" },
    { query: "8xh100", fid: "it_5ECSoHQjLBzrp5YM" },
    { query: "h100-80gb.pcie.1x", fid: "it_XqgKWbhZ5gznAYsG" },
    { query: "a100:2", fid: "it_5M6aGxGovNeX5ltT" },
    { query: "1xh100", fid: "it_XqgKWbhZ5gznAYsG" },
    { query: "it_J7OyNf9idfImLIFo", fid: "it_J7OyNf9idfImLIFo" },
  ];
  for (const row of rows) {
    test(`${row.query} → ${row.fid}`, () => assert.equal(catalog.find(row.query)?.fid, row.fid));
  }

  test("finds by spec as well as by string", () => {
    assert.equal(catalog.find(parseInstanceType("4xa100"))?.name, "a100-80gb.sxm.4x");
  });

  test("several regions: the cheapest, or the one asked for", () => {
    assert.deepEqual(pick(catalog.find("a100")), { region: "us-central1-a", pricePerHour: 1.8 });
    assert.deepEqual(pick(catalog.find("a100", { region: "us-central1-b" })), { region: "us-central1-b", pricePerHour: 2 });
  });

  test("well-formed but not offered → undefined; resolve lists what is", () => {
    assert.equal(catalog.find("2xh100"), undefined);
    assert.equal(catalog.find("h100", { region: "us-central1-a" }), undefined);
    assert.throws(
      () => catalog.resolve("2xh100"),
      (error: unknown) => {
        assert.ok(error instanceof ResourceNotFoundError);
        assert.equal(error.message, 'Instance type "2xh100" is not offered');
        assert.deepEqual(error.suggestions, ["offered: 1xh100 (h100-80gb.pcie.1x), 8xh100 (h100-80gb.sxm.8x)"]);
        return true;
      },
    );
    assert.throws(() => catalog.resolve("h200"), { message: 'Instance type "h200" is not offered' });
  });

  test("a malformed name throws InstanceTypeError", () => {
    assert.throws(() => catalog.find("a100x8"), InstanceTypeError);
  });

  test("a bare model prefers SXM and the larger memory", () => {
    const base = { cpus: 8, ramGb: 64, gpuModel: "a100", gpuCount: 1 };
    const mixed = new InstanceCatalog([
      { ...base, fid: "it_pcie80", name: "a100-80gb.pcie.1x", gpuMemoryGb: 80, interconnect: "pcie", pricePerHour: 1 },
      { ...base, fid: "it_sxm40", name: "a100-40gb.sxm.1x", gpuMemoryGb: 40, interconnect: "sxm", pricePerHour: 1 },
      { ...base, fid: "it_sxm80", name: "a100-80gb.sxm.1x", gpuMemoryGb: 80, interconnect: "sxm", pricePerHour: 3 },
    ]);
    assert.equal(mixed.find("a100")?.fid, "it_sxm80");
    assert.equal(mixed.find("a100-40gb.sxm.1x")?.fid, "it_sxm40");
    assert.equal(mixed.find("a100-80gb.pcie.1x")?.fid, "it_pcie80");
  });
});

describe("InstanceCatalog.search", () => {
  const catalog = seedCatalog();
  const rows: { name: string; criteria: Parameters<InstanceCatalog["search"]>[0]; expect: string[] }[] = [
    { name: "under $5, cheapest first", criteria: { minGpuMemoryGb: 80, maxPricePerHour: 5 }, expect: ["a100-80gb.sxm.1x@us-central1-a", "a100-80gb.sxm.1x@us-central1-b", "a100-80gb.sxm.2x@us-central1-b"] },
    { name: "8 GPUs", criteria: { gpuCount: 8 }, expect: ["a100-80gb.sxm.8x@us-central1-b", "h100-80gb.sxm.8x@us-central1-b"] },
    { name: "at least 4 GPUs in us-central1-b", criteria: { minGpuCount: 4, region: "us-central1-b" }, expect: ["a100-80gb.sxm.4x@us-central1-b", "a100-80gb.sxm.8x@us-central1-b", "h100-80gb.sxm.8x@us-central1-b"] },
    { name: "h100 only", criteria: { gpuModel: "h100" }, expect: ["h100-80gb.pcie.1x@us-central1-a", "h100-80gb.sxm.8x@us-central1-b"] },
    { name: "more memory than any GPU has", criteria: { minGpuMemoryGb: 141 }, expect: [] },
    { name: "a price nobody meets", criteria: { maxPricePerHour: 1 }, expect: [] },
  ];
  for (const row of rows) {
    test(row.name, () => assert.deepEqual(catalog.search(row.criteria).map((e) => `${e.name}@${e.region ?? "-"}`), row.expect));
  }

  test("unpriced entries sort last and drop out under a price cap", () => {
    const base = { cpus: 8, ramGb: 64, gpuModel: "a100", gpuCount: 1, gpuMemoryGb: 80 };
    const c = new InstanceCatalog([
      { ...base, fid: "it_a", name: "unpriced" },
      { ...base, fid: "it_b", name: "priced", region: "r", pricePerHour: 3 },
    ]);
    assert.deepEqual(c.search({}).map((e) => e.name), ["priced", "unpriced"]);
    assert.deepEqual(c.search({ maxPricePerHour: 10 }).map((e) => e.name), ["priced"]);
  });
});

describe("catalog from the API's shapes", () => {
  // The OpenAPI spec's own examples.
  const specType: InstanceTypeModel = InstanceTypeModelSchema.parse({
    fid: "it_abc123456",
    name: "h100.80gb.sxm",
    num_cpus: 192,
    cpu_type: "Intel",
    ram_gb: 1800,
    num_gpus: 8,
    gpu_type: "H100",
    gpu_memory_gb: 80,
    gpu_socket: "SXM5",
    local_storage_gb: 7800,
    network_type: "InfiniBand",
    ib_count: 8,
    bridge_count: 4,
    a_field_from_a_newer_api: true,
  });
  const specAuction: AuctionModel = AuctionModelSchema.parse({
    fid: "auc_abc123456",
    instance_type: "it_abc123456",
    region: "us-central1-a",
    capacity: 512,
    last_instance_price: "$10.00",
    lowest_allocated_price: "$15.00",
    adjustable_memory: false,
    default_image_version: "imgver_abc123456",
  });

  test("catalogEntryFromApi maps the spec's fields", () => {
    assert.deepEqual(catalogEntryFromApi(specType, specAuction), {
      fid: "it_abc123456",
      name: "h100.80gb.sxm",
      gpuModel: "h100",
      gpuCount: 8,
      gpuMemoryGb: 80,
      interconnect: "sxm",
      cpus: 192,
      ramGb: 1800,
      region: "us-central1-a",
      capacity: 512,
      pricePerHour: 10,
    });
    assert.deepEqual(catalogEntryFromApi(specType).region, undefined);
  });

  test("an auction for another type is refused", () => {
    assert.throws(() => catalogEntryFromApi(SEED_INSTANCE_TYPES[0]!, specAuction), ProviderError);
  });

  const gpuTypes: { gpuType: string; name: string; model: string }[] = [
    { gpuType: "NVIDIA A100", name: "a100-80gb.sxm.1x", model: "a100" },
    { gpuType: "H100", name: "h100.80gb.sxm", model: "h100" },
    { gpuType: "NVIDIA H100 80GB HBM3", name: "x", model: "h100" },
    { gpuType: "", name: "l40s-48gb.pcie.1x", model: "l40s" },
  ];
  for (const row of gpuTypes) {
    test(`gpu_type ${JSON.stringify(row.gpuType)} → ${row.model}`, () => {
      assert.equal(catalogEntryFromApi({ ...specType, gpu_type: row.gpuType, name: row.name }).gpuModel, row.model);
    });
  }

  test("catalogFromApi: one entry per auction, region-less for the rest, unknown types skipped", () => {
    const catalog = catalogFromApi([specType, SEED_INSTANCE_TYPES[0]!], [specAuction, { ...specAuction, fid: "auc_x", instance_type: "it_gone" }]);
    assert.deepEqual(
      catalog.entries.map((e) => [e.fid, e.region]),
      [
        ["it_abc123456", "us-central1-a"],
        ["it_MsIRhxj3ccyVWGfP", undefined],
      ],
    );
    assert.equal(catalog.find("h100.80gb.sxm")?.fid, "it_abc123456");
  });

  test("the seed fixture validates against the spec's schemas", () => {
    for (const t of SEED_INSTANCE_TYPES) InstanceTypeModelSchema.parse(t);
    for (const a of SEED_AUCTIONS) AuctionModelSchema.parse(a);
  });

  const prices: { text: string; value?: number }[] = [
    { text: "$10.00", value: 10 },
    { text: "$1,234.50", value: 1234.5 },
    { text: "2.5", value: 2.5 },
    { text: "" },
    { text: "ten dollars" },
  ];
  for (const row of prices) {
    test(`parseDollars(${JSON.stringify(row.text)})`, () => {
      if (row.value === undefined) assert.throws(() => parseDollars(row.text), ProviderError);
      else assert.equal(parseDollars(row.text), row.value);
    });
  }
});

function pick(entry: { region?: string; pricePerHour?: number } | undefined) {
  return { region: entry?.region, pricePerHour: entry?.pricePerHour };
}
