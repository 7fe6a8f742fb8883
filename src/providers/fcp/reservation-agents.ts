/**
 * Function agents on a reservation (`app.function({ reservation: "res_…" })`): instead of a spot
 * bid per agent, each agent is delivered over SSH to a running instance of the reservation, in a
 * run directory of its own (instance-runs.ts), and reached through the same SSH tunnel. Stopping
 * an agent stops its processes; the reservation and its instances run on.
 */
import { randomBytes } from "node:crypto";
import { AgentLostError, ValidationError } from "../../errors.ts";
import { AGENT_GONE } from "../../runtime/session.ts";
import { agentPath } from "../../sdk-paths.ts";
import type { AgentEndpoint, AgentSpec } from "../provider.ts";
import type { FcpContext } from "./fcp-context.ts";
import type { FcpReservations } from "./fcp-reservations.ts";
import { reconnectToAgent } from "./agent-reconnect.ts";
import { InstanceConnection } from "./instance-connection.ts";
import type { InstancePaths } from "./instance-layout.ts";
import { startRun, stopRun } from "./instance-runs.ts";

export interface ReservationAgentOptions {
  reservation: string;
  idleTimeoutMs: number;
  /** Agents are spread over the reservation's running instances in turn: this agent's turn. */
  turn: number;
  signal?: AbortSignal;
}

export async function startAgentOnReservation(context: FcpContext, reservations: FcpReservations, spec: AgentSpec, options: ReservationAgentOptions): Promise<AgentEndpoint> {
  const reservation = await reservations.raw(options.reservation);
  const gpu = spec.gpu;
  if (gpu !== undefined && (await context.catalog()).resolve(gpu).fid !== reservation.instance_type) {
    const reserved = await context.instanceTypeName(reservation.instance_type);
    throw new ValidationError(`${spec.label} asks for gpu ${JSON.stringify(gpu)}, but reservation ${reservation.fid} holds ${reserved} instances.`, {
      issues: [{ path: "gpu", message: `must be ${reserved} (or left out) with reservation ${reservation.fid}` }],
    });
  }
  await reservations.runningInstances(reservation.fid, 1, options.signal);
  const running = (await reservations.instances(reservation.fid)).filter((i) => i.status === "STATUS_RUNNING" && i.ssh_destination);
  const instance = running[options.turn % running.length]!;
  const connection = await InstanceConnection.open(instance, (await context.sshKey()).pair, options.signal === undefined ? {} : { signal: options.signal });
  let paths: InstancePaths | undefined;
  try {
    const secret = randomBytes(32).toString("base64url");
    paths = await startRun(
      connection,
      `agent-${randomBytes(6).toString("hex")}`,
      { workload: { kind: "agent", idleTimeoutMs: options.idleTimeoutMs }, env: {}, ...(spec.image === undefined ? {} : { image: spec.image }), gpus: true, volumes: [] },
      (run) => [
        { data: { localPath: agentPath() }, remotePath: run.agentFile },
        { data: new TextEncoder().encode(secret), remotePath: run.agentSecret, mode: 0o600 },
        { data: { localPath: spec.archive.path }, remotePath: run.archive },
      ],
    );
    const port = await connection.agentPort(options.signal, paths);
    const run = paths;
    // The connection and forward in use: a reconnect replaces both (the run was started with
    // setsid, so a dropped SSH connection leaves the agent running).
    let current = { connection, tunnel: await forward(connection, port) };
    context.progress(`agent for ${spec.label} ready on ${instance.fid} (reservation ${reservation.fid})`);
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= (async () => {
        await current.tunnel.close().catch(() => {});
        await stopRun(current.connection, run).catch(() => {});
        current.connection.close();
      })());
    const reconnect = async () => {
      if (stopped !== undefined) throw new AgentLostError(`the agent for ${spec.label} was stopped`, { errorCode: AGENT_GONE });
      await current.tunnel.close().catch(() => {});
      current.connection.close();
      const again = await reconnectToAgent(context, instance, (await context.sshKey()).pair, { paths: run, where: `${instance.fid} (reservation ${reservation.fid})` });
      current = { connection: again, tunnel: await forward(again, port) };
      return `ws://127.0.0.1:${current.tunnel.localPort}`;
    };
    return { url: `ws://127.0.0.1:${current.tunnel.localPort}`, secret, stop, reconnect };
  } catch (error) {
    if (paths !== undefined) await stopRun(connection, paths).catch(() => {});
    connection.close();
    throw error;
  }
}

/** A forward to the agent's port on the instance, closed with the SSH connection it runs through. */
async function forward(connection: InstanceConnection, port: number): Promise<{ localPort: number; close(): Promise<void> }> {
  const tunnel = await connection.ssh.forward("127.0.0.1", port);
  void connection.ssh.closed.then(() => tunnel.close()).catch(() => {});
  return tunnel;
}
