/**
 * The manifest that travels inside every code archive. The client writes it; the agent validates
 * it with the same schema after unpacking, so a corrupt or foreign archive fails loudly there.
 */
import * as z from "zod";

export const MANIFEST_VERSION = 1;
/** Where the manifest sits inside the archive. */
export const MANIFEST_FILE = "manifest.json";
/** The bundled module inside the archive; its source map sits next to it as `<entry>.map`. */
export const BUNDLE_ENTRY = "bundle/entry.mjs";
/**
 * The Node versions a bundle runs on. esbuild targets node20 (syntax and APIs), so this is a
 * property of the bundle, not of the machine that built it: the builder's own Node version says
 * nothing about where the output can run.
 */
export const NODE_RANGE = ">=20";

/**
 * An npm package name (scoped or not). Checked because the agent hands it to `npm install`: a
 * name must never be mistaken for a flag or carry a version or path.
 */
const PackageName = z.string().regex(/^(?:@[\w.~-]+\/)?[\w~][\w.~-]*$/, "not an npm package name");

/** A relative path inside the archive, with no `..` segment. */
const ArchivePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split(/[\\/]/).includes(".."), "must stay inside the archive");

export const Manifest = z.object({
  version: z.literal(MANIFEST_VERSION),
  /** Path of the bundled module inside the archive, e.g. "bundle/entry.mjs". */
  entry: ArchivePath,
  /** sha256 (hex) of the bundle's files before tar, stable across builds of the same sources. */
  hash: z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 hex digest"),
  /** Packages left out of the bundle; the agent installs these versions before importing it. */
  externals: z.array(z.object({ name: PackageName, version: z.string().min(1) })),
  /** Semver range of the Node versions the bundle runs on (see NODE_RANGE). */
  nodeVersion: z.string().min(1),
  /** Ids of the remote functions the module defines. */
  functions: z.array(z.string()),
  /** Absolute local directory the sources came from; the client maps remote stacks with it. */
  sourceRoot: z.string().min(1),
});
export type Manifest = z.infer<typeof Manifest>;
