/**
 * Whether a source has top-level await: esbuild (which tsx runs) is asked to compile it to
 * CommonJS, and refuses exactly then. Its parser, not a pattern, decides, so `await` in strings,
 * comments and async functions never counts.
 */
import { transform } from "esbuild";

const REFUSAL = 'Top-level await is currently not supported with the "cjs" output format';

export async function hasTopLevelAwait(source: string, path: string): Promise<boolean> {
  if (!/\bawait\b/.test(source)) return false;
  const loader = /\.[cm]?tsx?$/.test(path) ? (path.endsWith("x") ? "tsx" : "ts") : path.endsWith("x") ? "jsx" : "js";
  try {
    await transform(source, { loader, format: "cjs", sourcefile: path, logLevel: "silent" });
    return false;
  } catch (error) {
    // Any other error (a syntax error) is left for tsx to report, with its own file:line.
    return error instanceof Error && error.message.includes(REFUSAL);
  }
}
