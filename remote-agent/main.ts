/**
 * flow-agent: the process that runs user functions on the machine (this one, or a cloud instance).
 *
 *   node agent.mjs --archive code.tar.gz [--workspace DIR] [--host 127.0.0.1] [--port 0]
 *                  [--idle-timeout-ms 300000] [--exit-with-stdin] [--calls-dir DIR]
 *
 * This process is the control plane (agent.ts); it starts the same file with --worker for the
 * process that runs the user's code (worker.ts). The first worker is started before anything else
 * is loaded, so that node boots it while this process loads its modules and unpacks the archive.
 *
 * The session secret comes from FLOW_AGENT_SECRET or --secret-file, never from the command line
 * (where `ps` would show it), and is removed from the environment before any worker starts.
 * Once listening, it prints one JSON line on stdout: {"event":"listening","port":N,"pid":P}.
 * Without --workspace it works in a temporary directory of its own, removed when it exits. Its own
 * files (what sessions spill to disk, and detached calls' records unless --calls-dir puts them
 * elsewhere) live in the workspace's `.flow-agent` directory.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { agentLog } from "./output.ts";
import { WORKER_TAG_VARIABLE, workerTag } from "./worker-link.ts";
import { spawnWorker } from "./worker-process.ts";
import { createWorkspace, removeWorkspace, sweepStaleWorkspaces } from "./workspace.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      archive: { type: "string" },
      workspace: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      "idle-timeout-ms": { type: "string", default: "300000" },
      "secret-file": { type: "string" },
      "exit-with-stdin": { type: "boolean", default: false },
      "calls-dir": { type: "string" },
    },
  });
  if (!values.archive) throw new Error("--archive is required");
  const secret = values["secret-file"]
    ? (await readFile(values["secret-file"], "utf8")).trim()
    : process.env.FLOW_AGENT_SECRET;
  delete process.env.FLOW_AGENT_SECRET;
  if (!secret) throw new Error("no session secret: set FLOW_AGENT_SECRET or pass --secret-file");
  // The local provider names the tag, so it can find this agent's processes too; else make one.
  const tag = process.env[WORKER_TAG_VARIABLE] ?? randomBytes(8).toString("hex");
  process.env[WORKER_TAG_VARIABLE] = tag;

  const ownWorkspace = values.workspace === undefined;
  const workspace = values.workspace ?? (await createWorkspace());
  // The worker starts in it before the archive is unpacked there.
  await mkdir(workspace, { recursive: true });
  const agentFile = fileURLToPath(import.meta.url);
  const env = { ...process.env } as Record<string, string>;
  const firstWorker = spawnWorker({ agentFile, cwd: workspace, env, tag: workerTag(tag, 1) });

  const [{ Agent, agentStateDirs }, { prepareWorkspace }] = await Promise.all([import("./agent.ts"), import("./install.ts")]);
  let exiting = false;
  const stop = (code: number) => {
    if (exiting) return;
    exiting = true;
    void agent
      .shutdown()
      .then(() => (ownWorkspace ? removeWorkspace(workspace) : undefined))
      .catch((error: unknown) => agentLog(`flow-agent: shutting down: ${(error as Error).message}\n`))
      .finally(() => process.exit(code));
  };
  const agent = new Agent({
    secret,
    host: values.host,
    port: Number(values.port),
    idleTimeoutMs: Number(values["idle-timeout-ms"]),
    agentFile,
    workspace,
    ...agentStateDirs(workspace, values["calls-dir"]),
    env,
    tag,
    firstWorker,
    onIdle: () => stop(0),
  });
  process.once("SIGTERM", () => stop(0)).once("SIGINT", () => stop(0));
  // A bug here must not leave the worker and the user's processes behind: stop them, then exit 1.
  process.on("uncaughtException", (error) => {
    agentLog(`flow-agent: ${error.stack ?? error.message}\n`);
    stop(1);
  });
  process.on("unhandledRejection", (reason) => agentLog(`flow-agent: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`));
  if (values["exit-with-stdin"]) {
    // The local provider holds our stdin open; when it dies, even by SIGKILL, we follow it.
    process.stdin.on("end", () => stop(0)).on("error", () => stop(0)).resume();
  }
  let entry: string;
  try {
    process.chdir(workspace);
    entry = await prepareWorkspace(values.archive, workspace);
  } catch (error) {
    agentLog(`flow-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    stop(1);
    return;
  }
  const port = await agent.listen(entry);
  process.stdout.write(`${JSON.stringify({ event: "listening", port, pid: process.pid })}\n`);
  // Off the start's path: the first call does not wait for other agents' leftovers to go.
  void sweepStaleWorkspaces(agentLog);
}

if (process.argv.includes("--worker")) {
  // The worker's code (and the SDK it loads for the user's modules) is imported only here.
  void import("./worker.ts").then(({ runWorker }) => runWorker());
} else {
  main().catch((error: unknown) => {
    agentLog(`flow-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
