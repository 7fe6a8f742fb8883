/**
 * A detached call on a spot instance, reached again from its record in any process: its files
 * (state.json, stdout.log, stderr.log, outcome; see remote-agent/detached-call.ts) are read over
 * SFTP from the instance's calls directory (instance-layout.ts `agentCalls`) and copied to this
 * machine; cancelling goes to the agent through an SSH forward to its loopback port.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { NetworkError } from "../../errors.ts";
import { READ_CHUNK_BYTES } from "../log-lines.ts";
import type { DetachedAgentPlace, RemoteDetachedCall } from "../provider.ts";
import type { InstanceStatus } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import { InstanceConnection } from "./instance-connection.ts";
import type { RemoteFile } from "./ssh/sftp-read.ts";
import { dollarString, taskCost } from "./task-cost.ts";
import { ENDED_INSTANCE_STATUSES } from "./task-status-from-api.ts";

/** The instance is up (or gone): a login need not wait for a boot. */
const SSH_TIMEOUT_MS = 15_000;

type FcpPlace = Extract<DetachedAgentPlace, { provider: "fcp" }>;

export class InstanceDetachedCall implements RemoteDetachedCall {
  readonly #context: FcpContext;
  readonly #place: FcpPlace;
  readonly #callId: string;
  #connection: Promise<InstanceConnection> | undefined;
  #tunnel: { close(): Promise<void> } | undefined;

  constructor(context: FcpContext, place: FcpPlace, callId: string) {
    this.#context = context;
    this.#place = place;
    this.#callId = callId;
  }

  async copyTo(dir: string): Promise<{ gone?: string }> {
    try {
      return await this.#copyTo(dir);
    } catch (error) {
      // A connection that dropped under a live instance (the network, a restarted sshd) is opened
      // again, once, as a live call's session would be: a one-shot `flow status` or `flow cancel`
      // must not fail for a blip that wait() would have ridden out.
      if (!(error instanceof NetworkError)) throw error;
      return this.#copyTo(dir);
    }
  }

  async #copyTo(dir: string): Promise<{ gone?: string }> {
    const gone = await this.#gone();
    if (gone !== undefined) return { gone };
    let connection: InstanceConnection;
    try {
      connection = await this.#connect();
    } catch (error) {
      // It may have ended meanwhile; if not, the next copy tries a new connection.
      this.#connection = undefined;
      const goneNow = await this.#gone();
      if (goneNow !== undefined) return { gone: goneNow };
      throw error;
    }
    try {
      const remote = `${connection.paths.agentCalls}/${this.#callId}`;
      const state = await connection.read(`${remote}/state.json`);
      // Not recorded yet: the call is still being handed over.
      if (state === undefined) return {};
      for (const name of ["stdout.log", "stderr.log"]) await copyGrowth(connection, `${remote}/${name}`, join(dir, name));
      if ((JSON.parse(state) as { endedAt?: unknown }).endedAt !== undefined) {
        await copyWhole(connection, `${remote}/outcome`, join(dir, "outcome"));
      }
      // Last: a state that has ended here means the outcome is here.
      const part = join(dir, partName("state.json"));
      await writeFile(part, state, { mode: 0o600 });
      await rename(part, join(dir, "state.json"));
      return {};
    } catch (error) {
      await this.close();
      const goneNow = await this.#gone();
      if (goneNow !== undefined) return { gone: goneNow };
      throw error;
    }
  }

  async connect(): Promise<string> {
    const connection = await this.#connect();
    const tunnel = await connection.ssh.forward("127.0.0.1", this.#place.port);
    this.#tunnel = tunnel;
    return `ws://127.0.0.1:${tunnel.localPort}`;
  }

  async release(): Promise<void> {
    await this.close();
    await this.#context.client.cancelBid(this.#place.bidFid);
    this.#context.progress(`cancelled bid ${this.#place.bidFid} of ${this.#callId}`);
  }

  async cost(): Promise<string | undefined> {
    const histories = await this.#context.client.listInstancePricingHistory({ project: this.#place.project, bidFid: this.#place.bidFid });
    return dollarString(taskCost(histories.filter((h) => h.bid_fid === this.#place.bidFid), new Date()).totalCents);
  }

  async close(): Promise<void> {
    await this.#tunnel?.close().catch(() => {});
    this.#tunnel = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    (await connection?.catch(() => undefined))?.close();
  }

  #connect(): Promise<InstanceConnection> {
    return (this.#connection ??= (async () => {
      const [instance] = await this.#context.client.listInstances({ project: this.#place.project, bidFids: [this.#place.bidFid] }).then((all) =>
        all.filter((candidate) => candidate.fid === this.#place.instanceFid),
      );
      if (instance === undefined) throw new Error(`instance ${this.#place.instanceFid} of bid ${this.#place.bidFid} is not listed`);
      const key = await this.#context.sshKey();
      return InstanceConnection.open(instance, key.pair, { timeoutMs: SSH_TIMEOUT_MS });
    })());
  }

  /** How the call's instance ended, in words, when it has. */
  async #gone(): Promise<string | undefined> {
    const { status } = await this.#context.client.getInstanceStatus(this.#place.instanceFid);
    return ENDED_INSTANCE_STATUSES.has(status) ? `instance ${this.#place.instanceFid} ${endedHow(status)}` : undefined;
  }
}

function endedHow(status: InstanceStatus): string {
  if (status === "STATUS_PREEMPTED") return "was preempted";
  if (status === "STATUS_ERROR") return "failed (STATUS_ERROR)";
  if (status === "STATUS_REPLACED") return "was replaced";
  return "was terminated";
}

/**
 * What the remote file has beyond the local copy's length, written at the same offsets: two
 * processes copying at once (`flow logs -f` beside `flow result`) write the same bytes twice, in
 * place, not one after the other.
 */
async function copyGrowth(connection: InstanceConnection, remotePath: string, localPath: string): Promise<void> {
  const from = await stat(localPath).then((info) => info.size, () => 0);
  const remote = await connection.ssh.openFile(remotePath);
  if (remote === undefined) return;
  try {
    if ((await remote.size()) > from) await copyRange(remote, from, localPath, constants.O_WRONLY | constants.O_CREAT);
  } finally {
    await remote.close();
  }
}

/** The whole file, written beside and renamed into place. */
async function copyWhole(connection: InstanceConnection, remotePath: string, localPath: string): Promise<void> {
  const remote = await connection.ssh.openFile(remotePath);
  if (remote === undefined) throw new Error(`${remotePath} is missing on the instance, though the call ended`);
  const part = `${localPath}.${partName("")}`;
  try {
    await copyRange(remote, 0, part, "w");
  } finally {
    await remote.close();
  }
  await rename(part, localPath);
}

async function copyRange(remote: RemoteFile, from: number, localPath: string, flags: string | number): Promise<void> {
  const size = await remote.size();
  const local = await open(localPath, flags, 0o600);
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    for (let at = from; at < size; ) {
      const read = await remote.read(buffer.subarray(0, Math.min(READ_CHUNK_BYTES, size - at)), at);
      if (read === 0) break;
      await local.write(buffer, 0, read, at);
      at += read;
    }
  } finally {
    await local.close();
  }
}

/** A temporary name of this process's own beside `name`: another process may be copying too. */
function partName(name: string): string {
  return `${name}.${process.pid}.${randomBytes(4).toString("hex")}.part`;
}
