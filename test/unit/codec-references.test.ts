// Shared objects, Set members and Map keys arrive as one object each, in their places.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SerializationError } from "../../src/errors.ts";
import { decode, encode, registerClass } from "../../src/runtime/codec.ts";
import { assertSameGraph, roundTrip } from "./codec-graph.ts";

const a = { id: "a" };
const b = { id: "b" };
const c = { id: "c" };

/** Each shape as superjson's referential-equality restore used to get wrong, and its neighbours. */
const SHAPES: Record<string, () => unknown> = {
  "Set, shared members in their original order": () => ({ list: [a, b], s: new Set([a, b]) }),
  "Set, shared members in reverse order": () => ({ list: [a, b], s: new Set([b, a]) }),
  "Set, the shared member first": () => ({ first: a, s: new Set([a, b, c]) }),
  "Set, the shared member last": () => ({ last: c, s: new Set([a, b, c]) }),
  "Set, the Set before the other references": () => ({ s: new Set([c, b, a]), list: [a, b, c] }),
  "Set, members shared with another Set": () => ({ s1: new Set([a, b, c]), s2: new Set([c, a]) }),
  "Set of Sets sharing members": () => new Set([new Set([a, b]), new Set([b, a]), a]),
  "Set, nested in arrays and objects": () => [{ deep: { s: new Set([b, a]) } }, [a, b]],
  "Set, a member that refers back to the Set": () => {
    const s = new Set<unknown>();
    const member = { owner: s };
    s.add(a).add(member).add(b);
    return { s, member, list: [b, a] };
  },
  "Map, shared keys in reverse order": () => ({ list: [a, b], m: new Map([[b, "b"], [a, "a"]]) }),
  "Map, shared keys in their original order": () => ({ list: [a, b], m: new Map([[a, "a"], [b, "b"]]) }),
  "Map, the shared key first": () => ({ first: a, m: new Map([[a, 1], [b, 2], [c, 3]]) }),
  "Map, the shared key last": () => ({ last: c, m: new Map([[a, 1], [b, 2], [c, 3]]) }),
  "Map, shared values": () => ({ list: [c, b], m: new Map([["x", b], ["y", c]]) }),
  "Map, one object as key and value": () => ({ m: new Map<unknown, unknown>([[a, b], [b, a]]) }),
  "Map, keys shared with a Set": () => ({ m: new Map([[c, 1], [a, 2]]), s: new Set([a, c]) }),
  "Map, nested in a Map value": () => ({ outer: new Map([["inner", new Map([[b, 1], [a, 2]])]]), list: [a, b] }),
  "Map, a key that refers back to the Map": () => {
    const m = new Map<unknown, unknown>();
    const key = { owner: m };
    m.set(a, 1).set(key, 2).set(b, 3);
    return { m, list: [b, key, a] };
  },
  "shared objects holding binary data": () => {
    const x = { w: new Float32Array([1, 2]) };
    const y = { w: new Uint8Array([3]) };
    return { list: [x, y], s: new Set([y, x]), m: new Map([[y, x]]) };
  },
  "shared member under a copy that is replaced": () => {
    const holder = { a };
    return [[holder], holder, new Set([c, a])];
  },
};

describe("codec: shared Set members and Map keys keep identity, membership and order", () => {
  for (const [name, make] of Object.entries(SHAPES)) {
    test(name, () => {
      const value = make();
      assertSameGraph(roundTrip(value), value);
    });
    test(`${name}, sent as out-of-band JSON text`, () => {
      // Padding makes the JSON big enough to travel as a blob of text.
      const value = { value: make(), padding: "x".repeat(300_000) };
      const encoded = encode(value);
      assert.ok(encoded.blobs.length >= 1);
      assert.deepEqual((encoded.value.json as { t: string }).t, "json");
      assertSameGraph(roundTrip(value), value);
    });
  }

  test("many shared members of one big Set stay in order", () => {
    const objects = Array.from({ length: 5_000 }, (_, i) => ({ i }));
    const value = { objects, s: new Set([...objects].reverse()), m: new Map(objects.map((o) => [o, o.i])) };
    assertSameGraph(roundTrip(value), value);
  });
});

describe("codec: superjson's own round-trip cases", () => {
  class Pet {
    constructor(private name: string) {}
    woof() {
      return this.name;
    }
  }
  class Owner {
    constructor(public pet: Pet) {}
  }
  class Currency {
    constructor(private valueInUsd: number) {}
    get inUSD() {
      return this.valueInUsd;
    }
  }
  registerClass(Pet);
  registerClass(Owner);
  registerClass(Currency);

  const cases: Record<string, () => unknown> = {
    objects: () => ({ a: { 1: 5, 2: { 3: "c" } }, b: null }),
    "objects with array-like keys": () => ({ a: { 0: 3, 1: 5, 2: { 3: "c" } }, b: null }),
    "arrays with undefined": () => ({ a: [1, undefined, 2] }),
    "Sets with undefined": () => ({ a: new Set([1, undefined, 2]) }),
    "a top-level Set": () => new Set([1, undefined, 2]),
    "Maps with NaN and non-uniform keys": () => ({ a: new Map([[1, "a"], [Number.NaN, "b"]]), b: new Map<unknown, number>([[1, 1], ["1", 1]]) }),
    "object identity": () => {
      const x = { id: "a" };
      return { options: [x, { id: "b" }], selected: x };
    },
    "paths containing dots and backslashes": () => {
      const shared = { v: 1 };
      return { "a.1": { b: new Set([1, 2]), s: shared }, "a\\.1": { b: new Set([3]), s: shared }, "\\": shared };
    },
    "dates, regexps, ±Infinity, NaN, bigint, URL": () => ({
      date: new Date(2020, 1, 1),
      re: /hello/g,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      nan: Number.NaN,
      big: 1021312312412312312313n,
      url: new URL("https://example.com/"),
    }),
    "self-referencing objects": () => {
      const parent = { role: "parent", children: [] as unknown[] };
      parent.children.push({ role: "child", parents: [parent] });
      return parent;
    },
    "a Map with two keys that serialize alike": () => new Map([[/a/g, "foo"], [/a/g, "bar"]]),
    "a Map key shared with another field": () => {
      const robby = { id: 5 };
      return { highscores: new Map([[robby, 5000]]), topScorer: robby };
    },
    "referentially equal Maps": () => {
      const map = new Map([[1, 1]]);
      return { a: map, b: map };
    },
    "a shared value inside a Set": () => {
      const user = { id: 2 };
      return { users: new Set([user]), userOfTheMonth: user };
    },
    "a shared value in different Maps and Sets": () => {
      const user = { id: 2 };
      return { workspaces: new Map([[1, { users: new Set([user]) }], [2, { users: new Set([user]) }]]) };
    },
    "undefined at the top": () => undefined,
    "negative zero at the top": () => -0,
    "nested registered classes": () => new Owner(new Pet("Rover")),
    "a class with an accessor": () => ({ price: new Currency(100) }),
    "a null-prototype object holding a Date": () => Object.assign(Object.create(null) as object, { date: new Date(0) }),
    "the top-most shared parent only (#245)": () => {
      const root = { children: [] as unknown[] };
      return { a: root, b: root };
    },
  };
  for (const [name, make] of Object.entries(cases)) {
    test(name, () => {
      const value = make();
      const out = roundTrip(value);
      if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === null) {
        assert.deepEqual({ ...(out as object) }, { ...value });
      } else {
        assertSameGraph(out, value);
      }
    });
  }

  test("registered class instances keep their methods and accessors", () => {
    assert.equal(roundTrip(new Owner(new Pet("Rover"))).pet.woof(), "Rover");
    assert.equal(roundTrip({ price: new Currency(100) }).price.inUSD, 100);
  });

  for (const path of ["__proto__.x", "prototype.x", "constructor.prototype.x"]) {
    test(`decoding refuses the shared-reference path ${path} (prototype pollution)`, () => {
      const value = { json: { myValue: 1337 }, meta: { referentialEqualities: { myValue: [path] }, v: 1 } };
      assert.throws(() => decode(value, []), SerializationError);
      assert.equal((Object.prototype as Record<string, unknown>).x, undefined);
    });
  }
});

describe("codec: malformed shared-reference metadata is a SerializationError", () => {
  const malformed: Record<string, unknown> = {
    "a Set index out of range": { "s.5": ["list.0"] },
    "a position that does not exist": { "list.7": ["list.0"] },
    "a stray backslash": { "list\\x": ["list.0"] },
    "not a list of paths": { "list.0": "list.1" },
    "a Map entry without key or value": { "m.0": ["list.0"] },
    "root paths that are not a list": [7],
  };
  for (const [name, referentialEqualities] of Object.entries(malformed)) {
    test(name, () => {
      const { value } = encode({ list: [a, b], s: new Set([1]), m: new Map([[1, 2]]) });
      const meta = { ...(value.meta as object), referentialEqualities };
      assert.throws(() => decode({ json: value.json, meta }, []), SerializationError);
    });
  }
});
