/**
 * Detached calls on this machine's records: a call started with `fn.spawnDetached(...)` or
 * `flow run file.ts::fn --detach` runs on an agent of its own that outlives the caller, and is
 * found again by its id in any process (`FunctionCall.fromId(id)`, `flow result <id>`).
 *
 *   FLOW_HOME/calls/<id>/record.json   how to reach the agent (written by the caller, 0600)
 *                        state.json    where the call is (written by the agent)
 *                        stdout.log, stderr.log, outcome   (written by the agent; see
 *                                       remote-agent/detached-call.ts)
 *                        agent.log     the agent's own output
 *
 * On the local provider the agent writes straight into this directory, so the outcome is the
 * local record: result() keeps working after the agent has exited.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { AgentLostError, CancelledError, FlowTimeoutError, FunctionTimeoutError, TaskNotFoundError } from "../errors.ts";
import { isAlive } from "../providers/processes.ts";
import { resolveFlowHome } from "../providers/flow-home.ts";
import { HEADER_BYTES } from "../runtime/channel.ts";
import { decode } from "../runtime/codec.ts";
import { fromFailure } from "../runtime/failure.ts";
import { processEndError } from "../runtime/process-end.ts";
import { AgentMessage, DETACHED_CALL_ID, DetachedCallStatus } from "../runtime/protocol.ts";
import { AgentSession } from "../runtime/session.ts";
import { sleep } from "../sleep.ts";
import type { TaskHandle, WaitOptions } from "../task/task-handle.ts";

/** How often wait() looks at the call's state on disk. */
const POLL_MS = 100;

export const DetachedCallRecord = z.object({
  callId: z.string().regex(DETACHED_CALL_ID),
  functionId: z.string(),
  provider: z.literal("local"),
  url: z.string(),
  secret: z.string(),
  agentPid: z.number().int().positive(),
  createdAt: z.string(),
  resultWindowMs: z.number().int().nonnegative(),
});
export type DetachedCallRecord = z.infer<typeof DetachedCallRecord>;

const StateFile = z.object({ status: DetachedCallStatus, message: z.string().optional(), endedAt: z.string().optional() });

export function newDetachedCallId(): string {
  return `call-${randomBytes(6).toString("hex")}`;
}

export function detachedCallDir(callId: string, flowHome = resolveFlowHome()): string {
  return join(flowHome, "calls", callId);
}

/** A detached call, by id, from any process. Same surface as Task and FunctionCall. */
export class DetachedCall<R = unknown> implements TaskHandle<R> {
  readonly taskId: string;
  readonly record: DetachedCallRecord;
  readonly #dir: string;

  /** Throws TaskNotFoundError for an id that is malformed or that this machine has no record of. */
  constructor(callId: string, flowHome = resolveFlowHome()) {
    if (!DETACHED_CALL_ID.test(callId)) {
      throw new TaskNotFoundError(`${JSON.stringify(callId)} is not a detached call id (they look like call-<12 hex digits>).`, {
        suggestions: ["Copy the id that `flow run … --detach` or spawnDetached() printed; `flow list` shows them."],
      });
    }
    this.taskId = callId;
    this.#dir = detachedCallDir(callId, flowHome);
    let text: string;
    try {
      text = readFileSync(join(this.#dir, "record.json"), "utf8");
    } catch {
      throw new TaskNotFoundError(`No detached call ${callId} on this machine (looked in ${this.#dir}).`, {
        suggestions: ["Check the id, and FLOW_HOME: records live where the call was started."],
      });
    }
    this.record = DetachedCallRecord.parse(JSON.parse(text));
  }

  get status(): DetachedCallStatus {
    return this.#state().status;
  }

  get isRunning(): boolean {
    return this.status === "running";
  }

  get isTerminal(): boolean {
    const status = this.status;
    return status === "completed" || status === "failed" || status === "cancelled";
  }

  /** How it ended, in words, when it did not complete. */
  get message(): string | undefined {
    return this.#state().message;
  }

  /** What the call printed so far. */
  logs(stream: "stdout" | "stderr" = "stdout"): string {
    const path = join(this.#dir, `${stream}.log`);
    return existsSync(path) ? readFileSync(path, "utf8") : "";
  }

  async wait(options: WaitOptions = {}): Promise<void> {
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    while (!this.isTerminal) {
      if (deadline !== undefined && Date.now() > deadline) {
        throw new FlowTimeoutError(`Call ${this.taskId} did not finish within ${options.timeoutMs} ms (it is ${this.status}).`);
      }
      await sleep(POLL_MS);
    }
  }

  /** The function's return value once the call has ended, or its error rethrown (class, cause and stack). */
  async result(): Promise<R> {
    await this.wait();
    const outcome = join(this.#dir, "outcome");
    if (!existsSync(outcome)) throw new AgentLostError(`Call ${this.taskId} failed: ${this.message ?? "it has no outcome"}`);
    return decodeOutcome(readFileSync(outcome), this.record.functionId) as R;
  }

  /** Ask the agent to cancel the call: its AbortSignal fires; result() then rejects with CancelledError. */
  async cancel(reason = "cancelled by the caller"): Promise<void> {
    if (this.isTerminal) return;
    const session = await AgentSession.open({ url: this.record.url, secret: this.record.secret });
    try {
      session.cancelById(this.taskId, reason);
      await this.wait();
    } finally {
      await session.disconnect();
    }
  }

  /** The state the agent wrote; a call whose agent is gone without an outcome failed. */
  #state(): z.infer<typeof StateFile> {
    const path = join(this.#dir, "state.json");
    const state = existsSync(path) ? StateFile.parse(JSON.parse(readFileSync(path, "utf8"))) : { status: "pending" as const };
    const ended = state.status === "completed" || state.status === "failed" || state.status === "cancelled";
    if (!ended && !isAlive(this.record.agentPid)) {
      return { status: "failed", message: `its agent (pid ${this.record.agentPid}) exited before the call ended: killed, or the machine restarted` };
    }
    return state;
  }
}

/** This machine's detached calls, newest first; a record that cannot be read is left out. */
export function listDetachedCalls(flowHome = resolveFlowHome()): DetachedCall[] {
  let names: string[];
  try {
    names = readdirSync(join(flowHome, "calls"));
  } catch {
    return [];
  }
  const calls = names.flatMap((name) => {
    try {
      return DETACHED_CALL_ID.test(name) ? [new DetachedCall(name, flowHome)] : [];
    } catch {
      return [];
    }
  });
  return calls.sort((a, b) => b.record.createdAt.localeCompare(a.record.createdAt));
}

/**
 * The outcome file's frames (records of u8 binary, u32 LE length, bytes): the result or error
 * message, then its binary parts as the wire carries them. Decoded as a live call's would be.
 */
export function decodeOutcome(file: Buffer, functionId: string): unknown {
  const frames: { binary: boolean; data: Buffer }[] = [];
  for (let at = 0; at + 5 <= file.byteLength; ) {
    const length = file.readUInt32LE(at + 1);
    frames.push({ binary: file[at] === 1, data: file.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  const [first, ...rest] = frames;
  if (!first || first.binary) throw new AgentLostError(`the outcome of a call of ${functionId} is unreadable`);
  const message = AgentMessage.parse(JSON.parse(first.data.toString("utf8")));
  const lengths = "blobs" in message && message.blobs ? message.blobs : [];
  const parts = lengths.map((length) => ({ bytes: new Uint8Array(length), filled: 0 }));
  for (const frame of rest) {
    const part = parts[frame.data.readUInt32LE(4)];
    if (!part) continue;
    const chunk = frame.data.subarray(HEADER_BYTES);
    part.bytes.set(chunk, part.filled);
    part.filled += chunk.byteLength;
  }
  const blobs = parts.map((part) => part.bytes);
  if (message.type === "result") return decode(message.value, blobs);
  if (message.type !== "error") throw new AgentLostError(`the outcome of a call of ${functionId} is a '${message.type}' message`);
  const remote = () => fromFailure(message.error, { remoteLabel: "agent", mapPath: (path) => (path.startsWith("file://") ? fileURLToPath(path) : path) });
  if (message.reason === "cancelled") throw new CancelledError(message.error.message);
  if (message.reason === "timeout") throw new FunctionTimeoutError(message.error.message);
  if (message.processEnd) {
    const how = message.processEnd.how;
    throw processEndError(functionId, message.processEnd, how === "uncaught-exception" || how === "unhandled-rejection" ? remote() : undefined);
  }
  throw remote();
}
