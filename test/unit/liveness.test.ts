import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Liveness } from "../../src/runtime/liveness.ts";

/** A Liveness on a clock the test moves, checked by hand. */
function watch(missedLimit: number) {
  let now = 0;
  const events: string[] = [];
  const liveness = new Liveness({
    intervalMs: 5_000,
    missedLimit,
    ping: () => events.push("ping"),
    dead: () => events.push("dead"),
    now: () => now,
  });
  return {
    events,
    liveness,
    /** Let `ms` pass, then run the periodic check. */
    checkAfter(ms: number) {
      now += ms;
      liveness.check();
    },
  };
}

describe("Liveness", () => {
  test("gives the peer up after `missedLimit` on-time checks in a row without a byte from it", () => {
    const peer = watch(3);
    peer.checkAfter(5_000);
    peer.checkAfter(5_000);
    assert.deepEqual(peer.events, ["ping", "ping"]);
    peer.checkAfter(5_000);
    assert.deepEqual(peer.events, ["ping", "ping", "dead"]);
  });

  test("any byte counts, not only a pong: a peer busy sending a long transfer is alive", () => {
    const peer = watch(3);
    for (let i = 0; i < 20; i++) {
      peer.liveness.heard();
      peer.checkAfter(5_000);
    }
    assert.ok(!peer.events.includes("dead"));
  });

  test("a late check (our own event loop was blocked) is not evidence: the count starts over", () => {
    const peer = watch(3);
    peer.checkAfter(5_000);
    peer.checkAfter(5_000);
    // Blocked for 12 s: the check runs late, with whatever the peer sent still unread.
    peer.checkAfter(17_000);
    peer.checkAfter(5_000);
    peer.checkAfter(5_000);
    assert.ok(!peer.events.includes("dead"), peer.events.join(","));
    peer.checkAfter(5_000);
    assert.equal(peer.events.at(-1), "dead");
  });
});
