/**
 * What went wrong while loading the user's file for `flow run`, said in one line with what to do,
 * instead of Node's or tsx's stack: a syntax error (esbuild's, through tsx), a package that is not
 * installed, an import of a file that does not exist, top-level await in a CommonJS file. Any
 * other error is the user's own code failing at the top level and is reported as such.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { displayPath } from "../../bundler/project.ts";
import { BuildError, FlowError } from "../../errors.ts";

const TOP_LEVEL_AWAIT_IN_COMMONJS = 'Top-level await is currently not supported with the "cjs" output format';

export function loadError(file: string, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (error.name === "TransformError") return syntaxError(file, error.message);
  if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") return notFoundError(error.message) ?? error;
  return error;
}

/** esbuild's `path:line:column: ERROR: text` lines (columns from 0) as `path:line:column: text`. */
function syntaxError(file: string, message: string): FlowError {
  const lines = message
    .split("\n")
    .slice(1)
    .map((line) => /^(.+?):(\d+):(\d+): ERROR: (.*)$/.exec(line))
    .flatMap((match) => (match ? [`${displayPath(sourcePath(match[1]!))}:${match[2]}:${Number(match[3]) + 1}: ${match[4]}`] : []));
  const text = `Could not load ${file}:\n${lines.join("\n") || message}`;
  if (!message.includes(TOP_LEVEL_AWAIT_IN_COMMONJS)) return new BuildError(text);
  return new BuildError(text, {
    suggestions: [
      /\.c[jt]s$/.test(file)
        ? `A .cts file is CommonJS, which has no top-level await: rename ${file} to .mts (or .ts), or move the awaits into an async function.`
        : "That file is loaded with require(), which cannot load a module with top-level await: import it instead, or move the awaits into an async function.",
    ],
  });
}

/** tsx tells esbuild a .cts/.mts file is `.ts` (for its source maps); name the real file. */
function sourcePath(reported: string): string {
  if (!reported.endsWith(".ts") || existsSync(reported)) return reported;
  return [".cts", ".mts"].map((extension) => reported.slice(0, -3) + extension).find((candidate) => existsSync(candidate)) ?? reported;
}

/**
 * Node's messages: `Cannot find package 'x' imported from /a/b.ts`, `Cannot find module '/a/c.ts'
 * imported from /a/b.ts` (import), `Cannot find module 'x'\nRequire stack:\n- /a/b.ts` (require).
 */
function notFoundError(message: string): FlowError | undefined {
  const match = /^Cannot find (?:package|module) '([^']+)'(?: imported from (.+))?/.exec(message);
  if (!match) return undefined;
  const specifier = match[1]!;
  const importer = toPath(match[2] ?? /^Require stack:\n- (.+)$/m.exec(message)?.[1]);
  const who = importer === undefined ? "Your code" : displayPath(importer);
  if (isPackage(specifier)) {
    const name = packageName(specifier);
    return new FlowError(`${who} imports '${specifier}', but the package ${name} is not installed.`, {
      suggestions: [`npm install ${name}`],
    });
  }
  const missing = path.resolve(importer === undefined ? "." : path.dirname(importer), toPath(specifier)!);
  return new FlowError(`${who} imports ${displayPath(missing)}, which does not exist.`, {
    suggestions: ["Check the path: TypeScript files are imported as ./util.ts or ./util."],
  });
}

function toPath(fileOrUrl: string | undefined): string | undefined {
  return fileOrUrl?.startsWith("file:") ? fileURLToPath(fileOrUrl) : fileOrUrl;
}

function isPackage(specifier: string): boolean {
  return !/^(\.{1,2}\/|\/|file:)/.test(specifier);
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}
