/** buildArchive: user module → bundle → manifest → cached, deterministic code archive. */
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { contentHash, packArchive, type ArchiveFile } from "./archive.ts";
import { bundle } from "./bundle.ts";
import { readRecord, recordPath, writeRecord, type BundleRecord } from "./bundle-record.ts";
import { cacheKey, defaultCacheDir, readCached, writeCached } from "./cache.ts";
import { externalVersions } from "./externals.ts";
import { BUNDLE_ENTRY, MANIFEST_FILE, MANIFEST_VERSION, NODE_RANGE, type Manifest } from "./manifest.ts";
import { findProjectRoot } from "./project.ts";

export interface BundleOptions {
  /** Absolute path of the user's module (.ts/.js/.mts); its project is the archive's source root. */
  entry: string;
  /** The modules the agent loads (agent-entry.ts); default: `entry` alone. */
  modules?: readonly string[];
  /** Packages to leave out of the bundle (a name, or an exact deep import like `pkg/sub`). */
  externals?: string[];
  /** Export names of the SDK; when given, `flow-sdk` resolves to the agent's copy of it (sdk-alias.ts). */
  sdkExports?: readonly string[];
  /** Default: `<project>/node_modules/.cache/flow-sdk`, else `<tmpdir>/flow-sdk-cache`. */
  cacheDir?: string;
  /** Ids of the remote functions the module defines, recorded in the manifest. */
  functionIds?: string[];
}

export interface CodeArchive {
  /** The .tar.gz in the cache directory. */
  path: string;
  /** sha256 (hex) of the archive's bytes. */
  hash: string;
  manifest: Manifest;
  /** Size of the archive in bytes. */
  bytes: number;
  /** True when an identical archive was already in the cache and was not rewritten. */
  cached: boolean;
  /** False when esbuild did not run: nothing it read for the recorded bundle had changed. */
  bundled: boolean;
  /** Absolute paths of every source file bundled (for watching). */
  inputs: string[];
}

/**
 * Bundles `entry` and packs it with its manifest. esbuild runs unless a record says that nothing
 * it read last time has changed (bundle-record.ts); the archive is written only when its cache
 * key is new.
 */
export async function buildArchive(options: BundleOptions): Promise<CodeArchive> {
  const entry = path.resolve(options.entry);
  const projectDir = findProjectRoot(entry);
  const sourceRoot = projectDir ?? path.dirname(entry);
  const cacheDir = options.cacheDir ?? defaultCacheDir(projectDir);
  const input = {
    entry,
    modules: (options.modules ?? [entry]).map((m) => path.resolve(m)),
    workingDir: sourceRoot,
    externals: options.externals ?? [],
    sdkExports: options.sdkExports,
  };
  const record = recordPath(cacheDir, { ...input, sdk: SDK_CODE_DIR });
  const known = await readRecord(record);
  if (known !== undefined) {
    const archive = await archiveOf(options, sourceRoot, cacheDir, known, undefined);
    if (archive !== undefined) return { ...archive, bundled: false };
  }
  const startedAtMs = Date.now();
  const output = await bundle(input);
  const built = { filesHash: contentHash(output.files), externals: output.externals, inputs: output.inputs };
  const archive = (await archiveOf(options, sourceRoot, cacheDir, built, output.files))!;
  await writeRecord(record, built, startedAtMs, await bundlerCode());
  return { ...archive, bundled: true };
}

/** Where this module was loaded from: dist/ as installed, src/bundler/ from sources. */
const SDK_CODE_DIR = path.dirname(fileURLToPath(import.meta.url));

/**
 * What else a bundle's bytes depend on: this SDK's code (its plugins; a rebuilt or upgraded SDK
 * rewrites these files) and the installed esbuild.
 */
async function bundlerCode(): Promise<string[]> {
  const own = (await readdir(SDK_CODE_DIR)).map((name) => path.join(SDK_CODE_DIR, name));
  return [SDK_CODE_DIR, ...own, createRequire(import.meta.url).resolve("esbuild/package.json")];
}

/**
 * The archive of a bundle: from the cache, or packed from `files`. Undefined when it is not in
 * the cache and there are no files to pack (a record whose archive was removed).
 */
async function archiveOf(
  options: BundleOptions,
  sourceRoot: string,
  cacheDir: string,
  outputs: BundleRecord,
  files: ArchiveFile[] | undefined,
): Promise<Omit<CodeArchive, "bundled"> | undefined> {
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    entry: BUNDLE_ENTRY,
    hash: outputs.filesHash,
    externals: await externalVersions(outputs.externals, sourceRoot),
    nodeVersion: NODE_RANGE,
    // A set, not a list: sorted so discovery order cannot change the archive.
    functions: [...new Set(options.functionIds ?? [])].sort(),
    sourceRoot,
  };
  const file = path.join(cacheDir, `${cacheKey(manifest)}.tar.gz`);
  let bytes = await readCached(file);
  const cached = bytes !== undefined;
  if (bytes === undefined) {
    if (files === undefined) return undefined;
    const manifestFile = { path: MANIFEST_FILE, contents: `${JSON.stringify(manifest, null, 2)}\n` };
    bytes = await packArchive([...files, manifestFile]);
    await writeCached(file, bytes);
  }
  return {
    path: file,
    hash: createHash("sha256").update(bytes).digest("hex"),
    manifest,
    bytes: bytes.byteLength,
    cached,
    inputs: outputs.inputs,
  };
}
