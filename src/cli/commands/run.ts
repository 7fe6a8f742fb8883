/**
 * `flow run <file.ts>` runs the file's local entrypoint with its remote functions live;
 * `flow run <file.ts>::<name> [args…]` calls one function with JSON arguments and prints the result.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { nameFromExports } from "../../app/exports.ts";
import { registry } from "../../app/registry.ts";
import { AppRunner, createProvider, withRunner } from "../../app/run.ts";
import { BuildError, FlowError } from "../../errors.ts";
import { providerName } from "../../providers/provider-name.ts";

export interface RunCommandOptions {
  provider?: string;
  json?: boolean;
}

export async function runCommand(target: string, rawArgs: string[], options: RunCommandOptions): Promise<void> {
  const [file, functionName] = splitTarget(target);
  const provider = providerName(options.provider);
  const entry = resolve(file);
  await import("../../register.ts");
  const namespace = (await import(pathToFileURL(entry).href).catch((error: unknown) => {
    throw loadError(file, error);
  })) as Record<string, unknown>;
  nameFromExports(namespace);

  const runner = new AppRunner(entry, createProvider(provider));
  runner.prepare();
  await withRunner(runner, async () => {
    if (functionName !== undefined) {
      const result = await callByName(runner, functionName, rawArgs.map(parseArg));
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
    await entrypoints[0]!();
  });
}

/** esbuild's syntax errors (through tsx) read like our bundler's: file:line:column, no stack. */
function loadError(file: string, error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== "TransformError") return error;
  const details = error.message.split("\n").slice(1).join("\n");
  return new BuildError(`Could not load ${file}:\n${details}`);
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
  const functions = registry().functions;
  const record = functions.find((f) => f.id === name);
  if (!record) {
    const known = functions.flatMap((f) => (f.id ? [f.id] : [])).join(", ") || "none";
    throw new FlowError(`No remote function '${name}' in this file (known: ${known}).`, {
      suggestions: ["Export the function (or the class that holds it) so flow can find it by name."],
    });
  }
  return runner.call(record, args, {});
}
