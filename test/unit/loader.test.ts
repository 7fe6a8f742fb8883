// flow-sdk/register (this test runs under it) in a CommonJS package, where tsx compiles .ts files
// through require(): the keyword-decorator rewrite applies there too, a file with top-level await
// loads as an ES module, and a .cts file stays CommonJS.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { tempDir } from "../e2e/helpers.ts";

/** `@app.function(...)` on a method, with a stand-in `app` that records what it decorates. */
const DECORATED = `const decorated: string[] = [];
const app = { function: (_options: object) => (_method: unknown, context: ClassMethodDecoratorContext) => void decorated.push(String(context.name)) };
export class Jobs {
  @app.function({ gpu: "a100" })
  static train() {
    return "trained";
  }
}
export { decorated };
`;

function commonJsPackage(files: Record<string, string>): string {
  const dir = tempDir("flow-loader-");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "commonjs" }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** A module's exports. (tsx, which loads this test, hands a CommonJS module's exports to import() as they are.) */
const importFile = (path: string) => import(pathToFileURL(path).href) as Promise<Record<string, unknown>>;

describe("flow-sdk/register in a CommonJS package", () => {
  it("require() of a .ts file applies the decorator rewrite", () => {
    const dir = commonJsPackage({ "jobs.ts": DECORATED });
    const jobs = createRequire(join(dir, "x.js"))("./jobs.ts") as { Jobs: { train(): string }; decorated: string[] };
    assert.deepEqual(jobs.decorated, ["train"]);
    assert.equal(jobs.Jobs.train(), "trained");
  });

  it("the rewritten text is only what tsx compiles: the file on disk reads as written, also from inside the module", () => {
    const dir = commonJsPackage({ "self.ts": `${DECORATED}export const ownText = require("node:fs").readFileSync(__filename, "utf8");\n` });
    const self = createRequire(join(dir, "x.js"))("./self.ts") as { ownText: string };
    assert.match(self.ownText, /^ {2}@app\.function\(\{ gpu: "a100" \}\)$/m);
    assert.match(readFileSync(join(dir, "self.ts"), "utf8"), /^ {2}@app\.function\(/m);
  });

  it("import() of a .cts file applies the decorator rewrite (it loads through require())", async () => {
    const dir = commonJsPackage({ "jobs.cts": DECORATED });
    const jobs = await importFile(join(dir, "jobs.cts"));
    assert.deepEqual(jobs["decorated"], ["train"]);
  });

  it("a .ts file with top-level await loads as an ES module", async () => {
    const dir = commonJsPackage({ "script.ts": "export const kind = typeof module;\nexport const value = await Promise.resolve(42);\n" });
    const script = await importFile(join(dir, "script.ts"));
    assert.deepEqual({ kind: script["kind"], value: script["value"] }, { kind: "undefined", value: 42 });
  });

  it("a .ts file whose awaits are all inside functions stays CommonJS", async () => {
    const dir = commonJsPackage({ "lib.ts": "export const kind = typeof module;\nexport async function f() {\n  return await Promise.resolve(1);\n}\n// await in a comment\n" });
    const lib = await importFile(join(dir, "lib.ts"));
    assert.equal(lib["kind"], "object");
  });

  it("an ES module (a script with top-level await) importing decorated classes by name from a .ts file", async () => {
    const dir = commonJsPackage({
      "jobs.ts": DECORATED,
      "main.ts": 'import { Jobs, decorated } from "./jobs.ts";\nexport const result = await Promise.resolve(`${Jobs.train()} ${decorated.join()}`);\n',
    });
    const main = await importFile(join(dir, "main.ts"));
    assert.equal(main["result"], "trained train");
  });

  it("a .cts file stays CommonJS: top-level await there fails with esbuild's reason", async () => {
    const dir = commonJsPackage({ "script.cts": "export const value = await Promise.resolve(42);\n" });
    await assert.rejects(importFile(join(dir, "script.cts")), /Top-level await is currently not supported with the "cjs" output format/);
  });
});
