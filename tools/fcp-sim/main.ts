/**
 * `npm run sim [-- --port 8787]`: a simulator to point the SDK or curl at, with the fault controls
 * under /_sim/... (see README.md). Ctrl-C closes it and kills every simulated machine.
 */
import { parseArgs } from "node:util";
import { controlApi } from "./control-api.ts";
import { FcpSimulator } from "./simulator.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8787" },
    "state-dir": { type: "string" },
    "allocation-delay-ms": { type: "string" },
    "boot-step-ms": { type: "string" },
    "ssh-round-trip-ms": { type: "string" },
  },
});

const port = toInt("--port", values.port);
const simulator = await FcpSimulator.start({
  port,
  ...(values["state-dir"] === undefined ? {} : { stateDir: values["state-dir"] }),
  ...(values["allocation-delay-ms"] === undefined ? {} : { allocationDelayMs: toInt("--allocation-delay-ms", values["allocation-delay-ms"]) }),
  ...(values["boot-step-ms"] === undefined ? {} : { bootStepMs: toInt("--boot-step-ms", values["boot-step-ms"]) }),
  ...(values["ssh-round-trip-ms"] === undefined ? {} : { sshRoundTripMs: toInt("--ssh-round-trip-ms", values["ssh-round-trip-ms"]) }),
  control: controlApi,
}).catch((error: unknown) => {
  const inUse = (error as NodeJS.ErrnoException).code === "EADDRINUSE";
  process.stderr.write(inUse ? `fcp-sim: port ${port} is in use; pass --port <free port> (0 picks one)\n` : `fcp-sim: could not start: ${String(error)}\n`);
  process.exit(1);
});

// The key is a fixed test token of the simulator, not a secret.
process.stdout.write(
  [
    `FCP simulator listening on ${simulator.url}`,
    `  API key:  ${simulator.apiKey}`,
    `  project:  ${simulator.project.fid} (${simulator.project.name})`,
    `  ledger:   curl ${simulator.url}/_sim/ledger`,
    `  preempt:  curl -X POST ${simulator.url}/_sim/faults/preempt -d '{"instance":"inst_..."}'`,
    "Ctrl-C to stop (kills every simulated instance).",
    "",
  ].join("\n"),
);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`\n${signal}: closing the simulator...\n`);
  simulator.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`fcp-sim: close failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

function toInt(flag: string, value: string | undefined): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) {
    process.stderr.write(`fcp-sim: ${flag} must be a non-negative integer, got "${value}"\n`);
    process.exit(2);
  }
  return number;
}
