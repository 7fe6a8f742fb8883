/**
 * The client end of one agent session: init, calls, cancellation, logs, heartbeats, and
 * reconnection.
 *
 * The agent is judged alive on its heartbeat and on any byte it sends (see liveness.ts), never on
 * how long a call or a transfer takes. A session outlives its connection: when the connection
 * drops (a Wi-Fi blip, a laptop that slept, an SSH tunnel cut), the session reaches the same agent
 * again through `reconnect` and resumes where it stopped (see RESUME_HEADER in protocol.ts); its
 * calls keep running on the agent meanwhile and every result arrives exactly once. Only when the
 * agent is gone, or cannot be reached within `reconnectGraceMs`, do its calls fail with
 * AgentLostError (and go to the retry policy).
 */
import type { IncomingMessage } from "node:http";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { AgentLostError, CancelledError, FunctionTimeoutError, PayloadTooLargeError, TaskNotFoundError } from "../errors.ts";
import { sleep } from "../sleep.ts";
import { Channel } from "./channel.ts";
import { decode, encode } from "./codec.ts";
import { fromFailure } from "./failure.ts";
import { Liveness } from "./liveness.ts";
import { processEndError } from "./process-end.ts";
import { SignalWatch } from "./signal-watch.ts";
import {
  AUTH_HEADER,
  AgentMessage,
  CLIENT_MISSED_HEARTBEATS,
  DEFAULT_RECONNECT_GRACE_MS,
  EXIT_HOOKS_LIMIT_MS,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  RESUME_HEADER,
  SESSION_HEADER,
  bearer,
  type CallStateMessage,
  type ClientMessage,
  type DetachOptions,
  type EncodedValue,
  type Failure,
  type FunctionInfo,
} from "./protocol.ts";

/** The errorCode of an AgentLostError that says the agent is gone for good: a session stops trying to reach it. */
export const AGENT_GONE = "agent_gone";

export type LogHandler = (callId: string | null, stream: "stdout" | "stderr", data: string) => void;

/** How to reach an agent: its URL, its secret, and how to find it again when the connection drops. */
export interface AgentAddress {
  url: string;
  secret: string;
  /**
   * The agent's URL once more, after the connection dropped (on the cloud: a new SSH tunnel to the
   * same instance). Rejects with AgentLostError when the agent is gone for good (its process
   * ended, its instance was preempted), so calls fail at once instead of after the grace window.
   * Without it, a dropped connection ends the session.
   */
  reconnect?: (() => Promise<string>) | undefined;
  /** How long to keep trying to reach the agent again; the agent keeps the session that long too. */
  reconnectGraceMs?: number | undefined;
}

export interface SessionOptions extends AgentAddress {
  env?: Record<string, string>;
  secrets?: Record<string, string>;
  exposeExports?: boolean;
  /** Largest arguments or result of one call, in bytes; applies in both directions. */
  maxPayloadBytes?: number;
  onLog: LogHandler;
}

/** How many items a streaming call may yield ahead of the caller's reading. */
const STREAM_WINDOW = 16;
/**
 * Calls per `calls` message (at most MAX_BATCH_CALLS). A map's window of a few hundred inputs goes
 * out as several messages rather than one, so the agent's worker starts on the first while the
 * rest are on their way and results flow back while it works. In A/B runs 32 did better than the
 * whole window in one message, which steps the processes in lock-step.
 */
const BATCH_CALLS = 32;
/** Waits between attempts to reach a lost agent again: at once, then growing to this. */
const RECONNECT_BACKOFF_MS = [0, 100, 250, 500, 1_000, 2_000];

export interface SessionCallOptions {
  /** Any of them cancels the call (a list rather than AbortSignal.any, which costs more per call than the call itself). */
  signals?: readonly AbortSignal[] | undefined;
  /** Constructor arguments of the warm instance a method runs on. */
  init?: unknown[] | undefined;
  onStarted?: (() => void) | undefined;
  /** Where the user made the call; appended to remote error stacks. Defaults to this stack. */
  localStack?: (() => string | undefined) | undefined;
  /**
   * The call may go out in one `calls` message with the other calls of the same function (and
   * instance) started in this turn of the event loop, and its result come back with theirs: what
   * `map` does. It is still cancelled, failed and retried on its own.
   */
  batch?: boolean | undefined;
}

/** Calls waiting for the end of this turn to go out together (see SessionCallOptions.batch). */
interface Batch {
  functionId: string;
  /** The caller's constructor arguments (compared by identity) and their encoding. */
  initArgs: unknown[] | undefined;
  init: EncodedValue | undefined;
  calls: { callId: string; args: EncodedValue }[];
}

export interface AttachOptions {
  /** Also the call's output: the last `tail` lines of `stream`, and with `follow`, each new one until the call ends. */
  logs?: { stream: "stdout" | "stderr"; tail: number; follow: boolean };
  onState?: (state: CallStateMessage) => void;
  onLog?: (data: string) => void;
}

/** A call waiting for its result. A class, not closures: a warm call makes one of these and nothing else. */
class PendingCall {
  readonly onStarted: (() => void) | undefined;
  /** The caller's stack, appended to remote stacks so users see where they called from. */
  readonly localStack: () => string | undefined;
  /** A detached call followed with attach(): its state and output go here. */
  attached: AttachOptions | undefined;
  /** Still in a batch that has not gone out: cancelling it needs no word to the agent. */
  queued = false;

  constructor(
    readonly session: AgentSession,
    readonly callId: string,
    public functionId: string,
    readonly signals: readonly AbortSignal[],
    readonly settleResolve: (value: unknown) => void,
    readonly settleReject: (error: unknown) => void,
    options: SessionCallOptions,
    readonly onYield: ((value: unknown) => void) | undefined,
  ) {
    this.onStarted = options.onStarted;
    this.localStack = options.localStack ?? errorStack(new Error());
  }

  resolve(value: unknown): void {
    this.session.forget(this);
    this.settleResolve(value);
  }

  reject(error: unknown): void {
    this.session.forget(this);
    this.settleReject(error);
  }

  /** Tell the agent, and reject with `reason`. */
  cancel(reason: Error): void {
    if (!this.queued) this.session.sendCancel(this.callId, reason);
    this.reject(reason);
  }
}

export class AgentSession {
  readonly #address: AgentAddress;
  readonly #channel: Channel<AgentMessage, ClientMessage>;
  readonly #pending = new Map<string, PendingCall>();
  /** Detached calls sent and not yet accepted by the agent. */
  readonly #accepting = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  /** The calls each cancelling signal cancels. */
  readonly #cancellers = new SignalWatch<string>((callId, signal) => this.#pending.get(callId)?.cancel(cancelReason(signal)));
  readonly #onLog: LogHandler;
  readonly #closeListeners: ((error: Error) => void)[] = [];
  #ws: WebSocket | undefined;
  /** The agent's name for this session, learnt on the first connection; what a new connection resumes. */
  #sessionId: string | undefined;
  #onReady: ((message: AgentMessage) => void) | undefined;
  #ready: { pid: number; functions: FunctionInfo[] } | undefined;
  #closedWith: Error | undefined;
  #closing = false;
  #resuming: Promise<void> | undefined;
  #functionIds: Set<string> | undefined;
  #batches: Batch[] = [];
  #callCount = 0;
  #onStopped: (() => void) | undefined;

  private constructor(address: AgentAddress, onLog: LogHandler) {
    this.#address = address;
    this.#onLog = onLog;
    this.#channel = new Channel<AgentMessage, ClientMessage>(undefined, AgentMessage, {
      message: (message, blobs) => (this.#onReady ? this.#onReady(message) : this.#onMessage(message, blobs)),
      invalid: (error) => this.#fail(new AgentLostError(`the agent sent an invalid message: ${error.message}`)),
    });
  }

  /** Connect, authenticate, send init and wait until the agent has loaded the module. */
  static async connect(options: SessionOptions): Promise<AgentSession> {
    const session = new AgentSession(options, options.onLog);
    if (options.maxPayloadBytes !== undefined) session.#channel.maxPayloadBytes = options.maxPayloadBytes;
    await session.#open();
    return new Promise((resolve, reject) => {
      session.#onReady = (message) => {
        if (message.type === "ready") {
          session.#ready = { pid: message.pid, functions: message.functions };
          session.#onReady = undefined;
          resolve(session);
        } else if (message.type === "init-error") {
          reject(fromFailure(message.error, { remoteLabel: "module load" }));
          session.#fail(new AgentLostError("the module failed to load"));
        } else if (message.type === "log") {
          options.onLog(message.callId, message.stream, message.data);
        }
      };
      session.onClose((error) => reject(error));
      void session.#channel
        .send({
          type: "init",
          protocol: PROTOCOL_VERSION,
          env: options.env ?? {},
          secrets: options.secrets ?? {},
          exposeExports: options.exposeExports ?? false,
          reconnectGraceMs: options.reconnectGraceMs ?? DEFAULT_RECONNECT_GRACE_MS,
          ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
        })
        .catch(() => {});
    });
  }

  /**
   * A session that loads nothing: for following detached calls (attach, cancel). It reconnects
   * like any other.
   */
  static async open(address: AgentAddress): Promise<AgentSession> {
    const session = new AgentSession(address, () => {});
    session.#ready = { pid: -1, functions: [] };
    await session.#open();
    return session;
  }

  get pid(): number {
    return this.#ready?.pid ?? -1;
  }

  get functions(): FunctionInfo[] {
    return this.#ready?.functions ?? [];
  }

  /** A call is settled: it no longer listens to its signals. (For PendingCall.) */
  forget(call: PendingCall): void {
    this.#cancellers.delete(call.signals, call.callId);
    this.#pending.delete(call.callId);
  }

  /** For PendingCall. */
  sendCancel(callId: string, reason: Error): void {
    void this.#channel.send({ type: "cancel", callId, reason: String(reason.message) }).catch(() => {});
  }

  /** Whether the agent has a function with this id. */
  defines(functionId: string): boolean {
    this.#functionIds ??= new Set(this.functions.map((f) => f.id));
    return this.#functionIds.has(functionId);
  }

  get closed(): boolean {
    return this.#closedWith !== undefined;
  }

  onClose(listener: (error: Error) => void): void {
    if (this.#closedWith) listener(this.#closedWith);
    else this.#closeListeners.push(listener);
  }

  /** Run `functionId` with `args` on the agent. Values that cannot cross throw before anything is sent. */
  call(functionId: string, args: unknown[], options: SessionCallOptions = {}): Promise<unknown> {
    return this.#start(functionId, args, options, undefined);
  }

  /**
   * Run an async generator function and iterate what it yields. The agent may run ahead by at most
   * STREAM_WINDOW items; leaving the loop early (break, return, throw) stops the remote generator.
   */
  async *stream(functionId: string, args: unknown[], options: SessionCallOptions = {}): AsyncGenerator<unknown, void, undefined> {
    const stop = new AbortController();
    const signals = [...(options.signals ?? []), stop.signal];
    const queue: unknown[] = [];
    let ended: { error?: unknown } | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const callId = this.#nextCallId();
    const done = this.#start(functionId, args, { ...options, signals }, {
      callId,
      credit: STREAM_WINDOW,
      onYield: (value) => {
        queue.push(value);
        notify();
      },
    });
    done.then(
      () => (ended = {}),
      (error: unknown) => (ended = { error }),
    ).finally(notify);
    let consumed = 0;
    try {
      for (;;) {
        if (queue.length > 0) {
          const value = queue.shift();
          // Grant credit in batches: one message per half window, not one per item.
          if (++consumed >= STREAM_WINDOW / 2) {
            void this.#channel.send({ type: "credit", callId, count: consumed }).catch(() => {});
            consumed = 0;
          }
          yield value;
          continue;
        }
        if (ended) {
          if ("error" in ended) throw ended.error;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      if (!ended) stop.abort(new CancelledError("the stream was closed by the caller"));
    }
  }

  /**
   * Start a detached call under `callId` (see DETACHED_CALL_ID): it runs whatever becomes of this
   * session, and its outcome is kept on the agent's disk. Resolves once the agent has recorded it.
   */
  detach(functionId: string, args: unknown[], callId: string, detach: DetachOptions, options: { init?: unknown[] | undefined } = {}): Promise<void> {
    const encoded = encode(args, "args");
    const init = options.init === undefined ? undefined : encode(options.init, "init");
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    return new Promise((resolve, reject) => {
      this.#accepting.set(callId, { resolve, reject });
      const message = {
        type: "call" as const,
        callId,
        functionId,
        args: encoded.value,
        detach,
        ...(init ? { init: init.value, argBlobs: encoded.blobs.length } : {}),
      };
      this.#channel.send(message, init ? [...encoded.blobs, ...init.blobs] : encoded.blobs).catch((error: Error) => {
        this.#accepting.delete(callId);
        reject(error instanceof PayloadTooLargeError ? error : new AgentLostError(error.message));
      });
    });
  }

  /**
   * Follow the detached call `callId`: its state (`onState`), its output with `logs`, and its
   * outcome: resolves with its value, or rejects with its error, as a live call would.
   */
  attach(callId: string, options: AttachOptions = {}): Promise<unknown> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    return new Promise((resolve, reject) => {
      const pending = new PendingCall(this, callId, "", [], resolve, reject, {}, undefined);
      pending.attached = options;
      this.#pending.set(callId, pending);
      void this.#channel.send({ type: "attach", callId, ...(options.logs ? { logs: options.logs } : {}) }).catch(() => {});
    });
  }

  /** Cancel a call by id, whoever started it (a detached call, say); its followers learn how it ended. */
  cancelById(callId: string, reason: string): void {
    void this.#channel.send({ type: "cancel", callId, reason }).catch(() => {});
  }

  #start(
    functionId: string,
    args: unknown[],
    options: SessionCallOptions,
    streaming: { callId: string; credit: number; onYield: (value: unknown) => void } | undefined,
  ): Promise<unknown> {
    const encoded = encode(args, "args");
    const init = options.init === undefined ? undefined : encode(options.init, "init");
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    const signals = options.signals ?? [];
    for (const signal of signals) if (signal.aborted) return Promise.reject(cancelReason(signal));
    const callId = streaming?.callId ?? this.#nextCallId();
    return new Promise((resolve, reject) => {
      this.#cancellers.add(signals, callId);
      const pending = new PendingCall(this, callId, functionId, signals, resolve, reject, options, streaming?.onYield);
      this.#pending.set(callId, pending);
      if (options.batch && !streaming && encoded.blobs.length === 0 && (init === undefined || init.blobs.length === 0)) {
        pending.queued = true;
        this.#batchFor(functionId, options.init, init?.value).calls.push({ callId, args: encoded.value });
        return;
      }
      const message = {
        type: "call" as const,
        callId,
        functionId,
        args: encoded.value,
        ...(init ? { init: init.value, argBlobs: encoded.blobs.length } : {}),
        ...(streaming ? { credit: streaming.credit } : {}),
      };
      this.#channel
        .send(message, init ? [...encoded.blobs, ...init.blobs] : encoded.blobs)
        .catch((error: Error) =>
          this.#pending.get(callId)?.reject(error instanceof PayloadTooLargeError ? error : new AgentLostError(error.message)),
        );
    });
  }

  /**
   * A call id unique in this session, which is all the agent needs (it routes by session and id;
   * detached calls' ids, made elsewhere, look like `call-…`): a counter is shorter on the wire than
   * a UUID, and cheaper to make, for the many small calls of a map.
   */
  #nextCallId(): string {
    return (++this.#callCount).toString(36);
  }

  /** The batch this turn's calls of `functionId` on the instance `initArgs` go in; a full one goes out now. */
  #batchFor(functionId: string, initArgs: unknown[] | undefined, init: EncodedValue | undefined): Batch {
    let batch = this.#batches.find((b) => b.functionId === functionId && b.initArgs === initArgs);
    if (batch && batch.calls.length >= BATCH_CALLS) {
      this.#batches.splice(this.#batches.indexOf(batch), 1);
      this.#sendBatch(batch);
      batch = undefined;
    }
    if (!batch) {
      if (this.#batches.length === 0) setImmediate(() => this.#sendBatches());
      batch = { functionId, initArgs, init, calls: [] };
      this.#batches.push(batch);
    }
    return batch;
  }

  #sendBatches(): void {
    const batches = this.#batches;
    this.#batches = [];
    for (const batch of batches) this.#sendBatch(batch);
  }

  /** Send a batch's calls that are still wanted (one cancelled meanwhile is simply left out). */
  #sendBatch(batch: Batch): void {
    const calls = batch.calls.filter((call) => {
      const pending = this.#pending.get(call.callId);
      if (pending) pending.queued = false;
      return pending !== undefined;
    });
    if (calls.length === 0 || this.#closedWith) return;
    const { functionId, init } = batch;
    this.#channel.send({ type: "calls", functionId, ...(init ? { init } : {}), calls }).catch((error: Error) => {
      for (const call of calls) {
        const pending = this.#pending.get(call.callId);
        if (!pending) continue;
        // Too large together: each goes on its own, so only an input too large by itself fails.
        if (error instanceof PayloadTooLargeError && calls.length > 1) this.#sendOne(pending, call.args, init);
        else pending.reject(error instanceof PayloadTooLargeError ? error : new AgentLostError(error.message));
      }
    });
  }

  #sendOne(pending: PendingCall, args: EncodedValue, init: EncodedValue | undefined): void {
    const message = { type: "call" as const, callId: pending.callId, functionId: pending.functionId, args, ...(init ? { init } : {}) };
    this.#channel.send(message).catch((error: Error) => pending.reject(error instanceof PayloadTooLargeError ? error : new AgentLostError(error.message)));
  }

  /**
   * End the session: the agent runs its @exit() hooks first (their output arrives as logs), then
   * the connection closes. An agent that does not answer is cut off after the hooks' time limit.
   */
  async close(): Promise<void> {
    if (this.#closedWith) return;
    if (this.#ready && this.#channel.open) {
      const stopped = new Promise<void>((resolve) => (this.#onStopped = resolve));
      const closed = new Promise<void>((resolve) => this.onClose(() => resolve()));
      await this.#channel.send({ type: "stop" }).catch(() => {});
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, closed, new Promise((resolve) => (timer = setTimeout(resolve, EXIT_HOOKS_LIMIT_MS + 2_000)))]);
      clearTimeout(timer);
    }
    await this.disconnect();
  }

  /**
   * End the session without stopping anything on the agent: its detached calls keep running, and
   * the agent lets go of the session at once (a drop would keep it for the grace window).
   */
  async disconnect(): Promise<void> {
    if (this.#closedWith) return;
    this.#closing = true;
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) {
      this.#fail(new AgentLostError("the session was closed"));
      return;
    }
    const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
    ws.close(1000, "client done");
    const timer = setTimeout(() => ws.terminate(), 1_000);
    await closed;
    clearTimeout(timer);
  }

  /** A new connection to the agent: the first one, or (with the session's id) one that resumes it. */
  async #open(url = this.#address.url): Promise<void> {
    const resume = this.#sessionId === undefined ? {} : { [RESUME_HEADER]: `${this.#sessionId} ${this.#channel.received}` };
    const ws = new WebSocket(url, {
      headers: { [AUTH_HEADER]: bearer(this.#address.secret), ...resume },
      perMessageDeflate: false,
      maxPayload: 1 << 30,
      // Masking guards browsers against cache poisoning by proxies; between two of our processes
      // (loopback, or an SSH tunnel) it only costs a random key and an XOR pass per frame. An
      // all-zero mask lets ws skip both.
      generateMask: () => {},
      // A handshake through a tunnel that opened but leads nowhere must fail, not wait forever.
      handshakeTimeout: CLIENT_MISSED_HEARTBEATS * HEARTBEAT_INTERVAL_MS,
    });
    const liveness = this.#watchLiveness(ws);
    let settle: ((error: Error) => void) | undefined;
    const early = {
      error: (error: Error) => settle?.(new AgentLostError(`the connection to the agent failed: ${error.message}`)),
      close: (code: number) => settle?.(new AgentLostError(`the connection to the agent closed (${code}) before it was set up`)),
    };
    try {
      await new Promise<void>((resolve, reject) => {
        settle = reject;
        ws.once("unexpected-response", (_req, res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          reject(
            new AgentLostError(
              status === 401
                ? "the agent refused the session secret (401)"
                : status === 410
                  ? "the agent no longer has this session: it waited for this client longer than its reconnect grace window, or it restarted"
                  : `the agent answered the WebSocket upgrade with HTTP ${status}`,
              { errorCode: status === 410 ? "session_gone" : status === 401 ? "unauthorized" : "upgrade_refused" },
            ),
          );
        });
        ws.once("upgrade", (res: IncomingMessage) => {
          const [id, received] = String(res.headers[SESSION_HEADER] ?? "").split(" ");
          if (!id || received === undefined || !/^\d+$/.test(received)) {
            reject(new AgentLostError(`the agent did not name the session (${SESSION_HEADER}); is it an older agent?`));
            return;
          }
          if (this.#sessionId !== undefined && id !== this.#sessionId) {
            reject(new AgentLostError("the agent resumed another session"));
            return;
          }
          this.#sessionId = id;
          ws.once("open", () => {
            // Every byte counts, including those of a frame still in transfer. Listened to from
            // 'open' on, not before: a 'data' listener added earlier sets the socket flowing, and
            // the frames that came in the same read as the 101 response (what a resumed session
            // sends again at once), which ws puts back on the socket before it listens itself,
            // would be emitted to this listener alone and lost.
            res.socket.on("data", () => liveness.heard());
            // The channel takes over in the 'open' event itself, before any promise continuation.
            try {
              this.#channel.attach(ws, Number(received));
              resolve();
            } catch (error) {
              reject(new AgentLostError(`the session could not be resumed: ${(error as Error).message}`, { errorCode: "session_gone" }));
            }
          });
        });
        ws.on("error", early.error);
        ws.on("close", early.close);
      });
    } catch (error) {
      liveness.stop();
      // Ending a connection that is still being set up emits one more error; it says nothing new.
      ws.on("error", () => {});
      ws.terminate();
      throw error;
    } finally {
      ws.off("error", early.error).off("close", early.close);
    }
    ws.on("close", (code, reason) => this.#connectionLost(ws, new AgentLostError(`the connection to the agent closed (${code}${reason.length ? ` ${reason}` : ""})`)));
    ws.on("error", (error) => this.#connectionLost(ws, new AgentLostError(`the connection to the agent failed: ${error.message}`)));
    this.#ws = ws;
    // Dropped while it was being set up: the channel waits for the next connection.
    if (ws.readyState !== WebSocket.OPEN) this.#connectionLost(ws, new AgentLostError("the connection to the agent closed as it opened"));
  }

  /**
   * The connection dropped. A session that can reach its agent again carries on (its calls wait);
   * one that cannot, or that was closing anyway, ends and fails its calls.
   */
  #connectionLost(ws: WebSocket, error: Error): void {
    if (ws !== this.#ws || this.#closedWith) return;
    this.#ws = undefined;
    this.#channel.detach();
    ws.terminate();
    if (this.#closing || !this.#address.reconnect || this.#sessionId === undefined) {
      this.#fail(error);
      return;
    }
    this.#resuming ??= this.#resume(error).finally(() => (this.#resuming = undefined));
  }

  /** Reach the agent again within the grace window, and resume the session; else end it. */
  async #resume(lost: Error): Promise<void> {
    const graceMs = this.#address.reconnectGraceMs ?? DEFAULT_RECONNECT_GRACE_MS;
    const deadline = Date.now() + graceMs;
    let last: Error = lost;
    for (let attempt = 0; !this.#closedWith && !this.#closing; attempt++) {
      const wait = RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)]!;
      if (Date.now() + wait > deadline) break;
      await sleep(wait);
      try {
        const url = await this.#address.reconnect!();
        await this.#open(url);
        return;
      } catch (error) {
        last = error instanceof Error ? error : new Error(String(error));
        // The agent is gone, or said so (its secret or session refused): no point waiting out the grace.
        if (last instanceof AgentLostError && (last.errorCode === "session_gone" || last.errorCode === "unauthorized" || last.errorCode === AGENT_GONE)) {
          this.#fail(new AgentLostError(`${lost.message}, and the agent cannot be reached again: ${last.message}`, { cause: last }));
          return;
        }
      }
    }
    if (this.#closing) this.#fail(lost);
    else this.#fail(new AgentLostError(`${lost.message}, and the agent could not be reached again within ${Math.round(graceMs / 1000)} s (reconnectGraceMs): ${last.message}`, { cause: last }));
  }

  #onMessage(message: AgentMessage, blobs: Uint8Array[]): void {
    switch (message.type) {
      case "log": {
        const attached = message.callId === null ? undefined : this.#pending.get(message.callId)?.attached;
        if (attached) attached.onLog?.(message.data);
        else this.#onLog(message.callId, message.stream, message.data);
        return;
      }
      case "started":
        this.#pending.get(message.callId)?.onStarted?.();
        return;
      case "accepted":
        this.#accepting.get(message.callId)?.resolve();
        this.#accepting.delete(message.callId);
        return;
      case "call-state": {
        const pending = this.#pending.get(message.callId);
        if (!pending?.attached) return;
        pending.functionId = message.functionId;
        pending.attached.onState?.(message);
        return;
      }
      case "yield":
      case "result": {
        const pending = this.#pending.get(message.callId);
        if (!pending || (message.type === "yield" && !pending.onYield)) return;
        let value: unknown;
        try {
          value = decode(message.value, blobs);
        } catch (error) {
          pending.reject(error);
          return;
        }
        if (message.type === "yield") pending.onYield!(value);
        else pending.resolve(value);
        return;
      }
      case "results":
        for (const { callId, value } of message.results) {
          const pending = this.#pending.get(callId);
          if (!pending) continue;
          let decoded: unknown;
          try {
            // Plain JSON (no metadata) is the value itself; nothing to rebuild.
            decoded = value.meta === undefined ? value.json : decode(value, []);
          } catch (error) {
            pending.reject(error);
            continue;
          }
          pending.resolve(decoded);
        }
        return;
      case "error": {
        const accepting = this.#accepting.get(message.callId);
        if (accepting) {
          this.#accepting.delete(message.callId);
          accepting.reject(this.#remoteError(message.error, errorStack(new Error())));
          return;
        }
        const pending = this.#pending.get(message.callId);
        if (!pending) return;
        pending.reject(this.#callError(message, pending));
        return;
      }
      case "stopped":
        this.#onStopped?.();
        return;
      case "ready":
      case "init-error":
        return;
    }
  }

  /** The error a call that ended with `message` rejects with. */
  #callError(message: Extract<AgentMessage, { type: "error" }>, pending: PendingCall): Error {
    switch (message.reason) {
      case "cancelled":
        return new CancelledError(message.error.message);
      case "timeout":
        return new FunctionTimeoutError(message.error.message);
      case "unknown-call":
        return new TaskNotFoundError(message.error.message);
    }
    if (message.processEnd) {
      const how = message.processEnd.how;
      const hasCause = how === "uncaught-exception" || how === "unhandled-rejection" || how === "load-failed";
      const cause = hasCause ? this.#remoteError(message.error, pending.localStack) : undefined;
      return processEndError(pending.functionId, message.processEnd, cause);
    }
    return this.#remoteError(message.error, pending.localStack);
  }

  #remoteError(failure: Failure, localStack: () => string | undefined): Error {
    return fromFailure(failure, {
      remoteLabel: this.pid === -1 ? "agent" : `agent pid ${this.pid}`,
      mapPath: (path) => (path.startsWith("file://") ? fileURLToPath(path) : path),
      localStack: localStack(),
    });
  }

  /** Liveness of one connection: a silent one is cut, which resumes the session on a new one. */
  #watchLiveness(ws: WebSocket): Liveness {
    const liveness = new Liveness({
      intervalMs: HEARTBEAT_INTERVAL_MS,
      missedLimit: CLIENT_MISSED_HEARTBEATS,
      ping: () => {
        if (ws.readyState === WebSocket.OPEN) ws.ping();
      },
      dead: () => {
        // A connection still being set up (a resume through a tunnel that never answers) fails
        // its setup by closing; one in use is replaced by a new one.
        ws.terminate();
        this.#connectionLost(ws, new AgentLostError(`the agent sent nothing for ${CLIENT_MISSED_HEARTBEATS} heartbeats in a row (${(CLIENT_MISSED_HEARTBEATS * HEARTBEAT_INTERVAL_MS) / 1000} s)`));
      },
    });
    liveness.start();
    ws.once("close", () => liveness.stop());
    return liveness;
  }

  /** The session is over: every call still waiting fails with `error`. */
  #fail(error: Error): void {
    if (this.#closedWith) return;
    this.#closedWith = error;
    this.#channel.close(error);
    this.#ws?.terminate();
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    for (const accepting of this.#accepting.values()) accepting.reject(error);
    this.#accepting.clear();
    for (const listener of this.#closeListeners.splice(0)) listener(error);
  }
}

/** The stack of `error`, formatted only when asked for. */
function errorStack(error: Error): () => string | undefined {
  return () => error.stack;
}

function cancelReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new CancelledError(String(signal.reason ?? "cancelled"));
}
