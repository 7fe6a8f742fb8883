/**
 * Whether the other end of a connection is still there, judged the same way on both ends.
 *
 * Every interval we ping it. Any byte that arrived since the previous check is a sign of life, not
 * only a pong: a pong can queue behind megabytes of a transfer on a slow link, and that link is
 * busy, not dead. The peer is given up after `missedLimit` checks in a row with nothing from it.
 *
 * Only checks that run on time count. A check that runs late means this process's own event loop
 * was blocked (a long synchronous computation, a paused laptop): bytes may be waiting unread in the
 * socket, so the silence says nothing about the peer, and the count starts over.
 */
import { performance } from "node:perf_hooks";

export interface LivenessOptions {
  intervalMs: number;
  missedLimit: number;
  ping(): void;
  /** Called once, when the peer is given up. */
  dead(): void;
  /** The clock; tests replace it. */
  now?: () => number;
}

/** A check this much later than planned tells us about our own event loop, not the peer. */
const LATE_FACTOR = 1.5;

export class Liveness {
  readonly #options: LivenessOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #heard = false;
  #missed = 0;
  #lastCheck: number;

  constructor(options: LivenessOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#lastCheck = this.#now();
  }

  start(): void {
    this.#lastCheck = this.#now();
    this.#timer = setInterval(() => this.check(), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Something arrived from the peer. Cheap: called for every chunk of data. */
  heard(): void {
    this.#heard = true;
  }

  /** One periodic check (run by the interval; public so tests can drive it with their own clock). */
  check(): void {
    const now = this.#now();
    const late = now - this.#lastCheck > this.#options.intervalMs * LATE_FACTOR;
    this.#lastCheck = now;
    if (this.#heard || late) this.#missed = 0;
    else this.#missed++;
    this.#heard = false;
    if (this.#missed >= this.#options.missedLimit) {
      this.stop();
      this.#options.dead();
      return;
    }
    this.#options.ping();
  }
}
