// The examples are what users copy: they must not buy more GPUs than they use, and the README's
// copy of examples/hello.ts must be the file itself.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { seedCatalog } from "../../src/instance-types/seed-catalog.ts";

const root = join(import.meta.dirname, "..", "..");
const examples = join(root, "examples");

describe("examples", () => {
  test("every function example asks for one GPU (a bare \"h100\" is a whole 8-GPU node)", () => {
    const catalog = seedCatalog();
    const asked = readdirSync(examples)
      .filter((file) => file.endsWith(".ts"))
      .flatMap((file) => [...readFileSync(join(examples, file), "utf8").matchAll(/\bgpu: "([^"]+)"/g)].map((m) => ({ file, gpu: m[1]! })));
    assert.ok(asked.length > 0);
    for (const { file, gpu } of asked) assert.equal(catalog.resolve(gpu).gpuCount, 1, `${file} asks for gpu: "${gpu}"`);
  });

  test("the README's examples/hello.ts is the file, apart from the file's opening comments", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const block = /```ts\n\/\/ examples\/hello\.ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block !== undefined, "README shows examples/hello.ts");
    const file = readFileSync(join(examples, "hello.ts"), "utf8").replace(/^(\/\/.*\n)+/, "");
    assert.equal(block, file);
  });
});
