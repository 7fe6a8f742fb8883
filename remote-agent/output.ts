/**
 * Captures what user code prints in the worker (console, process.stdout/stderr, child processes)
 * and forwards it to the client, tagged with the call that printed it.
 *
 * Calls run concurrently in one process, so the call is found through AsyncLocalStorage (the call
 * context's: one storage for both, see call-context.ts). Child
 * processes started with inherited stdio would write straight to our file descriptors, past
 * process.stdout; spawn and the sync variants are wrapped so their output is piped through us.
 */
import childProcess, { type ChildProcess } from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import { callContextStorage } from "../src/app/call-context.ts";

export type StreamName = "stdout" | "stderr";
export type OutputSink = (stream: StreamName, data: string) => void;

const scopes = callContextStorage();

/** Run `fn` with its output going to `sink`, for no call (a module load, the exit hooks). */
export function withOutput<T>(sink: OutputSink, fn: () => T): T {
  return scopes.run({ call: undefined, output: sink }, fn);
}

/** Where the current code's output goes: its call's (or module load's) sink, if any. */
function currentSink(): OutputSink | undefined {
  return scopes.getStore()?.output;
}

/**
 * Diagnostics on the real stderr, past the capture. The control plane's stderr is its log; the
 * worker's is a pipe the control plane reads, keeps the last lines of (for crash reports) and
 * forwards to every client as output of no call.
 */
export const agentLog = process.stderr.write.bind(process.stderr);

export function captureOutput(fallback: OutputSink): void {
  for (const stream of ["stdout", "stderr"] as const) {
    const target = process[stream];
    target.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
      const sink = currentSink() ?? fallback;
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
      sink(stream, text);
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") queueMicrotask(() => (done as () => void)());
      return true;
    }) as typeof target.write;
  }
  wrapChildProcesses();
}

function inheritsOutput(stdio: unknown): boolean {
  if (stdio === "inherit") return true;
  return Array.isArray(stdio) && (isInherited(stdio[1], 1) || isInherited(stdio[2], 2));
}

function isInherited(entry: unknown, fd: number): boolean {
  return entry === "inherit" || entry === fd || entry === process.stdout || entry === process.stderr;
}

/** stdio with output fds turned into pipes, input left as the caller asked. */
function pipedStdio(stdio: unknown): unknown[] {
  const list = Array.isArray(stdio) ? [...stdio] : [stdio, stdio, stdio];
  for (const fd of [1, 2]) if (isInherited(list[fd], fd)) list[fd] = "pipe";
  return list;
}

type SpawnOptions = { stdio?: unknown } & Record<string, unknown>;

function splitArgs(args: unknown[]): { head: unknown[]; options: SpawnOptions | undefined } {
  const last = args.at(-1);
  if (typeof last === "object" && last !== null && !Array.isArray(last)) {
    return { head: args.slice(0, -1), options: last as SpawnOptions };
  }
  return { head: args, options: undefined };
}

function wrapChildProcesses(): void {
  const original = {
    spawn: childProcess.spawn,
    spawnSync: childProcess.spawnSync,
    execSync: childProcess.execSync,
    execFileSync: childProcess.execFileSync,
  };

  childProcess.spawn = ((...args: unknown[]) => {
    const { head, options } = splitArgs(args);
    if (!options || !inheritsOutput(options.stdio)) {
      return (original.spawn as (...a: unknown[]) => ChildProcess)(...args);
    }
    const sink = currentSink();
    const child = (original.spawn as (...a: unknown[]) => ChildProcess)(...head, {
      ...options,
      stdio: pipedStdio(options.stdio),
    });
    child.stdout?.on("data", (data: Buffer) => (sink ? sink("stdout", data.toString()) : process.stdout.write(data)));
    child.stderr?.on("data", (data: Buffer) => (sink ? sink("stderr", data.toString()) : process.stderr.write(data)));
    return child;
  }) as typeof childProcess.spawn;

  // The sync variants block, so output cannot be live; it is forwarded when the child exits.
  for (const name of ["spawnSync", "execSync", "execFileSync"] as const) {
    const fn = original[name] as (...a: unknown[]) => unknown;
    (childProcess as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const { head, options } = splitArgs(args);
      if (!options || !inheritsOutput(options.stdio)) return fn(...args);
      try {
        const result = fn(...head, { ...options, stdio: pipedStdio(options.stdio) });
        forwardSyncOutput(name === "spawnSync" ? (result as { stdout: Buffer; stderr: Buffer }) : { stdout: result });
        // With inherited stdout the real call returns null: the output went to the terminal.
        return name === "spawnSync" ? result : null;
      } catch (error) {
        forwardSyncOutput(error as { stdout?: unknown; stderr?: unknown });
        throw error;
      }
    };
  }
  // ESM `import { spawn } from "node:child_process"` bindings follow the patched CJS exports.
  syncBuiltinESMExports();
}

function forwardSyncOutput(result: { stdout?: unknown; stderr?: unknown }): void {
  if (result.stdout) process.stdout.write(String(result.stdout));
  if (result.stderr) process.stderr.write(String(result.stderr));
}
