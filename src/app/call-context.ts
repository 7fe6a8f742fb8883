/**
 * What a running remote function can learn about its own call: its id and its AbortSignal.
 *
 *   export const slow = app.function({}, async () => {
 *     const { signal } = currentCall();       // fires on cancel(), timeouts and Ctrl-C
 *     await fetchWeights({ signal });
 *   });
 *
 * The storage lives on a global symbol because the agent and the user's bundle carry separate
 * copies of the SDK.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { FlowError } from "../errors.ts";

export interface CallContext {
  callId: string;
  functionId: string;
  signal: AbortSignal;
}

const KEY = Symbol.for("flow-sdk.call-context.v1");

export function callContextStorage(): AsyncLocalStorage<CallContext> {
  const g = globalThis as { [KEY]?: AsyncLocalStorage<CallContext> };
  g[KEY] ??= new AsyncLocalStorage<CallContext>();
  return g[KEY];
}

/**
 * The call the calling code runs for: a remote call on an agent, or a `.local()` call (whose
 * signal never fires). Anywhere else it throws, since there is no call to describe.
 */
export function currentCall(): CallContext {
  const context = callContextStorage().getStore();
  if (context === undefined) {
    throw new FlowError("currentCall() was called outside a remote function.", {
      suggestions: ["Call it from the body of a function defined with app.function() (or @app.function()), during a call."],
    });
  }
  return context;
}
