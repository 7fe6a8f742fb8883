/**
 * The engine behind `fn.map`, `fn.starmap` and `fn.forEach`.
 *
 * Inputs are pulled lazily: a permit is taken before each input is read and given back only when
 * its result is handed to the caller, so at most `concurrency` inputs are in flight or waiting to
 * be yielded. An endless input generator therefore runs in bounded memory, and ordered output
 * never buffers more than the window. Leaving the loop early (break, throw) cancels what is
 * still running remotely.
 */
import { CancelledError } from "../errors.ts";

export interface MapOptions {
  /** Most inputs in flight at once. Default: maxContainers × maxConcurrentInputs of the function. */
  concurrency?: number;
  /** Yield results in input order (default) or as they complete. */
  orderOutputs?: boolean;
  /** Yield a failed input's error in its place instead of throwing it. */
  returnExceptions?: boolean;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export type StartCall<T> = (args: unknown[], signal: AbortSignal) => Promise<T>;

/**
 * `inputs` may be a sync iterable of argument lists or of promises of them (map's inputs, where
 * `for await` would await each): it is read without a turn of the event loop per input.
 */
export async function* mapCalls<T>(
  inputs: Iterable<unknown[] | PromiseLike<unknown[]>> | AsyncIterable<unknown[]>,
  start: StartCall<T>,
  options: Required<MapOptions>,
): AsyncGenerator<T | Error, void, undefined> {
  const { concurrency, orderOutputs, returnExceptions } = options;
  const controller = new AbortController();
  const iterator: Iterator<unknown[] | PromiseLike<unknown[]>> | AsyncIterator<unknown[]> =
    Symbol.asyncIterator in inputs ? inputs[Symbol.asyncIterator]() : inputs[Symbol.iterator]();
  const sync = !(Symbol.asyncIterator in inputs);
  const settled = new Map<number, Settled<T>>();
  // Unordered output only: ordered output looks results up by index, so this would never drain.
  const completionOrder: number[] = [];
  let permits = concurrency;
  let started = 0;
  let yielded = 0;
  let nextToYield = 0;
  let exhausted = false;
  let inputFailure: { error: unknown } | undefined;
  let wakeConsumer: (() => void) | undefined;
  let wakeFiller: (() => void) | undefined;

  const notify = () => {
    wakeConsumer?.();
    wakeConsumer = undefined;
  };

  const fill = async () => {
    try {
      for (;;) {
        while (permits === 0 && !controller.signal.aborted) await new Promise<void>((r) => (wakeFiller = r));
        if (controller.signal.aborted) return;
        const next = sync ? (iterator as Iterator<unknown[] | PromiseLike<unknown[]>>).next() : await iterator.next();
        if (next.done) {
          exhausted = true;
          notify();
          return;
        }
        const args = isPromiseLike(next.value) ? await next.value : next.value;
        if (controller.signal.aborted) return;
        permits--;
        const index = started++;
        start(args, controller.signal).then(
          (value) => settle(index, { ok: true, value }),
          (error: unknown) => settle(index, { ok: false, error }),
        );
      }
    } catch (error) {
      inputFailure = { error };
      notify();
    }
  };
  const settle = (index: number, result: Settled<T>) => {
    if (controller.signal.aborted) return;
    settled.set(index, result);
    if (!orderOutputs) completionOrder.push(index);
    notify();
  };

  const filling = fill();
  try {
    for (;;) {
      if (inputFailure) throw inputFailure.error;
      const index = orderOutputs ? (settled.has(nextToYield) ? nextToYield : undefined) : completionOrder.shift();
      if (index === undefined) {
        if (exhausted && yielded === started) return;
        await new Promise<void>((r) => (wakeConsumer = r));
        continue;
      }
      const result = settled.get(index)!;
      settled.delete(index);
      if (orderOutputs) nextToYield++;
      yielded++;
      permits++;
      wakeFiller?.();
      if (result.ok) yield result.value;
      else if (returnExceptions) yield result.error instanceof Error ? result.error : new Error(String(result.error));
      else throw result.error;
    }
  } finally {
    controller.abort(new CancelledError("the map loop was left before all inputs finished"));
    wakeFiller?.();
    await filling;
    await iterator.return?.();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown[]> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}
