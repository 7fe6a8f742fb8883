/**
 * A handle on one spawned call: its status, its result, and a way to cancel it.
 */
import { CancelledError } from "../errors.ts";

export type CallStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

export class FunctionCall<R> {
  readonly #controller = new AbortController();
  readonly #result: Promise<R>;
  #status: CallStatus = "pending";

  /** `start` receives the abort signal and a callback to report that the agent began the call. */
  constructor(start: (signal: AbortSignal, started: () => void) => Promise<R>) {
    this.#result = start(this.#controller.signal, () => {
      if (this.#status === "pending") this.#status = "running";
    }).then(
      (value) => {
        this.#status = "completed";
        return value;
      },
      (error: unknown) => {
        this.#status = error instanceof CancelledError ? "cancelled" : "failed";
        throw error;
      },
    );
    // The caller may never ask for the result (fire and forget); that must not crash the process.
    this.#result.catch(() => {});
  }

  get status(): CallStatus {
    return this.#status;
  }

  get isTerminal(): boolean {
    return this.#status === "completed" || this.#status === "failed" || this.#status === "cancelled";
  }

  /** Resolves with the function's return value, or rejects with its error. */
  result(): Promise<R> {
    return this.#result;
  }

  /** Cancel the call: the remote function's AbortSignal fires and `result()` rejects with CancelledError. */
  cancel(reason = "cancelled by the caller"): void {
    if (!this.isTerminal) this.#controller.abort(new CancelledError(reason));
  }
}
