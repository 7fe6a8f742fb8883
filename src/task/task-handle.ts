/**
 * What every started piece of work offers, whether a command task (Task) or a spawned function
 * call (FunctionCall): code that waits on or cancels work does not care which it holds.
 */
import type { TaskStatus } from "./task-status.ts";

export interface WaitOptions {
  /** Give up after this long with a FlowTimeoutError; the work itself keeps running. */
  timeoutMs?: number;
}

export interface TaskHandle<R> {
  readonly taskId: string;
  readonly status: TaskStatus;
  readonly isRunning: boolean;
  readonly isTerminal: boolean;
  /** Resolves once the work has ended, however it ended. */
  wait(options?: WaitOptions): Promise<void>;
  /** The work's value once it completed; rejects when it failed or was cancelled. */
  result(): Promise<R>;
  /** Awaitable: resolves once cancellation has been requested (Task: once it took effect). */
  cancel(): void | Promise<void>;
}
