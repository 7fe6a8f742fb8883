// `flow init` writes a region only when the user names one: a region in the file pins every bid.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { writeInitialConfig, type InitIo, type KeyCheck } from "../../src/cli/commands/init.ts";
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

/** The API, as far as init asks it: every key belongs to one user with these projects. */
const verify: KeyCheck = async () => ({
  user: { userId: "user_1", email: "me@example.com" },
  projects: [
    { projectId: "proj_1", name: "proj-1" },
    { projectId: "proj_2", name: "p" },
  ],
});

/** A terminal whose user gives these answers, by question; a question not listed is left blank. */
function terminal(answers: Record<string, string> = {}): InitIo & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    canPrompt: () => true,
    say: () => {},
    verify,
    ask: async (question, options = {}) => {
      asked.push(question);
      const answer = Object.entries(answers).find(([start]) => question.startsWith(start))?.[1] ?? "";
      return answer === "" ? (options.fallback ?? "") : answer;
    },
  };
}

const noTerminal: InitIo = { canPrompt: () => false, ask: async () => "", say: () => {}, verify };

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
    await writeInitialConfig(byFlag.file, { region: "any" }, noTerminal);
    assert.doesNotMatch(readFileSync(byFlag.file, "utf8"), /region/);
  });
});

describe("flow init and the account", () => {
  test("lists the key's projects to pick from; a number picks one, written by name, and the default provider is asked", async () => {
    const { file } = home();
    const said: string[] = [];
    const prompter = { ...terminal({ "API key": "fkey_0123456789abcdef", Project: "2", "Default provider": "fcp" }), say: (line: string) => said.push(line) };
    await writeInitialConfig(file, {}, prompter);
    assert.match(said.join("\n"), /me@example\.com.*1\) proj-1 {2}2\) p/);
    const text = readFileSync(file, "utf8");
    assert.match(text, /^project: p$/m);
    assert.match(text, /^provider: fcp$/m);
  });

  test("a project the key does not have fails naming the ones it has, and nothing is written", async () => {
    const { file } = home();
    await assert.rejects(writeInitialConfig(file, { apiKey: "fkey_0123456789abcdef", project: "nope" }, noTerminal), (error: Error & { suggestions?: string[] }) => {
      assert.match(error.message, /has no project "nope"/);
      assert.match(error.suggestions?.join(" ") ?? "", /proj-1 \(proj_1\), p \(proj_2\)/);
      return true;
    });
    assert.ok(!existsSync(file), "a config was written");
  });

  test("a rejected key writes nothing", async () => {
    const { file } = home();
    const rejecting: InitIo = { ...noTerminal, verify: async () => Promise.reject(new Error("401 from /v2/me")) };
    await assert.rejects(writeInitialConfig(file, { apiKey: "fkey_bad", project: "p" }, rejecting), /401/);
    assert.ok(!existsSync(file));
  });

  test("--provider is checked before anything is written", async () => {
    const { file } = home();
    await assert.rejects(writeInitialConfig(file, { apiKey: "fkey_0123456789abcdef", project: "p", provider: "aws" }, noTerminal), /"aws" is not a valid provider/);
    assert.ok(!existsSync(file));
  });
});
