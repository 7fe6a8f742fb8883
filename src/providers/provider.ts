/**
 * The Provider interface: how an app run gets agents. The local provider starts them as processes
 * on this machine; the cloud provider starts them on GPU instances. Both run the same agent with
 * the same archive and speak the same protocol; the client only ever sees a URL and a secret.
 */
import * as z from "zod";
import type { CodeArchive } from "../bundler/index.ts";

/**
 * What a provider needs to start one agent, and no more: a function's env, secrets and limits
 * travel to the agent over the connection, not through the provider.
 */
export interface AgentSpec {
  /** For messages and logs: usually the function id. */
  label: string;
  archive: CodeArchive;
  /** The instance type to run on (`gpu` of the function's options); a provider without GPUs ignores it. */
  gpu?: string;
  /** The container image to run in, where the provider has containers. */
  image?: string;
  /** A reservation whose instances run the agent instead of a spot bid, where the provider has reservations. */
  reservation?: string;
}

export interface AgentEndpoint {
  /** ws:// URL reachable from this process (for the cloud: a local end of an SSH tunnel). */
  url: string;
  /** The per-agent session secret the agent expects as a bearer token. */
  secret: string;
  /** Stop the agent and release what it ran on. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Reach the same agent again after the connection dropped (on the cloud: a new SSH connection
   * and port forward to the same instance), giving the URL to connect to. Rejects with an
   * AgentLostError whose errorCode is AGENT_GONE (runtime/session.ts) when the agent is gone for
   * good: its process ended, its instance was preempted or terminated.
   */
  reconnect?(): Promise<string>;
}

/**
 * Where a detached call's agent runs, as its record keeps it: what any process needs to reach it
 * again (with the call's secret, kept beside it).
 */
export const DetachedAgentPlace = z.discriminatedUnion("provider", [
  /** A process on this machine, which writes the call's files straight into its record's directory. */
  z.object({ provider: z.literal("local"), url: z.string(), agentPid: z.number().int().positive() }),
  /** An agent on a spot instance, listening on the instance's loopback `port`; the bid is the instance's. */
  z.object({ provider: z.literal("fcp"), project: z.string(), bidFid: z.string(), instanceFid: z.string(), port: z.number().int().positive() }),
]);
export type DetachedAgentPlace = z.infer<typeof DetachedAgentPlace>;

/** An agent started for detached calls, which outlives the process that started it. */
export interface DetachedAgent {
  /** Where this process reaches it now (on the cloud: a local end of an SSH tunnel). */
  url: string;
  secret: string;
  place: DetachedAgentPlace;
  /** This process is done with it (the call is handed over): the agent keeps running. */
  release(): Promise<void>;
  /** Stop it, and release what it runs on: the call could not be handed over. */
  stop(): Promise<void>;
}

/**
 * A detached call whose agent runs away from this machine (a cloud instance), reached again from
 * its record, in any process. Its files (remote-agent/detached-call.ts) are copied to this
 * machine, so that its outcome stays once the instance is gone.
 */
export interface RemoteDetachedCall {
  /**
   * Copy the call's state and what its logs gained since the last copy into `dir`, and once it has
   * ended its outcome (state.json is written last: a state that has ended means the outcome is
   * there). Resolves to why the call's machine is gone, when it is.
   */
  copyTo(dir: string): Promise<{ gone?: string }>;
  /** A URL this process reaches the agent at, until close(). */
  connect(): Promise<string>;
  /** The outcome is safe on this machine (or the machine is gone): release what the call ran on. */
  release(): Promise<void>;
  /** What the call's machine has been billed so far ("$0.42"), or undefined if it cannot be told. */
  cost(): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface Provider {
  readonly name: string;
  startAgent(spec: AgentSpec, signal?: AbortSignal): Promise<AgentEndpoint>;
  /**
   * Start booting an agent before its code is known, so that the next startAgent() only hands it
   * the archive (the local provider: node and the agent load while the CLI loads the user's module
   * and bundles it). Left out where an agent costs money before it is asked for (a cloud instance).
   */
  prestart?(): void;
  /**
   * Where the provider has detached calls: an agent not tied to this process, which records its
   * detached calls and exits once they have ended and their result window is over. An agent on
   * this machine records them in `callsDir` and writes its own output to `logPath`; one on a
   * cloud instance keeps both on the instance's disk (see remoteDetachedCall).
   */
  startDetachedAgent?(spec: AgentSpec, options: { callsDir: string; logPath: string }): Promise<DetachedAgent>;
  /** Where detached calls' agents run away from this machine: reach one again by its record. */
  remoteDetachedCall?(place: DetachedAgentPlace, call: { callId: string; secret: string }): RemoteDetachedCall;
  /** Stop every agent this provider started. */
  shutdown(): Promise<void>;
}
