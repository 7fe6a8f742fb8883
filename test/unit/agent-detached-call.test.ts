// The agent's record of a detached call (remote-agent/detached-call.ts), on disk. On a cloud
// instance the agent runs as root while the client reads the call's files over SSH as the login
// user, who owns the calls directory: every file the agent writes there must be that user's.
import assert from "node:assert/strict";
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DetachedCall } from "../../remote-agent/detached-call.ts";

const root = mkdtempSync(join(tmpdir(), "flow-agent-call-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** `nobody`: a user that is not this process's. */
const OTHER_UID = 65534;
const OTHER_GID = 65534;

describe("a detached call's files on the agent", () => {
  it("belong to the owner of the calls directory when the agent runs as root, and stay 0600", { skip: process.getuid?.() !== 0 && "needs root (as the agent on a cloud instance runs)" }, () => {
    const callsDir = join(root, "calls");
    mkdirSync(callsDir, { mode: 0o700 });
    chownSync(callsDir, OTHER_UID, OTHER_GID);
    const call = new DetachedCall(callsDir, { callId: "call-0123456789ab", functionId: "square", number: 1, resultWindowMs: 1_000 });
    call.onMessage({ type: "log", callId: call.callId, stream: "stdout", data: "hello\n" });
    call.onFrame(false, Buffer.from(JSON.stringify({ type: "result", callId: call.callId, value: { json: 4 } })));
    call.finish();

    assert.equal(call.status, "completed");
    const files = readdirSync(call.dir).sort();
    assert.deepEqual(files, ["outcome", "state.json", "stderr.log", "stdout.log"]);
    for (const path of [call.dir, ...files.map((file) => join(call.dir, file))]) {
      const info = statSync(path);
      assert.deepEqual([info.uid, info.gid], [OTHER_UID, OTHER_GID], `${path} is the calls directory owner's`);
      assert.equal(info.mode & 0o077, 0, `${path} is private`);
    }
  });
});
