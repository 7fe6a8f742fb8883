/**
 * The three ways to say what a task is — a TaskConfig (object), a YAML file, a command — plus
 * overrides (CLI flags, `flow.run(x, overrides)`), turned into one validated TaskConfig.
 *
 * Overrides are merged before validation, so `flow run job.yaml --instance-type a100` works for
 * a file that leaves the instance type out, and a file's own spelling of an overridden field
 * (`instance_type`, or `shell` for `command`) gives way instead of clashing. `env` overrides add
 * variables to the file's rather than replacing them all.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { ValidationError } from "../errors.ts";
import { camelToSnake } from "../validation.ts";
import { parseTaskConfig, taskConfigFromYaml, type TaskConfig, type TaskConfigInput } from "./task-config.ts";

export type TaskSource = TaskConfigInput | TaskConfig | string;
export type TaskOverrides = Partial<TaskConfigInput>;

/** Other keys that set the same field as an override. */
const ALSO_SETS: Readonly<Record<string, readonly string[]>> = {
  command: ["shell", "script"],
  uploadTimeoutMs: ["upload_timeout"],
};

/** One word ending in .yaml or .yml: a task file, not a command. */
export function isYamlPath(source: string): boolean {
  return /^\S+\.ya?ml$/i.test(source.trim());
}

export function resolveTaskConfig(source: TaskSource, overrides: TaskOverrides = {}, options: { cwd?: string } = {}): TaskConfig {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  if (typeof source !== "string") return parseTaskConfig(merge(source as Record<string, unknown>, given));
  if (!isYamlPath(source)) return parseTaskConfig({ command: source, ...given });

  const file = path.resolve(options.cwd ?? process.cwd(), source.trim());
  if (!existsSync(file)) {
    throw new ValidationError(`Task file ${source} does not exist.`, {
      suggestions: ["Check the path; to run a command that ends in .yaml, pass it as a list (`command: [...]`)."],
      errorCode: "task_file_missing",
    });
  }
  const text = readFileSync(file, "utf8");
  const doc = parseDocument(text);
  const raw: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
  // Malformed YAML, or not a mapping: taskConfigFromYaml reports it as it does for any file.
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return taskConfigFromYaml(text, source);
  return parseTaskConfig(merge(raw as Record<string, unknown>, given), { source });
}

/** Overrides replace the base's fields, except `env`, whose variables are added to the base's. */
function merge(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const merged = { ...base };
  const baseEnv = base["env"];
  for (const key of Object.keys(overrides)) {
    for (const spelling of [key, camelToSnake(key), ...(ALSO_SETS[key] ?? [])]) delete merged[spelling];
  }
  const env = overrides["env"];
  const addEnv = isRecord(baseEnv) && isRecord(env) ? { env: { ...baseEnv, ...env } } : {};
  return { ...merged, ...overrides, ...addEnv };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
