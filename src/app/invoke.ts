/**
 * Zero-import execution: call an exported function of a file that never imports flow-sdk.
 *
 *   const model = await invoke<Model>("train.ts", "train", { args: [3], gpu: "a100" });
 *
 * It is an app run of one call: the same bundling, agents, retries, timeouts (FunctionTimeoutError)
 * and clean-up on Ctrl-C as app.run, with the file's exports as the functions.
 */
import { resolve } from "node:path";
import { parseFunctionOptions, type FunctionOptions } from "./options.ts";
import type { FunctionRecord } from "./registry.ts";
import { AppRunner, createProvider, guarded, type RunOptions } from "./run.ts";

export interface InvokeOptions extends Omit<FunctionOptions, "name" | "retries"> {
  args?: unknown[];
  provider?: RunOptions["provider"];
}

export async function invoke<T = unknown>(file: string, functionName: string, options: InvokeOptions = {}): Promise<T> {
  const { args = [], provider, ...functionOptions } = options;
  const parsed = parseFunctionOptions(functionOptions, `invoke("${file}", "${functionName}")`);
  const entry = resolve(file);
  const runner = new AppRunner(entry, createProvider(provider), { modules: [entry], externals: parsed.externals ?? [], exposeExports: true });
  runner.prepare();
  return (await guarded(runner, () => runner.call(exportOf(file, functionName, parsed), args, {}))) as T;
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
