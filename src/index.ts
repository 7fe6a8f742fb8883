/**
 * flow-sdk: mark a TypeScript function for GPU execution and call it as if it were local.
 */
export { App, type MethodDecorator } from "./app/app.ts";
export { currentCall, type CallContext } from "./app/call-context.ts";
export type { ClsHandle, ClsOptions } from "./app/cls.ts";
export { FunctionCall, type CallStatus } from "./app/function-call.ts";
export { invoke, type InvokeOptions } from "./app/invoke.ts";
export { enter, exit, type LifecycleDecorator } from "./app/lifecycle.ts";
export type { MapOptions } from "./app/map.ts";
export type { AppDefaults, FunctionOptions } from "./app/options.ts";
export { RemoteFunction, type RemoteResult, type WithOptions } from "./app/remote-function.ts";
export type { RunOptions } from "./app/run.ts";
export { registerClass } from "./runtime/codec.ts";
export type { AgentEndpoint, AgentSpec, Provider } from "./providers/provider.ts";
export { LocalProvider, type LocalProviderOptions } from "./providers/local/local-provider.ts";
export * from "./errors.ts";
