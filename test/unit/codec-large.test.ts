// The fast paths for large plain values: plain JSON without superjson, arrays of numbers as float64
// bytes, big JSON text out of band. Each must give back exactly what was sent.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SerializationError } from "../../src/errors.ts";
import { PACK_MIN_LENGTH } from "../../src/runtime/codec-inspection.ts";
import { decode, encode, encodedKey } from "../../src/runtime/codec.ts";
import { assertSameGraph, overTheWire, roundTrip } from "./codec-graph.ts";

const numbers = (length: number, at: (i: number) => number = (i) => i) => Array.from({ length }, (_, i) => at(i));

describe("codec: plain JSON skips superjson", () => {
  test("a plain value is sent as it is, with no metadata", () => {
    const value = { a: [1, "two", null, true, { b: [] }], c: {}, "weird key": -1.5e-300 };
    const encoded = encode(value);
    assert.deepEqual(encoded.value, { json: value });
    assert.equal(encoded.blobs.length, 0);
    assertSameGraph(roundTrip(value), value);
  });

  const notPlain: Record<string, () => unknown> = {
    "-0": () => ({ x: -0 }),
    NaN: () => ({ x: Number.NaN }),
    Infinity: () => [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
    "an undefined property": () => ({ x: undefined }),
    "undefined in an array": () => [1, undefined, 3],
    "a hole in an array": () => [1, , 3], // eslint-disable-line no-sparse-arrays
    "a hole at the end": () => [1, , ], // eslint-disable-line no-sparse-arrays
    "holes and undefined side by side": () => [undefined, , undefined, , ], // eslint-disable-line no-sparse-arrays
    "an object sent twice": () => {
      const shared = { v: 1 };
      return [shared, { again: shared }];
    },
    "an array sent twice": () => {
      const shared = [1, 2];
      return { a: shared, b: shared };
    },
    "a cycle": () => {
      const self: Record<string, unknown> = { v: 1 };
      self.self = self;
      return self;
    },
  };
  for (const [name, make] of Object.entries(notPlain)) {
    test(`${name} is not plain JSON and arrives exactly`, () => {
      const value = make();
      assert.notEqual(encode(value).value.meta, undefined, "needs metadata");
      assertSameGraph(roundTrip(value), value);
    });
  }

  test("a null-prototype object is plain and arrives as a plain object", () => {
    const value = Object.assign(Object.create(null) as object, { k: [1] });
    const out = roundTrip({ bag: value });
    assert.equal(Object.getPrototypeOf(out.bag), Object.prototype);
    assert.deepEqual({ ...out.bag }, { k: [1] });
  });

  test("holes in big and nested arrays, in Sets and Maps, come back as holes", () => {
    const sparse: unknown[] = [];
    sparse[5_000] = "last";
    sparse[7] = { x: 1 };
    const value = { sparse, nested: [[1, , 2]], s: new Set([[, 1]]), m: new Map([[[, "k"], [, "v"]]]) }; // eslint-disable-line no-sparse-arrays
    assertSameGraph(roundTrip(value), value);
  });
});

describe("codec: arrays of numbers travel as float64 bytes", () => {
  test(`${PACK_MIN_LENGTH} numbers or more become one blob and a placeholder`, () => {
    const xs = numbers(PACK_MIN_LENGTH);
    const encoded = encode({ xs });
    assert.equal(encoded.blobs.length, 1);
    assert.equal(encoded.blobs[0]!.byteLength, PACK_MIN_LENGTH * 8);
    assert.ok(JSON.stringify(encoded.value).length < 200);
    const out = overTheWire(encoded) as { xs: number[] };
    assert.equal(Object.getPrototypeOf(out.xs), Array.prototype);
    assertSameGraph(out, { xs });
  });

  test("fewer numbers stay JSON", () => {
    const encoded = encode(numbers(PACK_MIN_LENGTH - 1));
    assert.equal(encoded.blobs.length, 0);
  });

  test("every number arrives exactly: -0, NaN, ±Infinity, subnormals, the largest and smallest", () => {
    const special = [-0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53 + 2, 0.1 + 0.2, -1];
    const xs = numbers(1_000, (i) => special[i % special.length]!);
    const encoded = encode(xs);
    assert.equal(encoded.blobs.length, 1);
    assertSameGraph(overTheWire(encoded), xs);
  });

  test("an array with a hole, undefined, a string or a bigint among its numbers is not packed, and arrives exactly", () => {
    for (const odd of [undefined, "7", 7n, null]) {
      const xs: unknown[] = numbers(PACK_MIN_LENGTH * 2);
      xs[PACK_MIN_LENGTH] = odd;
      assert.equal(encode(xs).blobs.length, 0, String(odd));
      assertSameGraph(roundTrip(xs), xs);
    }
    const holey: unknown[] = numbers(PACK_MIN_LENGTH * 2);
    delete holey[3];
    assert.equal(encode(holey).blobs.length, 0);
    assertSameGraph(roundTrip(holey), holey);
  });

  test("packed arrays nested in Maps, Sets and objects, and one sent twice, arrive as one", () => {
    const row = numbers(PACK_MIN_LENGTH, (i) => i / 3);
    const value = { matrix: [row, numbers(PACK_MIN_LENGTH)], m: new Map([["row", row]]), s: new Set([row]), when: new Date(0) };
    const encoded = encode(value);
    assert.equal(encoded.blobs.length, 2, "the shared row is sent once");
    assertSameGraph(overTheWire(encoded), value);
  });

  test("a packed array's blob not aligned to 8 bytes is copied, values intact", () => {
    const xs = numbers(PACK_MIN_LENGTH, (i) => i + 0.5);
    const { value, blobs } = encode(xs);
    const misaligned = new Uint8Array(blobs[0]!.byteLength + 1).subarray(1);
    misaligned.set(blobs[0]!);
    assertSameGraph(decode(value, [misaligned]), xs);
  });

  test("a blob whose length is not a whole number of float64s is a SerializationError", () => {
    const { value } = encode(numbers(PACK_MIN_LENGTH));
    assert.throws(() => decode(value, [new Uint8Array(13)]), /Blob 0 \(13 bytes\) cannot be a Float64Array/);
  });

  test("5 million numbers encode in one pass to one blob of 40 MB and a few bytes of JSON", () => {
    const xs = numbers(5_000_000);
    const encoded = encode([xs], "args");
    assert.equal(encoded.blobs.length, 1);
    assert.equal(encoded.blobs[0]!.byteLength, 40_000_000);
    assert.ok(JSON.stringify(encoded.value).length < 200);
    const [out] = overTheWire(encoded) as [number[]];
    assert.equal(out.length, 5_000_000);
    assert.equal(out[4_999_999], 4_999_999);
  });
});

describe("codec: big JSON travels as a blob of text", () => {
  const rows = (count: number) => Array.from({ length: count }, (_, i) => ({ id: i, name: `row ${i}`, tags: ["a", "b"] }));

  test("a big plain value becomes one blob of its JSON text", () => {
    const value = rows(20_000);
    const encoded = encode(value);
    assert.deepEqual(encoded.value.json, { i: 0, t: "json" });
    assert.equal(encoded.blobs.length, 1);
    assert.deepEqual(JSON.parse(Buffer.from(encoded.blobs[0]!).toString()), { json: value });
    assertSameGraph(overTheWire(encoded), value);
  });

  test("a big value that needs superjson keeps its types, sharing and binary parts", () => {
    const shared = { shared: true };
    const value = { rows: rows(20_000), when: new Date(1), shared, again: [shared], s: new Set([shared]), bytes: new Uint8Array([1, 2]), xs: numbers(PACK_MIN_LENGTH) };
    const encoded = encode(value);
    assert.deepEqual(encoded.value.json, { i: 2, t: "json" }, "after the blobs of the value itself");
    assert.equal(encoded.blobs.length, 3);
    assertSameGraph(overTheWire(encoded), value);
  });

  test("the JSON text is a snapshot: changing the value after encoding does not change what arrives", () => {
    const value = rows(20_000);
    const encoded = encode(value);
    value[0]!.name = "changed";
    assert.equal((overTheWire(encoded) as typeof value)[0]!.name, "row 0");
  });

  const textBlob = (text: string | Uint8Array) => [typeof text === "string" ? new TextEncoder().encode(text) : text];
  const placeholder = { json: { i: 0, t: "json" }, meta: { values: [["custom", "blob"]], v: 1 } };
  const broken: Record<string, Uint8Array[]> = {
    "malformed JSON text": textBlob('{"json": [1, 2'),
    "text that is not UTF-8": textBlob(new Uint8Array([0x7b, 0xff, 0x7d])),
    "JSON that is not an encoded value": textBlob("[1, 2]"),
    "JSON text inside JSON text": textBlob(JSON.stringify(placeholder)),
  };
  for (const [name, blobs] of Object.entries(broken)) {
    test(`${name} is a SerializationError`, () => {
      assert.throws(() => decode(placeholder, blobs), SerializationError);
    });
  }
});

describe("codec: encodedKey", () => {
  const key = (value: unknown) => {
    const { value: encoded, blobs } = encode(value);
    return encodedKey(encoded, blobs);
  };

  test("tells apart values whose JSON is the same placeholder", () => {
    assert.notEqual(key(numbers(PACK_MIN_LENGTH, () => 1)), key(numbers(PACK_MIN_LENGTH, () => 2)));
    assert.notEqual(key([new Float32Array([1])]), key([new Float32Array([2])]));
    assert.notEqual(key([new Uint8Array([1, 2]), new Uint8Array([3])]), key([new Uint8Array([1]), new Uint8Array([2, 3])]));
    assert.notEqual(key("x".repeat(300_000)), key("y".repeat(300_000)));
  });

  test("is the same for equal values", () => {
    assert.equal(key({ a: [1, 2], w: new Float32Array([1]) }), key({ a: [1, 2], w: new Float32Array([1]) }));
    assert.equal(encodedKey(undefined, []), encodedKey(undefined, []));
  });
});
