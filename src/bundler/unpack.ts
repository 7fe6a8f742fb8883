/**
 * Unpacking a code archive on the agent. The archive comes over the network, so nothing in it is
 * trusted, and nothing about it may cost more than a bounded amount of memory, disk or time:
 *
 * - A first pass reads only the entry headers and refuses the archive, before anything is written,
 *   for any link, special file, absolute path, path escaping the target dir, setuid/setgid/sticky
 *   mode or repeated path, for more than MAX_ENTRIES entries, and for a total size beyond the
 *   expansion limit (a multiple of the archive's own size, see expansionLimit). A bomb is refused at
 *   the header that crosses the limit, without inflating what follows.
 * - The second pass streams each file to disk, hashing it as it is written, with the same checks
 *   (the bytes are read again, so they are checked again). No file is ever held in memory.
 *
 * The agent should import this file directly rather than the bundler's index: it is bundled into
 * the agent, and this module (unlike buildArchive) does not pull in esbuild.
 */
import { createHash, type Hash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { lstat, mkdir, open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";
import { FlowError, ValidationError } from "../errors.ts";
import { MANIFEST_FILE, Manifest } from "./manifest.ts";

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);
/** setuid, setgid and sticky: never legitimate in a code archive. */
const SPECIAL_MODE_BITS = 0o7000;

/** At most this many entries (files and directories). */
export const MAX_ENTRIES = 100_000;
/** What any archive may expand to, however small... */
const EXPANSION_FLOOR_BYTES = 256 << 20;
/** ...and beyond that, at most this many times its compressed size... */
const MAX_EXPANSION_RATIO = 100;
/** ...and never more than this. */
const MAX_EXPANDED_BYTES = 16 * 2 ** 30;

/** The most bytes an archive of `archiveBytes` may unpack to. */
export function expansionLimit(archiveBytes: number): number {
  return Math.min(MAX_EXPANDED_BYTES, Math.max(EXPANSION_FLOOR_BYTES, MAX_EXPANSION_RATIO * archiveBytes));
}

/**
 * Extracts the archive into `dir` (created if missing) and returns its validated manifest. Throws
 * FlowError naming the entry for any entry refused (see above), and ValidationError if
 * manifest.json is missing, malformed, or does not match the files.
 */
export async function unpackArchive(archivePath: string, dir: string): Promise<Manifest> {
  const root = path.resolve(dir);
  const { files, hash } = await extract(archivePath, root, true);
  const manifest = await readManifest(root, archivePath);
  if (!files.includes(manifest.entry)) {
    throw new ValidationError(`Archive ${archivePath}: manifest entry "${manifest.entry}" is not in the archive`);
  }
  if ((hash ?? (await hashFromDisk(root, files))) !== manifest.hash) {
    throw new ValidationError(`Archive ${archivePath}: its files do not match the manifest hash (corrupt or altered)`);
  }
  return manifest;
}

/**
 * Extracts any archive of plain files and directories into `dir` (created if missing), with the
 * same checks and limits as unpackArchive but no manifest: a task's code package is the user's
 * directory as it is. Returns the archive's file paths.
 */
export async function extractArchive(archivePath: string, dir: string): Promise<string[]> {
  return (await extract(archivePath, path.resolve(dir), false)).files;
}

interface Extracted {
  /** File paths, normalized, in archive order. */
  files: string[];
  /** contentHash of the files other than the manifest, if they came in path order (else undefined). */
  hash: string | undefined;
}

async function extract(archivePath: string, root: string, hashed: boolean): Promise<Extracted> {
  const limits = { entries: MAX_ENTRIES, bytes: expansionLimit((await stat(archivePath)).size) };
  await scan(archivePath, root, limits);
  await mkdir(root, { recursive: true });
  return write(archivePath, root, limits, hashed);
}

interface Limits {
  entries: number;
  bytes: number;
}

/** Counts entries and bytes against the limits and checks each entry, throwing at the first problem. */
class Budget {
  readonly #archivePath: string;
  readonly #root: string;
  readonly #limits: Limits;
  readonly #seen = new Set<string>();
  #bytes = 0;

  constructor(archivePath: string, root: string, limits: Limits) {
    this.#archivePath = archivePath;
    this.#root = root;
    this.#limits = limits;
  }

  /** The entry's normalized path, once it passed every check. */
  admit(entry: ReadEntry): string {
    assertSafe(entry, this.#root, this.#archivePath);
    const normalized = path.posix.normalize(entry.path).replace(/\/$/, "");
    if (this.#seen.size >= this.#limits.entries) {
      throw new FlowError(`Archive ${this.#archivePath} has more than ${this.#limits.entries.toLocaleString("en-US")} entries; refused.`);
    }
    if (this.#seen.has(normalized)) throw new FlowError(`Archive ${this.#archivePath}: entry "${entry.path}" appears twice`);
    this.#seen.add(normalized);
    this.#bytes += FILE_TYPES.has(entry.type) ? (entry.size ?? 0) : 0;
    if (this.#bytes > this.#limits.bytes) {
      throw new FlowError(
        `Archive ${this.#archivePath} expands to more than ${formatBytes(this.#limits.bytes)} (at entry "${entry.path}"); refused. ` +
          `An archive may expand to ${MAX_EXPANSION_RATIO}× its own size, and to at least ${formatBytes(EXPANSION_FLOOR_BYTES)}.`,
      );
    }
    return normalized;
  }
}

/** The first pass: headers only, nothing written. */
async function scan(archivePath: string, root: string, limits: Limits): Promise<void> {
  const budget = new Budget(archivePath, root, limits);
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      try {
        budget.admit(entry);
      } catch (error) {
        parser.abort(error as Error);
      }
      entry.resume();
    },
  });
  await run(archivePath, parser);
}

/** The second pass: directories made, files streamed to disk and hashed on the way. */
async function write(archivePath: string, root: string, limits: Limits, hashed: boolean): Promise<Extracted> {
  const budget = new Budget(archivePath, root, limits);
  const files: string[] = [];
  const hash = hashed ? createHash("sha256") : undefined;
  let inOrder = true;
  let previous = "";
  const directories = new DirectoryMaker(root);
  const writes: Promise<void>[] = [];
  const parser = new Parser({
    strict: true,
    noResume: true,
    onReadEntry: (entry: ReadEntry) => {
      let relative: string;
      try {
        relative = budget.admit(entry);
      } catch (error) {
        entry.resume();
        parser.abort(error as Error);
        return;
      }
      if (!FILE_TYPES.has(entry.type)) {
        entry.resume();
        track(directories.make(relative), entry);
        return;
      }
      files.push(relative);
      let fileHash: Hash | undefined;
      if (hash && relative !== MANIFEST_FILE) {
        inOrder &&= previous < relative;
        previous = relative;
        hash.update(`${relative}\0${entry.size ?? 0}\0`);
        fileHash = hash;
      }
      track(writeFile(entry, root, relative, directories, fileHash), entry);
    },
  });
  // A failed write ends the extraction; the parser is not left waiting on the entry.
  const track = (done: Promise<void>, entry: ReadEntry) => {
    writes.push(done);
    done.catch((error: unknown) => {
      entry.resume();
      parser.abort(error as Error);
    });
  };
  let failure: { error: unknown } | undefined;
  await run(archivePath, parser).catch((error: unknown) => (failure = { error }));
  const results = await Promise.allSettled(writes);
  if (failure) throw failure.error;
  for (const result of results) if (result.status === "rejected") throw result.reason;
  return { files, hash: hash && inOrder ? hash.digest("hex") : undefined };
}

/** The entry stays paused (its bytes wait in the parser) until its directory exists. */
async function writeFile(entry: ReadEntry, root: string, relative: string, directories: DirectoryMaker, hash: Hash | undefined): Promise<void> {
  const parent = path.posix.dirname(relative);
  if (parent !== ".") await directories.make(parent);
  // O_NOFOLLOW: a symlink already at this path (the dir existed before) is not written through.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  const file = (await open(path.join(root, relative), flags, (entry.mode ?? 0o644) & 0o777)).createWriteStream();
  if (!hash) {
    await pipeline(entry, file);
    return;
  }
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(entry, hashing, file);
}

/** Makes directories inside the root, each component checked once to be a real directory (not a symlink). */
class DirectoryMaker {
  readonly #root: string;
  readonly #made = new Map<string, Promise<void>>();

  constructor(root: string) {
    this.#root = root;
  }

  make(relative: string): Promise<void> {
    let made = this.#made.get(relative);
    if (!made) {
      const parent = path.posix.dirname(relative);
      made = (parent === "." ? Promise.resolve() : this.make(parent)).then(async () => {
        const target = path.join(this.#root, relative);
        await mkdir(target).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== "EEXIST") throw error;
        });
        if (!(await lstat(target)).isDirectory()) throw new FlowError(`Archive entry "${relative}" would be written through a link or over a file`);
      });
      this.#made.set(relative, made);
    }
    return made;
  }
}

function run(archivePath: string, parser: Parser): Promise<void> {
  return new Promise((resolve, reject) => {
    const source = createReadStream(archivePath);
    const fail = (error: Error) => {
      source.destroy();
      reject(error instanceof FlowError ? error : unreadable(archivePath, error));
    };
    source.on("error", fail);
    parser.on("error", fail);
    parser.on("abort", fail);
    parser.on("end", () => resolve());
    source.pipe(parser as unknown as NodeJS.WritableStream);
  });
}

/** contentHash of the files, in path order, read back from disk one at a time (archives not in path order). */
async function hashFromDisk(root: string, files: string[]): Promise<string> {
  const hash = createHash("sha256");
  for (const file of files.filter((f) => f !== MANIFEST_FILE).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const target = path.join(root, file);
    hash.update(`${file}\0${(await stat(target)).size}\0`);
    for await (const chunk of createReadStream(target)) hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

function assertSafe(entry: ReadEntry, root: string, archivePath: string): void {
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

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
