/**
 * How the CLI prints an error that ends a command. Users see what happened and where in their
 * own code: the message (with suggestions for our own errors) and the stack frames of their files,
 * including the `[remote: agent pid …]` frames a remote exception brings along. The frames of the
 * SDK, of the packages it runs on (the CLI's commander, the TypeScript loader tsx, …) and of
 * Node's internals are left out: they are ours, not something a user can act on. FLOW_DEBUG=1
 * prints everything, as Node would.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { FlowError } from "../errors.ts";
import { sdkRoot } from "../sdk-paths.ts";
import { isAnonymousFrame, userStack, withoutFrames } from "../stack-frames.ts";

/**
 * `sdkFile`: a file of the SDK's build (the CLI's import.meta.url); frames of files in its
 * directory are the SDK's own.
 */
export function formatError(error: unknown, sdkFile: string, debug = process.env["FLOW_DEBUG"] === "1"): string {
  if (debug) return error instanceof Error ? inspect(error) : `Error: ${inspect(error)}`;
  if (error instanceof FlowError) return `Error: ${error.describe()}`;
  if (!(error instanceof Error)) return `Error: ${String(error)}`;
  const lines = [userFrames(error, sdkFile), ...causes(error, sdkFile)];
  if (!lines.some((text) => /^\s+at /m.test(text))) lines.push("(FLOW_DEBUG=1 shows where it came from)");
  return lines.join("\n");
}

/** The error's stack (its `name: message` line first) with only the user's frames. */
function userFrames(error: Error, sdkFile: string): string {
  const stack = userStack(error.stack ?? `${error.name}: ${error.message}`, sdkFile) ?? "";
  const dependencyFrame = sdkDependencyFrame();
  return withoutFrames(stack, (frame) => dependencyFrame.test(frame) || isAnonymousFrame(frame));
}

/** Matches frames in the packages the SDK depends on (its package.json "dependencies"). */
function sdkDependencyFrame(): RegExp {
  const manifest = JSON.parse(readFileSync(join(sdkRoot(), "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  const names = Object.keys(manifest.dependencies ?? {}).map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`/node_modules/(${names.join("|")})/`);
}

/** `Caused by: …` for each error in the `cause` chain, with its user frames. */
function causes(error: Error, sdkFile: string): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>([error]);
  let cause = error.cause;
  while (cause !== undefined && !seen.has(cause)) {
    seen.add(cause);
    out.push(`Caused by: ${cause instanceof Error ? userFrames(cause, sdkFile) : inspect(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return out;
}
