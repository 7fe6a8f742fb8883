/**
 * Loading FlowConfig from its layers, highest precedence first: explicit options (CLI flags),
 * FLOW_* env variables, the project's `.flow/config.yaml` (nearest to cwd), `~/.flow/config.yaml`,
 * defaults. The provider is chosen the same way (`--provider`, FLOW_PROVIDER, `provider:`).
 *
 * Each value remembers where it came from, so later errors can say "API key from FLOW_API_KEY was
 * rejected" rather than leave the user to guess which of four places to fix.
 */
import { homedir } from "node:os";
import { AuthenticationError, type FieldIssue } from "../errors.ts";
import { validationError } from "../validation.ts";
import { findLocalConfigFile, globalConfigPath, readConfigFile, type RawConfigValues } from "./config-file.ts";
import {
  CONFIG_FIELD_SCHEMAS,
  CONFIG_KEYS,
  DEFAULT_API_URL,
  DEFAULT_PROVIDER,
  DEFAULT_REGION,
  type CloudConfig,
  type ConfigKey,
  type FlowConfig,
  type ProviderName,
} from "./flow-config.ts";

export const CONFIG_ENV_VARS: Readonly<Record<ConfigKey, string>> = {
  apiKey: "FLOW_API_KEY",
  project: "FLOW_PROJECT",
  region: "FLOW_REGION",
  apiUrl: "FLOW_API_URL",
  sshKey: "FLOW_SSH_KEY",
  provider: "FLOW_PROVIDER",
};

/** Settings that have a built-in default rather than being unset. */
const DEFAULTED: ReadonlySet<ConfigKey> = new Set(["region", "apiUrl", "provider"]);

/** Source of a value that was passed in code (e.g. from a CLI flag). */
export const EXPLICIT_SOURCE = "explicit";
export const DEFAULT_SOURCE = "default";
export const UNSET_SOURCE = "unset";

export interface LoadConfigOptions {
  explicit?: Partial<FlowConfig>;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where the project's `.flow/config.yaml` is searched from; defaults to process.cwd(). */
  cwd?: string;
  /** Defaults to os.homedir(). */
  homeDir?: string;
}

export interface LoadedConfig {
  config: FlowConfig;
  /** Per setting: "explicit", an env var name, a config file's path, "default" or "unset". */
  sources: Record<ConfigKey, string>;
}

interface Layer {
  /** An undefined value is unset, as in `explicit` options spelled out by a caller. */
  values: { readonly [K in ConfigKey]?: string | undefined };
  sourceOf(key: ConfigKey): string;
}

/** Throws a ValidationError naming the file or variable when a value is malformed. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const layers = layersOf(options);
  const config: Partial<Record<ConfigKey, string>> = {};
  const sources = {} as Record<ConfigKey, string>;
  const issues: FieldIssue[] = [];
  for (const key of CONFIG_KEYS) {
    const setting = resolveSetting(layers, key);
    sources[key] = setting.source;
    if ("issue" in setting) issues.push(setting.issue);
    else if (setting.value !== undefined) config[key] = setting.value;
  }
  if (issues.length > 0) throw validationError("Flow configuration", issues);

  return {
    config: {
      ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
      ...(config.project === undefined ? {} : { project: config.project }),
      region: config.region ?? DEFAULT_REGION,
      apiUrl: config.apiUrl ?? DEFAULT_API_URL,
      ...(config.sshKey === undefined ? {} : { sshKey: config.sshKey }),
      provider: (config.provider as ProviderName | undefined) ?? DEFAULT_PROVIDER,
    },
    sources,
  };
}

/**
 * One setting through the same layers as loadConfig, checking only that setting: choosing the
 * provider must not fail on a malformed `api_url` that only the cloud would use. (A config file
 * that is not valid YAML still fails: it is read whole.) `value` is undefined when unset.
 */
export function loadSetting(key: ConfigKey, options: LoadConfigOptions = {}): { value: string | undefined; source: string } {
  const setting = resolveSetting(layersOf(options), key);
  if ("issue" in setting) throw validationError("Flow configuration", [setting.issue]);
  return setting;
}

function layersOf(options: LoadConfigOptions): Layer[] {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const homeDir = options.homeDir ?? homedir();
  const files = [findLocalConfigFile(cwd, homeDir), globalConfigPath(homeDir)].filter((f) => f !== undefined);
  return [
    { values: options.explicit ?? {}, sourceOf: () => EXPLICIT_SOURCE },
    { values: fromEnv(env), sourceOf: (key) => CONFIG_ENV_VARS[key] },
    ...files.map((file) => ({ values: readConfigFile(file), sourceOf: () => file })),
  ];
}

/** The highest layer's value for `key`, checked, and where it came from. */
function resolveSetting(layers: readonly Layer[], key: ConfigKey): { value: string | undefined; source: string } | { source: string; issue: FieldIssue } {
  const layer = layers.find((l) => l.values[key] !== undefined && l.values[key] !== "");
  const raw = layer?.values[key];
  if (layer === undefined || raw === undefined) return { value: undefined, source: DEFAULTED.has(key) ? DEFAULT_SOURCE : UNSET_SOURCE };
  const source = layer.sourceOf(key);
  const result = CONFIG_FIELD_SCHEMAS[key].safeParse(raw);
  if (result.success) return { value: result.data, source };
  return { source, issue: invalidValueIssue(key, raw, source, result.error.issues[0]?.message ?? "is invalid") };
}

function fromEnv(env: NodeJS.ProcessEnv): RawConfigValues {
  const values: RawConfigValues = {};
  for (const key of CONFIG_KEYS) {
    const value = env[CONFIG_ENV_VARS[key]];
    // An empty variable (`FLOW_REGION=`) is how shells unset things; treat it as absent.
    if (value !== undefined && value !== "") values[key] = value;
  }
  return values;
}

function invalidValueIssue(key: ConfigKey, raw: string, source: string, reason: string): FieldIssue {
  // The API key is never echoed, not even when it is malformed.
  const shown = key === "apiKey" ? "the value" : JSON.stringify(raw);
  return { path: key, message: `${shown} from ${source} ${reason}` };
}

/**
 * The config with its credentials, for cloud providers. A missing API key throws
 * AuthenticationError, a missing project ValidationError; both say how to set what is missing.
 */
export function requireCloudConfig(loaded: LoadedConfig): CloudConfig {
  const { apiKey, project } = loaded.config;
  if (apiKey !== undefined && project !== undefined) return { ...loaded.config, apiKey, project };

  const missing: FieldIssue[] = [];
  if (apiKey === undefined) {
    missing.push({
      path: "apiKey",
      message: "no API key is configured",
      suggestion: "set FLOW_API_KEY, or `api_key:` in ~/.flow/config.yaml",
    });
  }
  if (project === undefined) {
    missing.push({
      path: "project",
      message: "no project is configured",
      suggestion: "set FLOW_PROJECT, or `project:` in ~/.flow/config.yaml",
    });
  }
  const suggestions = ["run `flow init` to store your API key and project in ~/.flow/config.yaml"];
  const error = validationError("Flow configuration for the cloud", missing, { suggestions, errorCode: "config_missing" });
  if (apiKey !== undefined) throw error;
  throw new AuthenticationError(error.message, { suggestions, errorCode: "api_key_missing" });
}
