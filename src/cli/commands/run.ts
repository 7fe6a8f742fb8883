/**
 * `flow run <file.ts> [args…]` runs the file's local entrypoint with its remote functions live,
 * passing it what follows the file; `flow run <file.ts>::<name> [args…]` calls one function with
 * JSON arguments and prints the result.
 */
import { existsSync } from "node:fs";
import { register } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { moduleExports, nameFromExports, nameFromModules } from "../../app/exports.ts";
import { registry, type FunctionRecord } from "../../app/registry.ts";
import { AppRunner, createProvider, withRunner } from "../../app/run.ts";
import { FlowError, ValidationError } from "../../errors.ts";
import { providerName } from "../../providers/provider-name.ts";
import { loadError } from "./load-error.ts";
import { timingMark } from "../../debug-timing.ts";
import { sdkRoot } from "../../sdk-paths.ts";
import type { SdkCopyHookData } from "../sdk-copy-hook.ts";

export interface RunCommandOptions {
  provider?: string;
  json?: boolean;
  /** With `::name`: start a detached call, print its id and return at once. */
  detach?: boolean;
}

/** `args`: JSON values for `::name`, otherwise the entrypoint's argv. */
export async function runCommand(target: string, args: string[], options: RunCommandOptions): Promise<void> {
  const [file, functionName] = splitTarget(target);
  if (options.detach && functionName === undefined) {
    throw new ValidationError(`--detach starts one function call: name it, as in flow run ${file}::<name> [args…].`);
  }
  const provider = providerName(options.provider);
  const entry = resolve(file);
  if (!existsSync(entry)) {
    throw new FlowError(`No such file: ${file} (looked in ${process.cwd()}).`, {
      suggestions: ["flow run takes the path of a .ts file, relative to the current directory."],
    });
  }
  // The agent boots while the module loads and is bundled (a local one; a cloud one is not free).
  const agents = createProvider(provider);
  agents.prestart?.();
  // This installation's ES module copy of the SDK, loaded before the user's file, so a CommonJS
  // project's `require("flow-sdk")` returns it instead of loading a second copy (require-entry.cts).
  await import("../../index.ts");
  timingMark("sdk loaded");
  await import("../../register.ts");
  registerSdkCopyHook();
  timingMark("typescript loader registered");
  const namespace = (await import(pathToFileURL(entry).href).catch(async (error: unknown) => {
    await agents.shutdown();
    throw loadError(file, error);
  })) as Record<string, unknown>;
  timingMark("user module loaded");
  nameFromExports(moduleExports(namespace));
  await nameFromModules();

  const runner = new AppRunner(entry, agents);
  runner.prepare();
  await withRunner(runner, async () => {
    if (functionName !== undefined && options.detach) {
      const { taskId: callId } = await runner.spawnDetached(recordByName(functionName), args.map(parseArg), {});
      process.stdout.write(options.json ? `${JSON.stringify({ callId })}\n` : `${callId}\n`);
      if (!options.json) process.stderr.write(`detached: flow result ${callId} fetches its result; flow cancel ${callId} stops it\n`);
      return;
    }
    if (functionName !== undefined) {
      const result = await callByName(runner, functionName, args.map(parseArg));
      process.stdout.write(`${options.json ? JSON.stringify(result) : inspect(result, { depth: 6, colors: process.stdout.isTTY && !process.env.NO_COLOR })}\n`);
      return;
    }
    const entrypoints = registry().apps.flatMap((app) => app.entrypoints);
    if (entrypoints.length === 0) {
      throw new FlowError(`${file} has no app.localEntrypoint(...).`, {
        suggestions: [`Add one, or call a function directly: flow run ${file}::<name> [args…]`],
      });
    }
    if (entrypoints.length > 1) throw new FlowError(`${file} defines ${entrypoints.length} local entrypoints; keep one.`);
    const entrypoint = entrypoints[0]!;
    // Arguments for an entrypoint that declares no parameter were meant for something else,
    // most likely flow itself (`flow run app.ts --provider fcp`): refuse rather than drop them.
    if (args.length > 0 && entrypoint.length === 0) {
      throw new ValidationError(`The local entrypoint of ${file} takes no arguments, but was given: ${args.join(" ")}`, {
        suggestions: [
          `Options for flow go before the file: flow run ${args.join(" ")} ${file}`,
          "To take arguments, declare them: app.localEntrypoint(async (argv: string[]) => { … })",
        ],
      });
    }
    await entrypoint(args);
  });
}

/** The user's `import "flow-sdk"` gets the copy loaded above (see sdk-copy-hook.ts). */
function registerSdkCopyHook(): void {
  const data: SdkCopyHookData = {
    sdkEntryUrl: pathToFileURL(join(sdkRoot(), "dist", "index.js")).href,
    sdkRootUrl: pathToFileURL(join(sdkRoot(), "/")).href,
  };
  // Registered after tsx's hooks (by register.ts), so it runs before them.
  register(new URL("./sdk-copy-hook.js", import.meta.url), { data });
}

function splitTarget(target: string): [string, string | undefined] {
  const at = target.lastIndexOf("::");
  return at === -1 ? [target, undefined] : [target.slice(0, at), target.slice(at + 2)];
}

/** Arguments are JSON values; anything that is not valid JSON is taken as a string. */
function parseArg(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

async function callByName(runner: AppRunner, name: string, args: unknown[]): Promise<unknown> {
  return runner.call(recordByName(name), args, {});
}

function recordByName(name: string): FunctionRecord {
  const functions = registry().functions;
  const record = functions.find((f) => f.id === name);
  if (!record) {
    const known = functions.flatMap((f) => (f.id ? [f.id] : [])).join(", ") || "none";
    throw new FlowError(`No remote function '${name}' in this file (known: ${known}).`, {
      suggestions: ["Export the function (or the class that holds it) so flow can find it by name."],
    });
  }
  return record;
}
