/**
 * Reaching an agent on an instance again after its SSH connection dropped (a spot agent's, or one
 * on a reservation's instance): a new SSH connection to the same instance, made only if the agent
 * can still be there. An instance that ended, or an agent whose run wrote its exit code, is gone
 * for good: AgentLostError with AGENT_GONE, and the session stops trying.
 */
import { AgentLostError } from "../../errors.ts";
import { AGENT_GONE } from "../../runtime/session.ts";
import type { Instance } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import { InstanceConnection } from "./instance-connection.ts";
import type { InstancePaths } from "./instance-layout.ts";
import type { SshKeyPair } from "./ssh/ssh-keys.ts";
import { ENDED_INSTANCE_STATUSES } from "./task-status-from-api.ts";

/** A reconnect's SSH login: the instance is up (or gone), so it need not wait for a boot. */
const RECONNECT_SSH_TIMEOUT_MS = 15_000;

/**
 * The new connection to `instance`, where the agent's run keeps its files in `paths` (the
 * instance's own layout when left out); `where` names the instance in errors.
 */
export async function reconnectToAgent(context: FcpContext, instance: Instance, key: SshKeyPair, options: { paths?: InstancePaths; where: string }): Promise<InstanceConnection> {
  const { status } = await context.client.getInstanceStatus(instance.fid);
  if (ENDED_INSTANCE_STATUSES.has(status)) throw new AgentLostError(`instance ${options.where} ended (${status})`, { errorCode: AGENT_GONE });
  const connection = await InstanceConnection.open(instance, key, { timeoutMs: RECONNECT_SSH_TIMEOUT_MS });
  if ((await connection.read((options.paths ?? connection.paths).exitCode)) !== undefined) {
    connection.close();
    throw new AgentLostError(`the agent on ${options.where} exited`, { errorCode: AGENT_GONE });
  }
  return connection;
}
