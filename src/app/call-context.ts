/**
 * What a running remote function can learn about its own call: its id and its AbortSignal.
 *
 *   export const slow = app.function({}, async () => {
 *     const { signal } = currentCall()!;       // fires on cancel(), timeouts and Ctrl-C
 *     await fetchWeights({ signal });
 *   });
 *
 * The storage lives on a global symbol because the agent and the user's bundle carry separate
 * copies of the SDK.
 */
import { AsyncLocalStorage } from "node:async_hooks";

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

/** The current remote call, or undefined outside one (e.g. in `.local()` calls). */
export function currentCall(): CallContext | undefined {
  return callContextStorage().getStore();
}
