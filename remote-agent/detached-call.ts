/**
 * A detached call on the agent: a call that belongs to no client session, whose state, output and
 * outcome are written to disk as they happen, so that any client can follow it and fetch its
 * result later, whatever became of the one that started it.
 *
 *   <dir>/state.json    where the call is (CallStateMessage without its type), replaced atomically
 *        stdout.log     what the call printed, as it printed it
 *        stderr.log
 *        outcome        the protocol frames of its result or error, binary parts included, as the
 *                       worker produced them (records: u8 binary, u32 LE length, bytes); written as
 *                       outcome.part and renamed, and synced to disk, as soon as the call ends
 *
 * The call runs in the worker under a session number of its own, which no client ever holds: a
 * client that leaves cancels nothing of it. A client that attaches (AttachMessage) gets the last
 * lines of a log, the state, live lines, and the outcome, as frames on its own session.
 */
import { chownSync, closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { FunctionTimeoutError } from "../src/errors.ts";
import { READ_CHUNK_BYTES, tailStart, type ByteSource } from "../src/providers/log-lines.ts";
import { toFailure } from "../src/runtime/failure.ts";
import type { AgentMessage, CallStateMessage, DetachedCallStatus } from "../src/runtime/protocol.ts";
import type { ClientSession } from "./client-session.ts";
import { agentLog } from "./output.ts";

type Stream = "stdout" | "stderr";

interface Watcher {
  logs: { stream: Stream; follow: boolean } | undefined;
  /** While the tail of a log is being read, what happens meanwhile waits here, in order. */
  backlog: (() => Promise<void> | void)[] | undefined;
}

export interface DetachedCallFields {
  callId: string;
  functionId: string;
  /** The call's session number on the worker link. */
  number: number;
  resultWindowMs: number;
}

const RECORD_HEADER_BYTES = 5;
/** The worker writes every protocol message with `type` first (JSON.stringify of `{ type, … }`). */
const TYPE_PREFIX = /^\{"type":"([a-z-]+)"/;
/** Outcome frames are handed to a session's connection only as fast as it drains this. */
const REPLAY_HIGH_WATER_BYTES = 16 << 20;

export class DetachedCall {
  readonly callId: string;
  readonly functionId: string;
  readonly number: number;
  readonly resultWindowMs: number;
  readonly dir: string;
  status: DetachedCallStatus = "pending";
  readonly createdAt = new Date().toISOString();
  startedAt: string | undefined;
  endedAt: string | undefined;
  message: string | undefined;
  #outcomeFd: number | undefined;
  #outcomeBytes = 0;
  /** Open for as long as the agent runs: a call's child process may still print after the call ended. */
  readonly #logFds: Record<Stream, number>;
  readonly #watchers = new Map<ClientSession, Watcher>();
  #timedOut: string | undefined;
  /** Who the call's files belong to, when not to this process (see #own). */
  readonly #owner: { uid: number; gid: number } | undefined;
  /** Runs once, when the call has ended. */
  onEnd: (() => void) | undefined;

  /** Creates the call's directory and records it as pending. */
  constructor(callsDir: string, fields: DetachedCallFields) {
    this.callId = fields.callId;
    this.functionId = fields.functionId;
    this.number = fields.number;
    this.resultWindowMs = fields.resultWindowMs;
    this.dir = join(callsDir, fields.callId);
    // An agent running as root on a cloud instance keeps its calls readable by the SSH user that
    // owns the calls directory (the startup script made it so), who fetches them; still 0600.
    const owner = statSync(callsDir);
    this.#owner = process.getuid?.() === 0 && owner.uid !== 0 ? { uid: owner.uid, gid: owner.gid } : undefined;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.#own(this.dir);
    this.#logFds = { stdout: this.#openOwn(join(this.dir, "stdout.log"), "a"), stderr: this.#openOwn(join(this.dir, "stderr.log"), "a") };
    this.#writeState();
  }

  get ended(): boolean {
    return this.endedAt !== undefined;
  }

  state(): CallStateMessage {
    return {
      type: "call-state",
      callId: this.callId,
      functionId: this.functionId,
      status: this.status,
      createdAt: this.createdAt,
      resultWindowMs: this.resultWindowMs,
      ...(this.startedAt === undefined ? {} : { startedAt: this.startedAt }),
      ...(this.endedAt === undefined ? {} : { endedAt: this.endedAt }),
      ...(this.message === undefined ? {} : { message: this.message }),
    };
  }

  /** A protocol frame the worker sent for the call: `started`, or (part of) its outcome. */
  onFrame(binary: boolean, payload: Buffer): void {
    if (!binary && TYPE_PREFIX.exec(payload.subarray(0, 32).toString("latin1"))?.[1] === "started") {
      this.status = "running";
      this.startedAt = new Date().toISOString();
      this.#writeState();
      return;
    }
    this.#record(binary, payload);
  }

  /** A message about the call from the control plane: its output, or how it ended when its process did. */
  onMessage(message: AgentMessage): void {
    if (message.type === "log") {
      const stream = message.stream;
      writeAll(this.#logFds[stream], Buffer.from(message.data));
      for (const [session, watcher] of this.#watchers) {
        if (watcher.logs?.follow && watcher.logs.stream === stream) this.#toWatcher(watcher, () => session.send(message));
      }
    } else if (message.type !== "started") {
      this.#record(false, Buffer.from(JSON.stringify(message)));
    }
  }

  /** The agent cancelled it for running past its timeoutMs (`reason` says so): it ends as a timeout. */
  timedOut(reason: string): void {
    this.#timedOut = reason;
  }

  /** The call's last frame is in: the outcome goes to disk for good, and to everyone following. */
  finish(): void {
    if (this.ended) return;
    this.onEnd?.();
    let outcome = this.#outcomeFd === undefined ? undefined : this.#firstRecord();
    const parsed = outcome === undefined ? undefined : describeOutcome(outcome);
    if (parsed === undefined || (this.#timedOut !== undefined && parsed.reason === "cancelled")) {
      // Nothing came (the worker ended without a word), or the cancel was the agent's timeout.
      const error = this.#timedOut === undefined ? { name: "AgentLostError", message: `the call ${this.callId} ended without an outcome` } : toFailure(new FunctionTimeoutError(this.#timedOut));
      const reason = this.#timedOut === undefined ? "lost" : "timeout";
      if (this.#outcomeFd !== undefined) closeSync(this.#outcomeFd);
      this.#outcomeFd = undefined;
      this.#outcomeBytes = 0;
      outcome = Buffer.from(JSON.stringify({ type: "error", callId: this.callId, reason, error }));
      this.#record(false, outcome);
    }
    const { status, message } = describeOutcome(outcome!) ?? { status: "failed" as const, message: undefined };
    fsyncSync(this.#outcomeFd!);
    closeSync(this.#outcomeFd!);
    this.#outcomeFd = undefined;
    renameSync(join(this.dir, "outcome.part"), join(this.dir, "outcome"));
    this.status = status;
    this.message = message;
    this.endedAt = new Date().toISOString();
    this.#writeState();
    for (const [session, watcher] of this.#watchers) this.#toWatcher(watcher, () => this.#sendEnd(session));
  }

  /** `session` follows the call (see AttachMessage). */
  attach(session: ClientSession, logs: { stream: Stream; tail: number; follow: boolean } | undefined): void {
    const watcher: Watcher = { logs: logs === undefined ? undefined : { stream: logs.stream, follow: logs.follow }, backlog: undefined };
    this.#watchers.set(session, watcher);
    if (logs !== undefined && logs.tail > 0) {
      watcher.backlog = [];
      // What is written from now on reaches the watcher live (through the backlog): the tail ends here.
      const size = fstatSync(this.#logFds[logs.stream]).size;
      void this.#sendTail(session, logs.stream, logs.tail, size)
        .catch((error: unknown) => agentLog(`flow-agent: reading the ${logs.stream} of ${this.callId}: ${(error as Error).message}\n`))
        .finally(async () => {
          const backlog = watcher.backlog ?? [];
          watcher.backlog = undefined;
          for (const next of backlog) await this.#run(next);
        });
    }
    this.#toWatcher(watcher, () => {
      session.send(this.state());
      if (this.ended) return this.#sendOutcome(session);
    });
  }

  /** The session is over. */
  forget(session: ClientSession): void {
    this.#watchers.delete(session);
  }

  #toWatcher(watcher: Watcher, action: () => Promise<void> | void): void {
    if (watcher.backlog) watcher.backlog.push(action);
    else void this.#run(action);
  }

  async #run(action: () => Promise<void> | void): Promise<void> {
    try {
      await action();
    } catch (error) {
      agentLog(`flow-agent: sending ${this.callId} to a client: ${(error as Error).message}\n`);
    }
  }

  async #sendEnd(session: ClientSession): Promise<void> {
    session.send(this.state());
    await this.#sendOutcome(session);
  }

  /** The outcome's frames, read back from disk, as fast as the session's connection takes them. */
  async #sendOutcome(session: ClientSession): Promise<void> {
    const handle = await open(join(this.dir, "outcome"), "r");
    try {
      const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
      for (let at = 0; ; ) {
        if ((await handle.read(header, 0, RECORD_HEADER_BYTES, at)).bytesRead < RECORD_HEADER_BYTES) return;
        const length = header.readUInt32LE(1);
        const data = Buffer.allocUnsafe(length);
        let read = 0;
        while (read < length) read += (await handle.read(data, read, length - read, at + RECORD_HEADER_BYTES + read)).bytesRead;
        at += RECORD_HEADER_BYTES + length;
        session.frame(data, header[0] === 1);
        while ((session.ws?.bufferedAmount ?? 0) > REPLAY_HIGH_WATER_BYTES) await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      await handle.close();
    }
  }

  /** The last `tail` lines of a log, as `log` messages (cut between characters, not inside one). */
  async #sendTail(session: ClientSession, stream: Stream, tail: number, size: number): Promise<void> {
    const handle = await open(join(this.dir, `${stream}.log`), "r");
    try {
      const source: ByteSource = {
        size: async () => (await handle.stat()).size,
        read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
      };
      const decoder = new StringDecoder("utf8");
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      for (let at = await tailStart(source, tail, size); at < size; ) {
        const read = await source.read(buffer.subarray(0, Math.min(READ_CHUNK_BYTES, size - at)), at);
        if (read === 0) break;
        at += read;
        const data = decoder.write(buffer.subarray(0, read));
        if (data !== "") session.send({ type: "log", callId: this.callId, stream, data });
      }
      const rest = decoder.end();
      if (rest !== "") session.send({ type: "log", callId: this.callId, stream, data: rest });
    } finally {
      await handle.close();
    }
  }

  #record(binary: boolean, payload: Buffer): void {
    // Read back too: finish() reads the first record to tell how the call ended.
    this.#outcomeFd ??= this.#openOwn(join(this.dir, "outcome.part"), "w+");
    const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    header[0] = binary ? 1 : 0;
    header.writeUInt32LE(payload.byteLength, 1);
    writeAll(this.#outcomeFd, header, this.#outcomeBytes);
    writeAll(this.#outcomeFd, payload, this.#outcomeBytes + RECORD_HEADER_BYTES);
    this.#outcomeBytes += RECORD_HEADER_BYTES + payload.byteLength;
  }

  /** The outcome's first frame: the result or error message. */
  #firstRecord(): Buffer | undefined {
    if (this.#outcomeBytes < RECORD_HEADER_BYTES) return undefined;
    const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    readSync(this.#outcomeFd!, header, 0, RECORD_HEADER_BYTES, 0);
    // Only its start tells a result; an error is small and read whole.
    const length = Math.min(header.readUInt32LE(1), 1 << 20);
    const data = Buffer.allocUnsafe(length);
    readSync(this.#outcomeFd!, data, 0, length, RECORD_HEADER_BYTES);
    return data;
  }

  #writeState(): void {
    const { type: _type, ...state } = this.state();
    const path = join(this.dir, "state.json");
    writeFileSync(`${path}.part`, JSON.stringify(state), { mode: 0o600 });
    this.#own(`${path}.part`);
    renameSync(`${path}.part`, path);
  }

  #openOwn(path: string, flags: string): number {
    const fd = openSync(path, flags, 0o600);
    this.#own(path);
    return fd;
  }

  #own(path: string): void {
    if (this.#owner !== undefined) chownSync(path, this.#owner.uid, this.#owner.gid);
  }
}

/** What an outcome's first frame says: completed, or how the call did not. */
function describeOutcome(first: Buffer): { status: DetachedCallStatus; message: string | undefined; reason?: string } | undefined {
  const type = TYPE_PREFIX.exec(first.subarray(0, 32).toString("latin1"))?.[1];
  if (type === "result") return { status: "completed", message: undefined };
  if (type !== "error") return undefined;
  try {
    const error = JSON.parse(first.toString("utf8")) as { reason?: string; error?: { name?: string; message?: string } };
    const what = `${error.error?.name ?? "Error"}: ${error.error?.message ?? ""}`;
    const status = error.reason === "cancelled" ? "cancelled" : "failed";
    return { status, message: error.reason === "cancelled" ? (error.error?.message ?? "cancelled") : what, ...(error.reason === undefined ? {} : { reason: error.reason }) };
  } catch {
    return { status: "failed", message: "its error could not be read" };
  }
}

function writeAll(fd: number, data: Buffer, position?: number): void {
  for (let written = 0; written < data.byteLength; ) {
    written += writeSync(fd, data, written, data.byteLength - written, position === undefined ? null : position + written);
  }
}
