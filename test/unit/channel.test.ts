import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import * as z from "zod";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Channel } from "../../src/runtime/channel.ts";

/** V8's gc(), without starting node with --expose-gc. */
function gcFunction(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** A message shape of our own: the channel only cares about `type`, `blobs` and `blobStream`. */
const TestMessage = z.object({
  type: z.string(),
  text: z.string().optional(),
  blobs: z.array(z.number().int().nonnegative()).optional(),
  blobStream: z.number().int().positive().optional(),
});
type TestMessage = z.infer<typeof TestMessage>;

const MiB = 1 << 20;
/** channel.ts: the sender waits for the socket to drain past this many buffered bytes. */
const MAX_BUFFERED_BYTES = 16 * MiB;

type Received = { kind: "message"; message: TestMessage; blobs: Uint8Array[] } | { kind: "invalid"; error: Error };

/** Everything one end of a connection receives, in order, with a way to wait for the next ones. */
class Inbox {
  readonly events: Received[] = [];
  #waiter: { count: number; resolve: () => void } | undefined;

  readonly handlers = {
    message: (message: TestMessage, blobs: Uint8Array[]) => this.#push({ kind: "message", message, blobs }),
    invalid: (error: Error) => this.#push({ kind: "invalid", error }),
  };

  #push(event: Received): void {
    this.events.push(event);
    if (this.#waiter && this.events.length >= this.#waiter.count) this.#waiter.resolve();
  }

  /** Wait until `count` events are in, then take them out. */
  async take(count: number, timeoutMs = 2500): Promise<Received[]> {
    if (this.events.length < count) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#waiter = { count, resolve })),
        new Promise<void>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out waiting for ${count} events; got ${JSON.stringify(this.summary())}`)),
            timeoutMs,
          );
        }),
      ]).finally(() => {
        clearTimeout(timer);
        this.#waiter = undefined;
      });
    }
    return this.events.splice(0, count);
  }

  summary(): string[] {
    return this.events.map(describeEvent);
  }
}

function describeEvent(event: Received): string {
  return event.kind === "message" ? `message ${event.message.type}` : `invalid ${event.error.message}`;
}

interface Pair {
  client: WebSocket;
  server: WebSocket;
  /** client → server */
  clientChannel: Channel<TestMessage, TestMessage>;
  serverChannel: Channel<TestMessage, TestMessage>;
  clientInbox: Inbox;
  serverInbox: Inbox;
}

const sockets: WebSocket[] = [];
let wss: WebSocketServer;

async function connectPair(): Promise<Pair> {
  const { client, server } = await connectSockets();
  const clientInbox = new Inbox();
  const serverInbox = new Inbox();
  return {
    client,
    server,
    clientInbox,
    serverInbox,
    clientChannel: new Channel<TestMessage, TestMessage>(client, TestMessage, clientInbox.handlers),
    serverChannel: new Channel<TestMessage, TestMessage>(server, TestMessage, serverInbox.handlers),
  };
}

/** Two ends of a new WebSocket connection, with no channel on them yet. */
async function connectSockets(): Promise<{ client: WebSocket; server: WebSocket }> {
  const { port } = wss.address() as AddressInfo;
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  sockets.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once("open", () => resolve());
    client.once("error", reject);
  });
  const server = await accepted;
  sockets.push(server);
  return { client, server };
}

function message(event: Received | undefined): { message: TestMessage; blobs: Uint8Array[] } {
  assert.ok(event, "expected an event");
  assert.ok(event.kind === "message", `expected a message, got ${describeEvent(event)}`);
  return { message: event.message, blobs: event.blobs };
}

function invalid(event: Received | undefined): Error {
  assert.ok(event, "expected an event");
  assert.ok(event.kind === "invalid", `expected an invalid frame, got ${describeEvent(event)}`);
  return event.error;
}

/** A binary frame as channel.ts writes it: u32 stream, u32 blob index, then the bytes. */
function frame(stream: number, index: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + payload.byteLength);
  out.writeUInt32LE(stream, 0);
  out.writeUInt32LE(index, 4);
  out.set(payload, 8);
  return out;
}

/** Bytes with a period (251) that does not divide the 1 MiB chunk size, so misplaced chunks show. */
function patterned(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const period = Uint8Array.from({ length: Math.min(251, length) }, (_, i) => (i * 7 + 3) & 0xff);
  bytes.set(period);
  for (let filled = period.length; filled < length; filled *= 2) {
    bytes.copyWithin(filled, 0, Math.min(filled, length - filled));
  }
  return bytes;
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.byteLength, expected.byteLength, `${what}: length`);
  // Buffer.compare rather than deepEqual: megabytes of bytes, and a readable failure.
  assert.equal(Buffer.compare(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength), Buffer.from(expected)), 0, `${what}: bytes differ`);
}

let pair: Pair;

before(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  pair = await connectPair();
});

after(async () => {
  for (const socket of sockets) socket.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
});

describe("Channel over a real WebSocket", () => {
  test("small messages without blobs arrive as sent, both ways", async () => {
    await pair.clientChannel.send({ type: "hello", text: "from the client" });
    await pair.serverChannel.send({ type: "hi", text: "from the server" });
    const [atServer] = await pair.serverInbox.take(1);
    const [atClient] = await pair.clientInbox.take(1);
    assert.deepEqual(message(atServer), { message: { type: "hello", text: "from the client" }, blobs: [] });
    assert.deepEqual(message(atClient), { message: { type: "hi", text: "from the server" }, blobs: [] });
    assert.equal(pair.clientChannel.open, true);
    assert.equal(pair.serverChannel.open, true);
  });

  test("a 3 MiB + 7 byte blob and an empty blob arrive with identical bytes", async () => {
    const big = randomFillSync(new Uint8Array(3 * MiB + 7));
    const empty = new Uint8Array(0);
    await pair.clientChannel.send({ type: "upload", text: "two blobs" }, [big, empty]);
    const [event] = await pair.serverInbox.take(1);
    const received = message(event);
    // The sender fills in `blobs` and a fresh `blobStream`.
    assert.equal(received.message.type, "upload");
    assert.equal(received.message.text, "two blobs");
    assert.deepEqual(received.message.blobs, [3 * MiB + 7, 0]);
    assert.equal(typeof received.message.blobStream, "number");
    assert.equal(received.blobs.length, 2);
    sameBytes(received.blobs[0]!, big, "blob 0");
    sameBytes(received.blobs[1]!, empty, "blob 1");
    assert.deepEqual(pair.serverInbox.events, []);
  });

  test("several non-empty blobs each land in their own part", async () => {
    const blobs = [patterned(2 * MiB + 1), randomFillSync(new Uint8Array(10)), new Uint8Array(0), Uint8Array.of(1, 2, 3)];
    await pair.clientChannel.send({ type: "many" }, blobs);
    const received = message((await pair.serverInbox.take(1))[0]);
    assert.deepEqual(received.message.blobs, [2 * MiB + 1, 10, 0, 3]);
    assert.equal(received.blobs.length, 4);
    blobs.forEach((blob, i) => sameBytes(received.blobs[i]!, blob, `blob ${i}`));
  });

  test("a subarray blob sends only its own bytes, not its whole buffer", async () => {
    const backing = patterned(MiB + 100);
    const view = backing.subarray(50, 50 + MiB + 10); // crosses one chunk boundary
    await pair.serverChannel.send({ type: "view" }, [view]);
    const received = message((await pair.clientInbox.take(1))[0]);
    assert.deepEqual(received.message.blobs, [MiB + 10]);
    sameBytes(received.blobs[0]!, view, "view");
  });

  test("each blob message gets its own stream; several in a row arrive intact and in order", async () => {
    const blobs = [patterned(MiB + 1), patterned(2), patterned(2 * MiB)];
    for (const [i, blob] of blobs.entries()) await pair.clientChannel.send({ type: `part-${i}` }, [blob]);
    const events = (await pair.serverInbox.take(3)).map(message);
    assert.deepEqual(
      events.map((e) => e.message.type),
      ["part-0", "part-1", "part-2"],
    );
    const streams = events.map((e) => e.message.blobStream);
    assert.equal(new Set(streams).size, 3, `streams must differ: ${String(streams)}`);
    events.forEach((e, i) => sameBytes(e.blobs[0]!, blobs[i]!, `part-${i}`));
  });

  test("only empty blobs: delivered at once with empty parts", async () => {
    await pair.clientChannel.send({ type: "empties" }, [new Uint8Array(0), new Uint8Array(0)]);
    const received = message((await pair.serverInbox.take(1))[0]);
    assert.deepEqual(received.message.blobs, [0, 0]);
    assert.deepEqual(
      received.blobs.map((b) => b.byteLength),
      [0, 0],
    );
  });

  test("small messages sent while a 3 MiB transfer is in flight are delivered", async () => {
    const big = patterned(3 * MiB + 7);
    const sending = pair.clientChannel.send({ type: "big" }, [big, new Uint8Array(0)]);
    await pair.clientChannel.send({ type: "small-1" });
    await pair.clientChannel.send({ type: "small-2" });
    await sending;
    const events = (await pair.serverInbox.take(3)).map(message);
    // Under the buffer limit every chunk is queued before send() first yields, so they go first.
    assert.deepEqual(
      events.map((e) => e.message.type),
      ["big", "small-1", "small-2"],
    );
    sameBytes(events[0]!.blobs[0]!, big, "big");
  });

  test("small messages overtake a transfer larger than the send buffer", async () => {
    // Server to client: unmasked frames keep this fast. The kernel takes a few MiB of it; the rest
    // must exceed what the sender lets ws buffer, so that send() waits and other messages get in.
    // A fresh connection, so its TCP buffers have not grown from earlier transfers.
    const { server, serverChannel, clientInbox } = await connectPair();
    const size = 28 * MiB + 3;
    const big = patterned(size);
    const sending = serverChannel.send({ type: "huge" }, [big]);
    // send() ran synchronously up to its first wait for the socket to drain.
    assert.ok(
      server.bufferedAmount > MAX_BUFFERED_BYTES,
      `precondition: send() should be waiting for the socket to drain (buffered ${server.bufferedAmount})`,
    );
    await serverChannel.send({ type: "log-1", text: "while uploading" });
    await serverChannel.send({ type: "log-2" });
    await sending;
    const events = (await clientInbox.take(3)).map(message);
    assert.deepEqual(
      events.map((e) => e.message.type),
      ["log-1", "log-2", "huge"],
    );
    assert.equal(events[0]!.message.text, "while uploading");
    sameBytes(events[2]!.blobs[0]!, big, "huge");
  });

  test("invalid JSON goes to `invalid` and the channel keeps working", async () => {
    pair.client.send("{not json");
    await pair.clientChannel.send({ type: "after-bad-json" });
    const [bad, good] = await pair.serverInbox.take(2);
    assert.match(invalid(bad).message, /^not JSON: /);
    assert.deepEqual(message(good).message, { type: "after-bad-json" });
  });

  test("schema-invalid messages go to `invalid` and the channel keeps working", async () => {
    pair.client.send(JSON.stringify({ type: 42 }));
    pair.client.send(JSON.stringify({ text: "no type" }));
    pair.client.send(JSON.stringify({ type: "neg", blobs: [-1], blobStream: 1 }));
    pair.client.send(JSON.stringify({ type: "no-stream", blobs: [3] }));
    await pair.clientChannel.send({ type: "after-bad-schema" });
    const events = await pair.serverInbox.take(5);
    assert.match(invalid(events[0]).message, /^invalid message: .*type/s);
    assert.match(invalid(events[1]).message, /^invalid message: .*type/s);
    assert.match(invalid(events[2]).message, /^invalid message: .*blobs/s);
    assert.equal(invalid(events[3]).message, "message 'no-stream' has blobs but no blobStream");
    assert.deepEqual(message(events[4]).message, { type: "after-bad-schema" });
  });

  test("binary frames for an unknown stream, a missing part, too many bytes or a short header are `invalid`", async () => {
    pair.client.send(frame(999, 0, Uint8Array.of(1, 2, 3)));
    pair.client.send(Buffer.from([1, 2, 3, 4]));
    // A stream the receiver knows: one part of 4 bytes.
    pair.client.send(JSON.stringify({ type: "raw", blobs: [4], blobStream: 4242 }));
    pair.client.send(frame(4242, 1, Uint8Array.of(9))); // no part 1
    pair.client.send(frame(4242, 0, Uint8Array.of(1, 2, 3, 4, 5))); // 5 bytes into a 4-byte part
    pair.client.send(frame(4242, 0, Uint8Array.of(1, 2)));
    pair.client.send(frame(4242, 0, Uint8Array.of(3, 4)));
    // The stream is finished: another frame for it is unexpected.
    pair.client.send(frame(4242, 0, Uint8Array.of(5)));
    await pair.clientChannel.send({ type: "after-bad-frames" });
    const events = await pair.serverInbox.take(7);
    assert.equal(invalid(events[0]).message, "unexpected binary frame for stream 999 part 0");
    assert.equal(invalid(events[1]).message, "binary frame shorter than its header");
    assert.equal(invalid(events[2]).message, "unexpected binary frame for stream 4242 part 1");
    assert.equal(invalid(events[3]).message, "unexpected binary frame for stream 4242 part 0");
    const raw = message(events[4]);
    assert.deepEqual(raw.message, { type: "raw", blobs: [4], blobStream: 4242 });
    assert.deepEqual([...raw.blobs[0]!], [1, 2, 3, 4]);
    assert.equal(invalid(events[5]).message, "unexpected binary frame for stream 4242 part 0");
    assert.deepEqual(message(events[6]).message, { type: "after-bad-frames" });
  });

  test("announcing blobs reserves no memory: 100 messages of 2 GiB each, with no data sent", async () => {
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 100; i++) pair.client.send(JSON.stringify({ type: "claim", blobs: [2 ** 31 - 1024], blobStream: 10_000 + i }));
    await pair.clientChannel.send({ type: "after-claims" });
    assert.deepEqual(message((await pair.serverInbox.take(1))[0]).message, { type: "after-claims" });
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 64 * MiB, `array buffers grew by ${(grown / MiB).toFixed(0)} MiB for announcements alone`);
  });

  test("a dropped connection loses nothing: what was in flight and what is sent meanwhile crosses the next one once", async () => {
    const first = await connectPair();
    // Some frames arrive, then the connection drops with a blob half sent (the client's end stops reading first).
    await first.clientChannel.send({ type: "before" });
    assert.deepEqual(message((await first.serverInbox.take(1))[0]).message, { type: "before" });
    const big = patterned(3 * MiB);
    const sending = first.clientChannel.send({ type: "big" }, [big]);
    first.client.terminate();
    first.clientChannel.detach();
    first.serverChannel.detach();
    // Sent while there is no connection: kept.
    const meanwhile = first.clientChannel.send({ type: "meanwhile" }, [Uint8Array.of(9, 8, 7)]);
    await first.serverChannel.send({ type: "to-client" });
    // A new connection: each end says how much it received, and the other sends the rest.
    const second = await connectSockets();
    first.clientChannel.attach(second.client, first.serverChannel.received);
    first.serverChannel.attach(second.server, first.clientChannel.received);
    await Promise.all([sending, meanwhile]);
    const [bigEvent, meanwhileEvent] = await first.serverInbox.take(2);
    assert.deepEqual(message(bigEvent).message.type, "big");
    sameBytes(message(bigEvent).blobs[0]!, big, "the blob cut by the drop");
    assert.deepEqual([...message(meanwhileEvent).blobs[0]!], [9, 8, 7]);
    assert.deepEqual(message((await first.clientInbox.take(1))[0]).message, { type: "to-client" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(first.serverInbox.summary(), [], "nothing arrives twice");
  });

  test("acknowledged frames are let go: a new connection is only told of what was not acknowledged", async () => {
    const other = await connectPair();
    for (let i = 0; i < 300; i++) await other.clientChannel.send({ type: "n", text: String(i) });
    await other.serverInbox.take(300);
    // The server acknowledges every 128 frames, and the rest shortly after.
    await new Promise((resolve) => setTimeout(resolve, 400));
    other.clientChannel.detach();
    other.serverChannel.detach();
    const again = await connectSockets();
    // Had the client kept acknowledged frames, it could resume from an older count; it cannot.
    assert.throws(() => other.clientChannel.attach(again.client, 10), /received 10 frames, but 300 were sent and 300 acknowledged/);
    other.clientChannel.attach(again.client, other.serverChannel.received);
  });

  test("acknowledged blob frames are freed at once (or reused), not kept until the list is compacted", async () => {
    const other = await connectPair();
    const collect = gcFunction();
    const baseline = (collect(), process.memoryUsage().arrayBuffers);
    // Different bytes each time: frames reused for a later transfer must not change an earlier one's.
    // (A function of its own, so that its buffers are garbage once it returns.)
    const transfer = async (bytes: number, fill: number) => {
      await other.clientChannel.send({ type: "bulk" }, [new Uint8Array(bytes).fill(fill)]);
      const received = message((await other.serverInbox.take(1))[0]).blobs[0]!;
      assert.ok(received.byteLength === bytes && received.every((byte) => byte === fill), `transfer ${fill} arrived intact`);
    };
    // Full frames, which are reused; then frames of less than a chunk, which are not.
    for (let fill = 1; fill <= 4; fill++) await transfer(16 * MiB, fill);
    for (let fill = 1; fill <= 96; fill++) await transfer(700 << 10, fill);
    // The server acknowledges every 4 MiB and the rest within 200 ms; on a busy machine, later.
    // What the receiver built is garbage by now too, so once acks are in only the sender's spare
    // frames (24 MiB, reused for the next transfer) should be left.
    let kept = Infinity;
    for (let tries = 0; tries < 50 && kept >= 32 * MiB; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      collect();
      kept = process.memoryUsage().arrayBuffers - baseline;
    }
    assert.ok(kept < 32 * MiB, `${(kept / MiB).toFixed(1)} MiB of array buffers still held after 130 MiB sent and acknowledged`);
  });

  test("closed for good, a channel refuses to send, and senders waiting for a connection fail", async () => {
    const other = await connectPair();
    other.clientChannel.detach();
    const waiting = other.clientChannel.send({ type: "waits" }, [new Uint8Array(2 * MiB)]);
    other.clientChannel.close(new Error("the session ended"));
    assert.equal(other.clientChannel.open, false);
    await assert.rejects(waiting, { message: "connection closed while sending: the session ended" });
    await assert.rejects(other.clientChannel.send({ type: "late" }), { message: "the session ended" });
    // The first connection is unaffected.
    await pair.clientChannel.send({ type: "still-here" });
    assert.deepEqual(message((await pair.serverInbox.take(1))[0]).message, { type: "still-here" });
  });
});
