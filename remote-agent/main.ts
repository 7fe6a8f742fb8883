/**
 * flow-agent: the process that runs user functions on the machine (this one, or a cloud instance).
 *
 *   node agent.mjs --archive code.tar.gz [--workspace DIR] [--host 127.0.0.1] [--port 0]
 *                  [--idle-timeout-ms 300000] [--exit-with-stdin]
 *
 * The session secret comes from FLOW_AGENT_SECRET or --secret-file, never from the command line
 * (where `ps` would show it), and is removed from the environment before user code loads.
 * Once listening, it prints one JSON line on stdout: {"event":"listening","port":N,"pid":P}.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Agent } from "./agent.ts";
import { captureOutput, agentLog } from "./output.ts";
import { prepareWorkspace } from "./workspace.ts";

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
    },
  });
  if (!values.archive) throw new Error("--archive is required");
  const secret = values["secret-file"]
    ? (await readFile(values["secret-file"], "utf8")).trim()
    : process.env.FLOW_AGENT_SECRET;
  delete process.env.FLOW_AGENT_SECRET;
  if (!secret) throw new Error("no session secret: set FLOW_AGENT_SECRET or pass --secret-file");

  const workspace = values.workspace ?? (await mkdtemp(join(tmpdir(), "flow-agent-")));
  const entry = await prepareWorkspace(values.archive, workspace);
  process.chdir(workspace);
  // Stacks of remote errors point at the user's .ts files through the bundle's source map.
  process.setSourceMapsEnabled(true);

  const agent = new Agent({
    entry,
    secret,
    host: values.host,
    port: Number(values.port),
    idleTimeoutMs: Number(values["idle-timeout-ms"]),
  });
  const port = await agent.listen();
  process.stdout.write(`${JSON.stringify({ event: "listening", port, pid: process.pid })}\n`);
  captureOutput(agent.broadcast);
  const stop = () => void agent.shutdown().finally(() => process.exit(0));
  process.once("SIGTERM", stop).once("SIGINT", stop);
  if (values["exit-with-stdin"]) {
    // The local provider holds our stdin open; when it dies, even by SIGKILL, we follow it.
    process.stdin.on("end", stop).on("error", stop).resume();
  }
}

main().catch((error: unknown) => {
  agentLog(`flow-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
