import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AgentPool } from "../../src/runtime/agent-pool.ts";
import type { AgentSession } from "../../src/runtime/session.ts";

/** Enough of a session for the pool: it only watches for its close. */
function fakeSession(): AgentSession {
  return { onClose() {} } as unknown as AgentSession;
}

function pool(maxContainers: number, maxConcurrentInputs: number) {
  const started: ((session: AgentSession) => void)[] = [];
  const agents = new AgentPool({
    maxContainers,
    maxConcurrentInputs,
    start: () => new Promise((resolve) => started.push(resolve)),
  });
  return { agents, started };
}

describe("AgentPool.tryLease", () => {
  test("takes no slot until an agent is connected, then one per input up to its room", async () => {
    const { agents, started } = pool(1, 2);
    assert.equal(agents.tryLease(), undefined, "no agent yet: nothing to take without waiting");
    const waiting = agents.lease();
    assert.equal(started.length, 1);
    const session = fakeSession();
    started[0]!(session);
    const first = await waiting;
    const second = agents.tryLease();
    assert.equal(second?.session, session);
    assert.equal(agents.tryLease(), undefined, "the agent is full");
    second!.release();
    second!.release(); // twice frees one slot, not two
    const third = agents.tryLease();
    assert.equal(third?.session, session);
    assert.equal(agents.tryLease(), undefined);
    first.release();
    third!.release();
  });

  test("leaves a new agent to lease() while the function may still start one", async () => {
    const { agents, started } = pool(2, 4);
    const waiting = agents.lease();
    started[0]!(fakeSession());
    const first = await waiting;
    // The first agent is busy and a second may start: lease() would start it, so tryLease does not take the busy one.
    assert.equal(agents.tryLease(), undefined);
    assert.equal(started.length, 1, "tryLease starts no agent");
    first.release();
    assert.ok(agents.tryLease(), "an idle agent is taken at once");
  });

  test("takes nothing for an aborted signal or a closed pool", async () => {
    const { agents, started } = pool(1, 4);
    const waiting = agents.lease();
    started[0]!(fakeSession());
    (await waiting).release();
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    assert.equal(agents.tryLease([controller.signal]), undefined);
    agents.close();
    assert.equal(agents.tryLease(), undefined);
  });
});
