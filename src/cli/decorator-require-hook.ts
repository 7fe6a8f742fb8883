/**
 * The CommonJS half of decorator-hook.ts. In a CommonJS package (`npm init -y` writes
 * `"type": "commonjs"`, and no "type" means the same), Node loads .ts and .cts files through
 * require(): tsx compiles them in its `Module._extensions` handler, which reads the file with
 * `fs.readFileSync` and hands it to esbuild; the ESM load hook never sees them. tsx has no hook
 * for changing a source before it compiles it, so for a file that needs the rewrite we call tsx's
 * own handler and, only while it reads and compiles that one file (a synchronous call), answer
 * its `readFileSync` of exactly that path with the rewritten text. Everything else stays tsx's:
 * tsconfig, source maps, its cache, import.meta, the module's __filename. The user's code itself
 * never sees the substitute: it is removed before the module body runs (at `module._compile`).
 */
import fs from "node:fs";
import Module from "node:module";
import { isUserSourcePath, needsDecoratorRewrite, rewriteKeywordDecorators } from "../bundler/decorator-syntax.ts";

type CompileModule = { _compile(code: string, filename: string): unknown };
type ExtensionHandler = (this: unknown, module: CompileModule, filename: string) => void;

/**
 * Wraps the require() handlers tsx installed. `.cts` has no handler of its own (Node falls back
 * to `.js`'s), and `.mts` cannot be required, so these are all the extensions tsx compiles.
 */
export function installDecoratorRequireHook(): void {
  const extensions = (Module as unknown as { _extensions: Record<string, ExtensionHandler | undefined> })._extensions;
  for (const extension of [".js", ".ts", ".tsx", ".jsx"]) {
    const handler = extensions[extension];
    if (handler) extensions[extension] = withKeywordDecorators(handler);
  }
}

function withKeywordDecorators(handler: ExtensionHandler): ExtensionHandler {
  return function (module, filename) {
    // tsx may append a `?namespace=…` query to the file name; the file is what precedes it.
    const path = filename.split("?")[0]!;
    if (!isUserSourcePath(path)) return handler.call(this, module, filename);
    const source = fs.readFileSync(path, "utf8");
    if (!needsDecoratorRewrite(source)) return handler.call(this, module, filename);
    const restore = serveWhileCompiling(module, path, rewriteKeywordDecorators(source));
    try {
      return handler.call(this, module, filename);
    } finally {
      restore();
    }
  };
}

/** Until `module._compile` is called (or `restore()`), reading `path` returns `text`. */
function serveWhileCompiling(module: CompileModule, path: string, text: string): () => void {
  const readFileSync = fs.readFileSync;
  const substitute = function (this: unknown, ...args: Parameters<typeof fs.readFileSync>) {
    if (args[0] !== path) return Reflect.apply(readFileSync, this, args);
    const encoding = typeof args[1] === "string" ? args[1] : args[1]?.encoding;
    return encoding ? text : Buffer.from(text, "utf8");
  } as typeof fs.readFileSync;
  const hadOwnCompile = Object.hasOwn(module, "_compile");
  const compile = module._compile;
  const restore = () => {
    if (fs.readFileSync === substitute) fs.readFileSync = readFileSync;
    if (hadOwnCompile) module._compile = compile;
    else delete (module as Partial<CompileModule>)._compile;
  };
  fs.readFileSync = substitute;
  module._compile = function (code, filename) {
    restore();
    return compile.call(this, code, filename);
  };
  return restore;
}
