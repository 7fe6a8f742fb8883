/**
 * Running esbuild over the user's module: one ESM file for Node 20 plus its source map, whose
 * sources are the user's own files as absolute file:// URLs, so stacks printed on the agent (with
 * source maps enabled) already point at the local .ts file and line.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { BuildFailure, Message } from "esbuild";
import { BuildError } from "../errors.ts";
import type { ArchiveFile } from "./archive.ts";
import { externalsPlugin, type ExternalUse } from "./externals.ts";
import { BUNDLE_ENTRY } from "./manifest.ts";
import { displayPath } from "./project.ts";
import { AGENT_ENTRY, agentEntryPlugin } from "./agent-entry.ts";
import { keywordDecoratorsPlugin } from "./decorator-syntax-plugin.ts";
import { sdkAliasPlugin } from "./sdk-alias.ts";

export interface BundleInput {
  /** The user's module: the bundle's entry unless `modules` is given. */
  entry: string;
  /** For an agent: the modules that define remote functions, loaded in this order (agent-entry.ts). */
  modules?: readonly string[] | undefined;
  /** Paths in the output (bundle comments) are relative to it; the project root. */
  workingDir: string;
  externals: readonly string[];
  /** When set, `flow-sdk` resolves to the agent's copy of the SDK with these export names. */
  sdkExports: readonly string[] | undefined;
}

export interface BundleOutput {
  /** `bundle/entry.mjs` and `bundle/entry.mjs.map`, as archive files. */
  files: ArchiveFile[];
  externals: ExternalUse[];
  /** Absolute paths of every source file in the bundle, sorted. */
  inputs: string[];
}

/**
 * CommonJS dependencies bundled into ESM still call require() (mostly for builtins) and read
 * __filename / __dirname, none of which exist in an ES module. `require` is declared under its own
 * name because esbuild's require shim looks for it, and esbuild renames any top-level `require`
 * of the user's. It does not do that for __filename / __dirname, and user ESM code often declares
 * those itself (`const __dirname = path.dirname(fileURLToPath(import.meta.url))`), so they get
 * private names here and `define` rewrites only the free (undeclared) uses to them.
 */
const BANNER = [
  'import { createRequire as __flowCreateRequire } from "node:module";',
  'import { fileURLToPath as __flowFileURLToPath } from "node:url";',
  'import { dirname as __flowDirname } from "node:path";',
  "const require = __flowCreateRequire(import.meta.url);",
  "const __flow_filename = __flowFileURLToPath(import.meta.url);",
  "const __flow_dirname = __flowDirname(__flow_filename);",
].join("\n");

export async function bundle(input: BundleInput): Promise<BundleOutput> {
  // Never written (write: false); it names the outputs (.mjs, so Node loads it as ESM whatever
  // package.json is around it) and is the directory the map's relative sources start from.
  const outfile = path.join(input.workingDir, BUNDLE_ENTRY);
  const uses = new Map<string, ExternalUse>();
  const plugins = [keywordDecoratorsPlugin(), externalsPlugin(input.externals, uses)];
  // Before the decorator plugin: it loads the modules it publishes, decorators rewritten too.
  if (input.modules !== undefined) plugins.unshift(agentEntryPlugin(input.modules, input.entry));
  // First, so `flow-sdk` never reaches the externals plugin.
  if (input.sdkExports !== undefined) plugins.unshift(sdkAliasPlugin(input.sdkExports));

  // Loaded on first use: the SDK is also loaded inside agents, where esbuild is never installed.
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [input.modules === undefined ? input.entry : AGENT_ENTRY],
    absWorkingDir: input.workingDir,
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20", // keep in step with NODE_RANGE in manifest.ts
    // linked: an external .map plus the `//# sourceMappingURL=` comment pointing at it.
    sourcemap: "linked",
    // The sources stay on the user's machine; the map only has to say where lines came from.
    sourcesContent: false,
    keepNames: true,
    write: false,
    metafile: true,
    banner: { js: BANNER },
    define: { __filename: "__flow_filename", __dirname: "__flow_dirname" },
    plugins,
    logLevel: "silent",
  }).catch((err: unknown) => {
    throw isBuildFailure(err) ? buildError(input.entry, input.workingDir, err.errors) : err;
  });

  const files: ArchiveFile[] = [];
  for (const out of result.outputFiles) {
    const name = path.relative(input.workingDir, out.path).split(path.sep).join("/");
    const contents = name.endsWith(".map") ? absoluteSources(out.text, path.dirname(outfile)) : out.contents;
    files.push({ path: name, contents });
  }
  const inputs = Object.keys(result.metafile.inputs)
    // Virtual modules (the agent entry, the SDK alias) are named `<namespace>:<path>`.
    .filter((p) => !/^[\w-]+:/.test(p))
    .map((p) => path.resolve(input.workingDir, p))
    .sort();
  return { files, externals: [...uses.values()], inputs };
}

/** Rewrites a source map's sources (relative to `mapDir`) to absolute file:// URLs. */
function absoluteSources(mapText: string, mapDir: string): string {
  const map = JSON.parse(mapText) as { sources: string[] };
  map.sources = map.sources.map((source) => pathToFileURL(path.resolve(mapDir, source)).href);
  return JSON.stringify(map);
}

function isBuildFailure(err: unknown): err is BuildFailure {
  return err instanceof Error && Array.isArray((err as Partial<BuildFailure>).errors);
}

/**
 * One line per esbuild error as `file:line:column: message`. esbuild counts columns from 0; they
 * are printed from 1, as tsc and editors do, so terminals can jump to the spot.
 */
function buildError(entry: string, workingDir: string, errors: Message[]): BuildError {
  const lines = errors.map((error) => {
    const loc = error.location;
    if (loc === null) return error.text;
    return `${displayPath(path.resolve(workingDir, loc.file))}:${loc.line}:${loc.column + 1}: ${error.text}`;
  });
  return new BuildError(`Could not bundle ${displayPath(entry)}:\n${lines.join("\n")}`);
}
