import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decode, encode, registerClass, type Encoded } from "../../src/runtime/codec.ts";
import { SerializationError } from "../../src/errors.ts";

/** What the wire does: the JSON goes through text, each blob arrives in its own fresh buffer. */
function overTheWire(encoded: Encoded): unknown {
  return decode(JSON.parse(JSON.stringify(encoded.value)), encoded.blobs.map((blob) => new Uint8Array(blob)));
}

function roundTrip<T>(value: T): T {
  return overTheWire(encode(value)) as T;
}

function bytesOf(v: ArrayBufferView | ArrayBuffer): number[] {
  return ArrayBuffer.isView(v) ? [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)] : [...new Uint8Array(v)];
}

function rejects(value: unknown, rootPath: string, path: string, message: RegExp): void {
  assert.throws(
    () => encode(value, rootPath),
    (error: unknown) => {
      assert.ok(error instanceof SerializationError, `expected a SerializationError, got ${String(error)}`);
      assert.equal(error.path, path);
      assert.match(error.message, message);
      assert.ok(error.message.startsWith(`Cannot send ${path}: `), error.message);
      return true;
    },
  );
}

const TYPED_ARRAYS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

describe("codec: structure", () => {
  test("superjson types round-trip", () => {
    const value = {
      date: new Date("2024-05-06T07:08:09.010Z"),
      map: new Map<unknown, unknown>([["a", 1], [2, { b: [1, 2] }]]),
      set: new Set(["x", 3]),
      big: 12345678901234567890n,
      undef: undefined,
      regexp: /ab+c/gi,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      negZero: -0,
      url: new URL("https://example.com/a?b=1"),
      nested: [[1, [2, [3]]], { deep: { deeper: "yes" } }],
    };
    const out = roundTrip(value);
    assert.deepEqual(out, value);
    assert.ok(Object.hasOwn(out, "undef"));
    assert.ok(Object.is(out.negZero, -0));
    assert.equal(out.regexp.flags, "gi");
    assert.ok(out.url instanceof URL);
  });

  test("a null-prototype object is accepted and arrives as a plain object", () => {
    const out = roundTrip({ bag: Object.assign(Object.create(null) as object, { k: "v" }) });
    assert.equal(Object.getPrototypeOf(out.bag), Object.prototype);
    assert.deepEqual({ ...out.bag }, { k: "v" });
  });

  test("an Error nested in data keeps its name, message and cause", () => {
    const error = new TypeError("bad input", { cause: new Error("root") });
    const out = roundTrip({ error });
    assert.ok(out.error instanceof Error);
    assert.equal(out.error.name, "TypeError");
    assert.equal(out.error.message, "bad input");
    assert.equal((out.error.cause as Error).message, "root");
  });

  test("top-level primitives and binary values round-trip", () => {
    assert.equal(roundTrip(42), 42);
    assert.equal(roundTrip("s"), "s");
    assert.equal(roundTrip(null), null);
    assert.equal(roundTrip(undefined), undefined);
    assert.deepEqual(roundTrip(new Float32Array([1.5, -2])), new Float32Array([1.5, -2]));
  });
});

describe("codec: binary data goes out of band", () => {
  for (const View of TYPED_ARRAYS) {
    test(`${View.name}: a subarray view at an odd offset keeps its type and bytes`, () => {
      const backing = new View(9);
      for (let i = 0; i < backing.length; i++) {
        (backing as unknown as { [i: number]: number | bigint })[i] = typeof backing[0] === "bigint" ? BigInt(i * 7 + 1) : i * 7 + 1;
      }
      const view = backing.subarray(1, 8); // byteOffset = one element, odd element index
      const encoded = encode({ view });
      assert.equal(encoded.blobs.length, 1);
      const blob = encoded.blobs[0]!;
      // A view of the same memory, exactly the value's bytes: no copy on encode.
      assert.equal(blob.buffer, backing.buffer);
      assert.equal(blob.byteOffset, view.byteOffset);
      assert.equal(blob.byteLength, view.byteLength);
      const out = (overTheWire(encoded) as { view: typeof view }).view;
      assert.equal(Object.getPrototypeOf(out), View.prototype);
      assert.equal(out.length, 7);
      assert.deepEqual(bytesOf(out), bytesOf(view));
      assert.deepEqual([...out], [...view]);
    });
  }

  test("Buffer stays a Buffer", () => {
    const buffer = Buffer.from("xxhello worldyy").subarray(2, 13);
    const encoded = encode(buffer);
    assert.equal(encoded.blobs[0]!.buffer, buffer.buffer);
    assert.equal(encoded.blobs[0]!.byteOffset, buffer.byteOffset);
    const out = overTheWire(encoded) as Buffer;
    assert.ok(Buffer.isBuffer(out));
    assert.equal(out.toString(), "hello world");
  });

  test("ArrayBuffer stays an ArrayBuffer of exactly its bytes", () => {
    const ab = new Uint8Array([1, 2, 3, 250]).buffer;
    const out = roundTrip({ ab }).ab;
    assert.equal(Object.getPrototypeOf(out), ArrayBuffer.prototype);
    assert.deepEqual([...new Uint8Array(out)], [1, 2, 3, 250]);
    // A blob that is part of a larger buffer is copied out.
    const { value } = encode(ab);
    const wide = new Uint8Array([9, 1, 2, 3, 250, 9]);
    const fromPart = decode(value, [wide.subarray(1, 5)]) as ArrayBuffer;
    assert.equal(fromPart.byteLength, 4);
    assert.deepEqual([...new Uint8Array(fromPart)], [1, 2, 3, 250]);
  });

  test("DataView stays a DataView over the same bytes", () => {
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const dv = new DataView(backing.buffer, 3, 5);
    const out = roundTrip(dv);
    assert.equal(Object.getPrototypeOf(out), DataView.prototype);
    assert.equal(out.byteLength, 5);
    assert.deepEqual(bytesOf(out), [3, 4, 5, 6, 7]);
  });

  test("a blob not aligned for its element size is copied, values intact", () => {
    const source = new Float64Array([1.25, -3.5, 1e300]);
    const { value } = encode(source);
    const misaligned = new Uint8Array(source.byteLength + 1).subarray(1);
    misaligned.set(new Uint8Array(source.buffer));
    assert.equal(misaligned.byteOffset, 1);
    const out = decode(value, [misaligned]) as Float64Array;
    assert.equal(Object.getPrototypeOf(out), Float64Array.prototype);
    assert.deepEqual([...out], [1.25, -3.5, 1e300]);
  });

  test("an aligned blob is used in place", () => {
    const { value } = encode(new Int32Array([7, 8]));
    const blob = new Uint8Array(new Int32Array([7, 8]).buffer);
    const out = decode(value, [blob]) as Int32Array;
    assert.equal(out.buffer, blob.buffer);
  });

  test("a 1e6-element Float32Array encodes as a tiny JSON placeholder and one blob", () => {
    const big = new Float32Array(1_000_000);
    big[999_999] = 0.5;
    const encoded = encode([big], "args");
    const text = JSON.stringify(encoded.value);
    assert.ok(text.length < 1024, `JSON is ${text.length} characters`);
    assert.equal(encoded.blobs.length, 1);
    assert.equal(encoded.blobs[0]!.byteLength, 4_000_000);
    const [out] = overTheWire(encoded) as [Float32Array];
    assert.equal(out.length, 1_000_000);
    assert.equal(out[999_999], 0.5);
  });

  test("nested structures mixing Maps, Sets, arrays and binary values", () => {
    const weights = new Map<string, Float32Array>([
      ["w1", new Float32Array([1, 2, 3])],
      ["w2", new Float32Array([4, 5])],
    ]);
    const value = {
      layers: [{ name: "dense", weights, bias: new Float64Array([0.1]) }],
      tags: new Set([new Int8Array([-1, 1]), "plain"]),
      raw: new Map([[1, { bytes: Buffer.from([1, 2]), view: new DataView(new ArrayBuffer(2)) }]]),
      when: new Date(0),
    };
    const encoded = encode(value);
    assert.equal(encoded.blobs.length, 6);
    const out = overTheWire(encoded) as typeof value;
    assert.deepEqual(out, value);
    assert.ok(out.layers[0]!.weights.get("w1") instanceof Float32Array);
    assert.ok(Buffer.isBuffer(out.raw.get(1)!.bytes));
  });

  test("the same array referenced twice is sent once and arrives as one object", () => {
    const shared = new Float32Array([1, 2, 3]);
    const encoded = encode({ a: shared, b: [shared] });
    assert.equal(encoded.blobs.length, 1);
    const out = overTheWire(encoded) as { a: Float32Array; b: Float32Array[] };
    assert.equal(out.a, out.b[0]);
    assert.deepEqual([...out.a], [1, 2, 3]);
  });

  test("encoding inside encoding (from a getter) keeps each call's blobs apart", () => {
    let inner: Encoded | undefined;
    const value = {
      first: new Uint8Array([1]),
      get middle() {
        inner = encode(new Uint8Array([42, 43]));
        return new Uint8Array([2]);
      },
      last: new Uint8Array([3]),
    };
    const encoded = encode(value);
    assert.deepEqual(
      encoded.blobs.map((b) => [...b]),
      [[1], [2], [3]],
    );
    assert.deepEqual(inner!.blobs.map((b) => [...b]), [[42, 43]]);
    const out = overTheWire(encoded) as { first: Uint8Array; middle: Uint8Array; last: Uint8Array };
    assert.deepEqual([out.first[0], out.middle[0], out.last[0]], [1, 2, 3]);
  });
});

describe("codec: rejections name the path", () => {
  test("functions", () => {
    rejects([{ model: { forward() {} } }], "args", "args[0].model.forward", /it is a function \(forward\)\. Functions cannot be sent to a remote function; pass data and rebuild it remotely\./);
    rejects({ items: [1, 2, 3, () => 0] }, "value", "value.items[3]", /function/);
    rejects([1, { "weird key": Math.max }], "args", 'args[1]["weird key"]', /function \(max\)/);
    rejects(() => 0, "result", "result", /function/);
  });

  test("symbols as values", () => {
    rejects({ kind: Symbol("k") }, "result", "result.kind", /it is a symbol\. Symbols cannot be sent; use a string instead\./);
  });

  test("inside Maps and Sets", () => {
    rejects([new Map([["k", { fn: () => 0 }]])], "args", 'args[0].get("k").fn', /function/);
    rejects([new Map<unknown, unknown>([[1, 0], [2n, () => 0]])], "args", "args[0].get(2n)", /function/);
    rejects([new Map<unknown, unknown>([["a", 1], [{ id: 1 }, () => 0]])], "args", "[...args[0].values()][1]", /function/);
    rejects([new Map([[() => 0, 1]])], "args", "[...args[0].keys()][0]", /function/);
    rejects({ s: new Set([1, Symbol.iterator]) }, "value", "[...value.s][1]", /symbol/);
  });

  test("unregistered class instances name the class and the fix", () => {
    class Tokenizer {
      vocab = ["a"];
    }
    rejects(
      [{ tok: new Tokenizer() }],
      "args",
      "args[0].tok",
      /it is an instance of class Tokenizer, which cannot be sent\. Call registerClass\(Tokenizer\) on both sides \(your code and the remote\), or pass a plain object instead\./,
    );
    rejects({ o: Object.create({ inherited: 1 }) }, "value", "value.o", /an object with a custom prototype.*Pass a plain object instead/);
  });

  test("WeakMap, WeakSet and Promise", () => {
    rejects([new WeakMap()], "args", "args[0]", /it is a WeakMap, whose entries cannot be listed\. Use a Map instead\./);
    rejects({ seen: new WeakSet() }, "value", "value.seen", /it is a WeakSet.*Use a Set instead\./);
    rejects({ later: Promise.resolve(1) }, "result", "result.later", /it is a Promise\. Await it before the call/);
  });

  test("keys superjson refuses", () => {
    rejects({ a: JSON.parse('{"__proto__": 1}') }, "value", 'value.a.__proto__', /the key "__proto__" is refused/);
    rejects({ a: { constructor: "x" } }, "value", "value.a.constructor", /the key "constructor" is refused/);
  });
});

describe("codec: registerClass", () => {
  class Point {
    constructor(
      public x: number,
      public y: number,
      public at = new Date(0),
    ) {}
    norm(): number {
      return Math.hypot(this.x, this.y);
    }
  }
  registerClass(Point);

  test("instances arrive with their prototype and nested types", () => {
    const out = roundTrip({ p: new Point(3, 4, new Date(5)) });
    assert.ok(out.p instanceof Point);
    assert.equal(out.p.norm(), 5);
    assert.ok(out.p.at instanceof Date);
    assert.equal(out.p.at.getTime(), 5);
  });

  test("registering again is fine; another class under a taken name is refused", () => {
    registerClass(Point);
    class Other {}
    assert.throws(() => registerClass(Other, "Point"), /Another class is already registered as "Point"/);
    assert.throws(() => registerClass(class {}), /needs a name/);
  });

  test("decoding a class the receiver never registered is a SerializationError", () => {
    class OnlyOnSender {
      v = 1;
    }
    registerClass(OnlyOnSender);
    const { value } = encode(new OnlyOnSender());
    const meta = JSON.parse(JSON.stringify(value.meta).replace('"OnlyOnSender"', '"NotRegistered"'));
    assert.throws(() => decode({ json: value.json, meta }, []), SerializationError);
  });

  test("a missing blob is a SerializationError", () => {
    const { value } = encode(new Uint8Array([1]));
    assert.throws(() => decode(value, []), /Blob 0 is missing: the message carried 0\./);
  });
});

describe("codec: cycles", () => {
  class Node {
    next: unknown = null;
  }
  registerClass(Node);

  test("cycles through plain objects, arrays, Maps and Sets round-trip", () => {
    const obj: Record<string, unknown> = { name: "root" };
    obj.self = obj;
    const list: unknown[] = [1];
    list.push(list);
    const map = new Map<string, unknown>();
    map.set("me", map);
    const set = new Set<unknown>();
    set.add({ owner: set });
    const out = roundTrip({ obj, list, map, set });
    assert.equal(out.obj.self, out.obj);
    assert.equal(out.list[1], out.list);
    assert.equal(out.map.get("me"), out.map);
    assert.equal(([...out.set][0] as { owner: unknown }).owner, out.set);
  });

  test("a cycle through a registered class instance is refused where it closes", () => {
    const node = new Node();
    node.next = { back: node };
    rejects([node], "args", "args[0].next.back", /it refers back to args\[0\], a circular reference through a class instance or Error/);
  });

  test("a cycle through an Error's cause is refused", () => {
    const error = new Error("loop");
    error.cause = { error };
    rejects({ error }, "value", "value.error.cause.error", /refers back to value\.error/);
  });

  test("a cyclic object also referenced from inside a class instance is refused", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const node = new Node();
    node.next = cyclic;
    rejects({ plain: cyclic, node }, "value", "value.node.next", /holds a circular reference and is also referenced from inside a class instance or Error/);
  });

  test("an acyclic object shared with a class instance arrives as an equal copy", () => {
    const shared = { v: 1 };
    const node = new Node();
    node.next = shared;
    const out = roundTrip({ shared, node });
    assert.deepEqual(out.node.next, { v: 1 });
    assert.deepEqual(out.shared, { v: 1 });
  });
});
