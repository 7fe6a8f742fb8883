/**
 * One worker process as the control plane sees it: started in its own process group (and session),
 * linked over fd 3 and 4, its output read, its end observed in full. The worker's end is reported
 * once all it wrote has been read: its last frames (say, why it is dying), its stderr (say, V8's
 * out-of-memory message). By then everything it started has been stopped too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { killGroup, killTagged } from "../src/providers/processes.ts";
import { withHugePages } from "../src/runtime/huge-pages.ts";
import { agentLog } from "./output.ts";
import { FrameKind, FrameReader, WORKER_TAG_VARIABLE, encodeFrame, frameHeader, payloadOf, type Frame, type FromWorker, type ToWorker } from "./worker-link.ts";

const STDERR_TAIL_LINES = 20;
/** A frame this small is copied behind its header: one write costs more than the copy. */
const SMALL_FRAME_BYTES = 16 << 10;
const STDERR_TAIL_CHARS = 4_000;
/** After the worker has exited, how long its stderr may stay open (held by a process we could not stop). */
const STDERR_DRAIN_MS = 500;

/** Why the control plane itself ended a worker. */
export type KillReason = { why: "cancel"; session: number; callId: string; functionId: string; cancelReason: string } | { why: "retire" } | { why: "shutdown" };

export interface WorkerExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** What the worker said just before it ended itself, if it did. */
  dying: Extract<FromWorker, { type: "dying" }> | undefined;
  killedBy: KillReason | undefined;
  stderrTail: string;
  heapLimitBytes: number | undefined;
}

export interface WorkerSpawnOptions {
  agentFile: string;
  cwd: string;
  env: Record<string, string>;
  /** This worker's tag value: every process it starts carries it (see child-tag.ts). */
  tag: string;
}

/**
 * Start a worker process. Separate from WorkerProcess so the agent can start its first worker
 * before it loads its own heavier modules (main.ts): its output waits in the pipes until read.
 */
export function spawnWorker(options: WorkerSpawnOptions): ChildProcess {
  // Node flags the agent was started with (a heap size, a profiler) apply to its worker too.
  return spawn(process.execPath, [...process.execArgv, options.agentFile, "--worker"], {
    cwd: options.cwd,
    // Its large buffers (arguments and results) on huge pages; it takes the variable back out of its env.
    env: { ...options.env, GLIBC_TUNABLES: withHugePages(options.env.GLIBC_TUNABLES), [WORKER_TAG_VARIABLE]: options.tag },
    // Its own session and process group: signalling -pid reaches every plain child it starts.
    detached: true,
    stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
  });
}

export interface WorkerProcessOptions {
  /** The tag it was started with. */
  tag: string;
  /** A frame from the worker (text, binary, control, output, ended). */
  onFrame(frame: Frame): void;
  /** Raw output on its stdout or stderr (native code, inherited by children): not tied to a call. */
  onRawOutput(stream: "stdout" | "stderr", text: string): void;
}

export class WorkerProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<WorkerExit>;
  heapLimitBytes: number | undefined;
  #killedBy: KillReason | undefined;
  #dying: Extract<FromWorker, { type: "dying" }> | undefined;
  readonly #child: ChildProcess;
  readonly #input: Writable;
  readonly #output: Readable;
  #tail = "";
  #corked = false;

  /** Watch `child`, started by spawnWorker (perhaps a while ago: it may have ended already). */
  constructor(child: ChildProcess, options: WorkerProcessOptions) {
    this.#child = child;
    this.pid = this.#child.pid;
    this.#input = this.#child.stdio[3] as Writable;
    this.#output = this.#child.stdio[4] as Readable;
    // A worker that dies takes its end of every pipe with it; that is reported through `exited`.
    this.#input.on("error", () => {});
    const reader = new FrameReader((frame) => {
      if (frame.kind === FrameKind.control) {
        const message = JSON.parse(payloadOf(frame).toString("utf8")) as FromWorker;
        if (message.type === "dying") this.#dying = message;
        if (message.type === "hello") this.heapLimitBytes = message.heapLimitBytes;
      }
      if (frame.kind === FrameKind.stderr) this.#remember(payloadOf(frame).toString("utf8"));
      options.onFrame(frame);
    });
    this.#output.on("data", (chunk: Buffer) => reader.push(chunk));
    const outputDone = new Promise<void>((resolve) => this.#output.on("close", resolve).on("error", () => resolve()));
    const stdoutDone = this.#readRaw(this.#child.stdout!, "stdout", options);
    const stderrDone = this.#readRaw(this.#child.stderr!, "stderr", options);

    const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode]);
      this.#child.once("exit", (code, signal) => resolve([code, signal]));
      this.#child.once("error", (error) => {
        agentLog(`flow-agent: the worker process could not start: ${error.message}\n`);
        resolve([null, null]);
      });
    });
    this.exited = (async () => {
      const [exitCode, signal] = await ended;
      // Whatever it started goes with it: its process group, then what left the group.
      if (this.pid !== undefined) killGroup(this.pid, "SIGKILL");
      killTagged(`${WORKER_TAG_VARIABLE}=${options.tag}`, "SIGKILL");
      await outputDone;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([stdoutDone, stderrDone]), new Promise((resolve) => (timer = setTimeout(resolve, STDERR_DRAIN_MS)))]);
      clearTimeout(timer);
      return {
        exitCode,
        signal,
        dying: this.#dying,
        killedBy: this.#killedBy,
        stderrTail: this.#lastLines(),
        heapLimitBytes: this.heapLimitBytes,
      };
    })();
  }

  get killedBy(): KillReason | undefined {
    return this.#killedBy;
  }

  /** Send one frame. Frames sent in the same turn go out in one write. */
  send(kind: FrameKind, session: number, id: string, payload: string | Uint8Array): void {
    this.#write(encodeFrame(kind, session, id, payload));
  }

  /** Forward a client's frame as it is: a big one is not copied, only given a header of its own. */
  forward(kind: FrameKind, session: number, payload: Buffer): void {
    const header = frameHeader(kind, session, payload.byteLength);
    if (payload.byteLength <= SMALL_FRAME_BYTES) {
      this.#write(Buffer.concat([header, payload]));
    } else {
      this.#write(header);
      this.#write(payload);
    }
  }

  control(message: ToWorker): void {
    this.send(FrameKind.control, 0, "", JSON.stringify(message));
  }

  /** Stop reading its output (its client is slow), which in time blocks its writes. */
  pause(): void {
    this.#output.pause();
  }

  resume(): void {
    this.#output.resume();
  }

  /** End it now, and everything in its process group. The first reason given is the one reported. */
  kill(reason: KillReason, signal: NodeJS.Signals = "SIGKILL"): void {
    this.#killedBy ??= reason;
    if (this.pid !== undefined) killGroup(this.pid, signal);
  }

  #write(bytes: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#input.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#input.uncork();
      });
    }
    this.#input.write(bytes);
  }

  #readRaw(stream: Readable, name: "stdout" | "stderr", options: WorkerProcessOptions): Promise<void> {
    const decoder = new StringDecoder("utf8");
    stream.on("data", (chunk: Buffer) => {
      const text = decoder.write(chunk);
      if (text === "") return;
      if (name === "stderr") this.#remember(text);
      options.onRawOutput(name, text);
    });
    return new Promise<void>((resolve) => stream.on("close", resolve).on("error", () => resolve()));
  }

  /** Keep the end of what was written to stderr, by the worker itself or by its calls. */
  #remember(text: string): void {
    this.#tail = (this.#tail + text.slice(-STDERR_TAIL_CHARS)).slice(-STDERR_TAIL_CHARS);
  }

  #lastLines(): string {
    return this.#tail.trimEnd().split("\n").slice(-STDERR_TAIL_LINES).join("\n");
  }
}
