/**
 * The simulator's sshd: one per simulated instance, on 127.0.0.1 with a fresh host key. It is a
 * real SSH server (ssh2) so the provider's client is exercised exactly as against a cloud machine:
 * public-key login, exec and shell sessions run by bash in the instance's sandbox, SFTP over the
 * real filesystem, and direct-tcpip forwarding to loopback ports (where the agent listens).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants, type Stats } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, rename, rmdir, stat, truncate, unlink, utimes, type FileHandle } from "node:fs/promises";
import { connect as netConnect, createServer, type Socket } from "node:net";
import { resolve as resolvePath } from "node:path";
import { Duplex } from "node:stream";
import ssh2, { type Attributes, type Connection, type ParsedKey, type PublicKeyAuthContext, type ServerChannel, type Session, type SFTPWrapper } from "ssh2";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";

// ssh2 is CommonJS; Node's ESM loader cannot see its named exports.
const { Server, utils } = ssh2;

export interface InstanceSshServerOptions {
  /** OpenSSH public key lines allowed to log in; called at every attempt (keys may be registered later). */
  authorizedKeys: () => readonly string[];
  /** The only user that may log in, e.g. "ubuntu". */
  user: string;
  /** The instance's sandbox directory: where commands start and relative SFTP paths point. */
  cwd: string;
  /** The sandbox env (includes FLOW_INSTANCE_ROOT and a PATH). */
  env: Record<string, string>;
  /** Added to every round trip over a connection, half each way, as a distant region's link does. */
  roundTripMs?: number;
}

export interface InstanceSshServer {
  readonly port: number;
  /** Fault injection: ends every client connection abruptly, as a preempted machine would. */
  dropConnections(): void;
  /**
   * Fault injection: the next exec whose command contains `match` does not run; every client
   * connection ends instead, so the client loses its connection with that command in flight.
   */
  dropConnectionsAtExec(match: string): void;
  /** Stops listening, ends every connection and kills every process a session started. */
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1"]);

export async function startInstanceSshServer(options: InstanceSshServerOptions): Promise<InstanceSshServer> {
  const sockets = new Set<Socket>();
  const children = new Set<ChildProcess>();
  const dropAtExec: string[] = [];
  // Whether `command` is to run, or the connections to drop in its place.
  const runs = (command: string): boolean => {
    const armed = dropAtExec.findIndex((match) => command.includes(match));
    if (armed === -1) return true;
    dropAtExec.splice(armed, 1);
    dropConnections();
    return false;
  };
  const ssh = new Server({ hostKeys: [generateEd25519KeyPair(utils).private] }, (connection) =>
    serveConnection(connection, options, children, runs),
  );
  // We own the TCP listener so that dropConnections() can reach the raw sockets.
  const listener = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    // sshd sends what one turn of its loop produced in one write; ssh2 writes packet by packet,
    // and with Nagle's algorithm each write after the first waits for the client's delayed ACK.
    socket.setNoDelay(true);
    const oneWayMs = (options.roundTripMs ?? 0) / 2;
    // ssh2 only reads and writes what it is given (its types ask for a Socket all the same).
    ssh.injectSocket(oneWayMs > 0 ? (withLatency(socket, oneWayMs) as Socket) : socket);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(0, "127.0.0.1", () => resolve());
  });
  const address = listener.address();
  if (address === null || typeof address === "string") throw new Error("the SSH listener has no TCP port");

  const dropConnections = () => {
    for (const socket of sockets) socket.destroy();
  };
  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    dropConnections,
    dropConnectionsAtExec: (match) => void dropAtExec.push(match),
    close() {
      closing ??= new Promise<void>((resolve) => {
        listener.close(() => resolve());
        dropConnections();
        for (const child of children) killGroup(child, "SIGKILL");
      });
      return closing;
    },
  };
}

/**
 * The socket as ssh2 sees it over a link with `oneWayMs` more latency each way (not less
 * bandwidth): each chunk, and the end, is passed on that much later, in order.
 */
function withLatency(socket: Socket, oneWayMs: number): Duplex {
  const later = (action: () => void) => setTimeout(action, oneWayMs);
  const link = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      later(() => socket.destroyed || socket.write(chunk));
      done();
    },
    final(done) {
      later(() => socket.end());
      done();
    },
    destroy(error, done) {
      socket.destroy();
      done(error);
    },
  });
  socket.on("data", (chunk: Buffer) => later(() => link.push(chunk)));
  socket.once("end", () => later(() => link.push(null)));
  socket.once("close", () => later(() => link.destroy()));
  return link;
}

function serveConnection(connection: Connection, options: InstanceSshServerOptions, children: Set<ChildProcess>, runs: (command: string) => boolean): void {
  connection.on("error", () => {});
  connection.on("authentication", (context) => {
    if (context.method !== "publickey" || context.username !== options.user) {
      context.reject(["publickey"]);
      return;
    }
    if (isAuthorized(context, options.authorizedKeys())) context.accept();
    else context.reject(["publickey"]);
  });
  connection.on("ready", () => {
    connection.on("session", (acceptSession) => serveSession(acceptSession(), options, children, runs));
    connection.on("tcpip", (accept, reject, info) => {
      if (!LOOPBACK_HOSTS.has(info.destIP)) {
        reject();
        return;
      }
      const upstream = netConnect({ host: info.destIP, port: info.destPort, allowHalfOpen: true });
      upstream.once("error", () => reject());
      upstream.once("connect", () => {
        upstream.removeAllListeners("error");
        splice(accept(), upstream);
      });
    });
  });
}

/**
 * Like sshd: the offered key must be one of the authorized keys, and when the client proves it
 * holds the private half (the signed attempt, as opposed to the signature-less probe) the
 * signature must verify.
 */
function isAuthorized(context: PublicKeyAuthContext, authorizedKeys: readonly string[]): boolean {
  const key = authorizedKeys.map(parsePublicKey).find((candidate) => candidate?.getPublicSSH().equals(context.key.data));
  if (key === undefined) return false;
  if (context.signature === undefined || context.blob === undefined) return true;
  return key.verify(context.blob, context.signature, context.hashAlgo) === true;
}

function parsePublicKey(line: string): ParsedKey | undefined {
  const parsed = utils.parseKey(line.trim());
  return parsed instanceof Error ? undefined : parsed;
}

function serveSession(session: Session, options: InstanceSshServerOptions, children: Set<ChildProcess>, runs: (command: string) => boolean): void {
  let pty = false;
  let running: ChildProcess | undefined;
  const run = (channel: ServerChannel, args: string[]) => {
    running = runProcess(channel, args, options, children, pty);
  };
  session.on("pty", (accept) => {
    pty = true;
    accept();
  });
  session.on("window-change", (accept) => accept?.());
  session.on("env", (_accept, reject) => reject?.());
  session.on("signal", (accept, _reject, info) => {
    if (running !== undefined) killGroup(running, `SIG${info.name}` as NodeJS.Signals);
    accept?.();
  });
  session.on("exec", (accept, _reject, info) => {
    const channel = accept();
    if (runs(info.command)) run(channel, ["-c", info.command]);
  });
  session.on("shell", (accept) => run(accept(), ["-i"]));
  session.on("sftp", (accept) => serveSftp(accept(), options.cwd));
}

/** bash with the sandbox's cwd and env; its own process group so the whole tree can be killed. */
function runProcess(channel: ServerChannel, args: string[], options: InstanceSshServerOptions, children: Set<ChildProcess>, pty: boolean): ChildProcess {
  // --norc/--noprofile: bash would otherwise read this host's ~/.bashrc (it does so when its stdin
  // is a socket, as under sshd), and the sandbox must not depend on who runs the tests.
  const child = spawn("bash", ["--norc", "--noprofile", ...args], { cwd: options.cwd, env: options.env, stdio: "pipe", detached: true });
  children.add(child);
  child.stdin.on("error", () => {});
  channel.on("error", () => {});
  channel.pipe(child.stdin);
  child.stdout.pipe(channel, { end: false });
  // With a pty the terminal merges both streams, as sshd's does.
  child.stderr.pipe(pty ? channel : channel.stderr, { end: false });
  child.once("error", (error) => {
    children.delete(child);
    channel.stderr.write(`bash: ${error.message}\n`);
    channel.exit(127);
    channel.end();
  });
  // 'close' waits for stdout and stderr to drain, so the exit status follows all output.
  child.once("close", (code, signal) => {
    children.delete(child);
    if (signal !== null) channel.exit(signal.replace(/^SIG/, ""), false, "");
    else channel.exit(code ?? 255);
    channel.end();
  });
  channel.once("close", () => {
    if (child.exitCode === null && child.signalCode === null) killGroup(child, "SIGKILL");
  });
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function splice(channel: ServerChannel, socket: Socket): void {
  channel.pipe(socket);
  socket.pipe(channel);
  socket.on("error", () => channel.close());
  channel.on("error", () => socket.destroy());
  socket.once("close", () => channel.close());
  channel.once("close", () => socket.destroy());
}

// ---- SFTP ----------------------------------------------------------------------------------------

type OpenHandle = { kind: "file"; file: FileHandle } | { kind: "directory"; path: string; listed: boolean };

const { OPEN_MODE, STATUS_CODE } = utils.sftp;

/** A small SFTP v3 server over the real filesystem; relative paths start at `home`. */
function serveSftp(sftp: SFTPWrapper, home: string): void {
  const handles = new Map<string, OpenHandle>();
  let nextHandle = 0;
  const allocate = (handle: OpenHandle) => {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(nextHandle++);
    handles.set(id.toString("hex"), handle);
    return id;
  };
  const lookup = (id: Buffer) => handles.get(id.toString("hex"));
  const at = (path: string) => resolvePath(home, path);

  /** Runs one request; any thrown filesystem error becomes the matching status reply. */
  const serve = <A extends unknown[]>(handler: (reqId: number, ...args: A) => Promise<void>) =>
    (reqId: number, ...args: A) => {
      handler(reqId, ...args).catch((error: unknown) => sftp.status(reqId, statusOf(error), (error as Error).message));
    };
  const ok = (reqId: number) => sftp.status(reqId, STATUS_CODE.OK);
  const badHandle = (reqId: number) => sftp.status(reqId, STATUS_CODE.FAILURE, "invalid handle");

  sftp.on("OPEN", serve(async (reqId, filename: string, flags: number, attrs: Partial<Attributes>) => {
    const file = await open(at(filename), openFlags(flags), typeof attrs.mode === "number" ? attrs.mode & 0o7777 : 0o644);
    sftp.handle(reqId, allocate({ kind: "file", file }));
  }));
  sftp.on("READ", serve(async (reqId, id: Buffer, offset: number, length: number) => {
    const handle = lookup(id);
    if (handle?.kind !== "file") return badHandle(reqId);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.file.read(buffer, 0, length, offset);
    if (bytesRead === 0) sftp.status(reqId, STATUS_CODE.EOF);
    else sftp.data(reqId, buffer.subarray(0, bytesRead));
  }));
  sftp.on("WRITE", serve(async (reqId, id: Buffer, offset: number, data: Buffer) => {
    const handle = lookup(id);
    if (handle?.kind !== "file") return badHandle(reqId);
    await handle.file.write(data, 0, data.length, offset);
    ok(reqId);
  }));
  sftp.on("CLOSE", serve(async (reqId, id: Buffer) => {
    const handle = lookup(id);
    if (handle === undefined) return badHandle(reqId);
    handles.delete(id.toString("hex"));
    if (handle.kind === "file") await handle.file.close();
    ok(reqId);
  }));
  sftp.on("FSTAT", serve(async (reqId, id: Buffer) => {
    const handle = lookup(id);
    if (handle?.kind !== "file") return badHandle(reqId);
    sftp.attrs(reqId, attributesOf(await handle.file.stat()));
  }));
  sftp.on("STAT", serve(async (reqId, path: string) => sftp.attrs(reqId, attributesOf(await stat(at(path))))));
  sftp.on("LSTAT", serve(async (reqId, path: string) => sftp.attrs(reqId, attributesOf(await lstat(at(path))))));
  sftp.on("SETSTAT", serve(async (reqId, path: string, attrs: Partial<Attributes>) => {
    await applyAttributes(at(path), attrs);
    ok(reqId);
  }));
  sftp.on("FSETSTAT", serve(async (reqId, id: Buffer, attrs: Partial<Attributes>) => {
    const handle = lookup(id);
    if (handle?.kind !== "file") return badHandle(reqId);
    if (attrs.mode !== undefined) await handle.file.chmod(attrs.mode & 0o7777);
    if (attrs.size !== undefined) await handle.file.truncate(attrs.size);
    if (attrs.atime !== undefined && attrs.mtime !== undefined) await handle.file.utimes(attrs.atime, attrs.mtime);
    ok(reqId);
  }));
  sftp.on("MKDIR", serve(async (reqId, path: string, attrs: Partial<Attributes>) => {
    await mkdir(at(path), { mode: attrs.mode === undefined ? 0o755 : attrs.mode & 0o7777 });
    ok(reqId);
  }));
  sftp.on("RMDIR", serve(async (reqId, path: string) => {
    await rmdir(at(path));
    ok(reqId);
  }));
  sftp.on("REMOVE", serve(async (reqId, path: string) => {
    await unlink(at(path));
    ok(reqId);
  }));
  sftp.on("RENAME", serve(async (reqId, from: string, to: string) => {
    await rename(at(from), at(to));
    ok(reqId);
  }));
  sftp.on("REALPATH", serve(async (reqId, path: string) => {
    const absolute = at(path);
    sftp.name(reqId, [{ filename: absolute, longname: absolute, attrs: {} as Attributes }]);
  }));
  sftp.on("OPENDIR", serve(async (reqId, path: string) => {
    const absolute = at(path);
    if (!(await stat(absolute)).isDirectory()) return sftp.status(reqId, STATUS_CODE.FAILURE, "not a directory");
    sftp.handle(reqId, allocate({ kind: "directory", path: absolute, listed: false }));
  }));
  sftp.on("READDIR", serve(async (reqId, id: Buffer) => {
    const handle = lookup(id);
    if (handle?.kind !== "directory") return badHandle(reqId);
    if (handle.listed) return sftp.status(reqId, STATUS_CODE.EOF);
    handle.listed = true;
    const names = await readdir(handle.path);
    const entries = await Promise.all(
      names.map(async (filename) => {
        const stats = await lstat(resolvePath(handle.path, filename));
        return { filename, longname: longName(filename, stats), attrs: attributesOf(stats) };
      }),
    );
    sftp.name(reqId, entries);
  }));
  for (const unsupported of ["READLINK", "SYMLINK", "EXTENDED"] as const) {
    sftp.on(unsupported, (reqId: number) => sftp.status(reqId, STATUS_CODE.OP_UNSUPPORTED));
  }
  sftp.on("error", () => {});
  // The client's EOF ends the session (OpenSSH's sftp waits for the channel to close on `bye`).
  sftp.once("end", () => sftp.end());
  sftp.once("close", () => {
    for (const handle of handles.values()) if (handle.kind === "file") void handle.file.close().catch(() => {});
    handles.clear();
  });
}

function openFlags(flags: number): number {
  const read = (flags & OPEN_MODE.READ) !== 0;
  const write = (flags & OPEN_MODE.WRITE) !== 0 || (flags & OPEN_MODE.APPEND) !== 0;
  let result = read && write ? fsConstants.O_RDWR : write ? fsConstants.O_WRONLY : fsConstants.O_RDONLY;
  if (flags & OPEN_MODE.APPEND) result |= fsConstants.O_APPEND;
  if (flags & OPEN_MODE.CREAT) result |= fsConstants.O_CREAT;
  if (flags & OPEN_MODE.TRUNC) result |= fsConstants.O_TRUNC;
  if (flags & OPEN_MODE.EXCL) result |= fsConstants.O_EXCL;
  return result;
}

async function applyAttributes(path: string, attrs: Partial<Attributes>): Promise<void> {
  if (attrs.mode !== undefined) await chmod(path, attrs.mode & 0o7777);
  if (attrs.size !== undefined) await truncate(path, attrs.size);
  if (attrs.atime !== undefined && attrs.mtime !== undefined) await utimes(path, attrs.atime, attrs.mtime);
}

function attributesOf(stats: Stats): Attributes {
  return {
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    atime: Math.floor(stats.atimeMs / 1000),
    mtime: Math.floor(stats.mtimeMs / 1000),
  };
}

/** The `ls -l` line OpenSSH's sftp client prints for `ls -l`. */
function longName(filename: string, stats: Stats): string {
  const type = stats.isDirectory() ? "d" : stats.isSymbolicLink() ? "l" : "-";
  const permissions = [6, 3, 0].map((shift) => {
    const bits = (stats.mode >> shift) & 7;
    return `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${bits & 1 ? "x" : "-"}`;
  });
  const modified = stats.mtime.toISOString().slice(0, 16).replace("T", " ");
  return `${type}${permissions.join("")} ${String(stats.nlink).padStart(3)} ${String(stats.uid).padEnd(8)} ${String(stats.gid).padEnd(8)} ${String(stats.size).padStart(10)} ${modified} ${filename}`;
}

function statusOf(error: unknown): number {
  switch ((error as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return STATUS_CODE.NO_SUCH_FILE;
    case "EACCES":
    case "EPERM":
      return STATUS_CODE.PERMISSION_DENIED;
    default:
      return STATUS_CODE.FAILURE;
  }
}
