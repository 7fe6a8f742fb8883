import type { InstanceConnection } from "./instance-connection.ts";

/**
 * The SSH connection kept under `key` in `cache`, opened by `open` when there is none: concurrent
 * askers share one attempt, and a connection that drops (or fails to open) is forgotten, so the
 * next asker opens a new one.
 */
export function sharedConnection(cache: Map<string, Promise<InstanceConnection>>, key: string, open: () => Promise<InstanceConnection>): Promise<InstanceConnection> {
  let pending = cache.get(key);
  if (pending === undefined) {
    pending = (async () => {
      const connection = await open();
      void connection.ssh.closed.then(() => {
        if (cache.get(key) === pending) cache.delete(key);
      });
      return connection;
    })();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}
