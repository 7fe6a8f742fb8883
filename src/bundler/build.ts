/** buildArchive: user module → bundle → manifest → cached, deterministic code archive. */
import { createHash } from "node:crypto";
import path from "node:path";
import { contentHash, packArchive } from "./archive.ts";
import { bundle } from "./bundle.ts";
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
  /** Absolute paths of every source file bundled (for watching). */
  inputs: string[];
}

/**
 * Bundles `entry` and packs it with its manifest. esbuild always runs (it is fast, and only it
 * knows what the module pulls in); the archive is written only when its cache key is new.
 */
export async function buildArchive(options: BundleOptions): Promise<CodeArchive> {
  const entry = path.resolve(options.entry);
  const projectDir = findProjectRoot(entry);
  const sourceRoot = projectDir ?? path.dirname(entry);
  const output = await bundle({
    entry,
    modules: (options.modules ?? [entry]).map((m) => path.resolve(m)),
    workingDir: sourceRoot,
    externals: options.externals ?? [],
    sdkExports: options.sdkExports,
  });
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    entry: BUNDLE_ENTRY,
    hash: contentHash(output.files),
    externals: await externalVersions(output.externals, sourceRoot),
    nodeVersion: NODE_RANGE,
    // A set, not a list: sorted so discovery order cannot change the archive.
    functions: [...new Set(options.functionIds ?? [])].sort(),
    sourceRoot,
  };

  const file = path.join(options.cacheDir ?? defaultCacheDir(projectDir), `${cacheKey(manifest)}.tar.gz`);
  let bytes = await readCached(file);
  const cached = bytes !== undefined;
  if (bytes === undefined) {
    const manifestFile = { path: MANIFEST_FILE, contents: `${JSON.stringify(manifest, null, 2)}\n` };
    bytes = await packArchive([...output.files, manifestFile]);
    await writeCached(file, bytes);
  }
  return {
    path: file,
    hash: createHash("sha256").update(bytes).digest("hex"),
    manifest,
    bytes: bytes.byteLength,
    cached,
    inputs: output.inputs,
  };
}
