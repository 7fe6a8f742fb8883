/**
 * The archive cache: one .tar.gz per distinct archive, named by a key computed from everything
 * the archive's bytes depend on, so an unchanged module is never re-archived.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Manifest } from "./manifest.ts";

/**
 * Bump whenever the archive layout or the way it is packed changes: the key must change with the
 * bytes, and the manifest alone would not show such a change.
 */
const ARCHIVE_FORMAT = 1;

/** `<project>/node_modules/.cache/flow-sdk` (the common home of tool caches), else a temp dir. */
export function defaultCacheDir(projectDir: string | undefined): string {
  return projectDir === undefined
    ? path.join(os.tmpdir(), "flow-sdk-cache")
    : path.join(projectDir, "node_modules", ".cache", "flow-sdk");
}

/**
 * The cache key of an archive. The archive holds the manifest and the bundle files, and the
 * manifest carries the bundle files' hash, so the manifest determines the archive's bytes.
 */
export function cacheKey(manifest: Manifest): string {
  return createHash("sha256").update(`flow-archive/${ARCHIVE_FORMAT}\n${JSON.stringify(manifest)}`).digest("hex");
}

/** The cached file's bytes, or undefined on a miss. */
export async function readCached(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Writes via a temp file and rename, so a crash or a concurrent build never leaves a truncated
 * archive under the final name (a reader would take it for a hit).
 */
export async function writeCached(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
