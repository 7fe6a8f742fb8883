/**
 * flow-sdk: mark a TypeScript function for GPU execution and call it as if it were local.
 */
export { App, isRemote, type MethodDecorator } from "./app/app.ts";
export { currentCall, type CallContext } from "./app/call-context.ts";
export type { ClsHandle, ClsOptions } from "./app/cls.ts";
export { FunctionCall, type CallStatus } from "./app/function-call.ts";
export { invoke, type InvokeOptions } from "./app/invoke.ts";
export { enter, exit, type LifecycleDecorator } from "./app/lifecycle.ts";
export type { MapOptions } from "./app/map.ts";
export type { AppDefaults, FunctionOptions } from "./app/options.ts";
export { RemoteFunction, type RemoteResult, type WithOptions } from "./app/remote-function.ts";
export type { RunOptions } from "./app/run.ts";
export {
  registerClass,
  registerCustom,
  registerSymbol,
  type ClassOptions,
  type CustomTransformer,
  type JsonValue,
} from "./runtime/codec-registrations.ts";
export type { AgentEndpoint, AgentSpec, Provider } from "./providers/provider.ts";
export { LocalProvider, type LocalProviderOptions } from "./providers/local/local-provider.ts";
export * from "./errors.ts";
export { Flow, DEFAULT_DATA_TARGET, type FlowOptions, type ListTasksOptions, type SubmitOptions, type Volumes } from "./client/flow.ts";
export { Task, DEFAULT_LOG_TAIL_LINES, type LogsOptions } from "./client/task.ts";
export type { TaskHandle, WaitOptions } from "./task/task-handle.ts";
export type { TaskInfo } from "./task/task-info.ts";
export { TaskStatus, TaskStatusSchema, TASK_STATUSES, TERMINAL_STATUSES, isTerminalStatus } from "./task/task-status.ts";
export type { Instance, InstanceStatus } from "./task/instance.ts";
export type { CreateVolumeOptions, StorageInterface, Volume } from "./task/volume.ts";
export type { User } from "./task/user.ts";
export {
  DEFAULT_COMMAND,
  DEFAULT_IMAGE,
  DEFAULT_TASK_NAME,
  DEFAULT_WORKING_DIR,
  TaskConfigSchema,
  commandKind,
  parseTaskConfig,
  taskConfigFromYaml,
  taskConfigToYaml,
  type CommandKind,
  type TaskConfig,
  type TaskConfigInput,
} from "./task/task-config.ts";
export { isYamlPath, resolveTaskConfig, type TaskOverrides, type TaskSource } from "./task/task-source.ts";
export { VolumeSpecSchema, DEFAULT_VOLUME_SIZE_GB, type VolumeSpec } from "./task/volume-spec.ts";
export { MountSpecSchema, type MountSpec, type MountType } from "./task/mount-spec.ts";
export { RetriesSchema, retryDelayMs, type Retries } from "./task/retries.ts";
export { DEFAULT_EXCLUDES, MAX_CODE_PACKAGE_BYTES, packageCode, type CodePackage, type PackageCodeOptions } from "./task/code-package.ts";
export { isSecretEnvName, redactEnv } from "./task/secret-env.ts";
export type {
  FollowLogsOptions,
  LogStream,
  ReadLogsOptions,
  ShellOptions,
  SubmitRequest,
  TaskProvider,
} from "./providers/task-provider.ts";
export { LocalTaskRunner, type LocalTaskRunnerOptions } from "./providers/local/task-runner.ts";
export * from "./instance-types/index.ts";
export * from "./config/index.ts";

// Publish this copy's exports, so `require("flow-sdk")` from CommonJS code in the same process
// returns them instead of loading a second copy (see require-entry.cts, which derives the same
// key from this file's URL). The CommonJS build publishes under its own URL, which nobody reads.
import * as loadedCopy from "./index.ts";
const LOADED_COPY_KEY = Symbol.for(`flow-sdk.loaded-copy ${import.meta.url}`);
(globalThis as Record<symbol, unknown>)[LOADED_COPY_KEY] ??= loadedCopy;
