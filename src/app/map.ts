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

export async function* mapCalls<T>(
  inputs: Iterable<unknown[]> | AsyncIterable<unknown[]>,
  start: StartCall<T>,
  options: Required<MapOptions>,
): AsyncGenerator<T | Error, void, undefined> {
  const { concurrency, orderOutputs, returnExceptions } = options;
  const controller = new AbortController();
  const iterator = Symbol.asyncIterator in inputs ? inputs[Symbol.asyncIterator]() : inputs[Symbol.iterator]();
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
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          notify();
          return;
        }
        permits--;
        const index = started++;
        start(next.value, controller.signal).then(
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
