export {
  CONFIG_FIELD_SCHEMAS,
  CONFIG_KEYS,
  DEFAULT_API_URL,
  DEFAULT_REGION,
  FlowConfigSchema,
  type CloudConfig,
  type ConfigKey,
  type FlowConfig,
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
  requireCloudConfig,
  type LoadConfigOptions,
  type LoadedConfig,
} from "./load-config.ts";
export { redact } from "./redact.ts";
