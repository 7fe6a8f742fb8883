/**
 * RemoteFunction: what `app.function` returns. `.remote()` runs the function on an agent,
 * `.local()` runs it here, `.spawn()` starts it and hands back a FunctionCall, `.map()` fans
 * inputs out, and `.with()` returns the same function with per-call options.
 */
import { randomUUID } from "node:crypto";
import { FlowError } from "../errors.ts";
import { userStack } from "../stack-frames.ts";
import { callContextStorage } from "./call-context.ts";
import { FunctionCall } from "./function-call.ts";
import type { DetachedCall } from "../calls/detached-call.ts";
import { mapCalls, type MapOptions } from "./map.ts";
import type { FunctionOptions } from "./options.ts";
import { registry, type CallOptions, type CallOverrides, type FunctionRecord, type Host } from "./registry.ts";

/** Marks RemoteFunction instances across copies of the SDK (the agent scans module exports). */
export const REMOTE_FUNCTION = Symbol.for("flow-sdk.remote-function");

/** What `.remote()` gives back: a promise of the result, or for async generators, the stream. */
export type RemoteResult<R> = R extends AsyncIterable<infer Y> ? AsyncGenerator<Y, void, undefined> : Promise<Awaited<R>>;

/** Per-call options of `fn.with({...})`. */
export interface WithOptions extends Pick<FunctionOptions, "timeoutMs" | "retries" | "retryOn" | "resultWindowMs"> {
  /** Cancels the call (or every call of a map) when it fires. */
  signal?: AbortSignal;
}

export class RemoteFunction<Args extends unknown[], R> {
  readonly [REMOTE_FUNCTION]: FunctionRecord;
  readonly #overrides: CallOverrides;
  readonly #signal: AbortSignal | undefined;

  constructor(record: FunctionRecord, overrides: CallOverrides = {}, signal?: AbortSignal) {
    this[REMOTE_FUNCTION] = record;
    this.#overrides = overrides;
    this.#signal = signal;
  }

  /** The function's id: its name, or `Class.method`. */
  get name(): string {
    return this[REMOTE_FUNCTION].id ?? `<function #${this[REMOTE_FUNCTION].index}>`;
  }

  /** The same function with per-call options: `fn.with({ timeoutMs: 5_000, signal }).remote(x)`. */
  with(options: WithOptions): RemoteFunction<Args, R> {
    const { signal, ...overrides } = options;
    const signals = [this.#signal, signal].filter((s): s is AbortSignal => s !== undefined);
    return new RemoteFunction(
      this[REMOTE_FUNCTION],
      { ...this.#overrides, ...overrides },
      signals.length > 1 ? AbortSignal.any(signals) : signals[0],
    );
  }

  /** Run on an agent: resolves with the result, or for an async generator, streams its items. */
  remote(...args: Args): RemoteResult<R> {
    const record = this[REMOTE_FUNCTION];
    const callerStack = callSite();
    const host = registry().host;
    const options = { signal: this.#signal, callerStack, overrides: this.#overrides };
    if (record.streaming) {
      if (!host) return failingStream(noHostError(this.name)) as RemoteResult<R>;
      return host.stream(record, args, options) as RemoteResult<R>;
    }
    // What spawn().result() would give, without a handle nobody can reach (its id, its controller).
    if (!host) return Promise.reject(noHostError(this.name)) as RemoteResult<R>;
    return host.call(record, args, options) as RemoteResult<R>;
  }

  /** Run in this process, as a plain call; currentCall() works there too, with a signal that never fires. */
  async local(...args: Args): Promise<Awaited<R>> {
    const record = this[REMOTE_FUNCTION];
    const context = { callId: `local-${randomUUID()}`, functionId: this.name, signal: this.#signal ?? new AbortController().signal };
    // Its output goes where the caller's does (in the agent's worker, to the remote call that ran it).
    const storage = callContextStorage();
    return (await storage.run({ call: context, output: storage.getStore()?.output }, () => runImplementation(record, args, localInstance(record, this.#overrides)))) as Awaited<R>;
  }

  /** Start on an agent and return a handle: `status`, `result()`, `cancel()`. */
  spawn(...args: Args): FunctionCall<Awaited<R>> {
    const record = this[REMOTE_FUNCTION];
    const callerStack = callSite();
    return new FunctionCall<Awaited<R>>((signal, started) => {
      const host = registry().host;
      if (!host) return Promise.reject(noHostError(this.name));
      return host.call(record, args, {
        signal: this.#signal ? AbortSignal.any([signal, this.#signal]) : signal,
        onStarted: started,
        callerStack,
        overrides: this.#overrides,
      }) as Promise<Awaited<R>>;
    });
  }

  /**
   * Start a detached call: it runs on an agent of its own that outlives this process (Ctrl-C,
   * exit, a crash), its outcome kept for `resultWindowMs` after it ends. Resolves once the agent
   * has recorded it, with a handle; `handle.taskId` finds it again in any process
   * (`FunctionCall.fromId(id)`, `flow result <id>`). Local provider only for now.
   */
  async spawnDetached(...args: Args): Promise<DetachedCall<Awaited<R>>> {
    const record = this[REMOTE_FUNCTION];
    const host = registry().host;
    if (!host) throw noHostError(this.name);
    return (await host.spawnDetached(record, args, { callerStack: callSite(), overrides: this.#overrides })) as DetachedCall<Awaited<R>>;
  }

  /** Call once per input (each input is the first argument), results in input order by default. */
  map(inputs: Iterable<Args[0]> | AsyncIterable<Args[0]>, options: MapOptions & { returnExceptions: true }): AsyncGenerator<Awaited<R> | Error, void, undefined>;
  map(inputs: Iterable<Args[0]> | AsyncIterable<Args[0]>, options?: MapOptions): AsyncGenerator<Awaited<R>, void, undefined>;
  map(inputs: Iterable<Args[0]> | AsyncIterable<Args[0]>, options: MapOptions = {}): AsyncGenerator<Awaited<R> | Error, void, undefined> {
    return this.#mapArgs(wrapEach(inputs), options);
  }

  /** Like map, with each input spread as the argument list. */
  starmap(inputs: Iterable<Args> | AsyncIterable<Args>, options: MapOptions & { returnExceptions: true }): AsyncGenerator<Awaited<R> | Error, void, undefined>;
  starmap(inputs: Iterable<Args> | AsyncIterable<Args>, options?: MapOptions): AsyncGenerator<Awaited<R>, void, undefined>;
  starmap(inputs: Iterable<Args> | AsyncIterable<Args>, options: MapOptions = {}): AsyncGenerator<Awaited<R> | Error, void, undefined> {
    return this.#mapArgs(inputs, options);
  }

  /** Call once per input for its effects; resolves when all are done, rejects on the first error. */
  async forEach(inputs: Iterable<Args[0]> | AsyncIterable<Args[0]>, options: Omit<MapOptions, "returnExceptions"> = {}): Promise<void> {
    for await (const _ of this.map(inputs, { ...options, orderOutputs: false })) {
      // Results are dropped; errors surface from the iteration.
    }
  }

  /** A generator, so that misuse surfaces where the results are read, like every other failure. */
  async *#mapArgs(inputs: Iterable<unknown[] | PromiseLike<unknown[]>> | AsyncIterable<unknown[]>, options: MapOptions): AsyncGenerator<Awaited<R> | Error, void, undefined> {
    const record = this[REMOTE_FUNCTION];
    if (record.streaming) throw new FlowError(`${this.name} is a streaming (generator) function; call .remote() per input instead of map.`);
    const host = this.#host();
    const effective = { ...record.options, ...this.#overrides };
    const concurrency = options.concurrency ?? (effective.maxContainers ?? 1) * (effective.maxConcurrentInputs ?? DEFAULT_CONCURRENT_INPUTS);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new FlowError(`map: concurrency must be a positive integer, got ${concurrency}.`);
    const callerStack = callSite();
    // The map's signal is the same for every input: one options object (and AbortSignal.any) for all.
    let shared: { mapSignal: AbortSignal; options: CallOptions } | undefined;
    yield* mapCalls(
      inputs,
      (args, signal) => {
        if (shared?.mapSignal !== signal) {
          const options = { signal: this.#signal ? AbortSignal.any([signal, this.#signal]) : signal, callerStack, overrides: this.#overrides, batch: true };
          shared = { mapSignal: signal, options };
        }
        return host.call(record, args, shared.options) as Promise<Awaited<R>>;
      },
      { concurrency, orderOutputs: options.orderOutputs ?? true, returnExceptions: options.returnExceptions ?? false },
    );
  }

  #host(): Host {
    const host = registry().host;
    if (!host) throw noHostError(this.name);
    return host;
  }
}

/**
 * Where the user made the call, for remote error stacks. The Error is taken now, while the user's
 * frames are on the stack; its text is only formatted if the call fails (formatting costs more).
 */
function callSite(): () => string | undefined {
  const site = new Error();
  return () => userStack(site.stack, import.meta.url);
}

/** Inputs one agent takes at once unless `maxConcurrentInputs` says otherwise. */
export const DEFAULT_CONCURRENT_INPUTS = 64;

export function isRemoteFunction(value: unknown): value is RemoteFunction<unknown[], unknown> {
  return typeof value === "object" && value !== null && REMOTE_FUNCTION in value;
}

/** Each input as an argument list; a sync iterable stays sync (mapCalls reads it without a turn per input). */
function wrapEach<T>(inputs: Iterable<T> | AsyncIterable<T>): Iterable<[T] | PromiseLike<[T]>> | AsyncIterable<[T]> {
  return typeof inputs === "object" && inputs !== null && Symbol.asyncIterator in inputs ? wrapEachAsync(inputs) : wrapEachSync(inputs as Iterable<T>);
}

async function* wrapEachAsync<T>(inputs: AsyncIterable<T>): AsyncGenerator<[T], void, undefined> {
  for await (const input of inputs) yield [input];
}

/** A promise among the inputs is awaited, as `for await` would. */
function* wrapEachSync<T>(inputs: Iterable<T>): Generator<[T] | PromiseLike<[T]>, void, undefined> {
  for (const input of inputs) {
    yield typeof (input as PromiseLike<unknown> | null)?.then === "function" ? Promise.resolve(input).then((value) => [value] as [T]) : [input];
  }
}

// biome-ignore lint/correctness/useYield: a stream that fails on first read.
async function* failingStream(error: Error): AsyncGenerator<never, void, undefined> {
  throw error;
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

const localInstances = new WeakMap<object, Map<string, unknown>>();

/** `.local()` on a method runs on one local instance per class and constructor arguments. */
function localInstance(record: FunctionRecord, overrides: CallOverrides): unknown {
  if (record.kind !== "method") return undefined;
  const owner = record.owner as new (...a: unknown[]) => unknown;
  const init = overrides.init ?? [];
  const key = JSON.stringify(init);
  let byArgs = localInstances.get(owner);
  if (!byArgs) localInstances.set(owner, (byArgs = new Map()));
  if (!byArgs.has(key)) byArgs.set(key, new owner(...init));
  return byArgs.get(key);
}

/** Call the user's implementation: static methods on their class, methods on `self`. */
export function runImplementation(record: FunctionRecord, args: unknown[], self: unknown): unknown {
  const fn = record.implementation as (...a: unknown[]) => unknown;
  if (record.kind === "static-method") return fn.apply(record.owner, args);
  if (record.kind === "method") return fn.apply(self, args);
  return fn(...args);
}
