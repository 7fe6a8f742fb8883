// Shared by the codec tests: what the wire does, and a check that a decoded value is the same graph.
import assert from "node:assert/strict";
import { decode, encode, type Encoded } from "../../src/runtime/codec.ts";

/** What the wire does: the JSON goes through text, each blob arrives in its own fresh buffer. */
export function overTheWire(encoded: Encoded): unknown {
  return decode(JSON.parse(JSON.stringify(encoded.value)), encoded.blobs.map((blob) => new Uint8Array(blob)));
}

export function roundTrip<T>(value: T): T {
  return overTheWire(encode(value)) as T;
}

/**
 * Asserts that `actual` is `expected` rebuilt: equal everywhere (-0, NaN, holes, prototypes, Set and
 * Map order), and with the same sharing: one object sent from two places arrives as one object,
 * two objects as two.
 */
export function assertSameGraph(actual: unknown, expected: unknown): void {
  const copies = new Map<object, object>();
  const originals = new Map<object, object>();
  const walk = (a: unknown, e: unknown, path: string): void => {
    if (typeof e !== "object" || e === null) {
      assert.ok(Object.is(a, e), `${path}: ${String(a)} is not ${String(e)}`);
      return;
    }
    assert.ok(typeof a === "object" && a !== null, `${path}: expected an object, got ${String(a)}`);
    const known = copies.get(e);
    if (known !== undefined) {
      assert.equal(a, known, `${path}: a shared object arrived as a separate copy`);
      return;
    }
    assert.ok(!originals.has(a), `${path}: two different objects arrived as one`);
    copies.set(e, a);
    originals.set(a, e);
    assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(e), `${path}: prototype differs`);
    if (e instanceof Set) {
      const [am, em] = [[...(a as Set<unknown>)], [...e]];
      assert.equal(am.length, em.length, `${path}: Set size`);
      em.forEach((member, i) => walk(am[i], member, `[...${path}][${i}]`));
    } else if (e instanceof Map) {
      const [ae, ee] = [[...(a as Map<unknown, unknown>)], [...e]];
      assert.equal(ae.length, ee.length, `${path}: Map size`);
      ee.forEach(([key, value], i) => {
        walk(ae[i]![0], key, `[...${path}.keys()][${i}]`);
        walk(ae[i]![1], value, `[...${path}.values()][${i}]`);
      });
    } else if (e instanceof Date || e instanceof RegExp || e instanceof URL || ArrayBuffer.isView(e) || e instanceof ArrayBuffer) {
      assert.deepEqual(a, e, path);
    } else if (Array.isArray(e)) {
      const arr = a as unknown[];
      assert.equal(arr.length, e.length, `${path}: length`);
      for (let i = 0; i < e.length; i++) {
        assert.equal(i in arr, i in e, `${path}[${i}]: hole vs element`);
        walk(arr[i], e[i], `${path}[${i}]`);
      }
    } else {
      if (e instanceof Error) {
        assert.equal((a as Error).name, e.name, `${path}.name`);
        assert.equal((a as Error).message, e.message, `${path}.message`);
        if ("cause" in e) walk((a as Error).cause, e.cause, `${path}.cause`);
      }
      assert.deepEqual(Object.keys(a), Object.keys(e), `${path}: keys`);
      for (const key of Object.keys(e)) walk((a as Record<string, unknown>)[key], (e as Record<string, unknown>)[key], `${path}.${key}`);
    }
  };
  walk(actual, expected, "value");
}
