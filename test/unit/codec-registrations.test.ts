// Custom transformers, symbols, class options and Errors as values; registrations shared by every
// copy of the SDK in a process.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FlowError, SerializationError } from "../../src/errors.ts";
import { decode, encode, registerClass, registerCustom, registerSymbol } from "../../src/runtime/codec.ts";
import { PACK_MIN_LENGTH } from "../../src/runtime/codec-inspection.ts";
import { assertSameGraph, roundTrip } from "./codec-graph.ts";

/** A Decimal-like value with #private state, which registerClass cannot carry. */
class Money {
  readonly #cents: bigint;
  constructor(cents: bigint) {
    this.#cents = cents;
  }
  static parse(text: string): Money {
    return new Money(BigInt(text));
  }
  toString(): string {
    return this.#cents.toString();
  }
}
registerCustom("Money", {
  isApplicable: (v): v is Money => v instanceof Money,
  serialize: (m) => m.toString(),
  deserialize: (text) => Money.parse(text),
});

function rejects(value: unknown, path: string, message: RegExp): void {
  assert.throws(
    () => encode(value, "args"),
    (error: unknown) => {
      assert.ok(error instanceof SerializationError, String(error));
      assert.equal(error.path, path);
      assert.match(error.message, message);
      return true;
    },
  );
}

describe("codec: registerCustom", () => {
  test("a class with #private state crosses through its transformer, wherever it sits", () => {
    const price = new Money(1999n);
    const out = roundTrip({ price, list: [new Money(1n)], m: new Map([[new Money(2n), new Money(3n)]]), s: new Set([new Money(4n)]) });
    assert.ok(out.price instanceof Money);
    assert.equal(out.price.toString(), "1999");
    assert.equal(out.list[0]!.toString(), "1");
    assert.deepEqual([...out.m].map(([k, v]) => [k.toString(), v.toString()]), [["2", "3"]]);
    assert.equal([...out.s][0]!.toString(), "4");
  });

  test("a value with a custom type is not mistaken for plain JSON, and numbers still pack", () => {
    const xs = Array.from({ length: PACK_MIN_LENGTH }, (_, i) => i);
    const encoded = encode({ price: new Money(5n), xs });
    assert.equal(encoded.blobs.length, 1);
    const out = roundTrip({ price: new Money(5n), xs });
    assert.equal(out.price.toString(), "5");
    assert.deepEqual(out.xs, xs);
  });

  test("serialize runs once per value", () => {
    let calls = 0;
    class Counted {}
    registerCustom("Counted", {
      isApplicable: (v): v is Counted => v instanceof Counted,
      serialize: () => (calls++, "c"),
      deserialize: () => new Counted(),
    });
    const one = new Counted();
    const out = roundTrip({ a: one, b: [one], c: new Counted() });
    assert.equal(calls, 2);
    assert.ok(out.a instanceof Counted && out.c instanceof Counted);
  });

  test("serialize must return JSON data, and may not throw: refused with the path and the transformer's name", () => {
    class Bad {
      constructor(readonly returns: unknown) {}
    }
    registerCustom("Bad", {
      isApplicable: (v): v is Bad => v instanceof Bad,
      serialize: (v) => {
        if (v.returns === "throw") throw new Error("cannot serialize this one");
        return v.returns as string;
      },
      deserialize: () => new Bad(null),
    });
    rejects([{ x: new Bad(() => 1) }], "args[0].x", /the serialize\(\) of registerCustom\("Bad"\) returned a function; it must return JSON data/);
    rejects([new Bad({ when: new Date(0) })], "args[0]", /returned an instance of Date at \.when/);
    rejects([new Bad([1, Number.NaN])], "args[0]", /returned NaN at \[1\]/);
    rejects([new Bad("throw")], "args[0]", /the serialize\(\) of registerCustom\("Bad"\) threw: cannot serialize this one/);
  });

  test("a value of a transformer the receiver does not know is a SerializationError that says to register it", () => {
    const { value } = encode(new Money(1n));
    const meta = JSON.parse(JSON.stringify(value.meta).replace("user:Money", "user:Unknown"));
    assert.throws(() => decode({ json: value.json, meta }, []), (error: unknown) => {
      assert.ok(error instanceof SerializationError);
      assert.match(error.suggestions.join(" "), /registerCustom/);
      return true;
    });
  });

  test("a second transformer under a taken name is refused; the same one again is fine", () => {
    const transformer = { isApplicable: (v: unknown): v is Money => v instanceof Money, serialize: (m: Money) => m.toString(), deserialize: Money.parse };
    registerCustom("Money2", transformer);
    registerCustom("Money2", transformer);
    assert.throws(() => registerCustom("Money2", { ...transformer }), /Another custom transformer is already registered as "Money2"/);
    assert.throws(() => registerCustom("", transformer), FlowError);
    assert.throws(() => registerCustom("NoDeserialize", { ...transformer, deserialize: undefined as never }), /`deserialize` must be a function/);
  });
});

describe("codec: registerSymbol", () => {
  const RED = Symbol("red");
  const ANON = Symbol();
  registerSymbol(RED);
  registerSymbol(ANON, "anonymous");
  registerSymbol(Symbol.for("app.shared"));

  test("registered symbols arrive as the same symbols, as values, Map keys and Set members", () => {
    const value = { color: RED, anon: ANON, shared: Symbol.for("app.shared"), m: new Map([[RED, 1]]), s: new Set([ANON]) };
    const out = roundTrip(value);
    assert.equal(out.color, RED);
    assert.equal(out.anon, ANON);
    assert.equal(out.shared, Symbol.for("app.shared"));
    assert.equal(out.m.get(RED), 1);
    assert.ok(out.s.has(ANON));
  });

  test("an unregistered symbol is still refused, with the way to register it", () => {
    rejects([{ kind: Symbol("other") }], "args[0].kind", /Symbols cannot be sent; use a string instead\. .*registerSymbol\(symbol, "name"\)/);
  });

  test("a name is needed and unique", () => {
    assert.throws(() => registerSymbol(Symbol()), /needs a name/);
    assert.throws(() => registerSymbol(Symbol("red")), /Another symbol is already registered as "red"/);
  });
});

describe("codec: registerClass options", () => {
  class User {
    constructor(
      public username: string,
      public password: string,
    ) {}
    get shout(): string {
      return this.username.toUpperCase();
    }
  }
  registerClass(User, { name: "AppUser", allowProps: ["username"] });

  test("allowProps sends only the listed properties; name sets the wire name", () => {
    const encoded = encode(new User("bongocat", "secret"));
    assert.doesNotMatch(JSON.stringify(encoded.value), /secret/);
    assert.match(JSON.stringify(encoded.value), /AppUser/);
    const out = roundTrip(new User("bongocat", "secret"));
    assert.ok(out instanceof User);
    assert.equal(out.username, "bongocat");
    assert.equal(out.password, undefined);
    assert.equal(out.shout, "BONGOCAT");
  });

  test("allowProps is validated too", () => {
    class Holder {
      constructor(public fn: unknown) {}
    }
    registerClass(Holder, { allowProps: ["fn"] });
    rejects([new Holder(() => 1)], "args[0].fn", /it is a function/);
    assert.throws(() => registerClass(class Polluting {}, { allowProps: ["__proto__"] }), /allowProps cannot include "__proto__"/);
  });
});

describe("codec: Errors as values keep their class, own properties, cause and stack", () => {
  test("a returned Error keeps code and meta, with their types", () => {
    const error = Object.assign(new TypeError("bad input", { cause: new RangeError("root") }), {
      code: "E_BAD",
      meta: { when: new Date(5), fields: new Set(["a"]), count: 2n },
    });
    const out = roundTrip({ error }).error;
    assert.ok(out instanceof TypeError);
    assert.equal(out.code, "E_BAD");
    assertSameGraph(out.meta, error.meta);
    assert.ok(out.cause instanceof RangeError);
    assert.equal(out.stack, error.stack);
    assert.deepEqual(Object.keys(out), ["code", "meta"]);
    assert.equal(Object.getOwnPropertyDescriptor(out, "cause")?.enumerable, false);
  });

  test("a custom-named error keeps its name as an own property; AggregateError keeps its errors", () => {
    class QuotaError extends Error {
      constructor(readonly limit: number) {
        super("over quota");
        this.name = "QuotaError";
      }
    }
    const quota = roundTrip(new QuotaError(3));
    assert.equal(quota.name, "QuotaError");
    assert.equal(quota.limit, 3);
    assert.equal(quota.message, "over quota");
    assert.deepEqual(Object.keys(quota).sort(), ["limit", "name"]);
    const aggregate = roundTrip(new AggregateError([new Error("one"), new TypeError("two")], "both"));
    assert.ok(aggregate instanceof AggregateError);
    assert.deepEqual(aggregate.errors.map((e: Error) => [e.constructor.name, e.message]), [["Error", "one"], ["TypeError", "two"]]);
  });

  test("an own `errors` property of a plain Error and a cause of undefined survive", () => {
    const error = Object.assign(new Error("invalid", { cause: undefined }), { errors: [{ field: "a" }] });
    const out = roundTrip(error) as typeof error;
    assert.deepEqual(out.errors, [{ field: "a" }]);
    assert.ok("cause" in out);
    assert.equal(out.cause, undefined);
  });

  test("a cycle through an Error's own property is refused like one through its cause", () => {
    const error = new Error("loop") as Error & { self?: unknown };
    error.self = { error };
    rejects([error], "args[0].self.error", /refers back to args\[0\]/);
  });
});

describe("codec: registrations are shared by every copy of the SDK in the process", () => {
  test("a class registered through one copy crosses through another", async () => {
    // A second instance of the codec modules, as a CommonJS project's copy of flow-sdk would be.
    const other = (await import(`../../src/runtime/codec.ts?copy=${Date.now()}`)) as typeof import("../../src/runtime/codec.ts");
    assert.notEqual(other.encode, encode);
    class Shared {
      v = 1;
    }
    other.registerClass(Shared);
    const TOKEN = Symbol("token");
    registerSymbol(TOKEN);
    const encoded = other.encode({ s: new Shared(), t: TOKEN });
    const out = decode(JSON.parse(JSON.stringify(encoded.value)), encoded.blobs) as { s: Shared; t: symbol };
    assert.ok(out.s instanceof Shared);
    assert.equal(out.t, TOKEN);
    const back = other.decode(JSON.parse(JSON.stringify(encode(new Money(7n)).value)), []) as Money;
    assert.equal(back.toString(), "7");
  });
});
