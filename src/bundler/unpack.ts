/**
 * Unpacking a code archive on the agent. The archive comes over the network, so every entry is
 * checked before anything is written: only regular files and directories, only relative paths
 * that stay inside the target dir. Listing and extraction read the same bytes in memory, so the
 * archive cannot change between the check and the write.
 *
 * The agent should import this file directly rather than the bundler's index: it is bundled into
 * the agent, and this module (unlike buildArchive) does not pull in esbuild.
 */
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { Parser, Unpack, type ReadEntry } from "tar";
import { FlowError, ValidationError } from "../errors.ts";
import { contentHash, type ArchiveFile } from "./archive.ts";
import { MANIFEST_FILE, Manifest } from "./manifest.ts";

interface EntryInfo {
  path: string;
  type: string;
  mode: number | undefined;
  linkpath: string | undefined;
}

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);
/** setuid, setgid and sticky: never legitimate in a code archive. */
const SPECIAL_MODE_BITS = 0o7000;

/**
 * Extracts the archive into `dir` (created if missing) and returns its validated manifest. Throws
 * FlowError naming the entry for any link, special file, absolute path or path escaping `dir`, and
 * ValidationError if manifest.json is missing, malformed, or does not match the files.
 */
export async function unpackArchive(archivePath: string, dir: string): Promise<Manifest> {
  const root = path.resolve(dir);
  const files = await extractArchive(archivePath, root);
  const manifest = await readManifest(root, archivePath);
  if (!files.includes(manifest.entry)) {
    throw new ValidationError(`Archive ${archivePath}: manifest entry "${manifest.entry}" is not in the archive`);
  }
  const bundled: ArchiveFile[] = [];
  for (const file of files) {
    if (file !== MANIFEST_FILE) bundled.push({ path: file, contents: await readFile(path.join(root, file)) });
  }
  if (contentHash(bundled) !== manifest.hash) {
    throw new ValidationError(`Archive ${archivePath}: its files do not match the manifest hash (corrupt or altered)`);
  }
  return manifest;
}

/**
 * Extracts any archive of plain files and directories into `dir` (created if missing), with the
 * same entry checks as unpackArchive but no manifest: a task's code package is the user's
 * directory as it is. Returns the archive's file paths.
 */
export async function extractArchive(archivePath: string, dir: string): Promise<string[]> {
  const bytes = await readFile(archivePath);
  const root = path.resolve(dir);
  const entries = await listEntries(bytes, archivePath);
  for (const entry of entries) assertSafe(entry, root, archivePath);
  await mkdir(root, { recursive: true });
  await extract(bytes, root, archivePath);
  return entries.filter((e) => FILE_TYPES.has(e.type)).map((e) => path.posix.normalize(e.path));
}

function listEntries(bytes: Buffer, archivePath: string): Promise<EntryInfo[]> {
  const entries: EntryInfo[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      entries.push({ path: entry.path, type: entry.type, mode: entry.mode, linkpath: entry.linkpath });
      entry.resume();
    },
  });
  return new Promise((resolve, reject) => {
    parser.on("error", (err: Error) => reject(unreadable(archivePath, err)));
    parser.on("end", () => resolve(entries));
    parser.end(bytes);
  });
}

function extract(bytes: Buffer, root: string, archivePath: string): Promise<void> {
  // preserveOwner off: an agent running as root must not chown files to ids from the archive.
  const unpack = new Unpack({ cwd: root, strict: true, preserveOwner: false });
  return new Promise((resolve, reject) => {
    unpack.on("error", (err: Error) => reject(unreadable(archivePath, err)));
    unpack.on("close", () => resolve());
    unpack.end(bytes);
  });
}

function assertSafe(entry: EntryInfo, root: string, archivePath: string): void {
  const where = `Archive ${archivePath}: entry "${entry.path}"`;
  if (entry.type !== "Directory" && !FILE_TYPES.has(entry.type)) {
    const target = entry.linkpath ? ` -> "${entry.linkpath}"` : "";
    throw new FlowError(`${where}${target} is a ${entry.type}; only regular files and directories are allowed`);
  }
  if (path.posix.isAbsolute(entry.path) || path.win32.isAbsolute(entry.path) || /^[a-zA-Z]:/.test(entry.path)) {
    throw new FlowError(`${where} has an absolute path`);
  }
  if (entry.path.split(/[\\/]/).includes("..")) {
    throw new FlowError(`${where} has a ".." segment`);
  }
  const relative = path.relative(root, path.resolve(root, entry.path));
  if (relative.startsWith("..") || path.isAbsolute(relative)) {
    throw new FlowError(`${where} would be written outside ${root}`);
  }
  if (entry.mode !== undefined && (entry.mode & SPECIAL_MODE_BITS) !== 0) {
    throw new FlowError(`${where} has setuid, setgid or sticky mode bits`);
  }
}

async function readManifest(root: string, archivePath: string): Promise<Manifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(root, MANIFEST_FILE), "utf8"));
  } catch (cause) {
    throw new ValidationError(`Archive ${archivePath}: ${MANIFEST_FILE} is missing or not JSON`, { cause });
  }
  const parsed = Manifest.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.message,
    }));
    const summary = issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ");
    throw new ValidationError(`Archive ${archivePath}: invalid ${MANIFEST_FILE}: ${summary}`, { issues });
  }
  return parsed.data;
}

function unreadable(archivePath: string, cause: Error): FlowError {
  return new FlowError(`Archive ${archivePath} could not be read: ${cause.message}`, { cause });
}
