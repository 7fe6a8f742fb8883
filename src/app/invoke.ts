/**
 * Zero-import execution: call an exported function of a file that never imports flow-sdk.
 *
 *   const model = await invoke<Model>("train.ts", "train", { args: [3], gpu: "a100" });
 *
 * It is an app run of one call: the same bundling, agents, retries, timeouts (FunctionTimeoutError)
 * and clean-up on Ctrl-C as app.run, with the file's exports as the functions.
 *
 *   const call = await invoke.spawn<Model>("train.ts", "train", { args: [3] });   // detached
 *   const model = await FunctionCall.fromId<Model>(call.taskId).result();          // any process, later
 */
import { resolve } from "node:path";
import { parseFunctionOptions, type FunctionOptions } from "./options.ts";
import type { FunctionRecord } from "./registry.ts";
import type { DetachedCall } from "../calls/detached-call.ts";
import { AppRunner, createProvider, guarded, type RunOptions } from "./run.ts";

export interface InvokeOptions extends Omit<FunctionOptions, "name" | "retries"> {
  args?: unknown[];
  provider?: RunOptions["provider"];
}

export async function invoke<T = unknown>(file: string, functionName: string, options: InvokeOptions = {}): Promise<T> {
  const { runner, target, args } = prepare(file, functionName, options, "invoke");
  return (await guarded(runner, () => runner.call(target, args, {}))) as T;
}

/**
 * The same call, detached (as fn.spawnDetached): it runs on an agent of its own that outlives this
 * process, and resolves once that agent has recorded it. Local provider only, for now.
 */
invoke.spawn = async function spawn<T = unknown>(file: string, functionName: string, options: InvokeOptions = {}): Promise<DetachedCall<T>> {
  const { runner, target, args } = prepare(file, functionName, options, "invoke.spawn");
  return (await guarded(runner, () => runner.spawnDetached(target, args, {}))) as DetachedCall<T>;
};

function prepare(file: string, functionName: string, options: InvokeOptions, door: string): { runner: AppRunner; target: FunctionRecord; args: unknown[] } {
  const { args = [], provider, ...functionOptions } = options;
  const parsed = parseFunctionOptions(functionOptions, `${door}("${file}", "${functionName}")`);
  const entry = resolve(file);
  const runner = new AppRunner(entry, createProvider(provider), { modules: [entry], externals: parsed.externals ?? [], exposeExports: true });
  runner.prepare();
  return { runner, target: exportOf(file, functionName, parsed), args };
}

/** The export to call, as a function record of this call only (the process's registry never sees it). */
function exportOf(file: string, name: string, options: FunctionOptions): FunctionRecord {
  return {
    id: name,
    index: -1,
    site: undefined,
    kind: "export",
    app: "invoke",
    options,
    definedAt: file,
    implementation: () => undefined,
    streaming: false,
  };
}
