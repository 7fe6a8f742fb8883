/**
 * flow-sdk: mark a TypeScript function for GPU execution and call it as if it were local.
 */
// What users of flow-sdk use, listed by name: anything else in src/ is internal and may change.
// The agent hands this module to the bundles it runs, so a user's `import { … } from "flow-sdk"`
// can name exactly these.

// Remote functions.
export { App, isRemote, type MethodDecorator } from "./app/app.ts";
export { currentCall, type CallContext } from "./app/call-context.ts";
export type { ClsHandle, ClsOptions } from "./app/cls.ts";
export { FunctionCall, type CallStatus } from "./app/function-call.ts";
export type { DetachedCall } from "./calls/detached-call.ts";
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

// Where agents and tasks run: a provider of your own, or a configured built-in one.
export type { AgentEndpoint, AgentSpec, Provider } from "./providers/provider.ts";
export { LocalProvider, type LocalProviderOptions } from "./providers/local/local-provider.ts";
export type {
  FollowLogsOptions,
  LogStream,
  ReadLogsOptions,
  ShellOptions,
  SubmitRequest,
  TaskProvider,
} from "./providers/task-provider.ts";
export { LocalTaskRunner, type LocalTaskRunnerOptions } from "./providers/local/task-runner.ts";

// Errors.
export {
  APIError,
  AgentLostError,
  AuthenticationError,
  BuildError,
  CancelledError,
  ConflictError,
  FlowError,
  FunctionCrashedError,
  FunctionTimeoutError,
  NetworkError,
  PayloadTooLargeError,
  ProviderError,
  RateLimitError,
  RemoteError,
  ResourceNotFoundError,
  SerializationError,
  TaskNotFoundError,
  FlowTimeoutError,
  ValidationAPIError,
  ValidationError,
  type APIErrorOptions,
  type CrashKind,
  type FieldIssue,
  type FlowErrorOptions,
} from "./errors.ts";
export { InstanceTypeError } from "./instance-types/parse-instance-type.ts";

// Tasks: commands on GPUs.
export { Flow, DEFAULT_DATA_TARGET, type Dev, type DevConnection, type FlowOptions, type ListTasksOptions, type SubmitOptions, type Volumes } from "./client/flow.ts";
export { Task, DEFAULT_LOG_TAIL_LINES, type LogsOptions } from "./client/task.ts";
export type { TaskHandle, WaitOptions } from "./task/task-handle.ts";
export type { TaskInfo } from "./task/task-info.ts";
export { TaskStatus, TASK_STATUSES, TERMINAL_STATUSES, isTerminalStatus } from "./task/task-status.ts";
export type { Instance, InstanceStatus } from "./task/instance.ts";
export type { CreateVolumeOptions, StorageInterface, Volume } from "./task/volume.ts";
export type { User } from "./task/user.ts";

// The cloud account: reservations, prices, quotas, SSH keys, dev machines.
export {
  DEFAULT_DEV_IDLE_MINUTES,
  RESERVATION_STATUSES,
  type AccountProject,
  type AccountUser,
  type CloudAccount,
  type CreateReservationOptions,
  type CurrentPrice,
  type DevMachine,
  type DevMachineOptions,
  type DevMachines,
  type DevSession,
  type ExtendReservationOptions,
  type PriceHistory,
  type PriceQuery,
  type Pricing,
  type Quota,
  type Reservation,
  type ReservationEvent,
  type ReservationOffer,
  type ReservationQuote,
  type Reservations,
  type ReservationStatus,
  type ReservationUsage,
  type ReservationWindow,
  type SshKey,
  type SshKeys,
} from "./providers/cloud-account.ts";
export {
  DEFAULT_COMMAND,
  DEFAULT_IMAGE,
  DEFAULT_TASK_NAME,
  DEFAULT_WORKING_DIR,
  parseTaskConfig,
  taskConfigFromYaml,
  taskConfigToYaml,
  type TaskConfig,
  type TaskConfigInput,
} from "./task/task-config.ts";
export type { TaskOverrides, TaskSource } from "./task/task-source.ts";
export { DEFAULT_VOLUME_SIZE_GB, type VolumeSpec } from "./task/volume-spec.ts";
export type { MountSpec, MountType } from "./task/mount-spec.ts";
export type { Retries } from "./task/retries.ts";
export type { CodePackage } from "./task/code-package.ts";
export type { FlowConfig, ProviderName } from "./config/flow-config.ts";
export { InstanceCatalog, type CatalogEntry, type CatalogSearch } from "./instance-types/catalog.ts";
export type { FidInstanceTypeSpec, GpuInstanceTypeSpec, InstanceTypeSpec, Interconnect } from "./instance-types/parse-instance-type.ts";

// Publish this copy's exports, so `require("flow-sdk")` from CommonJS code in the same process
// returns them instead of loading a second copy (see require-entry.cts, which derives the same
// key from this file's URL). The CommonJS build publishes under its own URL, which nobody reads.
import * as loadedCopy from "./index.ts";
const LOADED_COPY_KEY = Symbol.for(`flow-sdk.loaded-copy ${import.meta.url}`);
(globalThis as Record<symbol, unknown>)[LOADED_COPY_KEY] ??= loadedCopy;
