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
  active: number;
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
      const member = this.#pick();
      if (member) {
        member.active++;
        let session: AgentSession;
        try {
          session = await member.session;
        } catch (error) {
          member.active--;
          throw error;
        }
        let released = false;
        return {
          session,
          release: () => {
            if (released) return;
            released = true;
            member.active--;
            this.#wakeOne();
          },
        };
      }
      await this.#slotFreed(signals);
    }
  }

  /** Every agent started so far (for shutdown). */
  async sessions(): Promise<AgentSession[]> {
    const settled = await Promise.allSettled([...this.#members].map((m) => m.session));
    return settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.wake();
  }

  /** An idle agent, else a new one if allowed, else the least busy with room; undefined: wait. */
  #pick(): Member | undefined {
    const { maxContainers, maxConcurrentInputs } = this.#options;
    let best: Member | undefined;
    for (const member of this.#members) {
      if (member.active === 0) return member;
      if (member.active < maxConcurrentInputs && (!best || member.active < best.active)) best = member;
    }
    if (this.#members.size < maxContainers) return this.#startMember();
    return best;
  }

  #startMember(): Member {
    const member: Member = { session: this.#options.start(), active: 0 };
    this.#members.add(member);
    const leave = () => {
      this.#members.delete(member);
      this.#wakeOne();
    };
    member.session.then((session) => session.onClose(leave), leave);
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
