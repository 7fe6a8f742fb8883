/**
 * App: a named group of remote functions, their defaults, and the local entrypoint.
 *
 *   const app = new App("demo");
 *   export const embed = app.function({ gpu: "a100" }, async (texts: string[]) => ...);
 *   class Jobs { @app.function({ gpu: "8xh100" }) static async train(epochs: number) { ... } }
 *   app.localEntrypoint(async () => console.log(await embed.remote(["hi"])));
 */
import { FlowError, ValidationError } from "../errors.ts";
import { classHandle, registerMethod, type ClsHandle, type ClsOptions } from "./cls.ts";
import { parseAppDefaults, parseFunctionOptions, type AppDefaults, type FunctionOptions } from "./options.ts";
import { addFunction, callerFrame, entrypointReached, formatFrame, nextSite, registry, type AppRecord } from "./registry.ts";
import { RemoteFunction } from "./remote-function.ts";
import type { RunOptions } from "./run.ts";

// biome-ignore lint: the parameter types of user functions are inferred, so `any` stays internal.
type AnyFunction = (...args: any[]) => any;

/** `@app.function(options)` on a method: TC39 standard decorators and legacy experimentalDecorators. */
export interface MethodDecorator {
  <F extends AnyFunction>(value: F, context: ClassMethodDecoratorContext): void;
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
}

const APP_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

export class App {
  readonly name: string;
  readonly #defaults: AppDefaults;
  readonly #record: AppRecord;

  constructor(name: string, defaults: AppDefaults = {}) {
    if (!APP_NAME.test(name)) {
      throw new ValidationError(`App name '${name}' is invalid: use 1-63 letters, digits, '-' or '_'.`);
    }
    this.name = name;
    this.#defaults = parseAppDefaults(defaults, `App '${name}' defaults`);
    const frame = callerFrame(import.meta.url);
    this.#record = { name, definedAt: formatFrame(frame), file: frame.file, entrypoints: [] };
    registry().apps.push(this.#record);
  }

  /** Wrap a function for remote execution: `app.function({ gpu: "a100" }, async (x: number) => x * x)`. */
  function<F extends AnyFunction>(options: FunctionOptions, fn: F): RemoteFunction<Parameters<F>, ReturnType<F>>;
  /** Decorate a static or instance method: `@app.function({ gpu: "h100" })`. */
  function(options?: FunctionOptions): MethodDecorator;
  function(options: FunctionOptions = {}, fn?: AnyFunction): unknown {
    if (fn !== undefined) {
      if (typeof fn !== "function") throw new ValidationError("app.function(options, fn): fn must be a function.");
      const frame = callerFrame(import.meta.url);
      const definedAt = formatFrame(frame);
      const name = options.name ?? (fn.name || undefined);
      const merged = this.#merge(options, name ?? `function defined at ${definedAt}`);
      const record = addFunction(
        { kind: "function", app: this.name, options: merged, definedAt, site: nextSite(frame.file), implementation: fn },
        name,
      );
      return new RemoteFunction(record);
    }
    return this.#decorator(options);
  }

  /**
   * A typed handle on a class's decorated methods: `app.cls(Stats).describe.remote(xs)`.
   * Options apply to every method; `args` are constructor arguments, one warm instance per list.
   */
  cls<C extends abstract new (...args: never[]) => unknown>(cls: C, options?: ClsOptions<C>): ClsHandle<C> {
    return classHandle(cls, options);
  }

  /**
   * The code `flow run <file> [args…]` runs on this machine. It receives what follows the file on
   * the command line, e.g. `["--epochs", "3"]`; `util.parseArgs` reads it. On an agent neither it
   * nor the top-level code after this call runs: the agent loads the module only for its functions.
   */
  localEntrypoint(fn: (argv: string[]) => unknown): void {
    if (typeof fn !== "function") throw new ValidationError("app.localEntrypoint(fn): fn must be a function.");
    if (registry().mode === "remote") entrypointReached("localEntrypoint");
    noteEntrypointModule();
    this.#record.entrypoints.push(fn);
  }

  /**
   * Run `fn` with this app's functions callable remotely, then stop every agent it started.
   * On an agent, where the module is only loaded for its functions, it never settles: neither
   * `fn` nor the code after `await app.run(...)` runs there.
   */
  async run<T>(fn: () => T | Promise<T>, options: RunOptions = {}): Promise<T> {
    if (registry().mode === "remote") return entrypointReached("run");
    noteEntrypointModule();
    const { runWithHost } = await import("./run.ts");
    return runWithHost(this.#record, fn, options);
  }

  /** True inside an agent (where remote functions run), false in your own process. */
  isRemote(): boolean {
    return isRemote();
  }

  #merge(options: FunctionOptions, what: string): FunctionOptions {
    const parsed = parseFunctionOptions(options, what);
    return {
      ...this.#defaults,
      ...parsed,
      env: { ...this.#defaults.env, ...parsed.env },
      secrets: [...new Set([...(this.#defaults.secrets ?? []), ...(parsed.secrets ?? [])])],
    };
  }

  #decorator(options: FunctionOptions): MethodDecorator {
    const frame = callerFrame(import.meta.url);
    const definedAt = formatFrame(frame);
    const site = nextSite(frame.file);
    const app = this.name;
    const merge = (name: string) => this.#merge(options, name);
    return ((value: unknown, context: unknown, descriptor?: PropertyDescriptor) => {
      if (isTc39Context(context)) {
        if (context.kind !== "method") {
          throw new FlowError(`@app.function() decorates methods, not a ${context.kind} ('${String(context.name)}').`);
        }
        // The class is not final yet (nor, under esbuild's lowering, its name): the method is
        // registered when the class is seen, by app.cls() or the scan of the module's exports.
        const name = String(context.name);
        registry().pendingMethods.set(value as object, { app, name, isStatic: context.static, options: merge(`@app.function() on method ${name} (${definedAt})`), definedAt, site });
        return;
      }
      // Legacy decorators: (prototype or constructor, key, descriptor).
      if (!descriptor || typeof descriptor.value !== "function") {
        throw new FlowError("@app.function() decorates methods only.");
      }
      const isStatic = typeof value === "function";
      const owner = (isStatic ? value : (value as { constructor: unknown }).constructor) as abstract new () => unknown;
      const name = String(context);
      registerMethod(owner, descriptor.value as AnyFunction, { app, name, isStatic, options: merge(`${owner.name}.${name}`), definedAt, site });
    }) as MethodDecorator;
  }
}

/** True inside an agent (where remote functions run), false in your own process. */
export function isRemote(): boolean {
  return registry().mode === "remote";
}

/** The file calling app.run() or app.localEntrypoint(): the agent loads it after the others. */
function noteEntrypointModule(): void {
  const { file } = callerFrame(import.meta.url);
  if (file !== undefined) registry().entrypointModules.add(file);
}

function isTc39Context(value: unknown): value is ClassMethodDecoratorContext | ClassMemberDecoratorContext {
  return typeof value === "object" && value !== null && "kind" in value && "name" in value;
}
