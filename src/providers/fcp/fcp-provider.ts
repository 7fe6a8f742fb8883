/**
 * The cloud provider for remote functions: each agent runs on a spot instance of its own, or, for
 * a function with a `reservation`, on one of the reservation's instances (reservation-agents.ts).
 *
 * The path is the local provider's with a longer wire: the same agent file and code archive, the
 * same protocol, the same per-agent secret. The agent listens on the instance's loopback only;
 * the client reaches it through an SSH port-forward, so nothing is exposed on a public port.
 *
 * Nothing is left running: stop() and shutdown() cancel the bid (DELETE), which the run's
 * SIGINT/SIGTERM handling and crash paths call. If this process dies without cleaning up, even
 * while its bid is being posted, the next run on this machine cancels its bids (bid-ledger.ts);
 * until then the agent's idle timeout ends the workload and the startup script powers the
 * machine off. A detached call's instance (startDetachedAgent) is the exception by design: it
 * outlives this process, and ends with the call's result window or when a client has fetched
 * its outcome (instance-detached-call.ts).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { AgentLostError, FlowError } from "../../errors.ts";
import { AGENT_GONE } from "../../runtime/session.ts";
import { agentPath } from "../../sdk-paths.ts";
import type { AgentEndpoint, AgentSpec, DetachedAgent, DetachedAgentPlace, Provider, RemoteDetachedCall } from "../provider.ts";
import { InstanceDetachedCall } from "./instance-detached-call.ts";
import { BidLedger, cancelOrphanBids } from "./bid-ledger.ts";
import { FcpContext, type FcpContextOptions } from "./fcp-context.ts";
import { FcpReservations } from "./fcp-reservations.ts";
import { reconnectToAgent } from "./agent-reconnect.ts";
import { InstanceConnection, type Upload } from "./instance-connection.ts";
import { placeBid, waitForRunningInstances } from "./instance-launch.ts";
import { choosePlacement, placementNotes } from "./placement.ts";
import { startAgentOnReservation } from "./reservation-agents.ts";
import { timingMark } from "../../debug-timing.ts";
import { buildStartupScript } from "./startup-script/index.ts";

/** Archives up to this size ride inside the startup script; larger ones go over SFTP. */
export const INLINE_ARCHIVE_LIMIT_BYTES = 4 * 1024;
/** An agent nobody talks to for this long exits, and its instance powers off. */
const AGENT_IDLE_TIMEOUT_MS = 10 * 60_000;
/** After the agent exits the instance lingers this long (for `flow ssh` post-mortems). */
const POWEROFF_GRACE_SECONDS = 30;

export interface FcpProviderOptions extends FcpContextOptions {
  context?: FcpContext;
  /** Archives larger than this are uploaded over SFTP; INLINE_ARCHIVE_LIMIT_BYTES by default. */
  inlineArchiveLimitBytes?: number;
}

export class FcpProvider implements Provider {
  readonly name = "fcp";
  readonly context: FcpContext;
  readonly #inlineLimit: number;
  readonly #running = new Set<() => Promise<void>>();
  readonly #bids: BidLedger;
  #swept: Promise<void> | undefined;
  /** Agents started on reservations so far: each takes the next running instance in turn. */
  #reservationTurns = 0;

  constructor(options: FcpProviderOptions = {}) {
    this.context = options.context ?? new FcpContext(options);
    this.#inlineLimit = options.inlineArchiveLimitBytes ?? INLINE_ARCHIVE_LIMIT_BYTES;
    this.#bids = new BidLedger(options.flowHome);
  }

  async startAgent(spec: AgentSpec, signal?: AbortSignal): Promise<AgentEndpoint> {
    if (spec.reservation !== undefined) return this.#startOnReservation(spec, spec.reservation, signal);
    const launched = await this.#launch(spec, { namePrefix: AGENT_BID_PREFIXES.function, poweroffGraceSeconds: POWEROFF_GRACE_SECONDS }, signal);
    const { instance, key, stop } = launched;
    // A dropped SSH connection drops the session's WebSocket: the session comes back through a
    // new SSH connection to the same instance. A preempted or dead instance, or an agent that
    // exited, is gone for good: the session reports the agent lost (the retry policy takes it
    // from there) and calls stop().
    const reconnect = async () => {
      if (launched.stopped()) throw new AgentLostError(`the agent for ${spec.label} was stopped`, { errorCode: AGENT_GONE });
      await launched.closeConnection();
      return launched.openTunnel(await reconnectToAgent(this.context, instance, key.pair, { where: instance.fid }));
    };
    return { url: launched.url, secret: launched.secret, stop, reconnect };
  }

  /**
   * An agent for detached calls, on a spot instance of its own: the startup script runs it, not
   * this process's SSH session, so it outlives this process; its calls are recorded on the
   * instance's disk. Once its calls have ended and their result window is over it exits and the
   * instance powers off at once (the window was the linger), which ends the bid. Until released,
   * a shutdown (Ctrl-C) cancels the bid like any other; after, the bid is the call's: it is left
   * out of the ledger the next run sweeps, and a client that fetched the outcome cancels it.
   */
  async startDetachedAgent(spec: AgentSpec): Promise<DetachedAgent> {
    if (spec.reservation !== undefined) {
      throw new FlowError(`Detached calls run on spot instances for now; ${spec.label} asks for reservation ${spec.reservation}.`, {
        suggestions: ["Use .spawn() or .remote() for a function on a reservation, or leave `reservation` out to detach it."],
      });
    }
    const launched = await this.#launch(spec, { namePrefix: AGENT_BID_PREFIXES["detached call"], poweroffGraceSeconds: 0 });
    return {
      url: launched.url,
      secret: launched.secret,
      place: { provider: "fcp", project: launched.project, bidFid: launched.bid.fid, instanceFid: launched.instance.fid, port: launched.port },
      release: async () => {
        this.#running.delete(launched.stop);
        await launched.closeConnection();
        await this.#bids.remove(launched.name);
      },
      stop: launched.stop,
    };
  }

  remoteDetachedCall(place: DetachedAgentPlace, call: { callId: string }): RemoteDetachedCall {
    if (place.provider !== "fcp") throw new FlowError(`A ${place.provider} detached call is not on fcp.`);
    return new InstanceDetachedCall(this.context, place, call.callId);
  }

  /**
   * A bid for one instance running the agent for `spec`, the agent uploaded and listening, and an
   * SSH forward to it. stop() cancels the bid; it is in #running (shutdown() cancels it) from
   * before the bid is placed.
   */
  async #launch(spec: AgentSpec, options: { namePrefix: string; poweroffGraceSeconds: number }, signal?: AbortSignal) {
    const context = this.context;
    await (this.#swept ??= cancelOrphanBids(context, this.#bids));
    const [catalog, key] = await Promise.all([context.catalog(), context.sshKey()]);
    const placement = choosePlacement(catalog, {
      ...(spec.gpu === undefined ? {} : { instanceType: spec.gpu }),
      ...(context.preferredRegion === undefined ? {} : { region: context.preferredRegion }),
      priority: "med",
      quantity: 1,
    });
    const notes = placementNotes(catalog, placement, {
      ...(spec.gpu === undefined ? {} : { instanceType: spec.gpu }),
      quantity: 1,
      ...(context.configuredRegion === undefined ? {} : { configuredRegion: context.configuredRegion }),
    });
    for (const note of notes) context.progress(`${spec.label}: ${note}`);
    const archive = await readFile(spec.archive.path);
    const inline = archive.byteLength <= this.#inlineLimit;
    const { script } = buildStartupScript({
      workload: { kind: "agent", idleTimeoutMs: AGENT_IDLE_TIMEOUT_MS },
      ...(inline ? { inlineArchive: archive } : {}),
      expectUploads: true,
      env: {},
      ...(spec.image === undefined ? {} : { image: spec.image }),
      gpus: true,
      volumes: [],
      poweroffGraceSeconds: options.poweroffGraceSeconds,
    });

    let connection: InstanceConnection | undefined;
    let tunnel: { localPort: number; close(): Promise<void> } | undefined;
    let stopped: Promise<void> | undefined;
    const closeConnection = async () => {
      await tunnel?.close().catch(() => {});
      connection?.close();
    };
    const name = bidName(options.namePrefix, spec.label);
    const project = await context.projectFid();
    // Recorded before the POST: killed while it is in flight, this process still leaves the name
    // the next run finds the bid by.
    await this.#bids.intend(name, project);
    const placing = placeBid(context, {
      name,
      placement,
      startupScript: script,
      quantity: 1,
      sshKeyFids: [key.fid],
    });
    // Registered before the bid exists, so a shutdown (Ctrl-C) while it is being placed waits for
    // it and cancels it; it stays in #running until the cancel has gone through, so shutdown()
    // also waits for a stop that a closing session already started.
    const stop = () =>
      (stopped ??= (async () => {
        // A failed POST may still have placed the bid (its answer lost): the entry stays for the
        // next run's sweep.
        const placed = await placing.catch(() => undefined);
        if (placed === undefined) return;
        await closeConnection();
        await context.client.cancelBid(placed.fid);
        await this.#bids.remove(name);
        context.progress(`cancelled bid ${placed.fid}`);
      })().finally(() => this.#running.delete(stop)));
    this.#running.add(stop);

    try {
      const bid = await placing;
      timingMark(`${spec.label}: bid placed`);
      await this.#bids.placed(name, bid.fid);
      const [instance] = await waitForRunningInstances(context, bid, signal === undefined ? {} : { signal });
      timingMark(`${spec.label}: instance allocated`);
      connection = await InstanceConnection.open(instance!, key.pair, signal === undefined ? {} : { signal });
      connection.ssh.prepareUploads();
      await connection.waitUntilReady(signal);
      timingMark(`${spec.label}: SSH ready`);
      const secret = randomBytes(32).toString("base64url");
      const { paths } = connection;
      const uploads: Upload[] = [
        { data: { localPath: agentPath() }, remotePath: paths.agentFile },
        { data: new TextEncoder().encode(secret), remotePath: paths.agentSecret, mode: 0o600 },
        ...(inline ? [] : [{ data: { localPath: spec.archive.path }, remotePath: paths.archive }]),
      ];
      await connection.uploadFiles(uploads);
      timingMark(`${spec.label}: agent uploaded`);
      const port = await connection.agentPort(signal, connection.paths, { markUploaded: true });
      timingMark(`${spec.label}: agent listening`);
      const openTunnel = async (current: InstanceConnection) => {
        connection = current;
        tunnel = await current.ssh.forward("127.0.0.1", port);
        void current.ssh.closed.then(() => tunnel?.close()).catch(() => {});
        return `ws://127.0.0.1:${tunnel.localPort}`;
      };
      const url = await openTunnel(connection);
      timingMark(`${spec.label}: forward open`);
      context.progress(`agent for ${spec.label} ready on ${instance!.fid}`);
      return { name, project, bid, instance: instance!, key, secret, port, url, stop, openTunnel, closeConnection, stopped: () => stopped !== undefined };
    } catch (error) {
      await stop().catch(() => {});
      throw error;
    }
  }

  /** An agent on a reservation's instance (no bid): stopping it stops its processes only. */
  async #startOnReservation(spec: AgentSpec, reservation: string, signal: AbortSignal | undefined): Promise<AgentEndpoint> {
    const endpoint = await startAgentOnReservation(this.context, new FcpReservations(this.context), spec, {
      reservation,
      idleTimeoutMs: AGENT_IDLE_TIMEOUT_MS,
      turn: this.#reservationTurns++,
      ...(signal === undefined ? {} : { signal }),
    });
    const stop = () => endpoint.stop().finally(() => this.#running.delete(stop));
    this.#running.add(stop);
    return { ...endpoint, stop };
  }

  /** Cancels every bid this provider placed; one that cannot be cancelled is named in the error. */
  async shutdown(): Promise<void> {
    const results = await Promise.allSettled([...this.#running].map((stop) => stop()));
    const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason as Error] : []));
    if (failures.length > 0) {
      throw new FlowError(`Could not cancel ${failures.length} bid(s); they may still be running and billing.`, {
        cause: failures[0],
        suggestions: ["list them with `flow list --provider fcp` and cancel them with `flow cancel <bid>`, or in the console"],
      });
    }
  }
}

/** How the bids placed for agents are named, by what the agent runs. */
const AGENT_BID_PREFIXES = { function: "flow-fn", "detached call": "flow-call" } as const;
export type AgentBidKind = keyof typeof AGENT_BID_PREFIXES;

/** What an agent's bid was placed for, told by the name bidName() gave it; undefined for any other bid. */
export function agentBidKind(bidName: string): AgentBidKind | undefined {
  return (Object.keys(AGENT_BID_PREFIXES) as AgentBidKind[]).find((kind) => new RegExp(`^${AGENT_BID_PREFIXES[kind]}-[a-z0-9-]+-[0-9a-f]{8}$`).test(bidName));
}

/** Unique and readable in the console: `flow-fn-square-3f9a1c2b` (`flow-call-…` for a detached call's). */
function bidName(prefix: string, label: string): string {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "function";
  return `${prefix}-${slug}-${randomBytes(4).toString("hex")}`;
}
