// The control plane ↔ worker link (framing) and how a worker's end is told to each call.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FrameKind, FrameReader, blobFrameHeader, encodeFrame, frameHeader, payloadOf, type Frame } from "../../remote-agent/worker-link.ts";
import { describeEnd } from "../../remote-agent/worker-supervisor.ts";
import type { WorkerExit } from "../../remote-agent/worker-process.ts";

function read(chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  const reader = new FrameReader((frame) => frames.push({ ...frame, parts: [Buffer.from(payloadOf(frame))] }));
  for (const chunk of chunks) reader.push(chunk);
  return frames;
}

describe("worker link frames", () => {
  const stream = Buffer.concat([
    encodeFrame(FrameKind.text, 7, "", '{"type":"result"}'),
    encodeFrame(FrameKind.ended, 7, "call-é1", ""),
    blobFrameHeader(3, "", 42, 1, 3),
    Buffer.of(9, 8, 7),
    Buffer.concat([frameHeader(FrameKind.binary, 5, 4), Buffer.from([1, 2, 3, 4])]),
  ]);
  const expected = [
    { kind: FrameKind.text, session: 7, id: "", payload: '{"type":"result"}' },
    { kind: FrameKind.ended, session: 7, id: "call-é1", payload: "" },
    { kind: FrameKind.binary, session: 3, id: "", payload: Buffer.from([42, 0, 0, 0, 1, 0, 0, 0, 9, 8, 7]).toString("latin1") },
    { kind: FrameKind.binary, session: 5, id: "", payload: Buffer.from([1, 2, 3, 4]).toString("latin1") },
  ];
  const simple = (frames: Frame[]) =>
    frames.map((f) => ({ kind: f.kind, session: f.session, id: f.id, payload: f.kind === FrameKind.binary ? payloadOf(f).toString("latin1") : payloadOf(f).toString("utf8") }));

  test("read back whole, or cut at every byte", () => {
    assert.deepEqual(simple(read([stream])), expected);
    assert.deepEqual(simple(read([...stream].map((byte) => Buffer.of(byte)))), expected);
    for (let cut = 1; cut < stream.length; cut += 3) {
      assert.deepEqual(simple(read([stream.subarray(0, cut), stream.subarray(cut)])), expected, `cut at ${cut}`);
    }
  });
});

describe("how a worker's end is told to the calls it was running", () => {
  const exit = (facts: Partial<WorkerExit>): WorkerExit => ({
    exitCode: null,
    signal: null,
    dying: undefined,
    killedBy: undefined,
    stderrTail: "",
    heapLimitBytes: 64 << 20,
    ...facts,
  });
  const mine = { session: 1, callId: "a" };
  const other = { session: 1, callId: "b" };
  const told = (facts: Partial<WorkerExit>, call = mine) => {
    const end = describeEnd(exit(facts), call);
    return [end.reason, end.processEnd?.how];
  };

  test("its own code: process.exit, an uncaught exception, out of memory, a fatal signal", () => {
    const exited = { exitCode: 3, dying: { type: "dying" as const, how: "exit" as const, exitCode: 3, session: 1, callId: "a", functionId: "f", callRunning: true } };
    assert.deepEqual(told(exited), ["crashed", "exit"]);
    assert.equal(describeEnd(exit(exited), mine).processEnd?.exitCode, 3);
    const uncaught = { exitCode: 1, dying: { type: "dying" as const, how: "uncaught-exception" as const, exitCode: 1, session: 1, callId: "a", callRunning: true, error: { name: "TypeError", message: "boom" } } };
    const end = describeEnd(exit(uncaught), mine);
    assert.deepEqual([end.reason, end.processEnd?.how, end.error.message], ["crashed", "uncaught-exception", "boom"]);
    assert.deepEqual(told({ signal: "SIGABRT", stderrTail: "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory" }), ["crashed", "out-of-memory"]);
    assert.deepEqual(told({ signal: "SIGSEGV" }), ["crashed", "signal"]);
    assert.deepEqual(told({ exitCode: 7 }), ["crashed", "exit"]);
  });

  test("another call's doing, or a kill from outside, is infrastructure for the others", () => {
    const byOther = { exitCode: 3, dying: { type: "dying" as const, how: "exit" as const, exitCode: 3, session: 1, callId: "a", functionId: "f", callRunning: true } };
    assert.deepEqual(told(byOther, other), ["lost", "ended-by-other-call"]);
    assert.deepEqual(told({ signal: "SIGKILL" }), ["lost", "killed-from-outside"]);
    const stopped = { signal: "SIGKILL" as const, killedBy: { why: "cancel" as const, session: 1, callId: "a", functionId: "spin", cancelReason: "timed out" } };
    assert.deepEqual(told(stopped, other), ["lost", "stopped-for-cancel"]);
    assert.deepEqual(told(stopped, mine), ["cancelled", undefined]);
  });
});
