/**
 * An app run: the host behind `.remote()` while `flow run` or `app.run()` is active.
 *
 * It bundles the module once, starts one agent per function on first use (a function's
 * "container"), routes calls and logs, and stops every agent when the run ends, on Ctrl-C,
 * SIGTERM or an error.
 */
import { backendFor } from "../backends.ts";
import { buildArchive, type CodeArchive } from "../bundler/index.ts";
import { CancelledError, FlowError, FunctionTimeoutError, ValidationError } from "../errors.ts";
import { cleanUpBeforeExit } from "../clean-up-before-exit.ts";
import { providerName, type ProviderName } from "../providers/provider-name.ts";
import type { AgentSpec, Provider } from "../providers/provider.ts";
import { AgentPool, type Lease } from "../runtime/agent-pool.ts";
import { CANCEL_GRACE_MS, DEFAULT_RESULT_WINDOW_MS } from "../runtime/protocol.ts";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { resolveFlowHome } from "../providers/flow-home.ts";
import { writeRecordFile } from "../providers/record-files.ts";
import { DetachedCall, detachedCallDir, newDetachedCallId, type DetachedCallRecord } from "../calls/detached-call.ts";
import { provideDetachedCalls } from "./function-call.ts";
import { AgentSession } from "../runtime/session.ts";
import { sleep } from "../sleep.ts";
import { timingMark, timingMarkOnce } from "../debug-timing.ts";
import type { FunctionOptions } from "./options.ts";
import { DEFAULT_CONCURRENT_INPUTS } from "./remote-function.ts";
import { nextDelayMs, retryPolicy, type RetryPolicy } from "./retry-policy.ts";
import { agentModules } from "../bundler/agent-entry.ts";
import { SDK_EXPORTS } from "./sdk-exports.ts";
import { assignId, registry, type AppRecord, type CallOptions, type CallOverrides, type FunctionRecord, type Host } from "./registry.ts";

export interface RunOptions {
  /** Where agents run: "local", "fcp" (the Mithril GPU cloud) or a Provider instance; FLOW_PROVIDER, else "local". */
  provider?: ProviderName | Provider;
  /** The module to bundle; defaults to the file that created the App. */
  entry?: string;
}

/** What the agents of a run load; by default the modules that defined functions in this process. */
export interface RunnerOptions {
  /** The modules the agent loads (default: the registry's, entrypoint modules last). */
  modules?: string[];
  /** Packages to install on the agent instead of bundling (default: every function's `externals`). */
  externals?: string[];
  /** Zero-import mode (invoke): every exported function of the modules is callable by its name. */
  exposeExports?: boolean;
}

const NO_OVERRIDES: CallOverrides = {};

provideDetachedCalls((callId) => new DetachedCall(callId));

interface Target {
  effective: FunctionOptions;
  policy: RetryPolicy;
  pool: AgentPool;
  init: unknown[] | undefined;
}

export class AppRunner implements Host {
  readonly #entry: string;
  readonly #provider: Provider;
  /** One pool of agents per function and effective options (app.cls options make another pool). */
  readonly #pools = new Map<string, AgentPool>();
  readonly #targets = new WeakMap<FunctionRecord, WeakMap<CallOverrides, Target>>();
  /** Aborted by stop(): cancels every call in flight. */
  readonly #stopping = new AbortController();
  /** Functions without a name, by the site the agent calls them by. */
  readonly #wireIds = new WeakMap<FunctionRecord, string>();
  readonly #options: RunnerOptions;
  #archive: Promise<CodeArchive> | undefined;
  #stopped = false;

  constructor(entry: string, provider: Provider, options: RunnerOptions = {}) {
    this.#entry = entry;
    this.#provider = provider;
    this.#options = options;
  }

  /** Start bundling now, and booting an agent where that is free, so the first call waits for neither. */
  prepare(): void {
    if (this.#archive) return;
    this.#provider.prestart?.();
    const reg = registry();
    const modules = this.#options.modules ?? agentModules(reg.modules, reg.entrypointModules);
    const externals = this.#options.externals ?? reg.functions.flatMap((f) => f.options.externals ?? []);
    timingMark("bundle: started");
    this.#archive = Promise.resolve()
      .then(() =>
        buildArchive({
          entry: this.#entry,
          ...(modules.length > 0 ? { modules } : {}),
          sdkExports: SDK_EXPORTS,
          externals: [...new Set(externals)],
        }),
      )
      .then((archive) => (timingMark(`bundle: archive ready${archive.bundled ? "" : " (esbuild skipped)"}${archive.cached ? " (cached)" : ""}`), archive));
    // Awaited by the first call; an early failure must not count as unhandled meanwhile.
    this.#archive.catch(() => {});
  }

  /**
   * One call, with retries per the function's policy; each attempt gets its own timeout. Not an
   * async function: a map makes one call per input, and the first attempt, which is all most
   * calls need, goes through no async step of ours beyond the session's own promise.
   */
  call(record: FunctionRecord, args: unknown[], options: CallOptions): Promise<unknown> {
    let target: Target;
    let first: Promise<unknown>;
    try {
      target = this.#target(record, options.overrides);
      first = this.#attempt(record, target, args, options);
    } catch (error) {
      // Bad options (a retry policy, a timeout) fail the call, as a rejection like any other failure.
      return Promise.reject(error);
    }
    return first.then(firstResult, (error: unknown) => this.#retry(record, target, args, options, error));
  }

  /** The attempts after a first one that failed with `error`, while the policy allows. */
  async #retry(record: FunctionRecord, target: Target, args: unknown[], options: CallOptions, error: unknown): Promise<unknown> {
    let previous: unknown;
    for (let attempt = 1; ; attempt++) {
      const delayMs = nextDelayMs(target.policy, error, attempt, previous);
      if (delayMs === undefined || this.#stopped) throw error;
      previous = error;
      await sleep(delayMs, options.signal);
      try {
        return firstResult(await this.#attempt(record, target, args, options));
      } catch (next) {
        error = next;
      }
    }
  }

  /** A streaming call. Not retried: items it already yielded cannot be taken back. */
  async *stream(record: FunctionRecord, args: unknown[], options: CallOptions): AsyncGenerator<unknown, void, undefined> {
    const { pool, init } = this.#target(record, options.overrides);
    const lease = await pool.lease(options.signal ? [options.signal] : []);
    try {
      const id = this.#idOf(record, lease.session);
      yield* lease.session.stream(id, args, { signals: options.signal ? [options.signal] : [], init, localStack: options.callerStack });
    } finally {
      lease.release();
    }
  }

  /**
   * A detached call (see detached-call.ts): an agent of its own, started so that it outlives this
   * process (local: a process of its own; fcp: a spot instance), is given the call; once the agent
   * has recorded it, this session lets go and the call's handle is returned.
   */
  async spawnDetached(record: FunctionRecord, args: unknown[], options: CallOptions): Promise<DetachedCall> {
    const { effective, init } = this.#target(record, options.overrides);
    const startDetachedAgent = this.#provider.startDetachedAgent?.bind(this.#provider);
    if (!startDetachedAgent) {
      throw new FlowError(`Detached calls run on the local and fcp providers; ${this.#provider.name} cannot start one.`, {
        suggestions: ["Use .spawn() or .remote() on this provider, or --provider local."],
      });
    }
    if (record.streaming) throw new ValidationError(`${record.id ?? "This function"} is an async generator: iterate .remote() instead of detaching it.`);
    this.prepare();
    const archive = await this.#archive!;
    const callId = newDetachedCallId();
    const flowHome = resolveFlowHome();
    const dir = detachedCallDir(callId, flowHome);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const label = record.id ?? `function #${record.index}`;
    const spec: AgentSpec = { label, archive };
    if (effective.gpu !== undefined) spec.gpu = effective.gpu;
    if (effective.image !== undefined) spec.image = effective.image;
    if (effective.reservation !== undefined) spec.reservation = effective.reservation;
    const agent = await startDetachedAgent(spec, { callsDir: join(flowHome, "calls"), logPath: join(dir, "agent.log") });
    let handedOver = false;
    try {
      const session = await AgentSession.connect({
        url: agent.url,
        secret: agent.secret,
        env: effective.env ?? {},
        secrets: readSecrets(effective.secrets ?? [], label),
        exposeExports: this.#options.exposeExports ?? false,
        onLog: (_callId, stream, data) => process[stream].write(data),
      });
      try {
        const functionId = this.#idOf(record, session);
        const resultWindowMs = effective.resultWindowMs ?? DEFAULT_RESULT_WINDOW_MS;
        const entry: DetachedCallRecord = { callId, functionId, secret: agent.secret, createdAt: new Date().toISOString(), resultWindowMs, ...agent.place };
        await writeRecordFile(join(dir, "record.json"), JSON.stringify(entry), flowHome);
        await session.detach(functionId, args, callId, { resultWindowMs, ...(effective.timeoutMs === undefined ? {} : { timeoutMs: effective.timeoutMs }) }, { init });
        handedOver = true;
      } finally {
        await session.disconnect();
      }
    } finally {
      // Handed over, the agent is the call's; otherwise nothing runs there and it must not bill.
      await (handedOver ? agent.release() : agent.stop());
    }
    return new DetachedCall(callId, flowHome);
  }

  /** One attempt on a leased agent; a slot free on a connected agent is taken without waiting. */
  #attempt(record: FunctionRecord, target: Target, args: unknown[], options: CallOptions): Promise<unknown> {
    if (this.#stopped) return Promise.reject(new FlowError("The app run has ended; start a new one to call remote functions."));
    const { timeoutMs } = target.effective;
    const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    const signals = [this.#stopping.signal];
    if (options.signal) signals.push(options.signal);
    if (timeout) signals.push(timeout);
    const lease = target.pool.tryLease(signals);
    if (lease) return this.#attemptOn(lease, record, target, args, options, signals, timeout);
    return target.pool.lease(signals).then((leased) => this.#attemptOn(leased, record, target, args, options, signals, timeout));
  }

  #attemptOn(lease: Lease, record: FunctionRecord, target: Target, args: unknown[], options: CallOptions, signals: AbortSignal[], timeout: AbortSignal | undefined): Promise<unknown> {
    let result: Promise<unknown>;
    try {
      result = lease.session.call(this.#idOf(record, lease.session), args, {
        signals,
        init: target.init,
        onStarted: options.onStarted,
        localStack: options.callerStack,
        batch: options.batch,
      });
    } catch (error) {
      result = Promise.reject(error);
    }
    return result.then(
      (value) => {
        lease.release();
        return value;
      },
      (error: unknown) => {
        lease.release();
        if (timeout?.aborted) {
          throw new FunctionTimeoutError(
            `${record.id} did not finish within timeoutMs=${target.effective.timeoutMs}; the remote call was cancelled (its process is stopped if it does not return within ${CANCEL_GRACE_MS} ms).`,
          );
        }
        throw error;
      },
    );
  }

  /** Cancel calls in flight and stop every agent. */
  async stop(reason = "the app run ended"): Promise<void> {
    this.#stopped = true;
    timingMark("run ended, stopping agents");
    this.#stopping.abort(new CancelledError(reason));
    const pools = [...this.#pools.values()];
    for (const pool of pools) pool.close();
    const sessions = (await Promise.all(pools.map((pool) => pool.sessions()))).flat();
    await Promise.all(sessions.map((session) => session.close()));
    timingMark("sessions closed");
    await this.#provider.shutdown();
    timingMark("agents stopped");
  }

  /**
   * What calls of `record` with `overrides` resolve to: merged options, retry policy, and the pool
   * of agents. Cached per overrides object (each RemoteFunction keeps its own), so the hot path
   * does no merging, parsing or key building.
   */
  #target(record: FunctionRecord, overrides: CallOverrides = NO_OVERRIDES): Target {
    let byOverrides = this.#targets.get(record);
    if (!byOverrides) this.#targets.set(record, (byOverrides = new WeakMap()));
    let target = byOverrides.get(overrides);
    if (!target) {
      const { init, ...options } = overrides;
      const effective: FunctionOptions = { ...record.options, ...options };
      target = { effective, policy: retryPolicy(effective), pool: this.#pool(record, effective), init };
      byOverrides.set(overrides, target);
    }
    return target;
  }

  #pool(record: FunctionRecord, effective: FunctionOptions): AgentPool {
    const key = `${record.index}:${JSON.stringify(effective)}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new AgentPool({
        maxContainers: effective.maxContainers ?? 1,
        maxConcurrentInputs: effective.maxConcurrentInputs ?? DEFAULT_CONCURRENT_INPUTS,
        start: () => this.#startSession(record, effective),
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  async #startSession(record: FunctionRecord, options: FunctionOptions): Promise<AgentSession> {
    this.prepare();
    const archive = await this.#archive!;
    const spec: AgentSpec = { label: record.id ?? `function #${record.index}`, archive };
    if (options.gpu !== undefined) spec.gpu = options.gpu;
    if (options.image !== undefined) spec.image = options.image;
    if (options.reservation !== undefined) spec.reservation = options.reservation;
    // This start takes the agent booted ahead; boot the next while a function has none yet.
    const starting = startAgentSession(this.#provider, spec, options, { exposeExports: this.#options.exposeExports ?? false });
    if (this.#pools.size < registry().functions.length) this.#provider.prestart?.();
    return starting;
  }

  /**
   * The id the agent knows a function by. Functions this process could not name (a module held
   * at `await app.run(...)` has no namespace to read) are matched by their site, which the agent
   * computes the same way; an export name it found becomes their name here too.
   */
  #idOf(record: FunctionRecord, session: AgentSession): string {
    const known = this.#wireIds.get(record) ?? record.id;
    if (known !== undefined) {
      if (!session.defines(known)) throw record.kind === "export" ? noSuchExport(record, session) : unreachableFunction(record);
      return known;
    }
    const remote = record.site === undefined ? undefined : session.functions.find((f) => f.site === record.site);
    if (!remote) throw unreachableFunction(record);
    if (remote.id === record.site) this.#wireIds.set(record, remote.id);
    else assignId(record, remote.id);
    return remote.id;
  }
}

/**
 * A function the agent did not define while loading the modules: it is created at run time (in
 * a function or a callback), or below the app.run()/app.localEntrypoint() call of its module,
 * where the agent stops loading it.
 */
function unreachableFunction(record: FunctionRecord): FlowError {
  const name = record.id === undefined ? "The remote function" : `Remote function ${record.id}`;
  const what = `${name} (defined at ${record.definedAt}) does not exist on the agent, so it cannot run there.`;
  if (record.owner !== undefined) {
    return new FlowError(what, {
      suggestions: [`Export the class that holds it: \`export class ${record.owner.name}\` (the agent finds classes by their exports).`],
    });
  }
  return new FlowError(what, {
    suggestions: [
      "Define remote functions at the top level of a module, not inside a function or callback,",
      "above any app.run(...) or app.localEntrypoint(...) in the same file (the agent stops loading a file there).",
    ],
  });
}

/** invoke() of a name the module does not export as a function. */
function noSuchExport(record: FunctionRecord, session: AgentSession): FlowError {
  const known = session.functions.map((f) => f.id).filter((id) => !id.includes("#")).join(", ") || "none";
  return new FlowError(`${record.definedAt} exports no function '${record.id}' (known: ${known}).`, {
    suggestions: ["Export it from that file: `export function name(...)` or `export const name = ...`."],
  });
}

/**
 * Start an agent for `spec` and connect to it: the function's env and secrets go in the init
 * message, its output to this process's stdout/stderr. The agent is stopped if the connection
 * fails or is lost later, so a dead connection never leaves a machine running.
 */
export async function startAgentSession(
  provider: Provider,
  spec: AgentSpec,
  options: FunctionOptions,
  connect: { exposeExports: boolean },
): Promise<AgentSession> {
  const secrets = readSecrets(options.secrets ?? [], spec.label);
  timingMark(`agent for ${spec.label}: starting`);
  const endpoint = await provider.startAgent(spec);
  timingMark(`agent for ${spec.label}: listening`);
  const session = await AgentSession.connect({
    url: endpoint.url,
    secret: endpoint.secret,
    ...(endpoint.reconnect === undefined ? {} : { reconnect: () => endpoint.reconnect!() }),
    ...(options.reconnectGraceMs === undefined ? {} : { reconnectGraceMs: options.reconnectGraceMs }),
    env: options.env ?? {},
    secrets,
    ...connect,
    ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
    onLog: (_callId, stream, data) => process[stream].write(data),
  }).catch(async (error: unknown) => {
    await endpoint.stop();
    throw error;
  });
  session.onClose(() => void endpoint.stop());
  timingMark(`agent for ${spec.label}: connected, modules loaded`);
  return session;
}

/** Secret values come from this process's environment at call time and travel only over the wire. */
function readSecrets(names: string[], label: string): Record<string, string> {
  const secrets: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const value = process.env[name];
    if (value === undefined) missing.push(name);
    else secrets[name] = value;
  }
  if (missing.length > 0) {
    throw new ValidationError(`${label} needs the secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, not set in your environment.`, {
      suggestions: missing.map((name) => `export ${name}=... before running, or remove it from \`secrets\`.`),
    });
  }
  return secrets;
}

/** The agents' provider for a run: one given, or the configured backend's by name. */
export function createProvider(provider: RunOptions["provider"]): Provider {
  return typeof provider === "object" ? provider : backendFor(providerName(provider)).agents;
}

/** Run `fn` with `runner` installed as the host (what `.remote()` calls go to), as guarded() does. */
export async function withRunner<T>(runner: AppRunner, fn: () => T | Promise<T>): Promise<T> {
  const reg = registry();
  if (reg.host) throw new FlowError("An app run is already active in this process.");
  reg.host = runner;
  try {
    return await guarded(runner, fn);
  } finally {
    reg.host = undefined;
  }
}

/**
 * Run `fn`, then stop `runner`; stop it too on SIGINT/SIGTERM (exiting 130/143 once agents are
 * down) and when the process crashes on an uncaught exception (printed, then exit 1): on a cloud
 * provider every agent is an instance that bills until it is stopped. app.run, `flow run` and
 * invoke() all end this way.
 */
export async function guarded<T>(runner: AppRunner, fn: () => T | Promise<T>): Promise<T> {
  const removeExitHandlers = cleanUpBeforeExit((reason) => runner.stop(reason));
  try {
    return await fn();
  } finally {
    // After Ctrl-C this waits for the exit: the calls the stop cancelled must not exit 1 first.
    await removeExitHandlers();
    await runner.stop();
  }
}

export async function runWithHost<T>(app: AppRecord, fn: () => T | Promise<T>, options: RunOptions): Promise<T> {
  const entry = options.entry ?? app.file;
  if (!entry) {
    throw new FlowError(`Cannot tell which file defines app '${app.name}'.`, {
      suggestions: ["Pass it: app.run(fn, { entry: import.meta.filename })."],
    });
  }
  const runner = new AppRunner(entry, createProvider(options.provider));
  runner.prepare();
  return withRunner(runner, fn);
}

function firstResult(value: unknown): unknown {
  timingMarkOnce("first result");
  return value;
}
