import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { connect as netConnect, createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PassThrough, Readable } from "node:stream";
import ssh2 from "ssh2";
import { WebSocket, WebSocketServer } from "ws";
import { AuthenticationError, NetworkError, FlowTimeoutError, ValidationError } from "../../src/errors.ts";
import { ensureProjectKey, loadPrivateKey, SshConnection, type SshKeyPair, type SshTarget } from "../../src/providers/fcp/ssh/index.ts";
import { lastLines, MAX_LINE_BYTES, tailStart } from "../../src/providers/log-lines.ts";
import { startInstanceSshServer, type InstanceSshServer } from "../../tools/fcp-sim/ssh-server.ts";
import { generateEd25519KeyPair } from "../../src/providers/fcp/ssh/ed25519-keygen.ts";

// ssh2 is CommonJS; Node's ESM loader cannot see its named exports.
const { utils } = ssh2;

const USER = "ubuntu";

describe("SSH keys", () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), "flow-ssh-keys-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  it("generates the project key once (0600 in a 0700 directory) and reuses it", async () => {
    const keysDir = join(dir, "nested", "keys");
    const first = await ensureProjectKey({ project: "my-project", keysDir });
    assert.equal(first.created, true);
    assert.equal(first.privateKeyPath, join(keysDir, "flow-my-project"));
    assert.match(first.publicKey, /^ssh-ed25519 AAAA\S+ flow-my-project$/);
    assert.equal((await stat(first.privateKeyPath)).mode & 0o777, 0o600);
    assert.equal((await stat(keysDir)).mode & 0o777, 0o700);
    assert.equal((await readFile(`${first.privateKeyPath}.pub`, "utf8")).trim(), first.publicKey);

    const again = await ensureProjectKey({ project: "my-project", keysDir });
    assert.equal(again.created, false);
    assert.equal(again.privateKey, first.privateKey);
    assert.equal(again.publicKey, first.publicKey);
    assert.deepEqual((await readdir(keysDir)).sort(), ["flow-my-project", "flow-my-project.pub"]);
  });

  it("loads a user's key and derives its public half", async () => {
    const generated = generateEd25519KeyPair(utils, "me@laptop");
    const path = join(dir, "id_ed25519");
    await writeFile(path, generated.private, { mode: 0o600 });
    const pair = await loadPrivateKey(path);
    assert.equal(pair.name, "id_ed25519");
    assert.equal(pair.publicKey, generated.public.trim());
  });

  it("explains keys it cannot use", async () => {
    await assert.rejects(loadPrivateKey(join(dir, "absent")), (error: unknown) => error instanceof ValidationError && /does not exist/.test(error.message));

    const generated = generateEd25519KeyPair(utils);
    await writeFile(join(dir, "public.pub"), generated.public);
    await assert.rejects(loadPrivateKey(join(dir, "public.pub")), (error: unknown) => error instanceof ValidationError && /public key/.test(error.message));

    await writeFile(join(dir, "garbage"), "not a key\n");
    await assert.rejects(loadPrivateKey(join(dir, "garbage")), (error: unknown) => error instanceof ValidationError && /not a private key/.test(error.message));

    // An ECDSA key: ssh2's ed25519 keygen sometimes writes unreadable keys (see ed25519-keygen.ts).
    const encrypted = utils.generateKeyPairSync("ecdsa", { bits: 256, passphrase: "secret", cipher: "aes256-ctr", rounds: 4 });
    await writeFile(join(dir, "encrypted"), encrypted.private);
    await assert.rejects(loadPrivateKey(join(dir, "encrypted")), (error: unknown) => error instanceof ValidationError && /passphrase/.test(error.message));

    await assert.rejects(loadPrivateKey(dir), (error: unknown) => error instanceof ValidationError && /directory/.test(error.message));
  });
});

describe("SSH connection against the simulator's sshd", { timeout: 30_000 }, () => {
  let sandbox: string;
  let key: SshKeyPair;
  let server: InstanceSshServer;
  let target: SshTarget;
  const authorized: string[] = [];
  const serverOptions = () => ({
    authorizedKeys: () => authorized,
    user: USER,
    cwd: sandbox,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", FLOW_INSTANCE_ROOT: sandbox },
  });

  before(async () => {
    sandbox = await mkdtemp(join(tmpdir(), "flow-ssh-sandbox-"));
    key = await ensureProjectKey({ project: "test", keysDir: join(sandbox, ".keys") });
    authorized.push(key.publicKey);
    server = await startInstanceSshServer(serverOptions());
    target = { host: "127.0.0.1", port: server.port, user: USER, keyName: key.privateKeyPath, ...(key.privateKey === undefined ? {} : { privateKey: key.privateKey }) };
  });
  after(async () => {
    await server.close();
    await rm(sandbox, { recursive: true, force: true });
  });

  it("runs commands in the sandbox with its env, stdin and exit code", async () => {
    const ssh = await SshConnection.connect(target);
    try {
      const result = await ssh.exec('pwd; echo "$FLOW_INSTANCE_ROOT"; echo oops >&2; exit 7');
      assert.deepEqual(result, { stdout: `${sandbox}\n${sandbox}\n`, stderr: "oops\n", code: 7 });
      assert.deepEqual(await ssh.exec("cat", { stdin: "piped input" }), { stdout: "piped input", stderr: "", code: 0 });
      assert.equal((await ssh.exec("cat")).stdout, "", "stdin gets EOF when none is given");
      assert.equal((await ssh.exec("kill -TERM $$")).code, 128 + 15);
    } finally {
      ssh.close();
    }
  });

  it("refuses a key that is not authorized, or the wrong user, with AuthenticationError", async () => {
    const stranger = generateEd25519KeyPair(utils).private;
    await assert.rejects(SshConnection.connect({ ...target, privateKey: stranger, keyName: "stranger-key" }), (error: unknown) => {
      assert.ok(error instanceof AuthenticationError);
      assert.match(error.message, /refused SSH key stranger-key/);
      return true;
    });
    await assert.rejects(SshConnection.connect({ ...target, user: "root" }), AuthenticationError);
  });

  it("accepts a key registered after the server started", async () => {
    const later = generateEd25519KeyPair(utils);
    authorized.push(later.public);
    const ssh = await SshConnection.connect({ ...target, privateKey: later.private });
    assert.equal((await ssh.exec("echo hi")).stdout, "hi\n");
    ssh.close();
  });

  it("keeps retrying until sshd listens", async () => {
    const port = await freePort();
    let proxy: Server | undefined;
    // The "instance" comes up a little later: a proxy to the real server appears on the port.
    const timer = setTimeout(() => {
      proxy = createServer((socket) => {
        const upstream = netConnect(server.port, "127.0.0.1");
        socket.pipe(upstream).pipe(socket);
        socket.on("error", () => upstream.destroy());
        upstream.on("error", () => socket.destroy());
      }).listen(port, "127.0.0.1");
    }, 300);
    try {
      const ssh = await SshConnection.connect({ ...target, port }, { timeoutMs: 20_000 });
      assert.equal((await ssh.exec("echo up")).stdout, "up\n");
      ssh.close();
      await ssh.closed;
    } finally {
      clearTimeout(timer);
      proxy?.close();
    }
  });

  it("gives up with a FlowTimeoutError when sshd never comes up", async () => {
    const port = await freePort();
    await assert.rejects(SshConnection.connect({ ...target, port }, { timeoutMs: 500 }), (error: unknown) => {
      assert.ok(error instanceof FlowTimeoutError);
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
  });

  it("gives up on abort while retrying", async () => {
    const port = await freePort();
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stop trying")), 300);
    await assert.rejects(SshConnection.connect({ ...target, port }, { signal: controller.signal }), /stop trying/);
  });

  it("streams lines of a growing file and stops on abort", async () => {
    const ssh = await SshConnection.connect(target);
    const log = join(sandbox, "growing.log");
    await writeFile(log, "line 1\n");
    const controller = new AbortController();
    const seen: string[] = [];
    let written = 1;
    const writer = setInterval(() => void appendFile(log, `line ${++written}\n`), 50);
    try {
      for await (const line of ssh.lines(`tail -n +1 -F ${log}`, { signal: controller.signal })) {
        seen.push(line);
        if (seen.length === 3) controller.abort();
      }
    } finally {
      clearInterval(writer);
    }
    assert.deepEqual(seen.slice(0, 3), ["line 1", "line 2", "line 3"]);
    // The connection is still usable and the tail was stopped.
    // ("[+]" keeps the pattern from matching the bash that runs pgrep.)
    await waitFor(async () => (await ssh.exec(`pgrep -f 'tail -n [+]1 -F ${log}' || true`)).stdout === "");
    ssh.close();
  });

  it("ends lines() when the command exits", async () => {
    const ssh = await SshConnection.connect(target);
    const lines: string[] = [];
    for await (const line of ssh.lines("printf 'a\\nb\\r\\nc'")) lines.push(line);
    assert.deepEqual(lines, ["a", "b", "c"]);
    ssh.close();
  });

  it("splits lines() at \\r too, and cuts a line without a break into bounded pieces", async () => {
    const ssh = await SshConnection.connect(target);
    const lines: string[] = [];
    for await (const line of ssh.lines("head -c 200000 /dev/zero | tr '\\0' x; printf '\\r 1%%|#\\r 2%%|##\\r\\ndone'")) lines.push(line);
    ssh.close();
    const pieces = lines.slice(0, -3);
    assert.ok(pieces.every((piece) => piece.length <= MAX_LINE_BYTES && /^x+$/.test(piece)), `pieces of ${pieces.map((p) => p.length).join(", ")}`);
    assert.equal(pieces.join("").length, 200_000);
    assert.deepEqual(lines.slice(-3), [" 1%|#", " 2%|##", "done"]);
  });

  it("reads a remote file from the end over SFTP: the last lines of a 4 MB progress bar", async () => {
    const ssh = await SshConnection.connect(target);
    try {
      const path = join(sandbox, "bar.log");
      await writeFile(path, `${Array.from({ length: 200_000 }, (_, i) => `\r${i}/200000`).join("")}\ndone\n`);
      const file = await ssh.openFile(path);
      assert.ok(file !== undefined);
      try {
        assert.deepEqual(await lastLines(file, 3), ["199998/200000", "199999/200000", "done"]);
        const size = await file.size();
        assert.equal(await tailStart(file, 1, size), size - "done\n".length);
      } finally {
        await file.close();
      }
      assert.equal(await ssh.openFile(join(sandbox, "absent.log")), undefined);
    } finally {
      ssh.close();
    }
  });

  it("uploads 5 MiB byte for byte with its mode, replacing an older file, leaving no .part", async () => {
    const ssh = await SshConnection.connect(target);
    const data = randomBytes(5 * 1024 * 1024);
    const remote = join(sandbox, "agent", "deep", "secret");
    await mkdir(join(sandbox, "agent", "deep"), { recursive: true });
    await writeFile(remote, "old");
    await ssh.upload(data, remote, { mode: 0o600 });
    assert.ok((await readFile(remote)).equals(data));
    assert.equal((await stat(remote)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(sandbox, "agent", "deep")), ["secret"]);

    const local = join(sandbox, "local-archive.bin");
    await writeFile(local, data.subarray(0, 1_000_000));
    const remoteArchive = join(sandbox, "fresh", "dir", "code.tar.gz");
    await ssh.upload({ localPath: local }, remoteArchive);
    assert.ok((await readFile(remoteArchive)).equals(data.subarray(0, 1_000_000)));
    assert.equal((await stat(remoteArchive)).mode & 0o777, 0o644);
    await ssh.upload(new Uint8Array(), join(sandbox, "uploaded"));
    assert.equal((await readFile(join(sandbox, "uploaded"))).length, 0);
    ssh.close();
  });

  it("with roundTripMs, every round trip takes that much longer and every byte still arrives in order", async () => {
    const distant = await startInstanceSshServer({ ...serverOptions(), roundTripMs: 200 });
    const ssh = await SshConnection.connect({ ...target, port: distant.port });
    try {
      // An exec is at least a channel open and the command's answer: two round trips.
      const startedAt = performance.now();
      assert.equal((await ssh.exec("echo hi")).stdout, "hi\n");
      assert.ok(performance.now() - startedAt >= 400, "an exec took less than two added round trips");
      const data = randomBytes(3 * 1024 * 1024);
      const remote = join(sandbox, "distant.bin");
      await ssh.upload(data, remote);
      assert.ok((await readFile(remote)).equals(data));
      assert.equal((await ssh.exec("cat", { stdin: "through the slow link" })).stdout, "through the slow link");
    } finally {
      ssh.close();
      await distant.close();
    }
  });

  it("forwards a local port to a TCP server on the instance's loopback", async () => {
    const echo = createServer((socket) => socket.pipe(socket)).listen(0, "127.0.0.1");
    await new Promise((resolve) => echo.once("listening", resolve));
    const ssh = await SshConnection.connect(target);
    const tunnel = await ssh.forward("127.0.0.1", (echo.address() as AddressInfo).port);
    try {
      const payload = randomBytes(256 * 1024);
      const socket = netConnect(tunnel.localPort, "127.0.0.1");
      const received: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => received.push(chunk));
      socket.end(payload);
      await new Promise((resolve) => socket.once("close", resolve));
      assert.ok(Buffer.concat(received).equals(payload));
    } finally {
      await tunnel.close();
      ssh.close();
      echo.close();
    }
  });

  it("carries a WebSocket through the forward", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => wss.once("listening", resolve));
    wss.on("connection", (socket) => socket.on("message", (data) => socket.send(`echo:${String(data)}`)));
    const ssh = await SshConnection.connect(target);
    const tunnel = await ssh.forward("127.0.0.1", (wss.address() as AddressInfo).port);
    try {
      const client = new WebSocket(`ws://127.0.0.1:${tunnel.localPort}`);
      await new Promise((resolve, reject) => client.once("open", resolve).once("error", reject));
      const reply = new Promise<string>((resolve) => client.once("message", (data) => resolve(String(data))));
      client.send("hello");
      assert.equal(await reply, "echo:hello");
      client.close();
    } finally {
      await tunnel.close();
      ssh.close();
      wss.close();
    }
  });

  it("resolves closed when the instance drops the connection, and fails later work clearly", async () => {
    const ssh = await SshConnection.connect(target);
    const tunnel = await ssh.forward("127.0.0.1", 9);
    server.dropConnections();
    await ssh.closed;
    await assert.rejects(ssh.exec("true"), NetworkError);
    await tunnel.close();
  });

  it("runs a shell command attached to streams and returns its exit code", async () => {
    const ssh = await SshConnection.connect(target);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const output: Buffer[] = [];
    stdout.on("data", (chunk: Buffer) => output.push(chunk));
    stderr.resume();
    const code = await ssh.shell({ command: "echo from-command; exit 3", stdin: Readable.from([]), stdout, stderr });
    assert.equal(code, 3);
    assert.equal(Buffer.concat(output).toString(), "from-command\n");

    const shellOut: Buffer[] = [];
    const shellStdout = new PassThrough().on("data", (chunk: Buffer) => shellOut.push(chunk));
    const shellCode = await ssh.shell({ stdin: Readable.from(["echo inside-shell\n", "exit 4\n"]), stdout: shellStdout, stderr });
    assert.equal(shellCode, 4);
    assert.match(Buffer.concat(shellOut).toString(), /inside-shell/);
    ssh.close();
  });
});

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => probe.once("listening", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail("condition never became true");
}
