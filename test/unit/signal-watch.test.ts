import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, test } from "node:test";
import { SignalWatch } from "../../src/runtime/signal-watch.ts";

describe("SignalWatch", () => {
  test("one listener per signal however many items share it; an abort reaches the items still watched", () => {
    const aborted: string[] = [];
    const watch = new SignalWatch<string>((item, signal) => aborted.push(`${item}:${String(signal.reason)}`));
    const shared = new AbortController();
    const own = new AbortController();
    for (let i = 0; i < 100; i++) watch.add([shared.signal], `call-${i}`);
    watch.add([shared.signal, own.signal], "both");
    assert.equal(getEventListeners(shared.signal, "abort").length, 1);
    for (let i = 0; i < 99; i++) watch.delete([shared.signal], `call-${i}`);
    own.abort("own");
    assert.deepEqual(aborted, ["both:own"]);
    watch.delete([shared.signal, own.signal], "both");
    shared.abort("run over");
    assert.deepEqual(aborted, ["both:own", "call-99:run over"]);
  });
});
