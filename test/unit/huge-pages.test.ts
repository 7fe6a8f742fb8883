import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dropHugePages, withHugePages } from "../../src/runtime/huge-pages.ts";

describe("huge pages for the agent's processes", () => {
  it("is added after the tunables already set, and taking it out gives them back", () => {
    for (const before of [undefined, "glibc.malloc.arena_max=2", "glibc.malloc.hugetlb=1", "a=1:glibc.malloc.hugetlb=1:b=2"]) {
      const env: NodeJS.ProcessEnv = { GLIBC_TUNABLES: withHugePages(before) };
      assert.match(env.GLIBC_TUNABLES!, /(^|:)glibc\.malloc\.hugetlb=1$/);
      dropHugePages(env);
      assert.deepEqual(env, before === undefined ? {} : { GLIBC_TUNABLES: before });
    }
  });

  it("leaves an environment without it alone", () => {
    const env: NodeJS.ProcessEnv = { GLIBC_TUNABLES: "glibc.malloc.arena_max=2", PATH: "/bin" };
    dropHugePages(env);
    assert.deepEqual(env, { GLIBC_TUNABLES: "glibc.malloc.arena_max=2", PATH: "/bin" });
    const empty: NodeJS.ProcessEnv = {};
    dropHugePages(empty);
    assert.deepEqual(empty, {});
  });
});
