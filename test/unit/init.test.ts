// `flow init` writes a region only when the user names one: a region in the file pins every bid.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { writeInitialConfig, type Prompter } from "../../src/cli/commands/init.ts";
import { loadConfig } from "../../src/config/load-config.ts";

const scratch = mkdtempSync(join(tmpdir(), "flow-init-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;

/** A home with an optional existing config file; returns the file's path. */
function home(existing?: string): { dir: string; file: string } {
  const dir = join(scratch, String(counter++));
  const file = join(dir, ".flow", "config.yaml");
  mkdirSync(join(dir, ".flow"), { recursive: true });
  if (existing !== undefined) writeFileSync(file, existing);
  return { dir, file };
}

/** A terminal whose user gives these answers, by question; a question not listed is left blank. */
function terminal(answers: Record<string, string> = {}): Prompter & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    canPrompt: () => true,
    ask: async (question, options = {}) => {
      asked.push(question);
      const answer = Object.entries(answers).find(([start]) => question.startsWith(start))?.[1] ?? "";
      return answer === "" ? (options.fallback ?? "") : answer;
    },
  };
}

describe("flow init and the region", () => {
  test("a blank answer writes no region, so bids go to the cheapest region with capacity", async () => {
    const { dir, file } = home();
    const prompter = terminal({ "API key": "fkey_0123456789abcdef", Project: "proj-1" });
    await writeInitialConfig(file, {}, prompter);
    assert.ok(prompter.asked.some((q) => /^Region \(blank: the cheapest with capacity\)/.test(q)), prompter.asked.join(" | "));
    assert.doesNotMatch(readFileSync(file, "utf8"), /region/);
    assert.equal(loadConfig({ homeDir: dir, cwd: dir, env: {} }).sources.region, "default");
  });

  test("a region the user names is written", async () => {
    const { file } = home();
    await writeInitialConfig(file, {}, terminal({ "API key": "fkey_0123456789abcdef", Project: "p", Region: "us-central1-a" }));
    assert.match(readFileSync(file, "utf8"), /^region: us-central1-a$/m);
  });

  test('a region already in the file is kept on a blank answer and removed by "any"', async () => {
    const existing = "api_key: fkey_0123456789abcdef\nproject: p\nregion: us-central1-b\n";
    const kept = home(existing);
    await writeInitialConfig(kept.file, {}, terminal());
    assert.match(readFileSync(kept.file, "utf8"), /^region: us-central1-b$/m);
    const cleared = home(existing);
    await writeInitialConfig(cleared.file, {}, terminal({ Region: "any" }));
    assert.doesNotMatch(readFileSync(cleared.file, "utf8"), /region/);
    const byFlag = home(existing);
    await writeInitialConfig(byFlag.file, { region: "any" }, { canPrompt: () => false, ask: async () => "" });
    assert.doesNotMatch(readFileSync(byFlag.file, "utf8"), /region/);
  });
});
