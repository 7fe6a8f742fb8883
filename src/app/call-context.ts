/**
 * What a running remote function can learn about its own call: its id and its AbortSignal.
 *
 *   export const slow = app.function({}, async () => {
 *     const { signal } = currentCall();       // fires on cancel(), timeouts and Ctrl-C
 *     await fetchWeights({ signal });
 *   });
 *
 * The storage lives on a global symbol because the agent and the user's bundle carry separate
 * copies of the SDK. It is the only AsyncLocalStorage the agent's worker uses: each one makes
 * async hooks do work for every promise, so the worker keeps where a call's output goes in the
 * same store as the call (`output`) instead of in a storage of its own.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { FlowError } from "../errors.ts";

export interface CallContext {
  callId: string;
  functionId: string;
  signal: AbortSignal;
}

/** What code runs for: its call (none while a module loads, say), and in the agent's worker, where its output goes. */
export interface CallScope {
  readonly call: CallContext | undefined;
  readonly output: ((stream: "stdout" | "stderr", data: string) => void) | undefined;
}

const KEY = Symbol.for("flow-sdk.call-context.v2");

export function callContextStorage(): AsyncLocalStorage<CallScope> {
  const g = globalThis as { [KEY]?: AsyncLocalStorage<CallScope> };
  g[KEY] ??= new AsyncLocalStorage<CallScope>();
  return g[KEY];
}

/**
 * The call the calling code runs for: a remote call on an agent, or a `.local()` call (whose
 * signal never fires). Anywhere else it throws, since there is no call to describe.
 */
export function currentCall(): CallContext {
  const context = callContextStorage().getStore()?.call;
  if (context === undefined) {
    throw new FlowError("currentCall() was called outside a remote function.", {
      suggestions: ["Call it from the body of a function defined with app.function() (or @app.function()), during a call."],
    });
  }
  return context;
}
