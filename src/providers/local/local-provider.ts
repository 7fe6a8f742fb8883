/**
 * The local provider: agents are child processes on this machine, started exactly as a cloud
 * instance starts them (same agent file, same archive, same protocol), only without the GPU.
 *
 * No orphans: each agent holds our end of a pipe on its stdin and exits when it closes, which the
 * kernel does for us even if this process is SIGKILLed; it stops its worker and everything the
 * user's code started before it exits. shutdown() also stops the agents explicitly, and an agent
 * that does not exit in time is killed, along with every process it tagged (see killTagged).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { AgentLostError, ProviderError } from "../../errors.ts";
import { withHugePages } from "../../runtime/huge-pages.ts";
import { AGENT_GONE } from "../../runtime/session.ts";
import { agentPath } from "../../sdk-paths.ts";
import { machineEnv } from "./machine-env.ts";
import { killTagged } from "../processes.ts";
import type { AgentEndpoint, AgentSpec, DetachedAgent, Provider } from "../provider.ts";

/** Enough for an agent to run its @exit() hooks' remainder and stop its worker (which has 1 s itself). */
const STOP_GRACE_MS = 5_000;
const STDERR_TAIL_LINES = 40;
/** The agent marks its worker's processes with this variable (remote-agent/worker-link.ts). */
const AGENT_TAG_VARIABLE = "FLOW_AGENT_TAG";


export interface LocalProviderOptions {
  /** Agents exit after this long without a client. */
  idleTimeoutMs?: number;
}

/** An agent process, started with or without its archive (then it waits for the archive's path on stdin). */
interface AgentProcess {
  child: ChildProcess;
  secret: string;
  tag: string;
  stderrTail: string[];
  stop(): Promise<void>;
}

export class LocalProvider implements Provider {
  readonly name = "local";
  /** Running agents and how to stop each. */
  readonly #children = new Map<ChildProcess, () => Promise<void>>();
  readonly #idleTimeoutMs: number;
  /** One agent booted ahead by prestart(), waiting for the archive of the next startAgent(). */
  #spare: AgentProcess | undefined;
  #shutDown = false;

  constructor(options: LocalProviderOptions = {}) {
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  }

  prestart(): void {
    if (this.#shutDown || (this.#spare && this.#spare.child.exitCode === null && this.#spare.child.signalCode === null)) return;
    this.#spare = this.#spawn(undefined);
  }

  async startAgent(spec: AgentSpec): Promise<AgentEndpoint> {
    let agent = this.#spare;
    this.#spare = undefined;
    if (agent && agent.child.exitCode === null && agent.child.signalCode === null && agent.child.stdin!.writable) {
      agent.child.stdin!.write(`${spec.archive.path}\n`);
    } else {
      agent = this.#spawn(spec.archive.path);
    }
    const { child, secret, tag, stderrTail, stop } = agent;
    const port = await listeningPort(child).catch((error: Error) => {
      child.kill("SIGKILL");
      killTagged(`${AGENT_TAG_VARIABLE}=${tag}`, "SIGKILL");
      const detail = stderrTail.length ? `\n${stderrTail.join("\n")}` : "";
      throw new ProviderError(`The local agent for ${spec.label} did not start: ${error.message}${detail}`);
    });
    const url = `ws://127.0.0.1:${port}`;
    return {
      url,
      secret,
      stop,
      // The same process, at the same address: while it lives, the session resumes there.
      reconnect: async () => {
        if (child.exitCode === null && child.signalCode === null) return url;
        const how = child.signalCode ?? `code ${child.exitCode}`;
        const detail = stderrTail.length ? `\n${stderrTail.slice(-10).join("\n")}` : "";
        throw new AgentLostError(`the local agent for ${spec.label} exited (${how})${detail}`, { errorCode: AGENT_GONE });
      },
    };
  }

  /** An agent for `archive`, or (undefined) one that reads its archive's path from stdin. */
  #spawn(archive: string | undefined): AgentProcess {
    const secret = randomBytes(32).toString("base64url");
    const tag = randomBytes(8).toString("hex");
    // Function env and secrets arrive over the wire in the init message, as on the cloud.
    const env: Record<string, string> = { ...agentEnv(), FLOW_AGENT_SECRET: secret, [AGENT_TAG_VARIABLE]: tag };
    // The agent prints its own phases under FLOW_DEBUG=timing (its stderr is shown under FLOW_DEBUG).
    if (process.env.FLOW_DEBUG) env.FLOW_DEBUG = process.env.FLOW_DEBUG;

    const archiveArgs = archive === undefined ? ["--archive-from-stdin"] : ["--archive", archive];
    const child = spawn(
      process.execPath,
      [agentPath(), ...archiveArgs, "--exit-with-stdin", "--idle-timeout-ms", String(this.#idleTimeoutMs)],
      { env, stdio: ["pipe", "pipe", "pipe"] },
    );
    // An agent that died early closes the pipe; the write that finds it closed is not an error here.
    child.stdin!.on("error", () => {});
    const stop = () => stopChild(child, tag);
    this.#children.set(child, stop);
    child.once("exit", () => this.#children.delete(child));

    const stderrTail: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      if (process.env.FLOW_DEBUG) process.stderr.write(`[flow-agent ${child.pid}] ${line}\n`);
    });
    return { child, secret, tag, stderrTail, stop };
  }

  /**
   * An agent that outlives this process, for detached calls: not tied to our stdin, in a process
   * group of its own, its output in `logPath`, its detached calls' records in `callsDir` (which is
   * where the caller keeps them: nothing needs copying). It exits
   * once its calls have ended and their result window is over (or, if no client ever connects,
   * after the idle timeout). shutdown() leaves it alone.
   */
  async startDetachedAgent(spec: AgentSpec, options: { callsDir: string; logPath: string }): Promise<DetachedAgent> {
    const secret = randomBytes(32).toString("base64url");
    const tag = randomBytes(8).toString("hex");
    const env = { ...agentEnv(), FLOW_AGENT_SECRET: secret, [AGENT_TAG_VARIABLE]: tag };
    const log = openSync(options.logPath, "a", 0o600);
    const child = spawn(
      process.execPath,
      [agentPath(), "--archive", spec.archive.path, "--calls-dir", options.callsDir, "--idle-timeout-ms", String(this.#idleTimeoutMs)],
      { env, stdio: ["ignore", log, log], detached: true },
    );
    closeSync(log);
    child.unref();
    const exited = once(child, "exit").then(([code, signal]) => `it exited (${signal ?? `code ${code}`})`);
    for (;;) {
      const text = readFileSync(options.logPath, "utf8");
      const port = /\{"event":"listening","port":(\d+)/.exec(text)?.[1];
      if (port !== undefined) {
        const url = `ws://127.0.0.1:${port}`;
        return {
          url,
          secret,
          place: { provider: "local", url, agentPid: child.pid! },
          release: async () => {},
          stop: async () => void child.kill("SIGTERM"),
        };
      }
      const ended = await Promise.race([exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20))]);
      if (ended !== undefined) throw new ProviderError(`The local agent for ${spec.label} did not start: ${ended}\n${text.split("\n").slice(-STDERR_TAIL_LINES).join("\n")}`);
    }
  }

  async shutdown(): Promise<void> {
    this.#shutDown = true;
    this.#spare = undefined;
    await Promise.all([...this.#children.values()].map((stop) => stop()));
  }
}

/** The agent announces itself with one JSON line on stdout. */
async function listeningPort(child: ChildProcess): Promise<number> {
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, "exit").then(([code, signal]) => {
    throw new Error(`it exited (${signal ?? `code ${code}`})`);
  });
  const announced = (async () => {
    for await (const line of lines) {
      const event = JSON.parse(line) as { event?: string; port?: number };
      if (event.event === "listening" && typeof event.port === "number") return event.port;
    }
    throw new Error("it closed stdout before listening");
  })();
  try {
    return await Promise.race([announced, exited]);
  } finally {
    exited.catch(() => {});
    // Keep draining stdout so a chatty agent can never block on a full pipe.
    child.stdout!.resume();
  }
}

/** SIGTERM, then SIGKILL; an agent killed that way could not stop its worker, so its tagged processes are killed here. */
/** What an agent starts with: this machine's basics, and huge pages for its large buffers (see huge-pages.ts). */
function agentEnv(): Record<string, string> {
  const env = machineEnv();
  return { ...env, GLIBC_TUNABLES: withHugePages(env.GLIBC_TUNABLES) };
}

async function stopChild(child: ChildProcess, tag: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (signal === "SIGKILL") killTagged(`${AGENT_TAG_VARIABLE}=${tag}`, "SIGKILL");
}
