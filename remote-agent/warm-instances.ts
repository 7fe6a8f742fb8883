/**
 * Warm instances of user classes: one per class and constructor arguments, created on the first
 * call that needs it, its @enter() hooks run before that call (and only once), its @exit() hooks
 * run when the agent shuts down.
 */
import { lifecycleMethods } from "../src/app/lifecycle.ts";
import type { FunctionRecord } from "../src/app/registry.ts";
import { EXIT_HOOKS_LIMIT_MS } from "../src/runtime/protocol.ts";


export class WarmInstances {
  readonly #instances = new Map<object, Map<string, Promise<object>>>();

  /** `key` identifies the constructor arguments (their encoded form). */
  get(record: FunctionRecord, init: unknown[], key: string): Promise<object> {
    const owner = record.owner as new (...args: unknown[]) => object;
    let byArgs = this.#instances.get(owner);
    if (!byArgs) this.#instances.set(owner, (byArgs = new Map()));
    let instance = byArgs.get(key);
    if (!instance) {
      instance = (async () => {
        const created = new owner(...init);
        for (const hook of lifecycleMethods(created, "enter")) await hook.call(created);
        return created;
      })();
      // A failed constructor or enter hook is not cached: the next call tries again.
      instance.catch(() => byArgs.delete(key));
      byArgs.set(key, instance);
    }
    return instance;
  }

  /** Run every created instance's exit hooks, bounded in time so shutdown cannot hang. */
  async exit(report: (error: unknown) => void): Promise<void> {
    const created = await Promise.allSettled([...this.#instances.values()].flatMap((m) => [...m.values()]));
    const hooks = created.flatMap((r) =>
      r.status === "fulfilled" ? lifecycleMethods(r.value, "exit").map((hook) => () => hook.call(r.value)) : [],
    );
    const run = Promise.all(hooks.map((hook) => Promise.resolve().then(hook).catch(report)));
    await Promise.race([run, new Promise((resolve) => setTimeout(resolve, EXIT_HOOKS_LIMIT_MS).unref())]);
  }
}
