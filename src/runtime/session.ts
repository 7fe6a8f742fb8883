/**
 * The client end of one agent connection: init, calls, cancellation, logs, heartbeats.
 *
 * The agent is judged alive on its heartbeat and on any byte it sends (see liveness.ts), never on
 * how long a call or a transfer takes.
 */
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { AgentLostError, CancelledError, PayloadTooLargeError } from "../errors.ts";
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
  EXIT_HOOKS_LIMIT_MS,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  bearer,
  type ClientMessage,
  type Failure,
  type FunctionInfo,
} from "./protocol.ts";

export type LogHandler = (callId: string | null, stream: "stdout" | "stderr", data: string) => void;

export interface SessionOptions {
  url: string;
  secret: string;
  env?: Record<string, string>;
  secrets?: Record<string, string>;
  exposeExports?: boolean;
  /** Largest arguments or result of one call, in bytes; applies in both directions. */
  maxPayloadBytes?: number;
  onLog: LogHandler;
}

/** How many items a streaming call may yield ahead of the caller's reading. */
const STREAM_WINDOW = 16;

export interface SessionCallOptions {
  /** Any of them cancels the call (a list rather than AbortSignal.any, which costs more per call than the call itself). */
  signals?: readonly AbortSignal[] | undefined;
  /** Constructor arguments of the warm instance a method runs on. */
  init?: unknown[] | undefined;
  onStarted?: (() => void) | undefined;
  /** Where the user made the call; appended to remote error stacks. Defaults to this stack. */
  localStack?: (() => string | undefined) | undefined;
}

/** A call waiting for its result. A class, not closures: a warm call makes one of these and nothing else. */
class PendingCall {
  readonly onStarted: (() => void) | undefined;
  /** The caller's stack, appended to remote stacks so users see where they called from. */
  readonly localStack: () => string | undefined;

  constructor(
    readonly session: AgentSession,
    readonly callId: string,
    readonly functionId: string,
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
    this.session.sendCancel(this.callId, reason);
    this.reject(reason);
  }
}

export class AgentSession {
  readonly #ws: WebSocket;
  readonly #channel: Channel<AgentMessage, ClientMessage>;
  readonly #pending = new Map<string, PendingCall>();
  /** The calls each cancelling signal cancels. */
  readonly #cancellers = new SignalWatch<string>((callId, signal) => this.#pending.get(callId)?.cancel(cancelReason(signal)));
  readonly #onLog: LogHandler;
  readonly #closeListeners: ((error: Error) => void)[] = [];
  #ready: { pid: number; functions: FunctionInfo[] } | undefined;
  #closedWith: Error | undefined;
  #functionIds: Set<string> | undefined;
  #onStopped: (() => void) | undefined;

  private constructor(ws: WebSocket, onLog: LogHandler, onReady: (message: AgentMessage) => void) {
    this.#ws = ws;
    this.#onLog = onLog;
    this.#channel = new Channel<AgentMessage, ClientMessage>(ws, AgentMessage, {
      message: (message, blobs) => (this.#ready ? this.#onMessage(message, blobs) : onReady(message)),
      invalid: (error) => this.#close(new AgentLostError(`the agent sent an invalid message: ${error.message}`)),
    });
    ws.on("close", (code, reason) =>
      this.#close(new AgentLostError(`the connection to the agent closed (${code}${reason.length ? ` ${reason}` : ""})`)),
    );
    ws.on("error", (error) => this.#close(new AgentLostError(`the connection to the agent failed: ${error.message}`)));
    this.#watchLiveness();
  }

  /** Connect, authenticate, send init and wait until the agent has loaded the module. */
  static connect(options: SessionOptions): Promise<AgentSession> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(options.url, {
        headers: { [AUTH_HEADER]: bearer(options.secret) },
        perMessageDeflate: false,
        maxPayload: 1 << 30,
        // Masking guards browsers against cache poisoning by proxies; between two of our processes
        // (loopback, or an SSH tunnel) it only costs a random key and an XOR pass per frame. An
        // all-zero mask lets ws skip both.
        generateMask: () => {},
      });
      ws.once("unexpected-response", (_req, res) => {
        reject(
          new AgentLostError(
            res.statusCode === 401
              ? "the agent refused the session secret (401)"
              : `the agent answered the WebSocket upgrade with HTTP ${res.statusCode}`,
          ),
        );
        ws.terminate();
      });
      const session = new AgentSession(ws, options.onLog, (message) => {
        if (message.type === "ready") {
          session.#ready = { pid: message.pid, functions: message.functions };
          resolve(session);
        } else if (message.type === "init-error") {
          reject(fromFailure(message.error, { remoteLabel: "module load" }));
          ws.close();
        } else if (message.type === "log") {
          options.onLog(message.callId, message.stream, message.data);
        }
      });
      session.onClose((error) => reject(error));
      if (options.maxPayloadBytes !== undefined) session.#channel.maxPayloadBytes = options.maxPayloadBytes;
      ws.once("open", () => {
        void session.#channel.send({
          type: "init",
          protocol: PROTOCOL_VERSION,
          env: options.env ?? {},
          secrets: options.secrets ?? {},
          exposeExports: options.exposeExports ?? false,
          ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
        });
      });
    });
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
    const callId = randomUUID();
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
    const callId = streaming?.callId ?? randomUUID();
    return new Promise((resolve, reject) => {
      this.#cancellers.add(signals, callId);
      this.#pending.set(callId, new PendingCall(this, callId, functionId, signals, resolve, reject, options, streaming?.onYield));
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
   * End the session: the agent runs its @exit() hooks first (their output arrives as logs), then
   * the connection closes. An agent that does not answer is cut off after the hooks' time limit.
   */
  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.#ws.once("close", () => resolve()));
    if (this.#ready && this.#channel.open) {
      const stopped = new Promise<void>((resolve) => (this.#onStopped = resolve));
      await this.#channel.send({ type: "stop" }).catch(() => {});
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, closed, new Promise((resolve) => (timer = setTimeout(resolve, EXIT_HOOKS_LIMIT_MS + 2_000)))]);
      clearTimeout(timer);
    }
    this.#ws.close(1000, "client done");
    const timer = setTimeout(() => this.#ws.terminate(), 1_000);
    await closed;
    clearTimeout(timer);
  }

  #onMessage(message: AgentMessage, blobs: Uint8Array[]): void {
    switch (message.type) {
      case "log":
        this.#onLog(message.callId, message.stream, message.data);
        return;
      case "started":
        this.#pending.get(message.callId)?.onStarted?.();
        return;
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
      case "error": {
        const pending = this.#pending.get(message.callId);
        if (!pending) return;
        if (message.reason === "cancelled") {
          pending.reject(new CancelledError(message.error.message));
        } else if (message.processEnd) {
          const hasCause = message.processEnd.how === "uncaught-exception" || message.processEnd.how === "unhandled-rejection" || message.processEnd.how === "load-failed";
          const cause = hasCause ? this.#remoteError(message.error, pending.localStack) : undefined;
          pending.reject(processEndError(pending.functionId, message.processEnd, cause));
        } else {
          pending.reject(this.#remoteError(message.error, pending.localStack));
        }
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

  #remoteError(failure: Failure, localStack: () => string | undefined): Error {
    return fromFailure(failure, {
      remoteLabel: `agent pid ${this.pid}`,
      mapPath: (path) => (path.startsWith("file://") ? fileURLToPath(path) : path),
      localStack: localStack(),
    });
  }

  #watchLiveness(): void {
    const liveness = new Liveness({
      intervalMs: HEARTBEAT_INTERVAL_MS,
      missedLimit: CLIENT_MISSED_HEARTBEATS,
      ping: () => {
        if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping();
      },
      dead: () => {
        this.#ws.terminate();
        this.#close(new AgentLostError(`the agent sent nothing for ${CLIENT_MISSED_HEARTBEATS} heartbeats in a row (${(CLIENT_MISSED_HEARTBEATS * HEARTBEAT_INTERVAL_MS) / 1000} s)`));
      },
    });
    // Every byte counts, including those of a frame still in transfer.
    this.#ws.once("upgrade", (response) => response.socket.on("data", () => liveness.heard()));
    liveness.start();
    this.onClose(() => liveness.stop());
  }

  #close(error: Error): void {
    if (this.#closedWith) return;
    this.#closedWith = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
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
