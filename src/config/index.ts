export {
  CONFIG_FIELD_SCHEMAS,
  CONFIG_KEYS,
  DEFAULT_API_URL,
  DEFAULT_PROVIDER,
  DEFAULT_REGION,
  FlowConfigSchema,
  PROVIDER_NAMES,
  type CloudConfig,
  type ConfigKey,
  type FlowConfig,
  type ProviderName,
} from "./flow-config.ts";
export {
  findLocalConfigFile,
  globalConfigPath,
  readConfigFile,
  writeConfigFile,
  type RawConfigValues,
} from "./config-file.ts";
export {
  CONFIG_ENV_VARS,
  DEFAULT_SOURCE,
  EXPLICIT_SOURCE,
  UNSET_SOURCE,
  loadConfig,
  loadSetting,
  requireCloudConfig,
  type LoadConfigOptions,
  type LoadedConfig,
} from "./load-config.ts";
export { redact } from "./redact.ts";
