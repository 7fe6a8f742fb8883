/**
 * `flow result`, and `flow status|logs|cancel` of a detached call (`call-…`): started with
 * `flow run file.ts::fn --detach` or spawnDetached(), found again by id (see calls/detached-call.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";
import { DetachedCall } from "../../calls/detached-call.ts";

export { isDetachedCallId } from "../../calls/detached-call.ts";


/**
 * Wait for the call, then print its value (or fail with its error, exit 1). On the cloud the
 * outcome is copied to this machine and the call's instance released (see DetachedCall.refresh).
 */
export async function resultCommand(id: string, options: { json?: boolean }): Promise<void> {
  const value = await new DetachedCall(id).result();
  process.stdout.write(`${options.json ? JSON.stringify(value) : inspect(value, { depth: 6, colors: process.stdout.isTTY && !process.env.NO_COLOR })}\n`);
}

export async function detachedStatusCommand(id: string, options: { json?: boolean }): Promise<void> {
  const call = new DetachedCall(id);
  await call.refresh();
  const { record } = call;
  const { functionId, createdAt, resultWindowMs, provider } = record;
  // On the cloud, where it runs (and bills): the bid `flow cancel` would end, and its instance.
  const where = record.provider === "fcp" ? { bid: record.bidFid, instance: record.instanceFid } : {};
  const view = { callId: id, functionId, status: call.status, message: call.message, createdAt, provider, ...where, resultWindowMs };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(view)}\n`);
    return;
  }
  const on = record.provider === "fcp" ? `fcp (bid ${record.bidFid}, instance ${record.instanceFid})` : provider;
  process.stdout.write(`${id}  ${functionId}  ${view.status}${view.message ? `: ${view.message}` : ""}\n  started ${createdAt} on ${on}\n`);
}

export async function detachedLogsCommand(id: string, options: { follow?: boolean; stderr?: boolean }): Promise<void> {
  const call = new DetachedCall(id);
  const stream = options.stderr ? "stderr" : "stdout";
  let printed = 0;
  for (;;) {
    await call.refresh();
    const terminal = call.isTerminal;
    const text = call.logs(stream);
    process.stdout.write(text.slice(printed));
    printed = text.length;
    if (!options.follow || terminal) return;
    // On the cloud each look is an SSH login and a copy.
    await sleep(call.record.provider === "local" ? 200 : 1_000);
  }
}

export async function detachedCancelCommand(id: string): Promise<void> {
  const call = new DetachedCall(id);
  await call.cancel();
  process.stdout.write(`${id} ${call.status}\n`);
}
