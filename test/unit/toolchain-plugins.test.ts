// flow-sdk/esbuild and flow-sdk/vite, as a user's build imports them (the package's exports).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, it } from "node:test";
import { build, type BuildOptions } from "esbuild";
import { flowDecorators } from "flow-sdk/esbuild";
import { flowDecorators as flowVitePlugin } from "flow-sdk/vite";
import { tempDir } from "../e2e/helpers.ts";

const DECORATED = `const names: string[] = [];
const app = { function: (_options: object) => (_method: unknown, context: ClassMethodDecoratorContext) => void names.push(String(context.name)) };
export class Jobs {
  @app.function({ gpu: "a100" })
  static train() {}
}
export { names };
`;

function decoratedFile(): string {
  const file = join(tempDir(), "jobs.ts");
  writeFileSync(file, DECORATED);
  return file;
}

describe("flow-sdk/esbuild", () => {
  it("lets esbuild bundle @app.function(...) on a method, which it cannot without", async () => {
    const file = decoratedFile();
    // node20 has no decorators of its own: esbuild compiles them.
    const options: BuildOptions & { write: false } = { entryPoints: [file], bundle: true, write: false, format: "esm", platform: "node", target: "node20", logLevel: "silent" };
    await assert.rejects(build(options), /Expected identifier but found "function"/);
    const result = await build({ ...options, plugins: [flowDecorators()] });
    const module = (await import(`data:text/javascript,${encodeURIComponent(result.outputFiles[0]!.text)}`)) as { names: string[] };
    assert.deepEqual(module.names, ["train"]);
  });

  it("is also there for CommonJS build scripts: require('flow-sdk/esbuild')", () => {
    const required = createRequire(import.meta.url)("flow-sdk/esbuild") as { flowDecorators: typeof flowDecorators };
    assert.equal(required.flowDecorators().name, flowDecorators().name);
  });
});

describe("flow-sdk/vite", () => {
  it("rewrites the user's files before Vite's esbuild step, and leaves installed packages alone", async () => {
    const plugin = flowVitePlugin();
    assert.equal(plugin.enforce, "pre");
    const transform = plugin.transform as (code: string, id: string) => { code: string } | null;
    assert.match(transform(DECORATED, "/app/src/jobs.ts?v=1")!.code, /@\(app\.function\(\{ gpu: "a100" \}\)\)/);
    assert.equal(transform(DECORATED, "/app/node_modules/lib/jobs.ts"), null);
    assert.equal(transform("export const x = 1;", "/app/src/x.ts"), null);
  });
});
