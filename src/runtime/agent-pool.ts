/**
 * The agents ("containers") of one function: at most `maxContainers` of them, each running at
 * most `maxConcurrentInputs` calls. A call leases a slot; work spreads to a new agent while the
 * function may still start one and every running agent is busy, and otherwise waits for a slot.
 * An agent that dies leaves the pool, and the next lease starts a fresh one in its place.
 */
import type { AgentSession } from "./session.ts";
import { SignalWatch } from "./signal-watch.ts";

export interface AgentPoolOptions {
  maxContainers: number;
  maxConcurrentInputs: number;
  /** Start one agent and connect to it. */
  start(): Promise<AgentSession>;
}

export interface Lease {
  session: AgentSession;
  release(): void;
}

interface Waiter {
  wake(): void;
  abort(reason: unknown): void;
}

interface Member {
  session: Promise<AgentSession>;
  /** The session once connected: a lease on it needs no wait. */
  ready: AgentSession | undefined;
  active: number;
}

/** A lease as an object, not a closure: one per call, and a closure costs more (esbuild's keepNames names each). */
class Slot implements Lease {
  readonly session: AgentSession;
  readonly #member: Member;
  readonly #onRelease: () => void;
  #released = false;

  constructor(session: AgentSession, member: Member, onRelease: () => void) {
    this.session = session;
    this.#member = member;
    this.#onRelease = onRelease;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#member.active--;
    this.#onRelease();
  }
}

export class AgentPool {
  readonly #options: AgentPoolOptions;
  readonly #members = new Set<Member>();
  #waiters: Waiter[] = [];
  readonly #giveUp = new SignalWatch<Waiter>((waiter, signal) => waiter.abort(signal.reason));
  #closed = false;

  constructor(options: AgentPoolOptions) {
    this.#options = options;
  }

  /** A slot on an agent; any of `signals` gives up waiting for one. */
  async lease(signals: readonly AbortSignal[] = []): Promise<Lease> {
    for (;;) {
      for (const signal of signals) signal.throwIfAborted();
      if (this.#closed) throw new Error("the pool is closed");
      const choice = this.#choose();
      const member = choice === "new" ? this.#startMember() : choice;
      if (member) {
        member.active++;
        let session: AgentSession;
        try {
          session = await member.session;
        } catch (error) {
          member.active--;
          throw error;
        }
        return this.#leaseOn(member, session);
      }
      await this.#slotFreed(signals);
    }
  }

  /**
   * The slot lease() would give, taken now, when that needs no wait: the agent it picks is
   * connected and has room. Undefined otherwise (lease() then waits). Each input of a map takes
   * one, so the common case costs no promise.
   */
  tryLease(signals: readonly AbortSignal[] = []): Lease | undefined {
    if (this.#closed) return undefined;
    for (const signal of signals) if (signal.aborted) return undefined;
    const member = this.#choose();
    if (member === undefined || member === "new" || member.ready === undefined) return undefined;
    member.active++;
    return this.#leaseOn(member, member.ready);
  }

  #leaseOn(member: Member, session: AgentSession): Lease {
    return new Slot(session, member, this.#slotReleased);
  }

  readonly #slotReleased = (): void => this.#wakeOne();

  /** Every agent started so far (for shutdown). */
  async sessions(): Promise<AgentSession[]> {
    const settled = await Promise.allSettled([...this.#members].map((m) => m.session));
    return settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.wake();
  }

  /** An idle agent, else a new one if allowed ("new"), else the least busy with room; undefined: wait. */
  #choose(): Member | "new" | undefined {
    const { maxContainers, maxConcurrentInputs } = this.#options;
    let best: Member | undefined;
    for (const member of this.#members) {
      if (member.active === 0) return member;
      if (member.active < maxConcurrentInputs && (!best || member.active < best.active)) best = member;
    }
    if (this.#members.size < maxContainers) return "new";
    return best;
  }

  #startMember(): Member {
    const member: Member = { session: this.#options.start(), ready: undefined, active: 0 };
    this.#members.add(member);
    const leave = () => {
      this.#members.delete(member);
      this.#wakeOne();
    };
    member.session.then((session) => {
      member.ready = session;
      session.onClose(leave);
    }, leave);
    return member;
  }

  #slotFreed(signals: readonly AbortSignal[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        wake: () => {
          this.#giveUp.delete(signals, waiter);
          resolve();
        },
        // A waiter that gives up leaves the queue, so a freed slot never wakes nobody.
        abort: (reason) => {
          this.#giveUp.delete(signals, waiter);
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(reason);
        },
      };
      this.#giveUp.add(signals, waiter);
      this.#waiters.push(waiter);
    });
  }

  #wakeOne(): void {
    this.#waiters.shift()?.wake();
  }
}
