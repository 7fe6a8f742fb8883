/**
 * The `.flow/config.yaml` files: where they live, reading them, and writing them privately.
 *
 * Files may use the Python SDK's snake_case (`api_key`, `api_url`) or camelCase. Keys this SDK
 * does not know are left alone (the same file may carry settings for other Flow tools), except
 * near-misses of known keys such as `apikey`, which are surely typos and are reported.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, parse as parsePath } from "node:path";
import { parseDocument, stringify } from "yaml";
import type { FieldIssue } from "../errors.ts";
import { camelToSnake, closestMatch, validationError } from "../validation.ts";
import { CONFIG_FIELD_SCHEMAS, CONFIG_KEYS, type ConfigKey } from "./flow-config.ts";

/** Config values as found in one place, before validation. */
export type RawConfigValues = Partial<Record<ConfigKey, string>>;

export function globalConfigPath(homeDir: string): string {
  return join(homeDir, ".flow", "config.yaml");
}

/**
 * The nearest `.flow/config.yaml` in `cwd` or a directory above it, so a project's settings
 * apply in its subdirectories. The one in `homeDir` is the global file, not a project's.
 */
export function findLocalConfigFile(cwd: string, homeDir: string): string | undefined {
  const global = globalConfigPath(homeDir);
  const { root } = parsePath(cwd);
  for (let dir = cwd; ; dir = dirname(dir)) {
    const candidate = join(dir, ".flow", "config.yaml");
    if (candidate !== global && existsSync(candidate)) return candidate;
    if (dir === root) return undefined;
  }
}

/** The values in a config file; a missing file has none. Throws ValidationError naming the file. */
export function readConfigFile(path: string): RawConfigValues {
  if (!existsSync(path)) return {};
  const doc = parseDocument(readFileSync(path, "utf8"));
  if (doc.errors.length > 0) {
    throw validationError(
      "YAML",
      doc.errors.map((e) => ({
        path: e.linePos === undefined ? "(root)" : `line ${e.linePos[0].line}`,
        message: (e.message.split("\n")[0] ?? e.message).replace(/:$/, ""),
      })),
      { source: path },
    );
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw validationError("config file", [{ path: "(root)", message: "must be a mapping of settings like `api_key: …`" }], {
      source: path,
    });
  }

  const values: RawConfigValues = {};
  const issues: FieldIssue[] = [];
  const spellings = new Map(CONFIG_KEYS.flatMap((k) => [[k, k] as const, [camelToSnake(k), k] as const]));
  for (const [key, value] of Object.entries(data)) {
    const field = spellings.get(key);
    if (field === undefined) {
      // Suggest the snake_case spelling: it is what `flow init` writes and the Python SDK reads.
      const near = closestMatch(key, CONFIG_KEYS.map(camelToSnake));
      if (near !== undefined) issues.push({ path: key, message: "unknown setting", suggestion: `did you mean \`${near}\`?` });
      continue;
    }
    if (value === null || value === "") continue;
    if (values[field] !== undefined) {
      issues.push({ path: key, message: `sets \`${field}\` a second time`, suggestion: "keep one spelling" });
      continue;
    }
    if (typeof value !== "string") {
      // Never echo the value: this may be the API key.
      issues.push({ path: key, message: `must be a string, not a ${typeof value}`, suggestion: "quote it" });
      continue;
    }
    values[field] = value;
  }
  if (issues.length > 0) throw validationError("config file", issues, { source: path });
  return values;
}

/**
 * Writes `values` (replacing the file) with snake_case keys, readable only by the owner: 0600
 * for the file, 0700 for a directory it creates. The file is written beside and renamed into
 * place, so a crash never leaves half a config, and it is never briefly world-readable.
 */
export function writeConfigFile(path: string, values: RawConfigValues): void {
  const issues: FieldIssue[] = [];
  for (const key of CONFIG_KEYS) {
    const value = values[key];
    if (value === undefined) continue;
    const result = CONFIG_FIELD_SCHEMAS[key].safeParse(value);
    if (!result.success) issues.push({ path: key, message: result.error.issues[0]?.message ?? "is invalid" });
  }
  if (issues.length > 0) throw validationError("config values", issues, { source: path });

  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const doc = Object.fromEntries(
    CONFIG_KEYS.filter((k) => values[k] !== undefined).map((k) => [camelToSnake(k), values[k]]),
  );
  const text = `# Flow SDK configuration. It holds your API key: keep it private.\n${stringify(doc)}`;
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600); // the mode above is masked by the umask; this is not
  renameSync(temp, path);
}
