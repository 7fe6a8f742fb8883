import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { AuthenticationError, ValidationError } from "../../src/errors.ts";
import {
  findLocalConfigFile,
  loadConfig,
  redact,
  requireCloudConfig,
  writeConfigFile,
  type FlowConfig,
  type LoadedConfig,
} from "../../src/config/index.ts";
import { providerName } from "../../src/providers/provider-name.ts";
import { Flow } from "../../src/client/flow.ts";

const scratch = mkdtempSync(join(tmpdir(), "flow-config-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh home and project (with a nested cwd), with optional config files in each. */
function layout(files: { global?: string; local?: string } = {}) {
  const root = join(scratch, String(counter++));
  const home = join(root, "home");
  const project = join(root, "work", "project");
  const cwd = join(project, "src", "deep");
  mkdirSync(home, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  const globalFile = join(home, ".flow", "config.yaml");
  const localFile = join(project, ".flow", "config.yaml");
  if (files.global !== undefined) write(globalFile, files.global);
  if (files.local !== undefined) write(localFile, files.local);
  return { home, project, cwd, globalFile, localFile };
}

function write(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

function validationErrorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a ValidationError");
}

describe("loadConfig precedence", () => {
  const GLOBAL = "api_key: fkey_global_000000000\nproject: global-proj\nregion: us-east1-a\n";
  const LOCAL = "project: local-proj\napi_url: https://local.example.com/\n";
  const rows: {
    name: string;
    files?: { global?: string; local?: string };
    env?: Record<string, string>;
    explicit?: Partial<FlowConfig>;
    expect: FlowConfig;
    sources: Record<keyof FlowConfig, string>;
  }[] = [
    {
      name: "nothing set: defaults",
      expect: { region: "us-central1-b", apiUrl: "https://api.mithril.ai", provider: "local" },
      sources: { apiKey: "unset", project: "unset", region: "default", apiUrl: "default", sshKey: "unset", provider: "default" },
    },
    {
      name: "global file only",
      files: { global: GLOBAL },
      expect: { apiKey: "fkey_global_000000000", project: "global-proj", region: "us-east1-a", apiUrl: "https://api.mithril.ai", provider: "local" },
      sources: { apiKey: "$global", project: "$global", region: "$global", apiUrl: "default", sshKey: "unset", provider: "default" },
    },
    {
      name: "local file over global file",
      files: { global: GLOBAL, local: LOCAL },
      expect: { apiKey: "fkey_global_000000000", project: "local-proj", region: "us-east1-a", apiUrl: "https://local.example.com", provider: "local" },
      sources: { apiKey: "$global", project: "$local", region: "$global", apiUrl: "$local", sshKey: "unset", provider: "default" },
    },
    {
      name: "env over files",
      files: { global: GLOBAL, local: LOCAL },
      env: { FLOW_API_KEY: "fkey_env_1111111111", FLOW_REGION: "eu-central1-a", FLOW_PROJECT: "" },
      expect: { apiKey: "fkey_env_1111111111", project: "local-proj", region: "eu-central1-a", apiUrl: "https://local.example.com", provider: "local" },
      sources: { apiKey: "FLOW_API_KEY", project: "$local", region: "FLOW_REGION", apiUrl: "$local", sshKey: "unset", provider: "default" },
    },
    {
      name: "explicit over everything",
      files: { global: GLOBAL, local: LOCAL },
      env: { FLOW_API_KEY: "fkey_env_1111111111", FLOW_PROJECT: "env-proj", FLOW_API_URL: "http://localhost:8080" },
      explicit: { project: "cli-proj", apiUrl: "https://cli.example.com" },
      expect: { apiKey: "fkey_env_1111111111", project: "cli-proj", region: "us-east1-a", apiUrl: "https://cli.example.com", provider: "local" },
      sources: { apiKey: "FLOW_API_KEY", project: "explicit", region: "$global", apiUrl: "explicit", sshKey: "unset", provider: "default" },
    },
    {
      name: "camelCase keys in a file",
      files: { global: "apiKey: fkey_camel_22222222\napiUrl: https://camel.example.com\n" },
      expect: { apiKey: "fkey_camel_22222222", region: "us-central1-b", apiUrl: "https://camel.example.com", provider: "local" },
      sources: { apiKey: "$global", project: "unset", region: "default", apiUrl: "$global", sshKey: "unset", provider: "default" },
    },
    {
      name: "unrelated keys and empty values are ignored; the Python SDK's `provider: mithril` is the cloud",
      files: { global: "provider: mithril\nproject:\napi_key: ''\nmithril:\n  anything: 1\n" },
      expect: { region: "us-central1-b", apiUrl: "https://api.mithril.ai", provider: "fcp" },
      sources: { apiKey: "unset", project: "unset", region: "default", apiUrl: "default", sshKey: "unset", provider: "$global" },
    },
    {
      name: "provider: the project file over the home file, FLOW_PROVIDER over both",
      files: { global: "provider: fcp\n", local: "provider: local\n" },
      expect: { region: "us-central1-b", apiUrl: "https://api.mithril.ai", provider: "local" },
      sources: { apiKey: "unset", project: "unset", region: "default", apiUrl: "default", sshKey: "unset", provider: "$local" },
    },
    {
      name: "provider from FLOW_PROVIDER over the files",
      files: { global: "provider: local\n", local: "provider: local\n" },
      env: { FLOW_PROVIDER: "fcp" },
      expect: { region: "us-central1-b", apiUrl: "https://api.mithril.ai", provider: "fcp" },
      sources: { apiKey: "unset", project: "unset", region: "default", apiUrl: "default", sshKey: "unset", provider: "FLOW_PROVIDER" },
    },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const dirs = layout(row.files);
      const loaded = loadConfig({ cwd: dirs.cwd, homeDir: dirs.home, env: row.env ?? {}, ...(row.explicit ? { explicit: row.explicit } : {}) });
      assert.deepEqual(loaded.config, row.expect);
      const place = (s: string) => (s === "$global" ? dirs.globalFile : s === "$local" ? dirs.localFile : s);
      assert.deepEqual(loaded.sources, Object.fromEntries(Object.entries(row.sources).map(([k, s]) => [k, place(s)])));
    });
  }

  test("the local file is searched upward from cwd, and the home file is not a project's", () => {
    const dirs = layout({ local: "project: p\n" });
    assert.equal(findLocalConfigFile(dirs.cwd, dirs.home), dirs.localFile);
    assert.equal(findLocalConfigFile(dirs.home, dirs.home), undefined);
    // A cwd under home finds ~/.flow/config.yaml only as the global file.
    const nested = join(dirs.home, "code");
    mkdirSync(nested);
    write(dirs.globalFile, "project: g\n");
    assert.equal(findLocalConfigFile(nested, dirs.home), undefined);
    assert.equal(loadConfig({ cwd: nested, homeDir: dirs.home, env: {} }).sources.project, dirs.globalFile);
  });
});

describe("loadConfig errors", () => {
  test("invalid YAML names the file and line", () => {
    const dirs = layout({ global: "api_key: [unclosed\nproject: x\n" });
    const error = validationErrorOf(() => loadConfig({ cwd: dirs.cwd, homeDir: dirs.home, env: {} }));
    assert.ok(error.message.includes(dirs.globalFile), error.message);
    assert.match(error.issues[0]?.path ?? "", /^line \d+$/);
  });

  const rows: { name: string; files?: { global?: string; local?: string }; env?: Record<string, string>; path: string; mentions: string[]; hides?: string }[] = [
    { name: "bad URL from env", env: { FLOW_API_URL: "ftp://example.com" }, path: "apiUrl", mentions: ["FLOW_API_URL", "http(s) URL"] },
    { name: "bad region from a file", files: { local: "region: US Central\n" }, path: "region", mentions: ["$local", "region name"] },
    { name: "a file that is a list", files: { global: "- api_key\n" }, path: "(root)", mentions: ["$global", "mapping"] },
    { name: "a number where a string belongs, without echoing it", files: { global: "api_key: 123456789012345\n" }, path: "api_key", mentions: ["$global", "must be a string"], hides: "123456789012345" },
    { name: "a near-miss key", files: { global: "apikey: fkey_x\n" }, path: "apikey", mentions: ["did you mean `api_key`?"] },
    { name: "an unknown provider from a file", files: { global: "provider: gcp\n" }, path: "provider", mentions: ["$global", '"gcp"', "local, fcp"] },
    { name: "one setting spelled twice", files: { global: "api_url: https://a.example\napiUrl: https://b.example\n" }, path: "apiUrl", mentions: ["second time"] },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const dirs = layout(row.files);
      const error = validationErrorOf(() => loadConfig({ cwd: dirs.cwd, homeDir: dirs.home, env: row.env ?? {} }));
      assert.ok(error.issues.some((i) => i.path === row.path), JSON.stringify(error.issues));
      for (const m of row.mentions) {
        const text = m === "$global" ? dirs.globalFile : m === "$local" ? dirs.localFile : m;
        assert.ok(error.message.includes(text), `${JSON.stringify(error.message)} lacks ${text}`);
      }
      if (row.hides) assert.ok(!error.message.includes(row.hides) && !JSON.stringify(error.issues).includes(row.hides));
    });
  }
});

describe("writeConfigFile", () => {
  test("creates ~/.flow with 0700 and the file with 0600, and loadConfig reads it back", () => {
    const dirs = layout();
    writeConfigFile(dirs.globalFile, { apiKey: "fkey_written_33333333", project: "p1", apiUrl: "https://api.mithril.ai" });
    assert.equal(statSync(join(dirs.home, ".flow")).mode & 0o777, 0o700);
    assert.equal(statSync(dirs.globalFile).mode & 0o777, 0o600);
    const text = readFileSync(dirs.globalFile, "utf8");
    assert.match(text, /^api_key: fkey_written_33333333$/m);
    assert.match(text, /^api_url: /m);
    const loaded = loadConfig({ cwd: dirs.cwd, homeDir: dirs.home, env: {} });
    assert.deepEqual(loaded.config, { apiKey: "fkey_written_33333333", project: "p1", region: "us-central1-b", apiUrl: "https://api.mithril.ai", provider: "local" });
  });

  test("an existing world-readable file ends up 0600", () => {
    const dirs = layout({ global: "project: old\n" });
    writeFileSync(dirs.globalFile, "project: old\n", { mode: 0o644 });
    writeConfigFile(dirs.globalFile, { project: "new" });
    assert.equal(statSync(dirs.globalFile).mode & 0o777, 0o600);
    assert.equal(loadConfig({ cwd: dirs.cwd, homeDir: dirs.home, env: {} }).config.project, "new");
  });

  test("refuses invalid values", () => {
    const dirs = layout();
    const error = validationErrorOf(() => writeConfigFile(dirs.globalFile, { apiUrl: "not a url" }));
    assert.equal(error.issues[0]?.path, "apiUrl");
  });
});

describe("requireCloudConfig", () => {
  const loaded = (config: Partial<FlowConfig>): LoadedConfig => ({
    config: { region: "us-central1-b", apiUrl: "https://api.mithril.ai", provider: "fcp", ...config },
    sources: { apiKey: "unset", project: "unset", region: "default", apiUrl: "default", sshKey: "unset", provider: "default" },
  });

  test("both present", () => {
    const cloud = requireCloudConfig(loaded({ apiKey: "fkey_x", project: "p" }));
    assert.equal(cloud.apiKey, "fkey_x");
    assert.equal(cloud.project, "p");
  });

  test("no API key: AuthenticationError naming everything missing and how to set it", () => {
    assert.throws(
      () => requireCloudConfig(loaded({})),
      (error: unknown) => {
        assert.ok(error instanceof AuthenticationError);
        for (const text of ["apiKey", "FLOW_API_KEY", "project", "FLOW_PROJECT"]) assert.ok(error.message.includes(text), text);
        assert.ok(error.suggestions.some((s) => s.includes("flow init")));
        return true;
      },
    );
  });

  test("no project: ValidationError", () => {
    const error = validationErrorOf(() => requireCloudConfig(loaded({ apiKey: "fkey_secret_value_123" })));
    assert.deepEqual(error.issues.map((i) => i.path), ["project"]);
    assert.ok(!error.message.includes("fkey_secret_value_123"));
  });
});

describe("redact", () => {
  const rows: { key: string; shown: string }[] = [
    { key: "fkey_0123456789abcdefABCD", shown: "fkey_…ABCD" },
    { key: "fcp-0123456789abcdef9876", shown: "fcp-…9876" },
    { key: "0123456789abcdefWXYZ", shown: "…WXYZ" },
    { key: "fkey_short", shown: "fkey_…" },
    { key: "", shown: "…" },
  ];
  for (const row of rows) {
    test(`${row.key.length} chars → ${row.shown}`, () => assert.equal(redact(row.key), row.shown));
  }
});

describe("choosing the provider", () => {
  const CLOUD = "provider: fcp\napi_key: fkey_home_0000000000\nproject: p\n";
  const chosen = (dirs: { cwd: string; home: string }, env: NodeJS.ProcessEnv = {}, flag?: string) =>
    providerName(flag, { cwd: dirs.cwd, homeDir: dirs.home, env });

  test("`provider:` in ~/.flow/config.yaml, a project's file over it, FLOW_PROVIDER over both, a flag over all", () => {
    const home = layout({ global: CLOUD });
    assert.equal(chosen(home), "fcp");
    const project = layout({ global: CLOUD, local: "provider: local\n" });
    assert.equal(chosen(project), "local");
    assert.equal(chosen(project, { FLOW_PROVIDER: "fcp" }), "fcp");
    assert.equal(chosen(home, { FLOW_PROVIDER: "fcp" }, "local"), "local");
    assert.equal(chosen(layout()), "local");
  });

  test("new Flow() honours `provider:` in the home file", () => {
    const dirs = layout({ global: CLOUD });
    assert.equal(new Flow({ cwd: dirs.cwd, homeDir: dirs.home, env: {}, flowHome: join(dirs.home, ".flow") }).provider.name, "fcp");
    assert.equal(new Flow({ cwd: dirs.cwd, homeDir: dirs.home, env: {}, provider: "local" }).provider.name, "local");
  });

  test("a bad value is a ValidationError naming the file; other settings do not stop the choice", () => {
    const bad = layout({ global: "provider: aws\n" });
    const error = validationErrorOf(() => chosen(bad));
    assert.ok(error.message.includes(bad.globalFile) && error.message.includes('"aws"'), error.message);
    assert.equal(chosen(layout({ global: "provider: fcp\napi_url: not a url\n" })), "fcp");
    assert.match(validationErrorOf(() => chosen(layout(), {}, "gcp")).message, /Unknown provider "gcp"/);
  });
});
