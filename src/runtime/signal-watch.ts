/**
 * Many calls (or waiters) cancelled by few signals: a run's, a map's, a caller's. One listener per
 * signal, added the first time it is seen and left in place (a WeakMap entry, gone with the
 * signal), so a signal shared by many items does not pile up listeners (or node's leak warnings),
 * and watching costs a Set insertion, not an AbortSignal.any or an addEventListener per call.
 * The listener holds the watch weakly: a long-lived signal does not keep a finished session alive.
 */
export class SignalWatch<T> {
  readonly #onAbort: (item: T, signal: AbortSignal) => void;
  readonly #watched = new WeakMap<AbortSignal, Set<T>>();

  /** `onAbort` runs for each item still watched when one of its signals fires. */
  constructor(onAbort: (item: T, signal: AbortSignal) => void) {
    this.#onAbort = onAbort;
  }

  add(signals: readonly AbortSignal[], item: T): void {
    for (const signal of signals) {
      let items = this.#watched.get(signal);
      if (!items) {
        items = new Set();
        this.#watched.set(signal, items);
        const watch = new WeakRef(this);
        signal.addEventListener("abort", () => SignalWatch.#fireFor(watch, signal), { once: true });
      }
      items.add(item);
    }
  }

  delete(signals: readonly AbortSignal[], item: T): void {
    for (const signal of signals) this.#watched.get(signal)?.delete(item);
  }

  static #fireFor<T>(watch: WeakRef<SignalWatch<T>>, signal: AbortSignal): void {
    const alive = watch.deref();
    if (alive) alive.#fire(signal);
  }

  #fire(signal: AbortSignal): void {
    const items = this.#watched.get(signal);
    if (!items) return;
    this.#watched.delete(signal);
    for (const item of items) this.#onAbort(item, signal);
  }
}
