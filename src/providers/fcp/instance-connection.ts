/**
 * The client's side of the instance handshake (see instance-layout.ts): log in over SSH, learn
 * the instance root, wait for the startup script's markers, upload what did not ride in the
 * script, and find the agent's loopback port.
 */
import { ProviderError, FlowTimeoutError } from "../../errors.ts";
import type { Instance } from "./api/schemas.ts";
import { INSTANCE_SSH_USER, instancePaths, markUploadedCommand, rootProbeCommand, type InstancePaths } from "./instance-layout.ts";
import { parseSshDestination } from "./instance-launch.ts";
import { SshConnection } from "./ssh/ssh-connection.ts";
import { quote } from "./startup-script/bash.ts";
import type { SshKeyPair } from "./ssh/ssh-keys.ts";

/** Boot, Node download and volume mounts happen before `ready`; a slow image pull can take minutes. */
const READY_TIMEOUT_MS = 15 * 60_000;
const AGENT_START_TIMEOUT_MS = 5 * 60_000;

export interface Upload {
  data: Uint8Array | { localPath: string };
  remotePath: string;
  mode?: number;
}

export class InstanceConnection {
  readonly ssh: SshConnection;
  readonly paths: InstancePaths;
  readonly instance: Instance;

  /** The login's probe saw the `ready` marker. */
  readonly #readyAtLogin: boolean;

  private constructor(ssh: SshConnection, paths: InstancePaths, instance: Instance, readyAtLogin: boolean) {
    this.ssh = ssh;
    this.paths = paths;
    this.instance = instance;
    this.#readyAtLogin = readyAtLogin;
  }

  /** `timeoutMs` bounds the login attempts (5 minutes by default: a booting sshd takes a while). */
  static async open(instance: Instance, key: SshKeyPair, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<InstanceConnection> {
    if (!instance.ssh_destination) throw new ProviderError(`Instance ${instance.fid} has no SSH destination yet.`);
    const { host, port } = parseSshDestination(instance.ssh_destination);
    const ssh = await SshConnection.connect(
      {
        host,
        port,
        user: INSTANCE_SSH_USER,
        keyName: key.privateKeyPath,
        ...(key.privateKey === undefined ? {} : { privateKey: key.privateKey }),
        ...(key.agent === undefined ? {} : { agent: key.agent }),
      },
      { timeoutMs: options.timeoutMs ?? 5 * 60_000, ...(options.signal === undefined ? {} : { signal: options.signal }) },
    );
    try {
      const probe = await ssh.exec(rootProbeCommand);
      const [root, marker] = probe.stdout.split("\n");
      if (probe.code !== 0 || !root) throw new ProviderError(`Could not find the Flow directory on ${instance.fid}: ${probe.stderr}`);
      return new InstanceConnection(ssh, instancePaths(root), instance, marker === "ready");
    } catch (error) {
      ssh.close();
      throw error;
    }
  }

  /** The file's text, or undefined when it does not exist (yet). */
  async read(path: string): Promise<string | undefined> {
    const result = await this.ssh.exec(`cat ${quote(path)} 2>/dev/null`);
    return result.code === 0 ? result.stdout : undefined;
  }

  /** Waits for the startup script's `ready` marker; an early exit-code means setup failed. */
  async waitUntilReady(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#readyAtLogin) return;
    const ready = quote(this.paths.ready);
    const outcome = await this.#waitOnInstance(`[ -e ${ready} ] || [ -e ${quote(this.paths.exitCode)} ]`, READY_TIMEOUT_MS, signal, `[ -e ${ready} ] && echo ready`);
    if (outcome === "timeout") throw this.#timeout("the instance to finish setting up", READY_TIMEOUT_MS);
    if (outcome.met.trim() !== "ready") throw await this.#setupFailure("the startup script stopped before it was ready");
  }

  /**
   * Uploads every file, then the `uploaded` marker the startup script is waiting for (the
   * instance's, or that of a script delivered into `paths`).
   */
  async upload(files: readonly Upload[], paths: InstancePaths = this.paths): Promise<void> {
    await this.uploadFiles(files);
    const marked = await this.ssh.exec(markUploadedCommand(paths));
    if (marked.code !== 0) throw new ProviderError(`Could not mark the uploads done on ${this.instance.fid}: ${marked.stderr.trim()}`);
  }

  /** Uploads every file, but not the marker: see `agentPort`'s `markUploaded`. */
  async uploadFiles(files: readonly Upload[]): Promise<void> {
    // At once, over the one SFTP session: the small files' round trips ride along with the big one's.
    await Promise.all(files.map((file) => this.ssh.upload(file.data, file.remotePath, file.mode === undefined ? {} : { mode: file.mode })));
  }

  /**
   * The loopback port the agent announced, once it listens (the instance's agent, or one delivered
   * into `paths`). With `markUploaded`, the same exec first writes the `uploaded` marker that
   * starts the agent: one exec fewer on the path to the first result.
   */
  async agentPort(signal?: AbortSignal, paths: InstancePaths = this.paths, options: { markUploaded?: boolean } = {}): Promise<number> {
    const out = quote(paths.agentOut);
    const before = options.markUploaded ? `${markUploadedCommand(paths)} || exit 1; ` : "";
    const outcome = await this.#waitOnInstance(`grep -q '"listening"' ${out} 2>/dev/null || [ -e ${quote(paths.exitCode)} ]`, AGENT_START_TIMEOUT_MS, signal, `cat ${out} 2>/dev/null`, before);
    if (outcome === "timeout") throw this.#timeout("the agent to start", AGENT_START_TIMEOUT_MS);
    for (const line of outcome.met.split("\n")) {
      if (!line.startsWith("{")) continue;
      const event = JSON.parse(line) as { event?: string; port?: number };
      if (event.event === "listening" && typeof event.port === "number") return event.port;
    }
    const stderr = (await this.read(paths.agentErr)) ?? "";
    const log = (await this.read(paths.startupLog)) ?? "";
    throw new ProviderError(`The agent on ${this.instance.fid} exited before it listened.\n${tail(stderr || log, 30)}`);
  }

  close(): void {
    this.ssh.close();
  }

  /**
   * Waits on the instance itself, in one SSH exec, until `condition` (a bash test) holds, then
   * runs `then` there and gives back its output: no round trip per check, so the client learns
   * of a marker within 20 ms, and none to read what the marker announced (both are on the path
   * to the first result). `before` runs ahead of the wait; it fails the wait with `exit 1`.
   */
  async #waitOnInstance(condition: string, timeoutMs: number, signal: AbortSignal | undefined, then: string, before = ""): Promise<{ met: string } | "timeout"> {
    const seconds = Math.ceil(timeoutMs / 1000);
    const script = `${before}end=$((SECONDS + ${seconds})); until ${condition}; do [ $SECONDS -ge $end ] && exit 0; sleep 0.02; done; echo met; ${then}; exit 0`;
    const result = await this.ssh.exec(script, signal === undefined ? {} : { signal });
    if (result.code !== 0) throw new ProviderError(`On ${this.instance.fid}: ${result.stderr.trim() || `a command exited with code ${result.code}`}.`);
    const [first, ...rest] = result.stdout.split("\n");
    return first === "met" ? { met: rest.join("\n") } : "timeout";
  }

  #timeout(what: string, timeoutMs: number): FlowTimeoutError {
    return new FlowTimeoutError(`Gave up waiting for ${what} on ${this.instance.fid} after ${Math.round(timeoutMs / 60_000)} minutes.`);
  }

  async #setupFailure(what: string): Promise<ProviderError> {
    const log = (await this.read(this.paths.startupLog)) ?? "";
    return new ProviderError(`Instance ${this.instance.fid}: ${what}. The end of its startup log:\n${tail(log, 30)}`);
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
