/**
 * Zero-import execution: call an exported function of a file that never imports flow-sdk.
 *
 *   const model = await invoke<Model>("train.ts", "train", { args: [3], gpu: "a100" });
 */
import { resolve } from "node:path";
import { buildArchive } from "../bundler/index.ts";
import { parseFunctionOptions, type FunctionOptions } from "./options.ts";
import { createProvider, sdkExportNames, startAgentSession, type RunOptions } from "./run.ts";

export interface InvokeOptions extends Omit<FunctionOptions, "name" | "retries"> {
  args?: unknown[];
  provider?: RunOptions["provider"];
}

export async function invoke<T = unknown>(file: string, functionName: string, options: InvokeOptions = {}): Promise<T> {
  const { args = [], provider: providerOption, ...functionOptions } = options;
  const parsed = parseFunctionOptions(functionOptions, `invoke("${file}", "${functionName}")`);
  const archive = await buildArchive({ entry: resolve(file), sdkExports: await sdkExportNames(), externals: parsed.externals ?? [] });
  const provider = createProvider(providerOption);
  try {
    const spec = { label: `${file}::${functionName}`, archive, options: parsed };
    const session = await startAgentSession(provider, spec, { exposeExports: true });
    const signal = parsed.timeoutMs === undefined ? undefined : AbortSignal.timeout(parsed.timeoutMs);
    try {
      return (await session.call(functionName, args, { signals: signal ? [signal] : [] })) as T;
    } finally {
      await session.close();
    }
  } finally {
    await provider.shutdown();
  }
}
