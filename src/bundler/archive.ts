/**
 * Writing a code archive: a gzip tar that is byte-for-byte deterministic, so the same sources
 * always give the same archive hash (the cache and upload dedup rely on that).
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { create } from "tar";

/** One file of an archive, by its path inside the archive (forward slashes). */
export interface ArchiveFile {
  path: string;
  contents: Uint8Array | string;
  /** Packed as 0755 instead of 0644, so uploaded scripts stay runnable. */
  executable?: boolean;
}

/**
 * Every entry carries this mtime instead of the staging files' real one. 2000-01-01 rather than
 * the epoch because some tar readers warn about "implausibly old" timestamps.
 */
export const ARCHIVE_MTIME = new Date(Date.UTC(2000, 0, 1));
const FILE_MODE = 0o644;
const EXECUTABLE_MODE = 0o755;
const DIR_MODE = 0o755;

/**
 * sha256 (hex) of a set of files: paths and contents, in path order, so neither the order the
 * files were produced in nor anything outside them (mtimes, tar layout) changes it.
 */
export function contentHash(files: readonly ArchiveFile[]): string {
  const hash = createHash("sha256");
  for (const file of [...files].sort((a, b) => compare(a.path, b.path))) {
    const bytes = typeof file.contents === "string" ? Buffer.from(file.contents) : file.contents;
    hash.update(`${file.path}\0${bytes.byteLength}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}

/**
 * The files as a deterministic .tar.gz: entries sorted (directories included, so they extract
 * with a known mode), fixed mtime and modes, no owner, no pax headers. tar reads entries from
 * disk, so the files are staged in a temp dir first; their modes are set explicitly because the
 * umask would otherwise leak into the archive.
 *
 * The gzip header is node's zlib default, which has no timestamp (mtime 0); the compressed
 * bytes are stable for a given zlib version, i.e. a given Node release.
 */
export async function packArchive(files: readonly ArchiveFile[]): Promise<Buffer> {
  const stage = await mkdtemp(path.join(os.tmpdir(), "flow-archive-"));
  try {
    const dirs = new Set<string>();
    for (const file of files) {
      for (let dir = path.posix.dirname(file.path); dir !== "."; dir = path.posix.dirname(dir)) dirs.add(dir);
    }
    for (const dir of dirs) {
      await mkdir(path.join(stage, dir), { recursive: true });
      await chmod(path.join(stage, dir), DIR_MODE);
    }
    for (const file of files) {
      const target = path.join(stage, file.path);
      await writeFile(target, file.contents);
      await chmod(target, file.executable ? EXECUTABLE_MODE : FILE_MODE);
    }
    const entries = [...dirs, ...files.map((f) => f.path)].sort(compare);
    const pack = create(
      { cwd: stage, gzip: true, portable: true, noPax: true, noDirRecurse: true, mtime: ARCHIVE_MTIME, strict: true },
      entries,
    );
    return await pack.concat();
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Code-unit order, independent of locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
