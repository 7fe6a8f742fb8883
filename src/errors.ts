/**
 * Every error the SDK throws on purpose. Flat classes, one per failure a user can act on.
 *
 * The hierarchy follows the Python Flow SDK (FlowError with message, suggestions and errorCode),
 * plus the errors of remote function calls. Messages never contain secret values.
 *
 * Each class has a literal `name` (not the class's own, which a minifier may change) and an
 * `instanceof` that also recognises instances made by another copy of the SDK in the same process:
 * a CommonJS module may load flow-sdk's CommonJS build while the CLI runs the ESM one (see
 * `errorClass` below; the idea is Temporal's SymbolBasedInstanceOfError).
 */

export interface FlowErrorOptions {
  suggestions?: string[];
  errorCode?: string;
  cause?: unknown;
}

export class FlowError extends Error {
  readonly suggestions: string[];
  readonly errorCode: string | undefined;

  constructor(message: string, options: FlowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.suggestions = options.suggestions ?? [];
    this.errorCode = options.errorCode;
  }

  /** The message followed by the suggestions, as the CLI prints it. */
  describe(): string {
    if (this.suggestions.length === 0) return this.message;
    return `${this.message}\n${this.suggestions.map((s) => `  - ${s}`).join("\n")}`;
  }
}

export class AuthenticationError extends FlowError {}

export class ResourceNotFoundError extends FlowError {}

export class TaskNotFoundError extends ResourceNotFoundError {}

/** One field that failed validation: where it is, what is wrong, and how to fix it. */
export interface FieldIssue {
  path: string;
  message: string;
  suggestion?: string;
}

export class ValidationError extends FlowError {
  readonly issues: FieldIssue[];

  constructor(message: string, options: FlowErrorOptions & { issues?: FieldIssue[] } = {}) {
    super(message, options);
    this.issues = options.issues ?? [];
  }
}

export interface APIErrorOptions extends FlowErrorOptions {
  statusCode: number;
  responseBody?: string;
  requestId?: string;
}

export class APIError extends FlowError {
  readonly statusCode: number;
  readonly responseBody: string | undefined;
  readonly requestId: string | undefined;

  constructor(message: string, options: APIErrorOptions) {
    super(message, options);
    this.statusCode = options.statusCode;
    this.responseBody = options.responseBody;
    this.requestId = options.requestId;
  }
}

/** A 422 from the API: `validationErrors` holds the spec's `{loc, msg, type}` entries. */
export class ValidationAPIError extends APIError {
  readonly validationErrors: { loc: (string | number)[]; msg: string; type: string }[];

  constructor(
    message: string,
    options: APIErrorOptions & { validationErrors: { loc: (string | number)[]; msg: string; type: string }[] },
  ) {
    super(message, options);
    this.validationErrors = options.validationErrors;
  }
}

export class NetworkError extends FlowError {}

/** Something the SDK waited for did not happen in time (an API answer, an SSH login, a task). */
export class FlowTimeoutError extends FlowError {}

export class ProviderError extends FlowError {}

// ---- remote function calls -------------------------------------------------------------------

/** The module that defines the functions could not be bundled (esbuild's message, file:line). */
export class BuildError extends FlowError {}

/** A value cannot cross the wire; `path` names where it sits, e.g. `args[0].model.forward`. */
export class SerializationError extends FlowError {
  readonly path: string;

  constructor(message: string, options: FlowErrorOptions & { path: string }) {
    super(message, options);
    this.path = options.path;
  }
}

/** A call's arguments or result exceed the payload limit (`maxPayloadBytes`). */
export class PayloadTooLargeError extends FlowError {}

/**
 * The remote function threw something we cannot rebuild as its own class (a user-defined error
 * class). `remoteName` is the class name it had on the agent.
 */
export class RemoteError extends Error {
  readonly remoteName: string;

  constructor(remoteName: string, message: string) {
    super(message);
    this.name = remoteName;
    this.remoteName = remoteName;
  }
}

/** The call ran longer than its `timeoutMs`; the remote work was cancelled. */
export class FunctionTimeoutError extends FlowError {}

/** The call was cancelled by the caller (`cancel()`, an AbortSignal, or Ctrl-C). */
export class CancelledError extends FlowError {}

/**
 * The agent, or the process that ran the call on it, went away for a reason outside the call's own
 * code: the connection dropped, the machine was lost, another call's code ended the process, or
 * something outside flow killed it. Retried by default (`retryOn: ["infrastructure"]`).
 */
export class AgentLostError extends FlowError {
  /**
   * The signal that killed the call's process from outside flow (e.g. "SIGKILL", which is what the
   * kernel's out-of-memory killer sends). A call lost to the same signal twice in a row is not
   * retried again: the same input failing the same way twice is its own doing.
   */
  readonly signal: string | undefined;

  constructor(message: string, options: FlowErrorOptions & { signal?: string | undefined } = {}) {
    super(message, options);
    this.signal = options.signal;
  }
}

/** How the call's own code ended or poisoned the process running it (see FunctionCrashedError). */
export type CrashKind = "exit" | "signal" | "out-of-memory" | "uncaught-exception" | "unhandled-rejection";

/**
 * The call's code brought down the process it ran in, or left an error nothing awaited: it called
 * process.exit(), ran out of memory, died of a fatal signal (SIGSEGV, SIGABRT, …), threw an
 * uncaught exception or left a promise rejection unhandled. `cause` is that exception or rejection.
 * Not retried unless `retryOn` includes "crash": running the same input again fails the same way.
 */
export class FunctionCrashedError extends FlowError {
  readonly crash: CrashKind;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** The last lines the process wrote to stderr before it ended ("" if none). */
  readonly stderrTail: string;

  constructor(
    message: string,
    options: FlowErrorOptions & { crash: CrashKind; exitCode?: number | undefined; signal?: string | undefined; stderrTail?: string | undefined },
  ) {
    super(message, options);
    this.crash = options.crash;
    this.exitCode = options.exitCode;
    this.signal = options.signal;
    this.stderrTail = options.stderrTail ?? "";
  }
}

// ---- cloud API -------------------------------------------------------------------------------

/** A 409 from the API: the request clashes with the resource's current state (e.g. a name in use). */
export class ConflictError extends APIError {}

/** The API kept answering 429 (too many requests) after every retry. */
export class RateLimitError extends APIError {}

// ---- names and instanceof ----------------------------------------------------------------------

/**
 * Marks `cls` with its literal name: on the prototype as `name`, and as a `Symbol.for` brand that
 * every copy of the SDK derives the same way. `x instanceof cls` then asks for the brand, which an
 * instance inherits from each class it extends, so a TaskNotFoundError of one copy is a
 * ResourceNotFoundError and a FlowError for the other copy too.
 */
export function errorClass(cls: abstract new (...args: never[]) => Error, name: string): void {
  const brand = Symbol.for(`flow-sdk.error.${name}`);
  Object.defineProperty(cls.prototype, "name", { value: name, writable: true, configurable: true });
  Object.defineProperty(cls.prototype, brand, { value: true });
  Object.defineProperty(cls, Symbol.hasInstance, {
    value: (instance: unknown) => typeof instance === "object" && instance !== null && (instance as Record<symbol, unknown>)[brand] === true,
  });
}

errorClass(FlowError, "FlowError");
errorClass(AuthenticationError, "AuthenticationError");
errorClass(ResourceNotFoundError, "ResourceNotFoundError");
errorClass(TaskNotFoundError, "TaskNotFoundError");
errorClass(ValidationError, "ValidationError");
errorClass(APIError, "APIError");
errorClass(ValidationAPIError, "ValidationAPIError");
errorClass(NetworkError, "NetworkError");
errorClass(FlowTimeoutError, "FlowTimeoutError");
errorClass(ProviderError, "ProviderError");
errorClass(BuildError, "BuildError");
errorClass(SerializationError, "SerializationError");
errorClass(PayloadTooLargeError, "PayloadTooLargeError");
errorClass(RemoteError, "RemoteError");
errorClass(FunctionTimeoutError, "FunctionTimeoutError");
errorClass(CancelledError, "CancelledError");
errorClass(AgentLostError, "AgentLostError");
errorClass(FunctionCrashedError, "FunctionCrashedError");
errorClass(ConflictError, "ConflictError");
errorClass(RateLimitError, "RateLimitError");
