/**
 * One SSH connection to a cloud instance, and everything the provider does over it: run commands,
 * follow log files, upload files over SFTP, tunnel TCP to the agent, and attach a terminal.
 *
 * Host keys: every instance is a new machine with a new host key, and FCP publishes no host-key
 * fingerprint to check it against, so any host key is accepted (trust on first use, per
 * instance, and nothing is remembered). That is safe enough for what rides on it: the agent still
 * authenticates the client with its session secret, and nothing secret is sent before the key
 * exchange protects the channel.
 */
import type Ssh2 from "ssh2";
import type { Client, ClientChannel, SFTPWrapper } from "ssh2";
import { AuthenticationError, NetworkError, FlowTimeoutError } from "../../../errors.ts";
import { sleep } from "../../../sleep.ts";
import { LineSplitter } from "../../log-lines.ts";
import { exitCodeOf } from "./exit-code.ts";
import { openShell, type ShellStreams } from "./interactive-shell.ts";
import { openRemoteFile, type RemoteFile } from "./sftp-read.ts";
import { uploadOverSftp, type UploadSource } from "./sftp-upload.ts";
import { loadSsh2 } from "./ssh2-module.ts";
import { forwardLocalPort, type PortForward } from "./tcp-forward.ts";

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** The private key's text (OpenSSH format, no passphrase)… */
  privateKey?: string;
  /** …or an ssh-agent socket that signs with the key. */
  agent?: string;
  /** How messages name the key, e.g. its path. */
  keyName?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;
/** sshd may accept TCP before it can talk; each attempt gets this long to finish the handshake. */
const HANDSHAKE_TIMEOUT_MS = 20_000;
const RETRY_DELAY_MS = 1_000;
/** A preempted instance stops answering; keepalives notice within about a minute. */
const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 4;
/** `lines()` stops reading the remote command while this much text waits for the consumer. */
const LINE_BACKLOG_LIMIT_CHARS = 4 * 1024 * 1024;
/** Failures that mean "nothing useful will change by retrying". */
const PERMANENT_NETWORK_CODES = new Set(["ENOTFOUND", "EAI_FAIL", "EACCES"]);

export class SshConnection {
  /** Resolves when the connection closes for any reason (used to notice a preempted instance). */
  readonly closed: Promise<void>;
  readonly #client: Client;
  readonly #target: SshTarget;
  #isClosed = false;
  #sftp: Promise<SFTPWrapper> | undefined;

  private constructor(client: Client, target: SshTarget) {
    this.#client = client;
    this.#target = target;
    // A dropped connection shows up as an 'error' then 'close'; the error is reported by whichever
    // operation was in flight, so here it only needs a listener.
    client.on("error", () => {});
    this.closed = new Promise((resolve) => {
      client.once("close", () => {
        this.#isClosed = true;
        resolve();
      });
    });
  }

  /**
   * Connects, retrying refused, reset or silent connections (sshd is not up yet on a booting
   * instance) until `timeoutMs` passes or `signal` fires. A rejected key fails at once with an
   * AuthenticationError.
   */
  static async connect(target: SshTarget, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<SshConnection> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      options.signal?.throwIfAborted();
      const remainingMs = deadline - Date.now();
      try {
        const client = await attemptConnection(await loadSsh2(), target, Math.max(1_000, Math.min(HANDSHAKE_TIMEOUT_MS, remainingMs)), options.signal);
        return new SshConnection(client, target);
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (isAuthenticationFailure(error)) throw refusedKey(target, error);
        if (isPermanent(error)) {
          throw new NetworkError(`Cannot reach ${describe(target)}: ${(error as Error).message}`, { cause: error });
        }
        if (Date.now() + RETRY_DELAY_MS >= deadline) {
          throw new FlowTimeoutError(
            `Could not open SSH to ${describe(target)} within ${Math.round(timeoutMs / 1000)}s (last error: ${(error as Error).message}).`,
            { cause: error, suggestions: ["the instance may still be booting, or it was stopped; check its status and try again"] },
          );
        }
        await sleep(RETRY_DELAY_MS, options.signal);
      }
    }
  }

  /** Runs `command` (through the login shell) to completion and collects its output. */
  async exec(command: string, options: { signal?: AbortSignal; stdin?: string | Uint8Array } = {}): Promise<ExecResult> {
    options.signal?.throwIfAborted();
    const channel = await this.#openExec(command);
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let code: number | undefined;
      const onAbort = () => {
        stopRemote(channel);
        reject(options.signal!.reason);
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      channel.on("data", (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      channel.on("exit", (exitCode: number | null, signalName?: string) => (code = exitCodeOf(exitCode, signalName)));
      channel.on("close", () => {
        options.signal?.removeEventListener("abort", onAbort);
        if (code === undefined) {
          reject(this.#lost(`while running \`${abbreviate(command)}\``));
          return;
        }
        resolve({ stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8"), code });
      });
      // Always send EOF: a command that reads stdin must not wait for input that never comes.
      channel.end(options.stdin === undefined ? undefined : Buffer.from(options.stdin));
    });
  }

  /**
   * Lines of a long-running command's stdout as they arrive (e.g. `tail -c +1 -F file`), split as
   * log-lines.ts says (`\n`, `\r\n` and a lone `\r` end a line; a very long line comes in
   * pieces). Ends when the command exits, the signal fires or the connection drops; breaking out
   * of the loop stops the remote command. The remote command is paused while the consumer is
   * behind, so memory stays bounded however fast it writes.
   */
  async *lines(command: string, options: { signal?: AbortSignal } = {}): AsyncIterable<string> {
    if (options.signal?.aborted) return;
    const channel = await this.#openExec(command);
    channel.end();
    const backlog: string[] = [];
    let backlogChars = 0;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const splitter = new LineSplitter((buffer, from, to) => {
      const line = buffer.toString("utf8", from, to);
      backlog.push(line);
      backlogChars += line.length + 1;
    });
    const finish = () => {
      if (ended) return;
      splitter.end();
      ended = true;
      notify();
    };
    channel.on("data", (chunk: Buffer) => {
      splitter.push(chunk);
      if (backlogChars >= LINE_BACKLOG_LIMIT_CHARS) channel.pause();
      notify();
    });
    channel.stderr.resume();
    channel.on("close", finish);
    options.signal?.addEventListener("abort", finish, { once: true });
    try {
      let next = 0;
      for (;;) {
        if (next < backlog.length) {
          const line = backlog[next]!;
          backlog[next++] = "";
          backlogChars -= line.length + 1;
          // Taken from the front in place (shift() is linear); compacted now and then.
          if (next >= 1024 && next * 2 >= backlog.length) {
            backlog.splice(0, next);
            next = 0;
          }
          if (backlogChars < LINE_BACKLOG_LIMIT_CHARS / 2) channel.resume();
          yield line;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      options.signal?.removeEventListener("abort", finish);
      stopRemote(channel);
    }
  }

  /** A file on the instance to read at any offset (SFTP), or undefined when there is no such file. */
  async openFile(path: string): Promise<RemoteFile | undefined> {
    const sftp = await this.#sftpSession();
    try {
      return await openRemoteFile(sftp, path);
    } catch (error) {
      if (this.#isClosed) throw this.#lost(`while reading ${path}`, error);
      throw error;
    }
  }

  /**
   * Opens the SFTP session now, without waiting for it (a few round trips), so that uploads that
   * follow other work start at once; an error shows at the first upload.
   */
  prepareUploads(): void {
    this.#sftpSession().catch(() => {});
  }

  /** SFTP upload: creates parent dirs, writes `<remotePath>.part`, sets the mode, renames into place. */
  async upload(data: UploadSource, remotePath: string, options: { mode?: number } = {}): Promise<void> {
    const sftp = await this.#sftpSession();
    try {
      await uploadOverSftp(sftp, data, remotePath, options.mode ?? 0o644);
    } catch (error) {
      if (this.#isClosed) throw this.#lost(`while uploading ${remotePath}`, error);
      throw error;
    }
  }

  /**
   * A local TCP listener on 127.0.0.1:<ephemeral port> whose connections are forwarded to
   * remoteHost:remotePort as seen from the instance. The agent's WebSocket rides inside.
   */
  forward(remoteHost: string, remotePort: number, localPort = 0): Promise<PortForward> {
    return forwardLocalPort(this.#client, this.closed, remoteHost, remotePort, localPort);
  }

  /**
   * An interactive shell (a pty when stdin is a terminal, sized to it) or `command`, attached to
   * the given streams. Resolves with the remote exit code.
   */
  shell(options: { command?: string } & ShellStreams): Promise<number> {
    return openShell(this.#client, options, () => this.#lost("during the shell session"));
  }

  close(): void {
    this.#client.end();
  }

  #openExec(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.#isClosed) {
        reject(this.#lost(`before \`${abbreviate(command)}\` could run`));
        return;
      }
      this.#client.exec(command, (error, channel) => {
        if (error) reject(this.#lost(`before \`${abbreviate(command)}\` could run`, error));
        else resolve(channel);
      });
    });
  }

  /** One SFTP session, opened on first use and shared by later uploads. */
  #sftpSession(): Promise<SFTPWrapper> {
    this.#sftp ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.#client.sftp((error, sftp) => {
        if (error) {
          reject(this.#lost("while opening SFTP", error));
          return;
        }
        sftp.on("close", () => (this.#sftp = undefined));
        resolve(sftp);
      });
    });
    this.#sftp.catch(() => (this.#sftp = undefined));
    return this.#sftp;
  }

  #lost(when: string, cause?: unknown): NetworkError {
    const detail = cause instanceof Error && !this.#isClosed ? `: ${cause.message}` : "";
    return new NetworkError(`The SSH connection to ${describe(this.#target)} was lost ${when}${detail}.`, {
      cause,
      suggestions: ["the instance may have been preempted or stopped; check its status"],
    });
  }
}

/** One connection attempt; resolves once authenticated. */
function attemptConnection(ssh2: typeof Ssh2, target: SshTarget, handshakeTimeoutMs: number, signal: AbortSignal | undefined): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    const onAbort = () => settle(signal!.reason as Error);
    const settle = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      client.removeAllListeners("ready");
      if (error === undefined) {
        client.removeListener("error", settle);
        client.removeListener("close", onEarlyClose);
        resolve(client);
      } else {
        client.destroy();
        reject(error);
      }
    };
    const onEarlyClose = () => settle(new Error("the connection closed during the SSH handshake"));
    signal?.addEventListener("abort", onAbort, { once: true });
    // ssh2 writes every SSH packet on its own: with Nagle's algorithm the second of two small
    // packets (an exec's request, then its EOF) waits for the peer's delayed ACK, ~40 ms a time.
    client.once("connect", () => client.setNoDelay(true));
    client.once("ready", () => settle(undefined));
    client.once("error", settle);
    client.once("close", onEarlyClose);
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      // One of the two is set.
      ...(target.privateKey === undefined ? {} : { privateKey: target.privateKey }),
      ...(target.agent === undefined ? {} : { agent: target.agent }),
      readyTimeout: handshakeTimeoutMs,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: KEEPALIVE_COUNT_MAX,
      // See the file comment: a new instance's host key cannot be known in advance.
      hostVerifier: () => true,
    });
  });
}

function isAuthenticationFailure(error: unknown): boolean {
  return error instanceof Error && (error as Error & { level?: string }).level === "client-authentication";
}

function isPermanent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && PERMANENT_NETWORK_CODES.has(code);
}

function refusedKey(target: SshTarget, cause: unknown): AuthenticationError {
  const key = target.keyName ?? "the configured key";
  return new AuthenticationError(`The instance ${describe(target)} refused SSH key ${key}.`, {
    cause,
    suggestions: [
      "check that this key's public half is registered with the project the instance was launched in",
      "if you passed a key path, make sure it is the private key whose public key you registered",
      ...(target.agent === undefined ? [] : [`the key is used through ssh-agent: check it is loaded (\`ssh-add -l\`; \`ssh-add ${key}\` adds it)`]),
    ],
  });
}

/** Asks the remote command to stop, then closes the channel (sshd then closes its pipes). */
function stopRemote(channel: ClientChannel): void {
  try {
    channel.signal("TERM");
  } catch {
    // The channel is already closed.
  }
  channel.close();
}

function describe(target: SshTarget): string {
  return `${target.user}@${target.host}:${target.port}`;
}

function abbreviate(command: string): string {
  const firstLine = command.split("\n")[0] ?? "";
  return firstLine.length > 60 ? `${firstLine.slice(0, 57)}...` : firstLine;
}

