import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { SessionLog } from "../../remote-agent/session-log.ts";
import { CHUNK_BYTES, HEADER_BYTES } from "../../src/runtime/channel.ts";

const dir = mkdtempSync(join(tmpdir(), "session-log-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const frame = (n: number, bytes: number) => Buffer.alloc(bytes, n);
const numbers = (log: SessionLog, received: number) => [...log.after(received)].map((f) => [f.data[0], f.data.byteLength, f.binary]);

test("frames beyond the memory limit go to the spill file and come back intact, in order", () => {
  const spill = join(dir, "a.spill");
  const log = new SessionLog(spill, { memoryBytes: 3000, diskBytes: 1 << 20 });
  for (let n = 1; n <= 6; n++) log.append(frame(n, 1000), n % 2 === 0);
  assert.equal(log.sent, 6);
  assert.equal(statSync(spill).size, 3000, "frames 4-6 are on disk");
  assert.deepEqual(numbers(log, 0), [[1, 1000, false], [2, 1000, true], [3, 1000, false], [4, 1000, true], [5, 1000, false], [6, 1000, true]]);
  // A client that received 4 gets 5 and 6 again (read back from disk).
  assert.deepEqual(numbers(log, 4), [[5, 1000, false], [6, 1000, true]]);
  log.close();
  assert.equal(existsSync(spill), false, "close removes the spill file");
});

test("acknowledged frames are let go; once nothing spilled is left the file is emptied and memory reused", () => {
  const spill = join(dir, "b.spill");
  const log = new SessionLog(spill, { memoryBytes: 2000, diskBytes: 1 << 20 });
  for (let n = 1; n <= 4; n++) log.append(frame(n, 1000), true);
  log.acknowledge(3);
  assert.equal(log.first, 4);
  assert.equal(statSync(spill).size, 2000, "frame 4 is still unacknowledged on disk");
  log.acknowledge(4);
  assert.equal(statSync(spill).size, 0, "nothing spilled is left: the file is emptied");
  log.append(frame(5, 1000), true);
  log.append(frame(6, 1000), true);
  assert.equal(statSync(spill).size, 0, "memory is free again, so new frames stay in memory");
  assert.deepEqual(numbers(log, 4), [[5, 1000, true], [6, 1000, true]]);
  log.close();
});

test("over the disk limit the log says it is full (the agent then stops reading output)", () => {
  const log = new SessionLog(join(dir, "c.spill"), { memoryBytes: 1000, diskBytes: 2000 });
  log.append(frame(1, 1000), true);
  log.append(frame(2, 1000), true);
  assert.equal(log.full, false);
  log.append(frame(3, 1000), true);
  assert.equal(log.full, true);
  log.acknowledge(3);
  assert.equal(log.full, false, "caught up: room again");
  log.close();
});

test("a small frame that is a view of a big buffer is copied, so it does not keep the buffer alive", () => {
  const log = new SessionLog(join(dir, "d.spill"), { memoryBytes: 1 << 20, diskBytes: 1 << 20 });
  const big = Buffer.alloc(1 << 20, 7);
  log.append(big.subarray(0, 10), false);
  const [kept] = [...log.after(0)];
  assert.notEqual(kept!.data.buffer, big.buffer);
  assert.deepEqual([...kept!.data], Array(10).fill(7));
  log.close();
});

test("a full frame the client acknowledged is given out again for the next one; views and unacknowledged frames never are", () => {
  const full = HEADER_BYTES + CHUNK_BYTES;
  const log = new SessionLog(join(dir, "e.spill"), { memoryBytes: 64 << 20, diskBytes: 1 << 20 });
  const first = log.frameBuffer(full).fill(1);
  log.append(first, true);
  const backing = Buffer.alloc(2 * full, 2);
  log.append(backing.subarray(0, full), true);
  // Nothing acknowledged yet: new buffers.
  const second = log.frameBuffer(full);
  assert.notEqual(second.buffer, first.buffer);
  log.append(second.fill(3), true);
  log.acknowledge(2);
  const reused = log.frameBuffer(full);
  assert.equal(reused.buffer, first.buffer, "the acknowledged frame of its own is reused");
  assert.notEqual(log.frameBuffer(full).buffer, backing.buffer, "a view of another buffer is not");
  assert.equal(log.frameBuffer(1000).byteLength, 1000, "other sizes are allocated");
  assert.deepEqual(numbers(log, 2), [[3, full, true]], "the unacknowledged frame is intact");
  log.close();
});
