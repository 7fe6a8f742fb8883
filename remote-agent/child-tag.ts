/**
 * Marks every process the user's code starts, so the agent can find it again to stop it.
 *
 * The worker leads its own process group, which holds its plain children. A detached child
 * (`spawn(..., { detached: true })`, or a daemon that calls setsid) leaves that group, and one
 * whose parent exits is re-parented away from the worker. What it keeps is its environment: each
 * child gets the worker's tag variable even when the code passes an `env` of its own, and on Linux
 * the agent stops every process whose environment carries it (see processes.ts killTagged).
 * Only a process that clears its environment itself (`env -i`) escapes this.
 */
import childProcess, { ChildProcess } from "node:child_process";
import { syncBuiltinESMExports } from "node:module";

export function tagChildren(name: string, value: string): void {
  const pair = `${name}=${value}`;
  // Every asynchronous spawn (spawn, exec, execFile, fork) ends here with its final environment.
  const prototype = ChildProcess.prototype as unknown as { spawn(this: ChildProcess, options: { envPairs?: string[] }): unknown };
  const spawn = prototype.spawn;
  prototype.spawn = function (options) {
    if (Array.isArray(options?.envPairs) && !options.envPairs.includes(pair)) options.envPairs.push(pair);
    return spawn.call(this, options);
  };

  // The synchronous variants build their environment inside node: add the tag to an explicit `env`.
  for (const method of ["spawnSync", "execSync", "execFileSync"] as const) {
    const original = childProcess[method] as (...args: unknown[]) => unknown;
    (childProcess as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      const last = args.at(-1);
      if (typeof last === "object" && last !== null && !Array.isArray(last) && "env" in last && last.env) {
        args[args.length - 1] = { ...last, env: { ...(last.env as Record<string, string>), [name]: value } };
      }
      return original(...args);
    };
  }
  syncBuiltinESMExports();
}
