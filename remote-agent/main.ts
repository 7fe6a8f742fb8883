/**
 * flow-agent: the process that runs user functions on the machine (this one, or a cloud instance).
 *
 *   node agent.mjs --archive code.tar.gz [--workspace DIR] [--host 127.0.0.1] [--port 0]
 *                  [--idle-timeout-ms 300000] [--exit-with-stdin] [--calls-dir DIR]
 *   node agent.mjs --archive-from-stdin ...   (the archive's path is the first line on stdin)
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
 *
 * With --archive-from-stdin it boots (node, this process's modules, the first worker) before its
 * code exists: the local provider starts it while the CLI still loads and bundles the user's
 * module, and writes the archive's path when it has one.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { timingMark } from "../src/debug-timing.ts";
import { dropHugePages } from "../src/runtime/huge-pages.ts";
import { agentLog } from "./output.ts";
import { WORKER_TAG_VARIABLE, workerTag } from "./worker-link.ts";
import { spawnWorker } from "./worker-process.ts";
import { createWorkspace, removeWorkspace, sweepStaleWorkspaces } from "./workspace.ts";

async function main(): Promise<void> {
  timingMark("agent: node started");
  const { values } = parseArgs({
    options: {
      archive: { type: "string" },
      workspace: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      "idle-timeout-ms": { type: "string", default: "300000" },
      "secret-file": { type: "string" },
      "exit-with-stdin": { type: "boolean", default: false },
      "archive-from-stdin": { type: "boolean", default: false },
      "calls-dir": { type: "string" },
    },
  });
  if (!values.archive === !values["archive-from-stdin"]) throw new Error("give one of --archive FILE and --archive-from-stdin");
  // Listening from the start: with --exit-with-stdin, stdin is resumed below and would drop the line.
  const archive = values.archive !== undefined ? Promise.resolve(values.archive) : firstLine(process.stdin);
  const secret = values["secret-file"]
    ? (await readFile(values["secret-file"], "utf8")).trim()
    : process.env.FLOW_AGENT_SECRET;
  delete process.env.FLOW_AGENT_SECRET;
  // Its starter turned huge pages on for this process; the worker gets them from spawnWorker.
  dropHugePages(process.env);
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
  timingMark("agent: control plane loaded");
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
  // `on`, not `once`: a second SIGTERM (the local provider's stop and its shutdown can both send one)
  // must not fall back to the default action and kill us before the shutdown has stopped the
  // worker and what it started.
  process.on("SIGTERM", () => stop(0)).on("SIGINT", () => stop(0));
  // A bug here must not leave the worker and the user's processes behind: stop them, then exit 1.
  process.on("uncaughtException", (error) => {
    agentLog(`flow-agent: ${error.stack ?? error.message}\n`);
    stop(1);
  });
  // A closed stderr (the local client died) must not turn each log line into an uncaught error,
  // whose report is another write to it: that loop spins forever. The stdin watch ends us instead.
  process.stderr.on("error", () => {});
  process.on("unhandledRejection", (reason) => agentLog(`flow-agent: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`));
  if (values["exit-with-stdin"]) {
    // The local provider holds our stdin open; when it dies, even by SIGKILL, we follow it.
    process.stdin.on("end", () => stop(0)).on("error", () => stop(0)).resume();
  }
  const archivePath = await archive;
  if (archivePath === undefined) {
    // The client went away before it had code for us (a prestarted agent it did not need).
    stop(0);
    return;
  }
  let entry: string;
  try {
    process.chdir(workspace);
    entry = await prepareWorkspace(archivePath, workspace);
    timingMark("agent: archive unpacked");
  } catch (error) {
    agentLog(`flow-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    stop(1);
    return;
  }
  const port = await agent.listen(entry);
  process.stdout.write(`${JSON.stringify({ event: "listening", port, pid: process.pid })}\n`);
  timingMark("agent: listening");
  // Off the start's path: the first call does not wait for other agents' leftovers to go.
  void sweepStaleWorkspaces(agentLog);
}

/** The first line of `input`, without its newline; undefined if it ends first. */
function firstLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  return new Promise((resolve) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const end = text.indexOf("\n");
      if (end === -1) return;
      input.off("data", onData).off("end", onEnd);
      resolve(text.slice(0, end));
    };
    const onEnd = () => resolve(undefined);
    input.on("data", onData).on("end", onEnd);
  });
}

if (process.argv.includes("--worker")) {
  // The worker's code (and the SDK it loads for the user's modules) is imported only here.
  timingMark("worker: node started");
  void import("./worker.ts").then(({ runWorker }) => (timingMark("worker: loaded"), runWorker()));
} else {
  main().catch((error: unknown) => {
    agentLog(`flow-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
