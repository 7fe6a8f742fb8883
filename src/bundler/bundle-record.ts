/**
 * What esbuild read for a bundle, so the next build of the same module can skip esbuild when none
 * of it changed (esbuild, its service process and the plugins are ~100–200 ms of every `flow run`).
 *
 * A record names the bundle's outputs (their hash, the externals it imports, its inputs) and a
 * stamp of everything that decided them: each input file; the directory holding each input (a new
 * or removed file there can change how an import resolves); the configs, lockfiles and
 * node_modules directories (ANCESTOR_ENTRIES) in those directories and every directory above
 * them, present or absent; each external package's package.json. A stamp is what git's index
 * keeps of a file (mtime, ctime, size, inode): ctime moves with every change, even one that puts
 * an old mtime back.
 *
 * A file changed while esbuild reads it could be stamped after the change yet bundled before it,
 * and a timestamp's granularity can hide a change made right after stamping. So, as git does
 * with "racily clean" entries, no record is written while anything stamped changed less than
 * RACY_MS before the build started: the next build of an unchanged module writes it.
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import * as z from "zod";
import { writeCached } from "./cache.ts";
import type { ExternalUse } from "./externals.ts";

const RACY_MS = 2_000;
const RECORD_FORMAT = 1;
/**
 * Looked for in every directory from an input's up: the configs that steer esbuild, the lockfiles
 * (a package manager that links packages, as pnpm does, can point an import at other files while
 * every file bundled before stays as it was), and node_modules itself (a package linked or
 * unlinked there changes its entries).
 */
const ANCESTOR_ENTRIES = [
  "tsconfig.json",
  "jsconfig.json",
  "package.json",
  "node_modules",
  "package-lock.json",
  "npm-shrinkwrap.json",
  "pnpm-lock.yaml",
  "yarn.lock",
  "bun.lock",
  "bun.lockb",
];

const Stamp = z.tuple([z.string(), z.string()]);
/** A record as stored: the outputs, and the stamps they hold for. */
const StoredRecord = z.object({
  format: z.literal(RECORD_FORMAT),
  /** contentHash() of the bundle's files: the manifest's `hash`. */
  filesHash: z.string(),
  externals: z.array(z.object({ name: z.string(), packageDir: z.string().optional(), importer: z.string() })),
  inputs: z.array(z.string()),
  /** [path, stamp]: "" for a path that did not exist. */
  stamps: z.array(Stamp),
});
/** What a record gives back: the bundle's outputs, as esbuild produced them. */
export type BundleRecord = Omit<z.infer<typeof StoredRecord>, "format" | "stamps" | "externals"> & { externals: ExternalUse[] };

/** The record's file: named by everything the bundle depends on besides the files it stamps. */
export function recordPath(cacheDir: string, key: unknown): string {
  const hash = createHash("sha256").update(`flow-bundle-record/${RECORD_FORMAT}\n${JSON.stringify(key)}`).digest("hex");
  return path.join(cacheDir, "bundles", `${hash}.json`);
}

/** The recorded outputs, when every stamped path is as it was; undefined otherwise. */
export async function readRecord(file: string): Promise<BundleRecord | undefined> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let parsed: z.infer<typeof StoredRecord>;
  try {
    parsed = StoredRecord.parse(JSON.parse(text));
  } catch {
    // Damaged, or from another version: build, and write it anew.
    return undefined;
  }
  const now = await Promise.all(parsed.stamps.map(([target]) => stampOf(target)));
  if (now.some((stamp, i) => stamp.value !== parsed.stamps[i]![1])) return undefined;
  return {
    filesHash: parsed.filesHash,
    externals: parsed.externals.map((use) => ({ name: use.name, packageDir: use.packageDir, importer: use.importer })),
    inputs: parsed.inputs,
  };
}

/**
 * Records a bundle built from `startedAtMs` on, unless something it read changed too recently to
 * tell. `alsoStamp`: more paths the bundle depends on (the SDK's own bundler code).
 */
export async function writeRecord(file: string, record: BundleRecord, startedAtMs: number, alsoStamp: readonly string[]): Promise<void> {
  const targets = [...new Set([...stampTargets(record), ...alsoStamp])].sort();
  const stamps = await Promise.all(targets.map(stampOf));
  if (stamps.some((stamp) => stamp.changedAtMs > startedAtMs - RACY_MS)) return;
  const body: z.infer<typeof StoredRecord> = {
    format: RECORD_FORMAT,
    filesHash: record.filesHash,
    externals: record.externals.map((use) => ({ name: use.name, importer: use.importer, ...(use.packageDir === undefined ? {} : { packageDir: use.packageDir }) })),
    inputs: record.inputs,
    stamps: targets.map((target, i) => [target, stamps[i]!.value]),
  };
  await writeCached(file, new TextEncoder().encode(JSON.stringify(body)));
}

function stampTargets(record: BundleRecord): string[] {
  const directories = new Set(record.inputs.map((input) => path.dirname(input)));
  const visited = new Set<string>();
  for (const directory of directories) {
    for (let at = directory; !visited.has(at); at = path.dirname(at)) {
      visited.add(at);
      if (path.dirname(at) === at) break;
    }
  }
  const around = [...visited].flatMap((at) => ANCESTOR_ENTRIES.map((name) => path.join(at, name)));
  const packages = record.externals.flatMap((use) => (use.packageDir === undefined ? [] : [path.join(use.packageDir, "package.json")]));
  return [...record.inputs, ...directories, ...around, ...packages];
}

async function stampOf(target: string): Promise<{ value: string; changedAtMs: number }> {
  const stats = await stat(target, { bigint: true }).catch(() => undefined);
  if (stats === undefined) return { value: "", changedAtMs: 0 };
  return {
    value: `${stats.mtimeNs}:${stats.ctimeNs}:${stats.size}:${stats.ino}`,
    changedAtMs: Number(stats.ctimeNs > stats.mtimeNs ? stats.ctimeNs : stats.mtimeNs) / 1e6,
  };
}
