/**
 * Which packages stay out of the bundle, and which version of each the agent must install.
 *
 * A package is external if the user lists it, or if it ships native code (a node-gyp build, a
 * prebuilt `.node` addon, or `.wasm`): such code is loaded from files next to the package at run
 * time, which bundling would break, and it has to be built or fetched for the agent's platform.
 */
import { type Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { isBuiltin } from "node:module";
import path from "node:path";
import type { Plugin } from "esbuild";
import { BuildError } from "../errors.ts";
import { ancestors, displayPath, findUp, isRecord, readJsonObject } from "./project.ts";

/** An external package the bundle imports, and where it was first seen. */
export interface ExternalUse {
  name: string;
  /** The installed package's directory, when it was resolved (not needed for listed externals). */
  packageDir: string | undefined;
  /** Absolute path of the first file that imports it. */
  importer: string;
}

export interface ExternalPackage {
  name: string;
  version: string;
}

/** The package an import specifier names: `@scope/pkg/sub/path` → `@scope/pkg`. */
function packageNameOf(specifier: string): string {
  const parts = specifier.split("/");
  return (specifier.startsWith("@") ? parts.slice(0, 2) : parts.slice(0, 1)).join("/");
}

/**
 * Marks the plugin's own `build.resolve` calls: esbuild runs every plugin's onResolve for them,
 * including this one, which must then step aside instead of recursing.
 */
const RESOLVING = { flowExternals: true };

/**
 * An esbuild plugin that makes listed and native packages external and records each one in
 * `uses` (by package name). Everything else is left to esbuild's own resolution.
 */
export function externalsPlugin(listed: readonly string[], uses: Map<string, ExternalUse>): Plugin {
  const listedSet = new Set(listed);
  return {
    name: "flow-externals",
    setup(build) {
      // Many files import the same package: check each package directory once per build.
      const nativeByDir = new Map<string, Promise<boolean>>();
      // Only bare specifiers can name a package; relative and absolute paths are the user's files.
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === RESOLVING || !isPackageSpecifier(args.path)) return undefined;
        const name = packageNameOf(args.path);
        let packageDir: string | undefined;
        if (!listedSet.has(name) && !listedSet.has(args.path)) {
          const resolved = await build.resolve(args.path, {
            kind: args.kind,
            importer: args.importer,
            resolveDir: args.resolveDir,
            pluginData: RESOLVING,
          });
          // Unresolvable: let esbuild report it with its usual message and location.
          if (resolved.errors.length > 0 || resolved.external) return undefined;
          packageDir = await packageDirOf(resolved.path, name);
          if (packageDir === undefined || !(await cached(nativeByDir, packageDir, hasNativeCode))) return undefined;
        }
        if (!uses.has(name)) uses.set(name, { name, packageDir, importer: args.importer });
        return { path: args.path, external: true };
      });
    },
  };
}

function cached<T>(cache: Map<string, Promise<T>>, key: string, compute: (key: string) => Promise<T>): Promise<T> {
  let value = cache.get(key);
  if (value === undefined) {
    value = compute(key);
    cache.set(key, value);
  }
  return value;
}

/** Not a builtin (`fs`, `node:fs`), a URL (`data:`, `file:`), a drive path or a `#` import. */
function isPackageSpecifier(specifier: string): boolean {
  return (
    !isBuiltin(specifier) &&
    !specifier.startsWith("#") &&
    !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier) &&
    !path.isAbsolute(specifier)
  );
}

/**
 * The directory of package `name` that holds `file`: the nearest ancestor installed as
 * `node_modules/<name>` (npm, and pnpm's store, whose real paths keep that shape; npm aliases
 * only match this way) or whose package.json is named `name` (a linked workspace package).
 */
async function packageDirOf(file: string, name: string): Promise<string | undefined> {
  const installed = path.sep + path.join("node_modules", name);
  for (const dir of ancestors(path.dirname(file))) {
    if (dir.endsWith(installed)) return dir;
    if (path.basename(dir) === "node_modules") return undefined;
    const pkg = await readJsonObject(path.join(dir, "package.json"));
    if (pkg?.name === name) return dir;
  }
  return undefined;
}

/** Native code, looked for shallowly: where node-gyp, prebuildify and wasm packages put it. */
async function hasNativeCode(dir: string): Promise<boolean> {
  const pkg = await readJsonObject(path.join(dir, "package.json"));
  if (pkg?.gypfile === true || pointsAtNative(pkg?.main) || pointsAtNative(pkg?.exports)) return true;
  const top = await entries(dir);
  if (top.some((e) => e.isFile() && (e.name === "binding.gyp" || NATIVE_FILE.test(e.name)))) return true;
  const prebuilds = (await entries(path.join(dir, "prebuilds"))).filter((e) => e.isDirectory());
  const subdirs = ["build", path.join("build", "Release"), ...prebuilds.map((e) => path.join("prebuilds", e.name))];
  for (const sub of subdirs) {
    if ((await entries(path.join(dir, sub))).some((e) => e.isFile() && NATIVE_FILE.test(e.name))) return true;
  }
  return false;
}

const NATIVE_FILE = /\.(node|wasm)$/;

/** Whether a package.json `main` or `exports` value (any nesting of conditions) names native code. */
function pointsAtNative(value: unknown): boolean {
  if (typeof value === "string") return NATIVE_FILE.test(value);
  if (Array.isArray(value)) return value.some(pointsAtNative);
  return isRecord(value) && Object.values(value).some(pointsAtNative);
}

async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * The version to install for each external, sorted by name. In order: the lockfile's resolved
 * version (what the user actually tested with), the installed package's version, the range the
 * user's package.json declares. Throws BuildError listing every external with none of these.
 */
export async function externalVersions(
  uses: Iterable<ExternalUse>,
  projectDir: string,
): Promise<ExternalPackage[]> {
  const lockVersion = await lockfileVersions(projectDir);
  const pkg = await readJsonObject(path.join(projectDir, "package.json"));
  const found: ExternalPackage[] = [];
  const missing: ExternalUse[] = [];
  for (const use of [...uses].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const version = lockVersion(use.name) ?? (await installedVersion(use, projectDir)) ?? declaredRange(pkg, use.name);
    if (version === undefined) missing.push(use);
    else found.push({ name: use.name, version });
  }
  if (missing.length > 0) {
    const names = missing.map((u) => `"${u.name}" (imported by ${displayPath(u.importer)})`).join(", ");
    throw new BuildError(`Cannot tell which version of external package ${names} the agent should install`, {
      suggestions: missing.map(
        (u) => `Add ${u.name} to "dependencies" in ${path.join(projectDir, "package.json")} (npm install ${u.name})`,
      ),
    });
  }
  return found;
}

/**
 * Versions from the project's package-lock.json, or from a workspace root's lockfile above it
 * that lists the project as a member (npm keeps one lockfile per workspace tree). An unrelated
 * lockfile higher up is ignored. A member's own node_modules shadows the hoisted one.
 */
async function lockfileVersions(projectDir: string): Promise<(name: string) => string | undefined> {
  const none = () => undefined;
  const lockDir = findUp(projectDir, "package-lock.json");
  if (lockDir === undefined) return none;
  const lock = await readJsonObject(path.join(lockDir, "package-lock.json"));
  const packages = isRecord(lock?.packages) ? lock.packages : {};
  const member = path.relative(lockDir, projectDir).split(path.sep).join("/");
  if (member !== "" && !(member in packages)) return none;
  return (name) => {
    const keys = member === "" ? [`node_modules/${name}`] : [`${member}/node_modules/${name}`, `node_modules/${name}`];
    for (const key of keys) {
      const entry = packages[key];
      if (isRecord(entry) && typeof entry.version === "string") return entry.version;
    }
    return undefined;
  };
}

async function installedVersion(use: ExternalUse, projectDir: string): Promise<string | undefined> {
  const dir = use.packageDir ?? installedDir(use.name, projectDir);
  if (dir === undefined) return undefined;
  const version = (await readJsonObject(path.join(dir, "package.json")))?.version;
  return typeof version === "string" ? version : undefined;
}

/** Where node would find package `name` from `from`: the nearest `node_modules/<name>`. */
function installedDir(name: string, from: string): string | undefined {
  const relative = path.join("node_modules", name);
  const holder = findUp(from, path.join(relative, "package.json"));
  return holder === undefined ? undefined : path.join(holder, relative);
}

const DEPENDENCY_FIELDS = ["dependencies", "optionalDependencies", "peerDependencies", "devDependencies"];

function declaredRange(pkg: Record<string, unknown> | undefined, name: string): string | undefined {
  for (const field of DEPENDENCY_FIELDS) {
    const deps = pkg?.[field];
    const range = isRecord(deps) ? deps[name] : undefined;
    if (typeof range === "string") return range;
  }
  return undefined;
}
