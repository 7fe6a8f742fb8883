/**
 * The control plane's hold on the user's code: one worker process at a time (see worker.ts), the
 * calls routed to it, and what happens when it ends.
 *
 * - Calls are routed by session and call id; their frames pass through as they are.
 * - A cancelled call has CANCEL_GRACE_MS to return. Then the worker is killed (its process group
 *   and every process it tagged), so a `while (true) {}` or a call that ignores its AbortSignal
 *   cannot keep running. Calls that arrive meanwhile wait, and go to the next worker.
 * - When a worker ends, each call it was running fails with how it ended (see describeEnd), and
 *   the next call starts a new worker, which loads the modules again.
 */
import { CancelledError } from "../src/errors.ts";
import { killTagged } from "../src/providers/processes.ts";
import { toFailure } from "../src/runtime/failure.ts";
import { CANCEL_GRACE_MS, EXIT_HOOKS_LIMIT_MS, type AgentMessage, type Failure, type FunctionInfo, type ProcessEnd } from "../src/runtime/protocol.ts";
import { agentLog } from "./output.ts";
import { FrameKind, WORKER_TAG_VARIABLE, payloadOf, workerTag, type Frame, type FromWorker } from "./worker-link.ts";
import { WorkerProcess, spawnWorker, type WorkerExit } from "./worker-process.ts";
import type { ChildProcess } from "node:child_process";

/** Variables that only take effect when a process starts: a function's env with one of them gets a worker started with it. */
const START_TIME_VARIABLES = ["NODE_OPTIONS", "NODE_PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "UV_THREADPOOL_SIZE"];
/** Fatal signals a process raises by itself (a crash in native code, an abort). */
const CRASH_SIGNALS = new Set(["SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGTRAP", "SIGSYS"]);
const OUT_OF_MEMORY = /JavaScript heap out of memory|Reached heap limit|Allocation failed - /;
/** How long a worker asked to stop (SIGTERM) has before it is killed. */
const STOP_GRACE_MS = 1_000;

export interface LoadParams {
  entry: string;
  env: Record<string, string>;
  secrets: Record<string, string>;
  exposeExports: boolean;
}

/** Where the supervisor's output goes: the control plane's client sessions (0: every session). */
export interface SupervisorOutput {
  /** A protocol frame from the worker, forwarded as it is (its payload in the parts it arrived in). */
  forward(session: number, binary: boolean, parts: Buffer[]): void;
  /** A message the control plane writes itself. */
  send(session: number, message: AgentMessage): void;
  /** The call is over: its last message (if it had one) has gone to `send` or `forward`. */
  ended(session: number, callId: string): void;
}

export interface SupervisorOptions {
  agentFile: string;
  cwd: string;
  /** The environment workers start with (the control plane's, less its secret). */
  env: Record<string, string>;
  /** The agent's tag: worker n gets workerTag(tag, n). */
  tag: string;
  output: SupervisorOutput;
  /** The first worker, if it was started ahead, with workerTag(tag, 1). */
  firstWorker?: ChildProcess | undefined;
}

interface HeldFrame {
  kind: FrameKind;
  payload: Buffer;
}

interface CallRoute {
  session: number;
  callId: string;
  functionId: string;
  /** The worker running it; undefined while it is held. */
  worker: Incarnation | undefined;
  /** Its frames, while it waits for a worker (another call's cancellation is pending). */
  held: HeldFrame[] | undefined;
  cancel: { reason: string; timer: NodeJS.Timeout } | undefined;
}

/** One worker process and what the supervisor tracks about it. */
interface Incarnation {
  process: WorkerProcess;
  routes: Set<CallRoute>;
  loaded: Promise<FunctionInfo[]> | undefined;
  settleLoad: ((result: { functions: FunctionInfo[] } | { error: Error }) => void) | undefined;
  /** Calls cancelled and not ended yet: while there are any, new calls wait. */
  pendingCancels: number;
  exitHooksDone: (() => void)[];
  ended: boolean;
}

export class WorkerSupervisor {
  readonly #options: SupervisorOptions;
  #worker: Incarnation | undefined;
  #generation = 0;
  #startEnv: Record<string, string> = {};
  #load: LoadParams | undefined;
  /** Routes by session and call id. */
  readonly #routes = new Map<number, Map<string, CallRoute>>();
  readonly #limits = new Map<number, number>();
  #held: CallRoute[] = [];
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    // Started ahead, so node has booted by the time the first client asks for the modules.
    if (options.firstWorker) this.#adopt(options.firstWorker);
  }

  /** Load the user's modules (the first call sets what, for every worker after it). Their top-level output goes to `session`. */
  load(session: number, params: LoadParams): Promise<FunctionInfo[]> {
    if (!this.#load) {
      this.#load = params;
      const startEnv = Object.fromEntries(START_TIME_VARIABLES.filter((name) => params.env[name] !== undefined).map((name) => [name, params.env[name]!]));
      if (Object.keys(startEnv).length > 0) {
        this.#startEnv = startEnv;
        // The worker started ahead of time has not run any code yet: replace it with one started with these.
        if (this.#worker && this.#worker.routes.size === 0) this.#retire(this.#worker);
      }
    }
    const worker = this.#current();
    if (!worker.loaded) this.#sendLoad(worker, session);
    return worker.loaded!;
  }

  openSession(session: number, maxPayloadBytes: number): void {
    this.#limits.set(session, maxPayloadBytes);
    this.#worker?.process.control({ type: "session", session, maxPayloadBytes });
  }

  /** The client is gone: its calls are cancelled (and given their grace). */
  closeSession(session: number): void {
    this.#limits.delete(session);
    this.#worker?.process.control({ type: "closed", session });
    const routes = this.#routes.get(session);
    for (const route of routes?.values() ?? []) {
      if (route.held) this.#drop(route);
      else this.#startGrace(route, "the client disconnected");
    }
    if (routes?.size === 0) this.#routes.delete(session);
  }

  call(session: number, callId: string, functionId: string, payload: Buffer): void {
    if (this.#stopping) {
      this.#options.output.send(session, { type: "error", callId, reason: "cancelled", error: toFailure(new CancelledError("the agent is shutting down")) });
      return;
    }
    let routes = this.#routes.get(session);
    if (!routes) this.#routes.set(session, (routes = new Map()));
    const route: CallRoute = { session, callId, functionId, worker: undefined, held: undefined, cancel: undefined };
    routes.set(callId, route);
    const frame = { kind: FrameKind.text, payload };
    if (this.#held.length > 0 || (this.#worker?.pendingCancels ?? 0) > 0) {
      route.held = [frame];
      this.#held.push(route);
    } else {
      this.#dispatch(route, [frame]);
    }
  }

  /**
   * Several calls of one function in one frame (a `calls` message): each is routed, cancelled and
   * reported on its own, and the frame goes to the worker once. While calls must wait (another
   * call's cancellation is pending), each is held as a `call` message of its own, so each can
   * still be cancelled or dropped alone.
   */
  callBatch(session: number, functionId: string, callIds: string[], payload: Buffer, split: () => Buffer[]): void {
    if (this.#stopping || this.#held.length > 0 || (this.#worker?.pendingCancels ?? 0) > 0) {
      const single = split();
      for (let index = 0; index < callIds.length; index++) this.call(session, callIds[index]!, functionId, single[index]!);
      return;
    }
    let routes = this.#routes.get(session);
    if (!routes) this.#routes.set(session, (routes = new Map()));
    const worker = this.#current();
    for (const callId of callIds) {
      const route: CallRoute = { session, callId, functionId, worker, held: undefined, cancel: undefined };
      routes.set(callId, route);
      worker.routes.add(route);
    }
    worker.process.forward(FrameKind.text, session, payload);
  }

  /** A frame for a call in progress (a chunk of its arguments, a credit). */
  toCall(session: number, callId: string, kind: FrameKind, payload: Buffer): void {
    const route = this.#routes.get(session)?.get(callId);
    if (!route) return;
    if (route.held) route.held.push({ kind, payload });
    else route.worker?.process.forward(kind, session, payload);
  }

  cancel(session: number, callId: string, reason: string, payload: Buffer): void {
    const route = this.#routes.get(session)?.get(callId);
    if (!route) return;
    if (route.held) {
      this.#options.output.send(session, { type: "error", callId, reason: "cancelled", error: toFailure(new CancelledError(reason)) });
      this.#drop(route);
      return;
    }
    route.worker?.process.forward(FrameKind.text, session, payload);
    this.#startGrace(route, reason);
  }

  /** A client's `stop`: the worker runs the @exit() hooks and answers `stopped` itself. */
  stop(session: number, payload: Buffer): void {
    if (this.#worker?.loaded) this.#worker.process.forward(FrameKind.text, session, payload);
    else this.#options.output.send(session, { type: "stopped" });
  }

  /** Binary bytes handed to `session`'s socket: the worker may send as many more. */
  delivered(session: number, bytes: number): void {
    this.#worker?.process.control({ type: "delivered", session, bytes });
  }

  pauseOutput(): void {
    this.#worker?.process.pause();
  }

  resumeOutput(): void {
    this.#worker?.process.resume();
  }

  /** Run the @exit() hooks of the current worker, if it loaded the modules; bounded in time. */
  async exitHooks(): Promise<void> {
    const worker = this.#worker;
    if (!worker?.loaded || !(await worker.loaded.then(() => true, () => false)) || worker.ended) return;
    const done = new Promise<void>((resolve) => worker.exitHooksDone.push(resolve));
    worker.process.control({ type: "exit-hooks" });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, EXIT_HOOKS_LIMIT_MS + 1_000)))]);
    clearTimeout(timer);
  }

  /** Stop the worker and everything any worker started; calls still running are cancelled. */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    try {
      for (const route of this.#held.splice(0)) {
        this.#options.output.send(route.session, { type: "error", callId: route.callId, reason: "cancelled", error: toFailure(new CancelledError("the agent is shutting down")) });
        this.#forget(route);
      }
      const worker = this.#worker;
      if (worker && !worker.ended) {
        worker.process.kill({ why: "shutdown" }, "SIGTERM");
        const timer = setTimeout(() => worker.process.kill({ why: "shutdown" }), STOP_GRACE_MS);
        await worker.process.exited;
        clearTimeout(timer);
      }
    } finally {
      killTagged(`${WORKER_TAG_VARIABLE}=${this.#options.tag}.`, "SIGKILL");
    }
  }

  /** The running worker, or a new one (with the open sessions, and the modules loading if they were before). */
  #current(): Incarnation {
    if (this.#worker) return this.#worker;
    const { agentFile, cwd, env } = this.#options;
    return this.#adopt(spawnWorker({ agentFile, cwd, env: { ...env, ...this.#startEnv }, tag: workerTag(this.#options.tag, this.#generation + 1) }));
  }

  /** Take on a worker just started, as the current one. */
  #adopt(child: ChildProcess): Incarnation {
    const generation = ++this.#generation;
    const incarnation: Incarnation = {
      process: undefined as unknown as WorkerProcess,
      routes: new Set(),
      loaded: undefined,
      settleLoad: undefined,
      pendingCancels: 0,
      exitHooksDone: [],
      ended: false,
    };
    incarnation.process = new WorkerProcess(child, {
      tag: workerTag(this.#options.tag, generation),
      onFrame: (frame) => this.#onFrame(incarnation, frame),
      onRawOutput: (stream, text) => this.#options.output.send(0, { type: "log", callId: null, stream, data: text }),
    });
    this.#worker = incarnation;
    for (const [session, maxPayloadBytes] of this.#limits) incarnation.process.control({ type: "session", session, maxPayloadBytes });
    if (this.#load) this.#sendLoad(incarnation, 0);
    void incarnation.process.exited.then((exit) => this.#onExit(incarnation, exit));
    return incarnation;
  }

  #sendLoad(worker: Incarnation, session: number): void {
    const load = this.#load!;
    worker.loaded = new Promise((resolve, reject) => {
      worker.settleLoad = (result) => ("error" in result ? reject(result.error) : resolve(result.functions));
    });
    // Awaited by whoever asked; a worker that dies before anyone does must not count as unhandled.
    worker.loaded.catch(() => {});
    worker.process.control({ type: "load", session, ...load });
  }

  #dispatch(route: CallRoute, frames: HeldFrame[]): void {
    const worker = this.#current();
    route.worker = worker;
    worker.routes.add(route);
    for (const frame of frames) worker.process.forward(frame.kind, route.session, frame.payload);
  }

  #startGrace(route: CallRoute, reason: string): void {
    const worker = route.worker;
    if (route.cancel || !worker) return;
    worker.pendingCancels++;
    const timer = setTimeout(() => {
      worker.process.kill({ why: "cancel", session: route.session, callId: route.callId, functionId: route.functionId, cancelReason: reason });
      // It is as good as gone: the calls that waited for it go to a new worker now.
      if (this.#worker === worker) this.#worker = undefined;
      this.#releaseHeld();
    }, CANCEL_GRACE_MS);
    route.cancel = { reason, timer };
  }

  #onFrame(worker: Incarnation, frame: Frame): void {
    const { output } = this.#options;
    switch (frame.kind) {
      case FrameKind.text:
      case FrameKind.binary:
        output.forward(frame.session, frame.kind === FrameKind.binary, frame.parts);
        if (frame.id !== "") this.#ended(worker, frame.session, frame.id);
        return;
      case FrameKind.textEndingMany:
        output.forward(frame.session, false, frame.parts);
        for (const callId of frame.id.split("\n")) this.#ended(worker, frame.session, callId);
        return;
      case FrameKind.stdout:
      case FrameKind.stderr:
        output.send(frame.session, {
          type: "log",
          callId: frame.id === "" ? null : frame.id,
          stream: frame.kind === FrameKind.stdout ? "stdout" : "stderr",
          data: payloadOf(frame).toString("utf8"),
        });
        return;
      case FrameKind.ended:
        this.#ended(worker, frame.session, frame.id);
        return;
      case FrameKind.control:
        this.#onControl(worker, JSON.parse(payloadOf(frame).toString("utf8")) as FromWorker);
        return;
    }
  }

  #onControl(worker: Incarnation, message: FromWorker): void {
    switch (message.type) {
      case "loaded":
        worker.settleLoad?.({ functions: message.functions });
        return;
      case "load-failed":
        worker.settleLoad?.({ error: failureError(message.error) });
        return;
      case "exit-hooks-done":
        for (const resolve of worker.exitHooksDone.splice(0)) resolve();
        return;
      case "hello":
      case "dying":
        return; // kept by WorkerProcess for the exit report
    }
  }

  #ended(worker: Incarnation, session: number, callId: string): void {
    const route = this.#routes.get(session)?.get(callId);
    if (route?.worker === worker) this.#finish(route);
  }

  /** A call's last frame went out. */
  #finish(route: CallRoute): void {
    this.#forget(route);
    const worker = route.worker!;
    worker.routes.delete(route);
    if (route.cancel) {
      clearTimeout(route.cancel.timer);
      if (--worker.pendingCancels === 0 && worker === this.#worker) this.#releaseHeld();
    }
  }

  #forget(route: CallRoute): void {
    const routes = this.#routes.get(route.session);
    if (routes?.get(route.callId) !== route) return;
    routes.delete(route.callId);
    if (routes.size === 0 && !this.#limits.has(route.session)) this.#routes.delete(route.session);
    this.#options.output.ended(route.session, route.callId);
  }

  /** A held call that will not run (cancelled, or its client left). */
  #drop(route: CallRoute): void {
    this.#held = this.#held.filter((held) => held !== route);
    this.#forget(route);
  }

  #releaseHeld(): void {
    for (const route of this.#held.splice(0)) {
      const frames = route.held!;
      route.held = undefined;
      this.#dispatch(route, frames);
    }
  }

  /** Replace an idle worker (say, one started before its NODE_OPTIONS were known). */
  #retire(worker: Incarnation): void {
    worker.process.kill({ why: "retire" });
    if (this.#worker === worker) this.#worker = undefined;
  }

  #onExit(worker: Incarnation, exit: WorkerExit): void {
    worker.ended = true;
    if (this.#worker === worker) this.#worker = undefined;
    for (const resolve of worker.exitHooksDone.splice(0)) resolve();
    worker.settleLoad?.({ error: new Error(`the process loading your module ${endedHow(exit)}${exit.stderrTail ? `\n${exit.stderrTail}` : ""}`) });
    for (const route of worker.routes) {
      clearTimeout(route.cancel?.timer);
      this.#options.output.send(route.session, { type: "error", callId: route.callId, ...describeEnd(exit, route) });
      this.#forget(route);
    }
    worker.routes.clear();
    const quiet = exit.killedBy?.why === "retire" || exit.killedBy?.why === "shutdown";
    if (!quiet) {
      const what = exit.killedBy?.why === "cancel" ? `was stopped: a call of ${exit.killedBy.functionId} did not return within ${CANCEL_GRACE_MS} ms of being cancelled` : endedHow(exit);
      agentLog(`flow-agent: worker ${worker.process.pid} ${what}\n`);
      this.#options.output.send(0, { type: "log", callId: null, stream: "stderr", data: `flow-agent: the process running your code ${what}; the next call starts a new one.\n` });
    }
    if (this.#held.length > 0 && !this.#stopping) this.#releaseHeld();
  }
}

/** "exited with code 3", "was killed by SIGKILL", "ran out of memory". */
function endedHow(exit: WorkerExit): string {
  if (OUT_OF_MEMORY.test(exit.stderrTail)) return "ran out of JavaScript heap memory";
  if (exit.dying?.how === "uncaught-exception") return `ended on an uncaught exception: ${exit.dying.error?.name}: ${exit.dying.error?.message}`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.exitCode ?? "?"}`;
}

type CallEnd = Pick<Extract<AgentMessage, { type: "error" }>, "reason" | "error" | "processEnd">;

/**
 * What a call running in a worker that ended is told: the call's own doing ("crashed"), not its
 * doing ("lost"), or its own cancellation. Exported for tests.
 */
export function describeEnd(exit: WorkerExit, call: { session: number; callId: string }): CallEnd {
  const facts = {
    ...(exit.stderrTail ? { stderrTail: exit.stderrTail } : {}),
    ...(exit.exitCode === null ? {} : { exitCode: exit.exitCode }),
    ...(exit.signal === null ? {} : { signal: exit.signal }),
  };
  const summary = (end: ProcessEnd): Failure => ({ name: "Error", message: `its process ended (${end.how})` });
  const result = (reason: "crashed" | "lost", end: ProcessEnd, error = summary(end)): CallEnd => ({ reason, error, processEnd: end });
  const killed = exit.killedBy;
  if (killed?.why === "cancel") {
    if (killed.session === call.session && killed.callId === call.callId) {
      return { reason: "cancelled", error: toFailure(new CancelledError(killed.cancelReason)) };
    }
    return result("lost", { how: "stopped-for-cancel", otherFunctionId: killed.functionId, cancelReason: killed.cancelReason });
  }
  if (killed) return { reason: "cancelled", error: toFailure(new CancelledError("the agent is shutting down")) };
  const dying = exit.dying;
  if (dying) {
    const own = dying.session === call.session && dying.callId === call.callId;
    if (dying.callId !== undefined && !(own && dying.callRunning)) {
      return result("lost", { how: "ended-by-other-call", ...(dying.functionId ? { otherFunctionId: dying.functionId } : {}), ...(dying.how === "exit" ? { exitCode: dying.exitCode } : {}) });
    }
    // Its own code, or code outside any call (a module's timer): either way the code's doing.
    const end: ProcessEnd = { how: dying.how, ...facts, exitCode: dying.exitCode };
    return result("crashed", end, dying.error ?? summary(end));
  }
  if (OUT_OF_MEMORY.test(exit.stderrTail)) {
    return result("crashed", { how: "out-of-memory", ...facts, ...(exit.heapLimitBytes ? { heapLimitBytes: exit.heapLimitBytes } : {}) });
  }
  if (exit.signal && CRASH_SIGNALS.has(exit.signal)) return result("crashed", { how: "signal", ...facts });
  if (exit.signal) return result("lost", { how: "killed-from-outside", ...facts });
  return result("crashed", { how: "exit", ...facts });
}

function failureError(failure: Failure): Error {
  return Object.assign(new Error(failure.message), { name: failure.name, stack: failure.stack });
}
