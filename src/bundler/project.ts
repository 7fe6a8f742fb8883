/** Finding the user's project around an entry file, and reading its JSON files. */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

/** Each directory from `start` up to the filesystem root, nearest first. */
export function* ancestors(start: string): Generator<string> {
  let dir = path.resolve(start);
  for (;;) {
    yield dir;
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/** The nearest directory at or above `start` that holds `file`, if any. */
export function findUp(start: string, file: string): string | undefined {
  for (const dir of ancestors(start)) {
    if (existsSync(path.join(dir, file))) return dir;
  }
  return undefined;
}

/** The project root of an entry: the nearest directory with a package.json. */
export function findProjectRoot(entry: string): string | undefined {
  return findUp(path.dirname(entry), "package.json");
}

/** A JSON file as an object, or undefined if it is missing or not a JSON object. */
export async function readJsonObject(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A path as the user should see it: relative to the cwd when it is under it, else absolute. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === "" || relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}
