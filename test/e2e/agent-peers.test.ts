// Peers that misbehave or are merely slow, against a real agent over real sockets: a bad peer loses
// its own connection and nothing else; a slow link or a caller's blocked event loop is not a dead agent.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildArchive, type CodeArchive } from "../../src/bundler/index.ts";
import type { AgentEndpoint } from "../../src/providers/provider.ts";
import { LocalProvider } from "../../src/providers/local/local-provider.ts";
import { CANCEL_GRACE_MS } from "../../src/runtime/protocol.ts";
import { AgentSession } from "../../src/runtime/session.ts";
import { SDK_EXPORTS } from "../../src/app/sdk-exports.ts";
import { isAlive, repoRoot, runNode } from "./helpers.ts";

let archive: CodeArchive;
const provider = new LocalProvider();
before(async () => {
  archive = await buildArchive({ entry: join(repoRoot, "test/fixtures/e2e/hardening.ts"), sdkExports: SDK_EXPORTS });
});
after(() => provider.shutdown());

async function agent(): Promise<{ endpoint: AgentEndpoint; session: AgentSession }> {
  const endpoint = await provider.startAgent({ label: "peers", archive });
  const session = await AgentSession.connect({ url: endpoint.url, secret: endpoint.secret, onLog: () => {} });
  return { endpoint, session };
}

const portOf = (endpoint: AgentEndpoint) => Number(new URL(endpoint.url).port);

/** A raw TCP connection to the agent that has sent `bytes`. */
function rawConnection(port: number, bytes: Buffer | string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(bytes);
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

const upgradeRequest = (port: number, secret: string | undefined) =>
  [
    "GET / HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...(secret === undefined ? [] : [`Authorization: Bearer ${secret}`]),
    "",
    "",
  ].join("\r\n");

/** A client frame: FIN, `opcode`, masked (or not) `payload`; `length` may lie about its size. */
function clientFrame(opcode: number, payload: Buffer, options: { masked?: boolean; length?: bigint } = {}): Buffer {
  const masked = options.masked ?? true;
  const length = options.length ?? BigInt(payload.length);
  const header = [0x80 | opcode];
  if (length < 126n) header.push((masked ? 0x80 : 0) | Number(length));
  else {
    header.push((masked ? 0x80 : 0) | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(length);
    header.push(...big);
  }
  const mask = masked ? [1, 2, 3, 4] : [];
  const body = masked ? payload.map((byte, i) => byte ^ mask[i % 4]!) : payload;
  return Buffer.concat([Buffer.from(header), Buffer.from(mask), Buffer.from(body)]);
}

/** Waits for the upgrade's answer, then sends `after`. */
async function authenticated(port: number, secret: string, after: Buffer): Promise<Socket> {
  const socket = await rawConnection(port, upgradeRequest(port, secret));
  await new Promise<void>((resolve) => socket.once("data", () => resolve()));
  socket.write(after);
  return socket;
}

describe("bad peers close only their own connection", () => {
  it("the agent survives 1,000 hostile connections (resets, bad frames, bad secrets) while a client's calls all succeed", async () => {
    const { endpoint, session } = await agent();
    const port = portOf(endpoint);
    const closeCode = Buffer.alloc(2);
    closeCode.writeUInt16BE(1005);
    const attacks: (() => Promise<Socket>)[] = [
      // No secret, then a reset while the agent answers 401.
      () => rawConnection(port, upgradeRequest(port, undefined)),
      () => rawConnection(port, upgradeRequest(port, "not-the-secret")),
      // Authenticated, then a malformed frame: unmasked, a reserved opcode, invalid UTF-8, an invalid close code, a length over the limit.
      () => authenticated(port, endpoint.secret, clientFrame(1, Buffer.from("hi"), { masked: false })),
      () => authenticated(port, endpoint.secret, clientFrame(3, Buffer.from("x"))),
      () => authenticated(port, endpoint.secret, clientFrame(1, Buffer.from([0xff, 0xfe, 0xfd]))),
      () => authenticated(port, endpoint.secret, clientFrame(8, closeCode)),
      () => authenticated(port, endpoint.secret, clientFrame(2, Buffer.alloc(0), { length: 2n ** 62n })),
      // Not HTTP at all.
      () => rawConnection(port, Buffer.from([0, 1, 2, 3, 0xff])),
    ];
    const calls: Promise<unknown>[] = [];
    let attempted = 0;
    const worker = async () => {
      while (attempted < 1_000) {
        const attack = attacks[attempted++ % attacks.length]!;
        const socket = await attack().catch(() => undefined);
        // Half are reset at once, the rest closed when the agent answers or right away.
        if (attempted % 2 === 0) socket?.resetAndDestroy();
        else socket?.destroy();
        calls.push(session.call("echo", [{ attempted }]));
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    const results = await Promise.all(calls);
    assert.equal(results.length, 1_000);
    assert.ok(isAlive(session.pid), "the agent is alive");
    assert.deepEqual(await session.call("echo", ["still here"]), "still here");
    await session.close();
  });

  it("announcing 100 blobs of 2 GiB each, with no data sent, reserves no memory on the agent", async () => {
    const { endpoint, session } = await agent();
    const port = portOf(endpoint);
    const before = workerVirtualMemory(session.pid);
    const claims = Array.from({ length: 100 }, (_, i) =>
      clientFrame(
        1,
        Buffer.from(JSON.stringify({ type: "call", callId: `claim-${i}`, functionId: "echo", args: { json: [] }, blobs: [2 ** 31 - 4096], blobStream: i + 1 })),
      ),
    );
    const socket = await authenticated(port, endpoint.secret, Buffer.concat(claims));
    // The claims are in once a call sent after them on the same agent has come back.
    assert.equal(await session.call("echo", ["after the claims"]), "after the claims");
    const grown = workerVirtualMemory(session.pid) - before;
    assert.ok(grown < 8 * 2 ** 30, `the worker's virtual memory grew by ${(grown / 2 ** 30).toFixed(1)} GiB`);
    socket.destroy();
    await session.close();
  });
});

describe("calls whose arguments never all arrive", () => {
  it("a call cancelled, or left by its client, before its arguments are in does not cost the worker", async () => {
    const { endpoint, session: legit } = await agent();
    const logs: string[] = [];
    const watcher = await AgentSession.connect({ url: endpoint.url, secret: endpoint.secret, onLog: (_id, _stream, data) => logs.push(data) });
    const port = portOf(endpoint);
    const worker = await legit.call("workerPid", []);
    const announce = (callId: string) =>
      clientFrame(1, Buffer.from(JSON.stringify({ type: "call", callId, functionId: "echo", args: { json: [] }, blobs: [1 << 20], blobStream: 1 })));
    const half = clientFrame(2, Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(1 << 19)]));
    // One client cancels its call halfway through the arguments, another leaves.
    const cancelling = await authenticated(port, endpoint.secret, Buffer.concat([announce("halfway"), half]));
    cancelling.write(clientFrame(1, Buffer.from(JSON.stringify({ type: "cancel", callId: "halfway" }))));
    const leaving = await authenticated(port, endpoint.secret, Buffer.concat([announce("left"), half]));
    assert.equal(await legit.call("echo", ["both are in"]), "both are in");
    leaving.destroy();
    // Past the grace a cancelled call has, after which a worker still running it is killed.
    await new Promise((resolve) => setTimeout(resolve, CANCEL_GRACE_MS + 1_000));
    assert.equal(await legit.call("workerPid", []), worker, "the same worker runs calls");
    assert.ok(!logs.join("").includes("was stopped"), logs.join(""));
    cancelling.destroy();
    await watcher.close();
    await legit.close();
  });
});

describe("slow is not dead", () => {
  it("48 MiB up and 24 MiB down over a link paced at 2.5 MB/s", async () => {
    const { endpoint, session } = await agent();
    await session.close();
    const proxy = await pacedProxy(portOf(endpoint), 2_500_000);
    try {
      const slow = await AgentSession.connect({ url: `ws://127.0.0.1:${proxy.port}`, secret: endpoint.secret, onLog: () => {} });
      const sent = new Uint8Array(48 << 20).fill(3);
      const result = (await slow.call("exchange", [sent, 24 << 20])) as { received: number; back: Uint8Array };
      assert.equal(result.received, 48 << 20);
      assert.equal(result.back.byteLength, 24 << 20);
      await slow.close();
    } finally {
      proxy.server.close();
    }
  });

  it("a caller whose event loop is blocked for 12 s keeps its call", async () => {
    const { code, stdout, stderr } = await runNode(["--import", "flow-sdk/register", "test/fixtures/e2e/blocked-client.ts"]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /slept 15000 ms/);
  });
});

/** The agent's worker: the process the agent started (Linux). */
function workerVirtualMemory(agentPid: number): number {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid !== agentPid) continue;
    const match = /VmSize:\s+(\d+) kB/.exec(readFileSync(`/proc/${name}/status`, "utf8"));
    return Number(match![1]) * 1024;
  }
  throw new Error(`no worker under agent ${agentPid}`);
}

/** A TCP proxy to `port` that lets at most `bytesPerSecond` through, each way. */
async function pacedProxy(port: number, bytesPerSecond: number): Promise<{ server: Server; port: number }> {
  const server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    pace(client, upstream, bytesPerSecond);
    pace(upstream, client, bytesPerSecond);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Passes `from`'s bytes to `to` at `bytesPerSecond`, in 16 KiB pieces; idle time earns no burst. */
function pace(from: Socket, to: Socket, bytesPerSecond: number): void {
  let due = 0;
  let queue = Promise.resolve();
  from.on("data", (chunk: Buffer) => {
    from.pause();
    queue = queue.then(async () => {
      for (let offset = 0; offset < chunk.length; offset += 16 << 10) {
        const piece = chunk.subarray(offset, offset + (16 << 10));
        due = Math.max(due, Date.now()) + (piece.length / bytesPerSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        to.write(piece);
      }
      from.resume();
    });
  });
  from.on("end", () => void queue.then(() => to.end()));
  from.on("close", () => void queue.then(() => to.destroy()));
}
