/**
 * A handle on one spawned call: its status, its result, and a way to cancel it. It offers the
 * same surface as a Task (taskId, status, isRunning/isTerminal, wait, result, cancel), so code
 * that waits on work does not care whether it holds a command task or a function call.
 */
import { randomBytes } from "node:crypto";
import { CancelledError, FlowError, FlowTimeoutError } from "../errors.ts";
import type { TaskHandle, WaitOptions } from "../task/task-handle.ts";
import type { DetachedCall } from "../calls/detached-call.ts";

let openDetached: ((callId: string) => DetachedCall) | undefined;

/**
 * Called by app/run.ts, which only the client loads: records of detached calls live on the
 * caller's machine, and the agent's copy of the SDK carries none of that code.
 */
export function provideDetachedCalls(open: (callId: string) => DetachedCall): void {
  openDetached = open;
}

export type CallStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

export class FunctionCall<R> implements TaskHandle<R> {
  /**
   * A detached call started in any process on this machine (spawnDetached, `flow run --detach`),
   * by its id. Throws TaskNotFoundError, naming the id, for one that is malformed or unknown.
   */
  static fromId<R = unknown>(callId: string): DetachedCall<R> {
    if (!openDetached) throw new FlowError("FunctionCall.fromId() is not available inside a remote function: detached calls are found from the caller's machine.");
    return openDetached(callId) as DetachedCall<R>;
  }

  readonly #controller = new AbortController();
  #taskId: string | undefined;
  readonly #result: Promise<R>;
  #status: CallStatus = "pending";

  /** `start` receives the abort signal and a callback to report that the agent began the call. */
  constructor(start: (signal: AbortSignal, started: () => void) => Promise<R>) {
    const { signal } = this.#controller;
    this.#result = start(signal, () => {
      if (this.#status === "pending") this.#status = "running";
    }).then(
      (value) => {
        // A cancelled call stays cancelled, even if its result crossed the cancel on the wire.
        if (signal.aborted) throw signal.reason;
        this.#status = "completed";
        return value;
      },
      (error: unknown) => {
        if (signal.aborted) throw signal.reason;
        this.#status = error instanceof CancelledError ? "cancelled" : "failed";
        throw error;
      },
    );
    // The caller may never ask for the result (fire and forget); that must not crash the process.
    this.#result.catch(() => {});
  }

  /** Identifies the call in messages and logs (`call-…`); not a task id any provider knows. Made when first asked for. */
  get taskId(): string {
    this.#taskId ??= `call-${randomBytes(6).toString("hex")}`;
    return this.#taskId;
  }

  get status(): CallStatus {
    return this.#status;
  }

  get isRunning(): boolean {
    return this.#status === "running";
  }

  get isTerminal(): boolean {
    return this.#status === "completed" || this.#status === "failed" || this.#status === "cancelled";
  }

  /**
   * Resolves once the call has ended, however it ended (result() tells how). With `timeoutMs`,
   * rejects with FlowTimeoutError if it has not; the call keeps running.
   */
  async wait(options: WaitOptions = {}): Promise<void> {
    const settled = this.#result.then(
      () => {},
      () => {},
    );
    if (options.timeoutMs === undefined) return settled;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new FlowTimeoutError(`Call ${this.taskId} did not finish within ${options.timeoutMs} ms (it is ${this.#status}).`)),
        options.timeoutMs,
      );
    });
    try {
      await Promise.race([settled, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the function's return value, or rejects with its error. */
  result(): Promise<R> {
    return this.#result;
  }

  /** Cancel the call: the remote function's AbortSignal fires and `result()` rejects with CancelledError. */
  cancel(reason = "cancelled by the caller"): void {
    if (this.isTerminal) return;
    this.#status = "cancelled";
    this.#controller.abort(new CancelledError(reason));
  }
}
