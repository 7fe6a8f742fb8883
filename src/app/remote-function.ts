/**
 * RemoteFunction: what `app.function` returns. `.remote()` runs the function on an agent,
 * `.local()` runs it here, `.spawn()` starts it and hands back a FunctionCall.
 */
import { FlowError } from "../errors.ts";
import { FunctionCall } from "./function-call.ts";
import { registry, userStack, type FunctionRecord } from "./registry.ts";

/** Marks RemoteFunction instances across copies of the SDK (the agent scans module exports). */
export const REMOTE_FUNCTION = Symbol.for("flow-sdk.remote-function");

export class RemoteFunction<Args extends unknown[], R> {
  readonly [REMOTE_FUNCTION]: FunctionRecord;

  constructor(record: FunctionRecord) {
    this[REMOTE_FUNCTION] = record;
  }

  /** The function's id: its name, or `Class.method`. */
  get name(): string {
    return this[REMOTE_FUNCTION].id ?? `<function #${this[REMOTE_FUNCTION].index}>`;
  }

  /** Run on an agent and resolve with the result. */
  remote(...args: Args): Promise<Awaited<R>> {
    return this.spawn(...args).result();
  }

  /** Run in this process, as a plain call. */
  async local(...args: Args): Promise<Awaited<R>> {
    return (await runImplementation(this[REMOTE_FUNCTION], args)) as Awaited<R>;
  }

  /** Start on an agent and return a handle: `status`, `result()`, `cancel()`. */
  spawn(...args: Args): FunctionCall<Awaited<R>> {
    const record = this[REMOTE_FUNCTION];
    // Taken now, while the user's frames are still on the stack.
    const callerStack = userStack(new Error().stack, import.meta.url);
    return new FunctionCall<Awaited<R>>((signal, started) => {
      const host = registry().host;
      if (!host) return Promise.reject(noHostError(this.name));
      return host.call(record, args, { signal, onStarted: started, callerStack }) as Promise<Awaited<R>>;
    });
  }
}

export function isRemoteFunction(value: unknown): value is RemoteFunction<unknown[], unknown> {
  return typeof value === "object" && value !== null && REMOTE_FUNCTION in value;
}

function noHostError(name: string): FlowError {
  if (registry().mode === "remote") {
    return new FlowError(`${name}.remote() was called inside a remote function; nested remote calls are not supported yet.`, {
      suggestions: [`Call ${name}.local(...) to run it in the same agent.`],
    });
  }
  return new FlowError(`${name}.remote() needs a running app.`, {
    suggestions: [
      "Run the file with `npx flow run <file.ts>` (it runs app.localEntrypoint), or",
      "wrap the calls in `await app.run(async () => { ... })`.",
    ],
  });
}

const instances = new WeakMap<object, unknown>();

/** Call the user's implementation; methods run on their class, or on one shared instance of it. */
export async function runImplementation(record: FunctionRecord, args: unknown[]): Promise<unknown> {
  const fn = record.implementation as (...a: unknown[]) => unknown;
  if (record.kind === "static-method") return await fn.apply(record.owner, args);
  if (record.kind === "method") {
    const owner = record.owner as new () => unknown;
    if (!instances.has(owner)) instances.set(owner, new owner());
    return await fn.apply(instances.get(owner), args);
  }
  return await fn(...args);
}
