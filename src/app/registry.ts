/**
 * The process-wide record of remote functions, shared through a global symbol.
 *
 * The user's module may load a different copy of flow-sdk than the CLI or the agent does (the
 * agent runs a bundle with its own copy inside). A registry keyed by `Symbol.for` lets every copy
 * see the same functions, the same mode and the same host, so "which copy defined this" never
 * matters. Its shape is versioned: change it only together with REGISTRY_KEY.
 */
import type { DetachedCall } from "../calls/detached-call.ts";
import { FlowError } from "../errors.ts";
import type { FunctionOptions } from "./options.ts";

const REGISTRY_KEY = Symbol.for("flow-sdk.registry.v2");

export type FunctionKind = "function" | "static-method" | "method" | "export";

export interface FunctionRecord {
  /** Unique, stable id: the function's name, or `Class.method`. Undefined until it can be named. */
  id: string | undefined;
  /** Definition order within the process. */
  index: number;
  /**
   * Where it was defined, as `<file>#<n>`: the n-th function defined (or method decorated) in that
   * module. The client and the agent evaluate each module the same way, so a site names the same
   * function on both, even one the client could not name from an export (see run.ts #idOf).
   */
  site: string | undefined;
  kind: FunctionKind;
  app: string;
  options: FunctionOptions;
  /** Where it was defined (`file:line`), for error messages about duplicates. */
  definedAt: string;
  /** The user's function; for methods, the unbound method. */
  implementation: (...args: never[]) => unknown;
  /** For methods: the class that owns it. */
  owner?: abstract new (...args: never[]) => unknown;
  /** An async generator function: `.remote()` streams what it yields. */
  streaming: boolean;
}

/** Options that replace the function's own for some calls: `fn.with()`, `app.cls(C, options)`. */
export interface CallOverrides extends Partial<FunctionOptions> {
  /** Constructor arguments choosing the warm instance, for methods. */
  init?: unknown[];
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Called when the agent starts running the call. */
  onStarted?: (() => void) | undefined;
  /** The user's stack where they made the call, appended to remote error stacks. */
  callerStack?: (() => string | undefined) | undefined;
  overrides?: CallOverrides | undefined;
  /** May go out with other calls of this turn in one message (map; see SessionCallOptions.batch). */
  batch?: boolean | undefined;
}

/** What `.remote()` and `.spawn()` talk to: installed by `flow run` or `app.run()`. */
export interface Host {
  call(record: FunctionRecord, args: unknown[], options: CallOptions): Promise<unknown>;
  /** For async generator functions: the remote items, with backpressure. */
  stream(record: FunctionRecord, args: unknown[], options: CallOptions): AsyncGenerator<unknown, void, undefined>;
  /** A detached call: started on an agent of its own that outlives this process. */
  spawnDetached(record: FunctionRecord, args: unknown[], options: CallOptions): Promise<DetachedCall>;
}

/** A method decorated with TC39 decorators whose class is not known yet (see app.cls). */
export interface PendingMethod {
  app: string;
  name: string;
  isStatic: boolean;
  options: FunctionOptions;
  definedAt: string;
  site: string | undefined;
}

/** What the CLI needs to know about each App created in this process. */
export interface AppRecord {
  name: string;
  definedAt: string;
  /** The file that created the App: the module to bundle when nobody says which. */
  file: string | undefined;
  /** Each gets the command line after the file (`flow run file.ts --epochs 3`). */
  entrypoints: ((argv: string[]) => unknown)[];
}

export interface Registry {
  /** "remote" inside the agent: local entrypoints and app.run() callbacks do not run there. */
  mode: "local" | "remote";
  functions: FunctionRecord[];
  apps: AppRecord[];
  /** Files that define remote functions, in the order they first did: what the agent must load. */
  modules: string[];
  /** Files that call app.run() or app.localEntrypoint(): the agent loads them last (see bundler). */
  entrypointModules: Set<string>;
  /** How many functions each file has defined so far (the `n` of a site). */
  siteCounts: Map<string, number>;
  host: Host | undefined;
  /**
   * Inside the agent: told when the module being loaded reaches app.run() or
   * app.localEntrypoint(), where the agent's part of it ends (see entrypointReached()).
   */
  onEntrypoint: (() => void) | undefined;
  pendingMethods: WeakMap<object, PendingMethod>;
  /** Methods marked @enter() or @exit(). */
  lifecycle: WeakMap<object, "enter" | "exit">;
}

export function registry(): Registry {
  const g = globalThis as { [REGISTRY_KEY]?: Registry };
  g[REGISTRY_KEY] ??= {
    mode: "local",
    functions: [],
    apps: [],
    modules: [],
    entrypointModules: new Set(),
    siteCounts: new Map(),
    host: undefined,
    onEntrypoint: undefined,
    pendingMethods: new WeakMap(),
    lifecycle: new WeakMap(),
  };
  return g[REGISTRY_KEY];
}

const STOP_LOADING = Symbol.for("flow-sdk.stop-loading.v1");

/**
 * Inside the agent, app.run() and app.localEntrypoint() mark where a module's own work begins:
 * what follows is the client's program (a file write, `process.exit(0)`, printing results), not
 * something the agent should repeat. The agent is told it has seen what it needs; app.run() then
 * never settles, so `await app.run(...)` holds the rest of the module, and localEntrypoint(), which
 * cannot wait, throws this marker, which the agent recognises and ignores.
 */
export function entrypointReached(kind: "run" | "localEntrypoint"): Promise<never> {
  registry().onEntrypoint?.();
  if (kind === "run") return new Promise<never>(() => {});
  throw Object.assign(new Error("flow-sdk: the agent loads a module only up to its app.localEntrypoint()"), { [STOP_LOADING]: true });
}

export function isStopLoading(error: unknown): boolean {
  return typeof error === "object" && error !== null && STOP_LOADING in error;
}

export function findFunction(id: string): FunctionRecord | undefined {
  return registry().functions.find((record) => record.id === id);
}

/** Give a record its id, refusing a second function with the same one (naming both places). */
export function assignId(record: FunctionRecord, id: string): void {
  const existing = findFunction(id);
  if (existing && existing !== record) {
    throw new FlowError(
      `Two remote functions are named '${id}': one defined at ${existing.definedAt}, another at ${record.definedAt}.`,
      { suggestions: ["Give one of them a different name (option `name`)."] },
    );
  }
  record.id = id;
}

/**
 * The site of the next function defined in `file` (undefined when the file is unknown), and the
 * file noted as one the agent must load.
 */
export function nextSite(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  const reg = registry();
  const count = reg.siteCounts.get(file) ?? 0;
  if (count === 0) reg.modules.push(file);
  reg.siteCounts.set(file, count + 1);
  return `${file}#${count}`;
}

export function addFunction(record: Omit<FunctionRecord, "index" | "id" | "streaming">, id: string | undefined): FunctionRecord {
  const functions = registry().functions;
  const streaming = Object.prototype.toString.call(record.implementation) === "[object AsyncGeneratorFunction]";
  const full: FunctionRecord = { ...record, id: undefined, index: functions.length, streaming };
  if (id !== undefined) assignId(full, id);
  functions.push(full);
  return full;
}

/**
 * The user's file and line that called into the SDK: the first stack frame outside the SDK's own
 * files (matched by `sdkFile`, the caller's import.meta.url).
 */
export function callerFrame(sdkFile: string): { file: string | undefined; line: number | undefined } {
  const sdkDir = sdkFile.replace(/\/[^/]*$/, "/");
  for (const line of (new Error().stack ?? "").split("\n").slice(1)) {
    const match = /\(?((?:file:\/\/)?\/[^():]+):(\d+):\d+\)?$/.exec(line.trim());
    if (!match) continue;
    const url = match[1]!.startsWith("file://") ? match[1]! : `file://${match[1]}`;
    if (url.startsWith(sdkDir) || url.includes("/node_modules/")) continue;
    return { file: decodeURIComponent(url.slice("file://".length)), line: Number(match[2]) };
  }
  return { file: undefined, line: undefined };
}

export function formatFrame(frame: { file: string | undefined; line: number | undefined }): string {
  return frame.file ? `${frame.file}:${frame.line}` : "<unknown location>";
}
