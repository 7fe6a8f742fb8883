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
 * local record: result() keeps working after the agent has exited. On the cloud the agent writes
 * them on its instance's disk; refresh() copies them here (the outcome once the call has ended,
 * then the instance's bid is cancelled), so result() keeps working after the instance is gone.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as z from "zod";
import { backendFor } from "../backends.ts";
import { AgentLostError, CancelledError, FlowError, FlowTimeoutError, FunctionTimeoutError, TaskNotFoundError } from "../errors.ts";
import { isAlive } from "../providers/processes.ts";
import { DetachedAgentPlace, type RemoteDetachedCall } from "../providers/provider.ts";
import { resolveFlowHome } from "../providers/flow-home.ts";
import { writeRecordFile } from "../providers/record-files.ts";
import { HEADER_BYTES } from "../runtime/channel.ts";
import { decode } from "../runtime/codec.ts";
import { fromFailure } from "../runtime/failure.ts";
import { processEndError } from "../runtime/process-end.ts";
import { AgentMessage, DEFAULT_RECONNECT_GRACE_MS, DETACHED_CALL_ID, DetachedCallStatus } from "../runtime/protocol.ts";
import { AgentSession } from "../runtime/session.ts";
import { sleep } from "../sleep.ts";
import type { TaskHandle, WaitOptions } from "../task/task-handle.ts";

/** How often wait() looks at the call's state on disk. */
const POLL_MS = 100;
/** How often wait() copies the state of a call on a cloud instance (an SFTP round trip or three). */
const REMOTE_POLL_MS = 500;

export const DetachedCallRecord = z.intersection(
  z.object({
    callId: z.string().regex(DETACHED_CALL_ID),
    functionId: z.string(),
    secret: z.string(),
    createdAt: z.string(),
    resultWindowMs: z.number().int().nonnegative(),
  }),
  DetachedAgentPlace,
);
export type DetachedCallRecord = z.infer<typeof DetachedCallRecord>;

const StateFile = z.object({ status: DetachedCallStatus, message: z.string().optional(), endedAt: z.string().optional() });

/** Whether an id names a detached call rather than a task. */
export function isDetachedCallId(id: string): boolean {
  return id.startsWith("call-");
}

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
  readonly #flowHome: string;
  readonly #dir: string;
  /** Where the call runs away from this machine (a cloud instance): its files are copied from there. */
  #remote: RemoteDetachedCall | undefined;

  /** Throws TaskNotFoundError for an id that is malformed or that this machine has no record of. */
  constructor(callId: string, flowHome = resolveFlowHome()) {
    if (!DETACHED_CALL_ID.test(callId)) {
      throw new TaskNotFoundError(`${JSON.stringify(callId)} is not a detached call id (they look like call-<12 hex digits>).`, {
        suggestions: ["Copy the id that `flow run … --detach` or spawnDetached() printed; `flow list` shows them."],
      });
    }
    this.taskId = callId;
    this.#flowHome = flowHome;
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

  /** Where the call is. On the cloud: as of the last refresh() (wait(), result() and cancel() refresh). */
  get status(): DetachedCallStatus {
    return this.#state().status;
  }

  get isRunning(): boolean {
    return this.status === "running";
  }

  get isTerminal(): boolean {
    return isEnded(this.status);
  }

  /** How it ended, in words, when it did not complete. */
  get message(): string | undefined {
    return this.#state().message;
  }

  /** What the call printed so far (on the cloud: as of the last refresh()). */
  logs(stream: "stdout" | "stderr" = "stdout"): string {
    const path = join(this.#dir, `${stream}.log`);
    return existsSync(path) ? readFileSync(path, "utf8") : "";
  }

  /**
   * What the call has cost so far ("$0.42": on the cloud, what its instance was billed, which
   * includes the result window it lingered for); undefined on this machine, or if the cloud
   * cannot be asked.
   */
  async cost(): Promise<string | undefined> {
    if (this.record.provider === "local") return undefined;
    const remote = this.#reach();
    return remote.cost().catch(() => undefined);
  }

  /**
   * On the cloud: copy the call's state and new output from its instance to this machine, and
   * once it has ended its outcome; then the instance is released (its bid cancelled) so that it
   * bills no longer. A call whose instance is gone without an outcome has failed, and says why.
   * On the local provider the agent writes here itself: nothing to do.
   */
  async refresh(): Promise<void> {
    try {
      await this.#refresh();
    } finally {
      await this.#remote?.close();
    }
  }

  /** refresh(), keeping the connection to the instance open for the next. */
  async #refresh(): Promise<void> {
    if (this.record.provider === "local" || this.isTerminal) return;
    const remote = this.#reach();
    const { gone } = await remote.copyTo(this.#dir);
    if (gone !== undefined && !this.isTerminal) await this.#writeState({ status: "failed", message: this.#goneMessage(gone) });
    if (this.isTerminal) await remote.release();
  }

  async wait(options: WaitOptions = {}): Promise<void> {
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    const pollMs = this.record.provider === "local" ? POLL_MS : REMOTE_POLL_MS;
    // An instance that cannot be reached for a moment (a dropped SSH connection) is tried again
    // for as long as a live call's session would; one that is gone ends the call at once.
    let unreachableSince: number | undefined;
    try {
      for (;;) {
        try {
          await this.#refresh();
          unreachableSince = undefined;
        } catch (error) {
          if (this.record.provider === "local") throw error;
          unreachableSince ??= Date.now();
          if (Date.now() - unreachableSince > DEFAULT_RECONNECT_GRACE_MS) {
            throw new AgentLostError(`Could not reach call ${this.taskId} for ${DEFAULT_RECONNECT_GRACE_MS / 1000} s: ${(error as Error).message}`, { cause: error });
          }
          await this.#remote?.close();
        }
        if (this.isTerminal) return;
        if (deadline !== undefined && Date.now() > deadline) {
          throw new FlowTimeoutError(`Call ${this.taskId} did not finish within ${options.timeoutMs} ms (it is ${this.status}).`);
        }
        await sleep(pollMs);
      }
    } finally {
      await this.#remote?.close();
    }
  }

  /** The function's return value once the call has ended, or its error rethrown (class, cause and stack). */
  async result(): Promise<R> {
    await this.wait();
    const outcome = join(this.#dir, "outcome");
    if (!existsSync(outcome)) {
      throw new AgentLostError(`Call ${this.taskId} failed: ${this.message ?? "it has no outcome"}`, {
        ...(this.#expired() ? { suggestions: [`Fetch results within the window (\`flow result ${this.taskId}\`), or give the function a longer resultWindowMs.`] } : {}),
      });
    }
    return decodeOutcome(readFileSync(outcome), this.record.functionId) as R;
  }

  /** Ask the agent to cancel the call: its AbortSignal fires; result() then rejects with CancelledError. */
  async cancel(reason = "cancelled by the caller"): Promise<void> {
    await this.refresh();
    if (this.isTerminal) return;
    const remote = this.record.provider === "local" ? undefined : this.#reach();
    try {
      const url = remote === undefined ? (this.record as { url: string }).url : await remote.connect();
      const session = await AgentSession.open({ url, secret: this.record.secret });
      try {
        // Settles once the agent has ended the call (its outcome is on the agent's disk).
        const ended = session.attach(this.taskId).catch(() => {});
        session.cancelById(this.taskId, reason);
        await ended;
      } finally {
        // Said goodbye before the tunnel closes: an agent keeps a session that vanished for its
        // reconnect grace, which would keep its instance up past the result window.
        await session.disconnect();
      }
      await this.wait();
    } finally {
      await remote?.close();
    }
  }

  #reach(): RemoteDetachedCall {
    const record = this.record;
    if (record.provider === "local") throw new FlowError(`Call ${this.taskId} runs on this machine.`);
    const provider = backendFor(record.provider).agents;
    if (!provider.remoteDetachedCall) throw new FlowError(`The ${record.provider} provider cannot reach detached calls.`);
    return (this.#remote ??= provider.remoteDetachedCall(record, { callId: this.taskId, secret: record.secret }));
  }

  /** Its instance is gone and the outcome was never copied here: why, as well as this machine can tell. */
  #goneMessage(gone: string): string {
    if (this.#expired()) {
      return `${gone} and the call's outcome was never fetched: it is kept on the instance for the result window (resultWindowMs=${this.record.resultWindowMs}) after the call ends, then the instance powers off (or the instance ended before the call did)`;
    }
    return `${gone} before the call's outcome was written`;
  }

  /** Whether its result window may be over: the call could have ended and its window passed since it was made. */
  #expired(): boolean {
    return this.record.provider !== "local" && Date.now() > Date.parse(this.record.createdAt) + this.record.resultWindowMs;
  }

  async #writeState(state: z.infer<typeof StateFile>): Promise<void> {
    await writeRecordFile(join(this.#dir, "state.json"), JSON.stringify({ ...state, endedAt: new Date().toISOString() }), this.#flowHome);
  }

  /** The state the agent wrote (on the cloud: its last copy); a local call whose agent is gone without an outcome failed. */
  #state(): z.infer<typeof StateFile> {
    const path = join(this.#dir, "state.json");
    const state = existsSync(path) ? StateFile.parse(JSON.parse(readFileSync(path, "utf8"))) : { status: "pending" as const };
    if (this.record.provider === "local" && !isEnded(state.status) && !isAlive(this.record.agentPid)) {
      return { status: "failed", message: `its agent (pid ${this.record.agentPid}) exited before the call ended: killed, or the machine restarted` };
    }
    return state;
  }
}

function isEnded(status: DetachedCallStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
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
