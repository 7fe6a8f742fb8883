/**
 * What a bundle's `import { … } from "flow-sdk"` gets on the agent (see src/bundler/sdk-alias.ts):
 * the part of the SDK that code defining remote functions uses — App and its decorators, the call
 * context, the codec's registrations, the errors — from this agent's own copy, so the code that
 * registers functions is the code that dispatches them. The client side of the SDK (Flow, Task,
 * providers, invoke) is not loaded here: it would carry the cloud provider, YAML and the rest
 * into every agent. A module may still import those names; using one on the agent says why not.
 */
import { App, isRemote } from "../src/app/app.ts";
import { currentCall } from "../src/app/call-context.ts";
import { FunctionCall } from "../src/app/function-call.ts";
import { enter, exit } from "../src/app/lifecycle.ts";
import { RemoteFunction } from "../src/app/remote-function.ts";
import { SDK_EXPORTS, type SdkExport } from "../src/app/sdk-exports.ts";
import * as errors from "../src/errors.ts";
import { InstanceTypeError } from "../src/instance-types/parse-instance-type.ts";
import { registerClass, registerCustom, registerSymbol } from "../src/runtime/codec-registrations.ts";
import { TASK_STATUSES, TERMINAL_STATUSES, TaskStatus, isTerminalStatus } from "../src/task/task-status.ts";

const onTheAgent: Partial<Record<SdkExport, unknown>> = {
  ...errors,
  App,
  isRemote,
  currentCall,
  FunctionCall,
  enter,
  exit,
  RemoteFunction,
  registerClass,
  registerCustom,
  registerSymbol,
  InstanceTypeError,
  TASK_STATUSES,
  TERMINAL_STATUSES,
  TaskStatus,
  isTerminalStatus,
};

/** Every public name: what the agent has, and for the rest a stand-in that explains itself when used. */
export const agentSdk: Record<string, unknown> = Object.fromEntries(
  SDK_EXPORTS.map((name) => [name, Object.hasOwn(onTheAgent, name) ? onTheAgent[name] : notOnTheAgent(name)]),
);

function notOnTheAgent(name: string): () => never {
  // A plain function, so that `new Flow()` fails with this message too, rather than a TypeError.
  return function refuse(): never {
    throw new errors.FlowError(`${name} is not available inside a remote function: the agent carries only the part of flow-sdk that runs functions.`, {
      suggestions: [`Use ${name} in your own process (in app.localEntrypoint, or around app.run), and pass what the function needs as arguments.`],
    });
  };
}
