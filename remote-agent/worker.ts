/**
 * The worker: the process in which the user's code runs, started and supervised by the agent's
 * control plane (agent.ts). It loads the user's modules once, runs calls concurrently, and speaks
 * to the control plane over fd 3 (in) and fd 4 (out, see outbox.ts); it never touches the network.
 *
 * Calls arrive as the protocol's own frames, already validated by the control plane; results leave
 * the same way, and the control plane forwards them as they are. What the code prints is tagged
 * with its call. Before the worker ends itself (the code called process.exit(), or threw where
 * nothing catches) it tells the control plane which call did it; a rejection nothing handles fails
 * only the call it came from, and the worker carries on.
 */
import { Socket } from "node:net";
import { inspect } from "node:util";
import { getHeapStatistics } from "node:v8";
import { fileURLToPath, pathToFileURL } from "node:url";
import { callContextStorage, type CallContext, type CallScope } from "../src/app/call-context.ts";
import { nameFromExports } from "../src/app/exports.ts";
import { assignId, findFunction, isStopLoading, registry } from "../src/app/registry.ts";
import { runImplementation } from "../src/app/remote-function.ts";
import { MODULE_NAMESPACES_GLOBAL } from "../src/bundler/agent-entry.ts";
import { AGENT_SDK_GLOBAL } from "../src/bundler/sdk-alias.ts";
import { isAnonymousFrame, isNodeFrame, withoutFrames } from "../src/stack-frames.ts";
import { agentSdk } from "./agent-sdk.ts";
import { CancelledError } from "../src/errors.ts";
import { BlobAssembly } from "../src/runtime/blob-assembly.ts";
import { CHUNK_BYTES, DEFAULT_MAX_PAYLOAD_BYTES, HEADER_BYTES, payloadTooLarge } from "../src/runtime/channel.ts";
import { decode, encode, encodedKey } from "../src/runtime/codec.ts";
import { dropHugePages } from "../src/runtime/huge-pages.ts";
import { toFailure } from "../src/runtime/failure.ts";
import { MAX_BATCH_CALLS, type AgentMessage, type ClientMessage, type EncodedValue, type Failure, type FunctionInfo, type ProcessEnd } from "../src/runtime/protocol.ts";
import { killTagged } from "../src/providers/processes.ts";
import { tagChildren } from "./child-tag.ts";
import { timingMark } from "../src/debug-timing.ts";
import { Outbox } from "./outbox.ts";
import { agentLog, captureOutput, withOutput, type OutputSink } from "./output.ts";
import { WarmInstances } from "./warm-instances.ts";
import { FrameKind, FrameReader, WORKER_TAG_VARIABLE, blobFrameHeader, payloadOf, type Frame, type FromWorker, type ToWorker } from "./worker-link.ts";

/** Binary bytes a session may have in flight before its sender waits for the control plane. */
const SEND_WINDOW_BYTES = 16 << 20;
/** Most characters of batched results gathered into one `results` message. */
const RESULTS_BATCH_CHARS = 1 << 20;
const AGENT_FILE = fileURLToPath(import.meta.url);

type CallMessage = Extract<ClientMessage, { type: "call" }>;

const scopes = callContextStorage();

/**
 * A call's cancellation. Its AbortSignal is made only when the code asks for it (currentCall()):
 * most calls never do, and an AbortController costs more than a warm call's whole work here.
 */
class CallAbort {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** A call in progress; `credit` and `wake` drive streaming calls (see #pump). */
interface CallState {
  session: number;
  callId: string;
  functionId: string;
  abort: CallAbort;
  credit: number;
  wake: (() => void) | undefined;
  /** Its last frame is sent (or it failed early, on an unhandled rejection): nothing more goes out for it. */
  ended: boolean;
}

/** The scope a call's code runs in, with the call's state: to find the call an uncaught error came from. */
interface RunningScope extends CallScope {
  readonly state: CallState;
}

function stateOf(scope: CallScope | undefined): CallState | undefined {
  return scope !== undefined && "state" in scope ? (scope as RunningScope).state : undefined;
}

interface SessionState {
  maxPayloadBytes: number;
  calls: Map<string, CallState>;
  /** Calls whose arguments are still arriving: their blob streams by stream id, and the streams by call id. */
  assemblies: Map<number, BlobAssembly<CallMessage>>;
  arriving: Map<string, number>;
  nextStream: number;
  /** Binary bytes sent and not yet delivered to the client's socket. */
  inFlight: number;
  windowWaiters: (() => void)[];
  closed: boolean;
  /** Results of batched calls waiting to go out together (see #queueResult): each `{"callId":…,"value":…}`, and their ids. */
  results: string[];
  resultIds: string[];
  resultChars: number;
}

/** Users debug their own code: drop the agent's frames and Node's internals from remote stacks. */
function withoutAgentFrames(failure: Failure): Failure {
  const stack = failure.stack === undefined ? undefined : withoutFrames(failure.stack, (frame) => frame.includes(AGENT_FILE) || isNodeFrame(frame) || isAnonymousFrame(frame));
  const cause = failure.cause && "name" in failure.cause ? withoutAgentFrames(failure.cause as Failure) : failure.cause;
  return { ...failure, stack, cause, errors: failure.errors?.map(withoutAgentFrames) };
}

class Worker {
  readonly #outbox: Outbox;
  readonly #sessions = new Map<number, SessionState>();
  readonly #instances = new WarmInstances();
  #loaded: Promise<FunctionInfo[]> | undefined;
  /** How #loaded settled, so that calls after it need not wait a turn for it. */
  #loadSettled: "loaded" | "failed" | undefined;
  /** Sessions with batched results waiting, and whether a flush is scheduled. */
  readonly #resultsDue = new Set<number>();
  #flushScheduled = false;
  #exitHooks: Promise<void> | undefined;

  constructor(outbox: Outbox) {
    this.#outbox = outbox;
  }

  control(message: FromWorker): void {
    this.#outbox.frame(FrameKind.control, 0, "", JSON.stringify(message));
  }

  /** Where output goes for one call (or, with callId "", for the session as a whole; session 0: everyone). */
  sink(session: number, callId: string): OutputSink {
    return (stream, data) => this.#outbox.log(session, callId, stream, data);
  }

  onFrame(frame: Frame): void {
    switch (frame.kind) {
      case FrameKind.text:
        this.#onMessage(frame.session, JSON.parse(payloadOf(frame).toString("utf8")) as ClientMessage);
        return;
      case FrameKind.binary:
        this.#onBinary(frame.session, frame.parts);
        return;
      case FrameKind.control:
        this.#onControl(JSON.parse(payloadOf(frame).toString("utf8")) as ToWorker);
        return;
    }
  }

  #session(session: number): SessionState {
    let state = this.#sessions.get(session);
    if (!state) {
      state = {
        maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
        calls: new Map(),
        assemblies: new Map(),
        arriving: new Map(),
        nextStream: 1,
        inFlight: 0,
        windowWaiters: [],
        closed: false,
        results: [],
        resultIds: [],
        resultChars: 0,
      };
      this.#sessions.set(session, state);
    }
    return state;
  }

  #onControl(message: ToWorker): void {
    switch (message.type) {
      case "load":
        this.#loaded ??= this.#load(message);
        this.#loaded.then(
          (functions) => {
            this.#loadSettled = "loaded";
            this.control({ type: "loaded", functions });
          },
          (error: unknown) => {
            this.#loadSettled = "failed";
            this.control({ type: "load-failed", error: withoutAgentFrames(toFailure(error)) });
          },
        );
        return;
      case "session":
        this.#session(message.session).maxPayloadBytes = message.maxPayloadBytes;
        return;
      case "closed": {
        const state = this.#sessions.get(message.session);
        if (!state) return;
        state.closed = true;
        this.#flushResults(message.session);
        this.#sessions.delete(message.session);
        // Nobody is left to receive these results: stop the work.
        for (const call of state.calls.values()) {
          call.abort.abort(new CancelledError("the client disconnected"));
          call.wake?.();
        }
        for (const wake of state.windowWaiters.splice(0)) wake();
        // Calls that never started: the control plane must still hear they are over.
        for (const callId of state.arriving.keys()) this.#outbox.frame(FrameKind.ended, message.session, callId, "");
        return;
      }
      case "delivered": {
        const state = this.#sessions.get(message.session);
        if (!state) return;
        state.inFlight -= message.bytes;
        if (state.inFlight <= SEND_WINDOW_BYTES / 2) for (const wake of state.windowWaiters.splice(0)) wake();
        return;
      }
      case "exit-hooks":
        void withOutput(this.sink(0, ""), () => this.exitHooks()).then(() => this.control({ type: "exit-hooks-done" }));
        return;
    }
  }

  #onMessage(session: number, message: ClientMessage): void {
    switch (message.type) {
      case "call": {
        const lengths = message.blobs ?? [];
        if (lengths.length === 0 || message.blobStream === undefined) {
          void this.#call(session, message, []);
          return;
        }
        const assembly = new BlobAssembly(message, lengths);
        if (assembly.complete) {
          void this.#call(session, message, assembly.blobs());
        } else {
          const state = this.#session(session);
          state.assemblies.set(message.blobStream, assembly);
          state.arriving.set(message.callId, message.blobStream);
        }
        return;
      }
      case "calls": {
        const { functionId, init, calls } = message;
        for (const call of calls) void this.#call(session, { type: "call", callId: call.callId, functionId, args: call.args, ...(init ? { init } : {}) }, [], true);
        return;
      }
      case "credit": {
        const call = this.#sessions.get(session)?.calls.get(message.callId);
        if (call) {
          call.credit += message.count;
          call.wake?.();
        }
        return;
      }
      case "cancel": {
        const state = this.#sessions.get(session);
        const reason = new CancelledError(message.reason ?? "cancelled by the caller");
        const stream = state?.arriving.get(message.callId);
        if (state && stream !== undefined) {
          // Cancelled before its arguments were all in: it ends here, having never started.
          state.arriving.delete(message.callId);
          state.assemblies.delete(stream);
          const error: AgentMessage = { type: "error", callId: message.callId, error: toFailure(reason), reason: "cancelled" };
          this.#outbox.frame(FrameKind.text, session, message.callId, JSON.stringify(error));
          return;
        }
        const call = state?.calls.get(message.callId);
        call?.abort.abort(reason);
        call?.wake?.();
        return;
      }
      case "stop":
        // The hooks print to the client that asked, which is still connected to see it.
        void withOutput(this.sink(session, ""), () => this.exitHooks()).then(() => this.#send(session, { type: "stopped" }));
        return;
      case "init":
        return;
    }
  }

  /** A chunk of a call's arguments; the control plane checked its stream and sizes already. */
  #onBinary(session: number, parts: Buffer[]): void {
    const state = this.#session(session);
    // The blob header is in the first part but for the rarest of splits.
    const head = parts[0]!.byteLength >= HEADER_BYTES ? parts[0]! : Buffer.concat(parts).subarray(0, HEADER_BYTES);
    const assembly = state.assemblies.get(head.readUInt32LE(0));
    if (!assembly) return;
    const index = head.readUInt32LE(4);
    let skip = HEADER_BYTES;
    for (const part of parts) {
      if (skip >= part.byteLength) {
        skip -= part.byteLength;
        continue;
      }
      if (!assembly.add(index, skip > 0 ? part.subarray(skip) : part)) return;
      skip = 0;
    }
    const stream = head.readUInt32LE(0);
    if (assembly.complete) {
      state.assemblies.delete(stream);
      state.arriving.delete(assembly.message.callId);
      void this.#call(session, assembly.message, assembly.blobs());
    }
  }

  /**
   * Import the user's modules once, with their environment in place, in remote mode. Loading ends
   * when the bundle has run, or when a module reaches app.run() (which holds it there for good, see
   * registry.ts entrypointReached). Functions are then named from each module's exports; one that no
   * export names is still reachable by its site, which the client knows too.
   */
  async #load(message: Extract<ToWorker, { type: "load" }>): Promise<FunctionInfo[]> {
    Object.assign(process.env, message.env, message.secrets);
    const reg = registry();
    reg.mode = "remote";
    const globals = globalThis as Record<symbol, unknown>;
    // The bundle's `import ... from "flow-sdk"` reads this (see sdk-alias.ts).
    globals[Symbol.for(AGENT_SDK_GLOBAL)] = agentSdk;
    const namespaces = new Map<string, Record<string, unknown>>();
    globals[Symbol.for(MODULE_NAMESPACES_GLOBAL)] = namespaces;
    const reachedEntrypoint = new Promise<void>((resolve) => (reg.onEntrypoint = resolve));
    await withOutput(this.sink(message.session, ""), () =>
      Promise.race([import(pathToFileURL(message.entry).href), reachedEntrypoint]).catch((error: unknown) => {
        if (!isStopLoading(error)) throw error;
      }),
    );
    timingMark("worker: user modules loaded");
    for (const namespace of namespaces.values()) nameFromExports(namespace, { exposeExports: message.exposeExports });
    return reg.functions.flatMap((f) => {
      if (f.id === undefined && f.site !== undefined) assignId(f, f.site);
      return f.id === undefined ? [] : [{ id: f.id, kind: f.kind, index: f.index, ...(f.site === undefined ? {} : { site: f.site }) }];
    });
  }

  /** `batched`: it came in a `calls` message; its plain result goes out with the others of this turn. */
  async #call(session: number, message: CallMessage, blobs: Uint8Array[], batched = false): Promise<void> {
    const { callId, functionId } = message;
    const state: CallState = {
      session,
      callId,
      functionId,
      abort: new CallAbort(),
      credit: message.credit ?? 0,
      wake: undefined,
      ended: false,
    };
    const sessionState = this.#session(session);
    sessionState.calls.set(callId, state);
    try {
      // A call can only name a function once the module is loaded (init comes first on every session).
      // Once loaded, a call starts in this turn: most calls come after the load.
      if (this.#loadSettled !== "loaded") {
        try {
          await this.#loaded;
        } catch (error) {
          // Only after a restart: the first load's failure reached the client as init-error.
          await this.#fail(state, error, "lost", { how: "load-failed" });
          return;
        }
      }
      const record = findFunction(functionId);
      if (!record) {
        const known = registry().functions.map((f) => f.id).filter(Boolean).join(", ") || "none";
        await this.#fail(state, new Error(`No remote function '${functionId}' in this module (known: ${known}).`), "unknown-function");
        return;
      }
      if (record.streaming && message.credit === undefined) {
        // Its items need a reader that grants credit: a detached call, or invoke(), has none.
        await this.#fail(state, new Error(`${functionId} is a streaming (async generator) function: call it with .remote() and iterate what it yields.`), "bad-arguments");
        return;
      }
      let args: unknown;
      let init: unknown[] = [];
      const argBlobs = message.argBlobs ?? blobs.length;
      try {
        args = decode(message.args, blobs.slice(0, argBlobs));
        if (!Array.isArray(args)) throw new TypeError("arguments must arrive as an array");
        if (message.init) init = decode(message.init, blobs.slice(argBlobs)) as unknown[];
      } catch (error) {
        await this.#fail(state, error, "bad-arguments");
        return;
      }

      const { abort } = state;
      // "started" only matters for calls that take a while: a call that settles within this turn of
      // the event loop goes straight to its result, one message instead of two.
      // Nobody listens for it on a batched call (map).
      const started = batched
        ? undefined
        : setImmediate(() => {
            if (!state.ended) void this.#send(session, { type: "started", callId });
          });
      const context: CallContext = {
        callId,
        functionId,
        get signal() {
          return abort.signal;
        },
      };
      const scope: RunningScope = { call: context, output: this.sink(session, callId), state };
      try {
        // A plain function's promise is awaited as it is: no async step of our own around it.
        const value = await scopes.run(scope, () =>
          record.kind !== "method" && !record.streaming
            ? runImplementation(record, args as unknown[], undefined)
            : (async () => {
                const self = record.kind === "method" ? await this.#instances.get(record, init, encodedKey(message.init, blobs.slice(argBlobs))) : undefined;
                const result = await runImplementation(record, args as unknown[], self);
                return record.streaming ? await this.#pump(state, result as AsyncIterator<unknown>) : result;
              })(),
        );
        clearImmediate(started);
        if (abort.aborted) {
          await this.#fail(state, abort.reason, "cancelled");
          return;
        }
        const encoded = encode(value, "result");
        if (batched && encoded.blobs.length === 0 && this.#queueResult(state, encoded.value)) return;
        await this.#send(session, { type: "result", callId, value: encoded.value }, encoded.blobs, state);
      } catch (error) {
        clearImmediate(started);
        await this.#fail(state, error, abort.aborted ? "cancelled" : "exception");
      }
    } finally {
      sessionState.calls.delete(callId);
    }
  }

  /**
   * Keep a batched call's plain result to send with the others that end in this turn: one
   * `results` message (and one write) for many calls. False when it must go on its own (too large
   * to share a message).
   */
  #queueResult(call: CallState, value: EncodedValue): boolean {
    const state = this.#sessions.get(call.session);
    if (!state || state.closed) return false;
    const item = JSON.stringify({ callId: call.callId, value });
    if (item.length > RESULTS_BATCH_CHARS || item.length + 64 > state.maxPayloadBytes) return false;
    if (state.resultChars + item.length + 64 > Math.min(RESULTS_BATCH_CHARS, state.maxPayloadBytes) || state.results.length === MAX_BATCH_CALLS) this.#flushResults(call.session);
    call.ended = true;
    if (state.results.length === 0) this.#resultsDue.add(call.session);
    state.results.push(item);
    state.resultIds.push(call.callId);
    state.resultChars += item.length + 1;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flushResults());
    }
    return true;
  }

  /** Send every batched result waiting (each turn, and before the worker ends itself). */
  flushResults(): void {
    this.#flushScheduled = false;
    for (const session of this.#resultsDue) this.#flushResults(session);
  }

  #flushResults(session: number): void {
    this.#resultsDue.delete(session);
    const state = this.#sessions.get(session);
    if (!state || state.results.length === 0) return;
    const { results, resultIds } = state;
    state.results = [];
    state.resultIds = [];
    state.resultChars = 0;
    if (state.closed) {
      for (const callId of resultIds) this.#outbox.frame(FrameKind.ended, session, callId, "");
      return;
    }
    this.#outbox.frame(FrameKind.textEndingMany, session, resultIds.join("\n"), `{"type":"results","results":[${results.join(",")}]}`);
  }

  /**
   * Drive a generator: one item per credit the client granted, so a slow reader slows the
   * generator down instead of filling memory. On cancel the generator is closed (its finally
   * blocks run). Returns the generator's return value.
   */
  async #pump(state: CallState, generator: AsyncIterator<unknown>): Promise<unknown> {
    const { abort } = state;
    try {
      for (;;) {
        while (state.credit === 0 && !abort.aborted) await new Promise<void>((resolve) => (state.wake = resolve));
        if (abort.aborted) return undefined;
        const next = await generator.next();
        if (next.done) return next.value;
        state.credit--;
        const encoded = encode(next.value, "yielded value");
        await this.#send(state.session, { type: "yield", callId: state.callId, value: encoded.value }, encoded.blobs);
      }
    } finally {
      if (abort.aborted) await generator.return?.(undefined);
    }
  }

  /** End a call with an error (nothing, if it has ended already). */
  async #fail(state: CallState, error: unknown, reason: Extract<AgentMessage, { type: "error" }>["reason"], processEnd?: ProcessEnd): Promise<void> {
    if (state.ended) return;
    const failure = withoutAgentFrames(toFailure(error));
    await this.#send(state.session, { type: "error", callId: state.callId, error: failure, reason, ...(processEnd ? { processEnd } : {}) }, [], state);
  }

  /**
   * Send a message and its binary parts to a session. With `ending`, the message is the call's
   * last: the call is marked ended, and the control plane told so with the last frame.
   */
  async #send(session: number, message: AgentMessage, blobs: Uint8Array[] = [], ending?: CallState): Promise<void> {
    if (ending?.ended) return;
    const state = this.#sessions.get(session);
    const text = state && blobs.length > 0 ? JSON.stringify({ ...message, blobStream: state.nextStream, blobs: blobs.map((b) => b.byteLength) }) : JSON.stringify(message);
    const bytes = blobs.reduce((sum, blob) => sum + blob.byteLength, text.length);
    if (state && bytes > state.maxPayloadBytes) {
      const error = payloadTooLarge(message.type, bytes, state.maxPayloadBytes);
      // A result too large to send becomes the call's error; a yielded value's fails the generator.
      if (ending) return this.#fail(ending, error, "exception");
      throw error;
    }
    if (ending) ending.ended = true;
    // The call's last frame carries its id: the control plane's sign that the call is over.
    const endId = ending?.callId ?? "";
    if (!state || state.closed) {
      // The client is gone; the control plane still needs to know the call is over.
      if (ending) this.#outbox.frame(FrameKind.ended, session, endId, "");
      return;
    }
    const lastBlob = blobs.findLastIndex((blob) => blob.byteLength > 0);
    this.#outbox.frame(FrameKind.text, session, lastBlob === -1 ? endId : "", text);
    if (lastBlob === -1) return;
    const stream = state.nextStream++;
    for (let index = 0; index <= lastBlob; index++) {
      const blob = blobs[index]!;
      for (let offset = 0; offset < blob.byteLength; offset += CHUNK_BYTES) {
        // At most a window of bytes on their way: a slow client slows this sender, not the worker.
        while (state.inFlight > SEND_WINDOW_BYTES && !state.closed) await new Promise<void>((resolve) => state.windowWaiters.push(resolve));
        if (state.closed) {
          if (ending) this.#outbox.frame(FrameKind.ended, session, endId, "");
          return;
        }
        const end = Math.min(offset + CHUNK_BYTES, blob.byteLength);
        state.inFlight += HEADER_BYTES + end - offset;
        const last = index === lastBlob && end === blob.byteLength;
        const chunk = blob.subarray(offset, end);
        this.#outbox.frames([blobFrameHeader(session, last ? endId : "", stream, index, chunk.byteLength), chunk]);
      }
    }
  }

  /** A rejection nothing handled, raised by a running call's code: that call fails with it. */
  onUnhandledRejection(reason: unknown): void {
    const scope = scopes.getStore();
    const context = scope?.call;
    const state = stateOf(scope);
    if (state && !state.ended) {
      state.abort.abort(reason);
      state.wake?.();
      void this.#fail(state, reason, "crashed", { how: "unhandled-rejection" });
      return;
    }
    const where = context ? `from a call of ${context.functionId} that had already ended` : "outside any call";
    process.stderr.write(`flow-agent: a promise rejection nothing handled, ${where} (ignored): ${inspect(reason)}\n`);
  }

  /** What the control plane is told before the worker ends itself. */
  dying(how: "exit" | "uncaught-exception", exitCode: number, error?: unknown): FromWorker {
    const scope = scopes.getStore();
    const context = scope?.call;
    const state = stateOf(scope);
    return {
      type: "dying",
      how,
      exitCode,
      ...(state ? { session: state.session, callId: state.callId, callRunning: !state.ended } : {}),
      ...(context ? { functionId: context.functionId } : {}),
      ...(error === undefined ? {} : { error: withoutAgentFrames(toFailure(error)) }),
    };
  }

  /**
   * Run the warm instances' @exit() hooks, once: a client's `stop` and the control plane's own
   * shutdown may both ask, and each must wait for the same run.
   */
  exitHooks(): Promise<void> {
    this.#exitHooks ??= this.#instances.exit((error) => console.error(`flow-agent: an @exit() hook failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
    return this.#exitHooks;
  }
}

/** The worker's main: wire fd 3 and 4, the output capture and the crash handlers. */
export function runWorker(): void {
  dropHugePages(process.env);
  const tag = process.env[WORKER_TAG_VARIABLE];
  // Stops this worker's processes and ends it: the control plane is gone, nobody is left to do it.
  const orphaned = () => {
    if (tag) killTagged(`${WORKER_TAG_VARIABLE}=${tag}`, "SIGKILL");
    try {
      process.kill(-process.pid, "SIGKILL");
    } finally {
      realExit(1);
    }
  };
  const realExit = process.exit.bind(process) as (code?: number) => never;
  const outbox = new Outbox(orphaned);
  const worker = new Worker(outbox);
  process.setSourceMapsEnabled(true);
  if (tag) tagChildren(WORKER_TAG_VARIABLE, tag);
  captureOutput(worker.sink(0, ""));

  const die = (report: FromWorker, exitCode: number): never => {
    worker.flushResults();
    outbox.flush();
    worker.control(report);
    return realExit(exitCode);
  };
  process.exit = ((code?: number | string | null) => {
    const exitCode = Number(code ?? process.exitCode ?? 0) || 0;
    return die(worker.dying("exit", exitCode), exitCode);
  }) as typeof process.exit;
  process.on("uncaughtException", (error) => {
    // As node would print it, on the real stderr: the control plane keeps its last lines.
    agentLog(`Uncaught ${inspect(error)}\n`);
    die(worker.dying("uncaught-exception", 1, error), 1);
  });
  process.on("unhandledRejection", (reason) => worker.onUnhandledRejection(reason));

  const input = new Socket({ fd: 3, readable: true, writable: false });
  const reader = new FrameReader((frame) => worker.onFrame(frame));
  input.on("data", (chunk: Buffer) => reader.push(chunk));
  input.on("end", orphaned).on("error", orphaned);
  worker.control({ type: "hello", pid: process.pid, heapLimitBytes: getHeapStatistics().heap_size_limit });
}
