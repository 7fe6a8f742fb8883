// The plugins for users' own esbuild-based tools (flow-sdk/vite, flow-sdk/esbuild): the README's
// Vitest setup runs a test that imports a module with `@app.function(...)` on a method.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot, runNode } from "./helpers.ts";

describe("flow-sdk/vite", () => {
  it("Vitest runs a test importing a class with @app.function(...) on a method", async () => {
    const vitest = join(repoRoot, "node_modules", "vitest", "vitest.mjs");
    const result = await runNode([vitest, "run"], { cwd: join(repoRoot, "test", "fixtures", "vitest") });
    const out = result.stdout + result.stderr;
    assert.equal(result.code, 0, out);
    assert.match(out, /Tests\s+2 passed \(2\)/);
  });
});
