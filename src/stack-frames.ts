/**
 * Reading V8 stacks: which lines are frames, and keeping only the frames a user can act on. Users
 * see their own code: the CLI's error output and the call site appended to remote stacks are
 * filtered with these. At the root of src/, so every layer (and the agent) can use them.
 */
import { fileURLToPath } from "node:url";

/** `    at fn (file:line:col)`: a frame. The header above the frames (`Name: message`, perhaps several lines) is not. */
export function isFrame(line: string): boolean {
  return /^\s+at\s/.test(line);
}

/** Node's own frames: `node:internal/…`, `(node:events:…)`. */
export function isNodeFrame(frame: string): boolean {
  return /[\s(]node:/.test(frame);
}

/** A frame with no location at all: `at new Promise (<anonymous>)`. */
export function isAnonymousFrame(frame: string): boolean {
  return /\(<anonymous>\)$/.test(frame.trim());
}

/** `stack` without the frames `drop` matches; the header and any other line stay. */
export function withoutFrames(stack: string, drop: (frame: string) => boolean): string {
  return stack
    .split("\n")
    .filter((line) => !isFrame(line) || !drop(line))
    .join("\n");
}

/** `stack` without the frames of the SDK's own files (those beside `sdkFile`, an SDK module's import.meta.url) and of Node's internals. */
export function userStack(stack: string | undefined, sdkFile: string): string | undefined {
  if (stack === undefined) return undefined;
  const sdkDir = fileURLToPath(sdkFile).replace(/\/[^/]*$/, "/");
  return withoutFrames(stack, (frame) => frame.includes(sdkDir) || isNodeFrame(frame));
}
