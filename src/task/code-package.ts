/**
 * The code upload: a deterministic gzip tar of the task's code root, which the task finds as its
 * working directory (`/workspace` on the cloud, the task's workspace dir locally).
 *
 * What goes in: every file under the root except
 * - DEFAULT_EXCLUDES: VCS metadata, dependency and cache directories, and files that hold secrets
 *   (`.env`, `.flow/`, which may carry the API key). `dist/` and `build/` are NOT excluded: build
 *   output is often exactly what a task runs; list them in `.flowignore` if yours is not.
 * - the patterns of `.flowignore` at the root (full gitignore syntax, negation included), or, when
 *   there is none, of `.gitignore` at the root. They apply after the defaults, so `!.env.example`
 *   brings that file back.
 * Symlinks to files are packed as the files they point to; symlinks to directories are skipped
 * (they usually point at data sets or caches outside the project, and may loop).
 *
 * The seed's limit is 10 MB compressed; past it the error names the largest files and
 * directories and the `.flowignore` lines that would drop them.
 */
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import ignore, { type Ignore } from "ignore";
import { packArchive, type ArchiveFile } from "../bundler/archive.ts";
import { ValidationError } from "../errors.ts";

/** The seed's limit on the compressed upload (it travels inside the instance's startup data). */
export const MAX_CODE_PACKAGE_BYTES = 10 * 1024 * 1024;

/**
 * Past this much uncompressed data we stop before reading it all: even text compresses only
 * about tenfold, so such a tree cannot fit, and reading it would take a long time.
 */
const MAX_UNCOMPRESSED_BYTES = 64 * MAX_CODE_PACKAGE_BYTES;

export const DEFAULT_EXCLUDES: readonly string[] = [
  ".git/", ".hg/", ".svn/",
  "node_modules/", ".venv/", "__pycache__/", "*.pyc",
  ".cache/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", ".ipynb_checkpoints/", ".flow-cache/",
  ".env", ".env.*", ".flow/",
  ".DS_Store",
];

export const FLOWIGNORE_FILE = ".flowignore";
const GITIGNORE_FILE = ".gitignore";
const OFFENDERS_SHOWN = 5;

export interface CodePackage {
  /** The absolute code root. */
  root: string;
  /** The .tar.gz bytes. */
  archive: Buffer;
  /** Packed file paths, relative to the root, sorted. */
  files: string[];
  /** sha256 (hex) of the archive: equal for equal trees. */
  sha256: string;
  /** The ignore file whose patterns applied, if any. */
  ignoreFile?: typeof FLOWIGNORE_FILE | typeof GITIGNORE_FILE;
}

export interface PackageCodeOptions {
  /** Compressed size limit; MAX_CODE_PACKAGE_BYTES by default. */
  maxBytes?: number;
}

interface FoundFile {
  path: string;
  absolute: string;
  size: number;
  executable: boolean;
}

/** The package of `root`, or undefined when nothing under it is to be uploaded. */
export async function packageCode(root: string, options: PackageCodeOptions = {}): Promise<CodePackage | undefined> {
  const absoluteRoot = path.resolve(root);
  const rootStat = await stat(absoluteRoot).catch(() => undefined);
  if (!rootStat?.isDirectory()) {
    throw new ValidationError(`The code root ${absoluteRoot} is not a directory.`, {
      suggestions: ["Set `codeRoot` to your project directory, or `uploadCode: false` to upload nothing."],
      errorCode: "code_root_missing",
    });
  }
  const { matcher, ignoreFile } = await ignoreRules(absoluteRoot);
  const found = await walk(absoluteRoot, "", matcher);
  if (found.length === 0) return undefined;
  const maxBytes = options.maxBytes ?? MAX_CODE_PACKAGE_BYTES;

  const uncompressed = found.reduce((sum, f) => sum + f.size, 0);
  if (uncompressed > MAX_UNCOMPRESSED_BYTES) {
    throw tooLarge(absoluteRoot, `${formatBytes(uncompressed)} before compression`, maxBytes, found, ignoreFile);
  }
  const files: ArchiveFile[] = [];
  for (const file of found) files.push({ path: file.path, contents: await readFile(file.absolute), executable: file.executable });
  const archive = await packArchive(files);
  if (archive.byteLength > maxBytes) {
    throw tooLarge(absoluteRoot, `${formatBytes(archive.byteLength)} compressed`, maxBytes, found, ignoreFile);
  }
  return {
    root: absoluteRoot,
    archive,
    files: found.map((f) => f.path),
    sha256: createHash("sha256").update(archive).digest("hex"),
    ...(ignoreFile === undefined ? {} : { ignoreFile }),
  };
}

async function ignoreRules(root: string): Promise<{ matcher: Ignore; ignoreFile?: CodePackage["ignoreFile"] }> {
  const matcher = ignore().add(DEFAULT_EXCLUDES);
  for (const name of [FLOWIGNORE_FILE, GITIGNORE_FILE] as const) {
    const text = await readFile(path.join(root, name), "utf8").catch(() => undefined);
    if (text !== undefined) return { matcher: matcher.add(text), ignoreFile: name };
  }
  return { matcher };
}

/** Files under `dir` (relative `prefix`), sorted by path; ignored directories are not entered. */
async function walk(root: string, prefix: string, matcher: Ignore): Promise<FoundFile[]> {
  const out: FoundFile[] = [];
  const names = (await readdir(path.join(root, prefix))).sort();
  for (const name of names) {
    const rel = prefix === "" ? name : `${prefix}/${name}`;
    const absolute = path.join(root, rel);
    let info = await lstat(absolute);
    if (info.isSymbolicLink()) {
      const target = await stat(absolute).catch(() => undefined);
      // Broken links and links to directories are left out (see the module comment).
      if (!target?.isFile()) continue;
      info = target;
    }
    if (info.isDirectory()) {
      if (!matcher.ignores(`${rel}/`)) out.push(...(await walk(root, rel, matcher)));
    } else if (info.isFile() && !matcher.ignores(rel)) {
      out.push({ path: rel, absolute, size: info.size, executable: (info.mode & 0o111) !== 0 });
    }
  }
  return out;
}

function tooLarge(root: string, size: string, maxBytes: number, files: FoundFile[], ignoreFile: string | undefined): ValidationError {
  const largestFiles = [...files].sort((a, b) => b.size - a.size).slice(0, OFFENDERS_SHOWN);
  const dirSizes = new Map<string, number>();
  for (const file of files) {
    const top = file.path.split("/")[0];
    if (top !== undefined && top !== file.path) dirSizes.set(top, (dirSizes.get(top) ?? 0) + file.size);
  }
  const largestDirs = [...dirSizes].sort((a, b) => b[1] - a[1]).slice(0, OFFENDERS_SHOWN);
  const lines = [
    `The code upload from ${root} is ${size}, over the ${formatBytes(maxBytes)} limit.`,
    "Largest files (uncompressed):",
    ...largestFiles.map((f) => `  ${formatBytes(f.size).padStart(9)}  ${f.path}`),
  ];
  if (largestDirs.length > 0) {
    lines.push("Largest directories:", ...largestDirs.map(([dir, bytes]) => `  ${formatBytes(bytes).padStart(9)}  ${dir}/`));
  }
  const example = largestDirs[0] !== undefined && largestDirs[0][1] >= (largestFiles[0]?.size ?? 0) ? `${largestDirs[0][0]}/` : largestFiles[0]?.path;
  const using = ignoreFile === FLOWIGNORE_FILE ? "" : ignoreFile === GITIGNORE_FILE ? ` (it replaces ${GITIGNORE_FILE} for uploads)` : "";
  return new ValidationError(lines.join("\n"), {
    suggestions: [
      `Exclude what the task does not need in ${path.join(root, FLOWIGNORE_FILE)}${using}, same syntax as .gitignore${example === undefined ? "" : `, e.g. a line \`${example}\``}.`,
      "Put large data in a volume or S3 (`dataMounts`, or `data` with flow.submit) instead of the code directory.",
      "Or set `uploadCode: false` (--no-upload-code) and bring the code another way: `git clone` in the command, or an image.",
    ],
    errorCode: "code_upload_too_large",
  });
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
}
