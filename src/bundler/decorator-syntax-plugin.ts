/** esbuild side of decorator-syntax.ts: rewrite the user's own files before esbuild parses them. */
import { readFile } from "node:fs/promises";
import type { Loader, Plugin } from "esbuild";
import { isUserSourcePath, needsDecoratorRewrite, rewriteKeywordDecorators } from "./decorator-syntax.ts";

const LOADERS: Record<string, Loader> = { ts: "ts", mts: "ts", cts: "ts", tsx: "tsx", js: "js", mjs: "js", cjs: "js", jsx: "jsx" };

export function keywordDecoratorsPlugin(): Plugin {
  return {
    name: "flow-keyword-decorators",
    setup(build) {
      build.onLoad({ filter: /\.[mc]?[jt]sx?$/ }, async (args) => {
        if (args.namespace !== "file" || !isUserSourcePath(args.path)) return undefined;
        const source = await readFile(args.path, "utf8");
        if (!needsDecoratorRewrite(source)) return undefined;
        const loader = LOADERS[args.path.slice(args.path.lastIndexOf(".") + 1)];
        return { contents: rewriteKeywordDecorators(source), ...(loader === undefined ? {} : { loader }) };
      });
    },
  };
}
