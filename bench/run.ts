// `npm run bench`: the SDK against raw baselines measured by the same harness, in one run.
// Prints a table and writes bench/results.json. Targets are in README.md; nothing here asserts.
import { execFile, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import superjson from "superjson";
import { WebSocket } from "ws";
import { loadConfig } from "../src/config/load-config.ts";
import { FcpProvider } from "../src/providers/fcp/fcp-provider.ts";
import { FcpSimulator } from "../tools/fcp-sim/simulator.ts";
import { agentPeakRss, app, echo, ticks } from "./functions.ts";

const execFileAsync = promisify(execFile);
const ROUND_TRIPS = 2_000;
const MAP_INPUTS = 20_000;
const BULK_BYTES = 64 << 20;
const PLAIN_NUMBERS = 5_000_000;
const COLD_RUNS = 5;

interface Row {
  name: string;
  flow: number;
  baseline: number;
  unit: string;
  baselineName: string;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

async function rawEcho(): Promise<{ ws: WebSocket; stop: () => void }> {
  const server = spawn(process.execPath, ["bench/raw-echo-server.mjs"], { stdio: ["pipe", "pipe", "inherit"] });
  const [line] = (await once(createInterface({ input: server.stdout! }), "line")) as [string];
  const ws = new WebSocket(`ws://127.0.0.1:${line.trim()}`, { perMessageDeflate: false, maxPayload: 1 << 30 });
  ws.binaryType = "nodebuffer";
  await once(ws, "open");
  return { ws, stop: () => (ws.close(), server.stdin!.end()) };
}

function nextMessage(ws: WebSocket): Promise<Buffer> {
  return new Promise((resolve) => ws.once("message", (data) => resolve(data as Buffer)));
}

async function timeRoundTrips(count: number, once: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 100; i++) await once(); // warm up
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await once();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

const rows: Row[] = [];
const memory: Record<string, number> = {};
const raw = await rawEcho();

await app.run(async () => {
  // 1. Warm round trip.
  const flowTimes = await timeRoundTrips(ROUND_TRIPS, () => echo.remote({ n: 1 }));
  const rawTimes = await timeRoundTrips(ROUND_TRIPS, async () => {
    const reply = nextMessage(raw.ws);
    raw.ws.send(JSON.stringify({ n: 1 }));
    JSON.parse((await reply).toString());
  });
  rows.push({ name: "warm round trip p50", flow: percentile(flowTimes, 50), baseline: percentile(rawTimes, 50), unit: "ms", baselineName: "raw ws JSON echo" });
  rows.push({ name: "warm round trip p99", flow: percentile(flowTimes, 99), baseline: percentile(rawTimes, 99), unit: "ms", baselineName: "raw ws JSON echo" });

  // 2. map throughput over tiny inputs vs pipelined raw echo.
  let start = performance.now();
  let count = 0;
  for await (const _ of echo.map(Array.from({ length: MAP_INPUTS }, (_, i) => i), { concurrency: 256 })) count++;
  const mapRate = count / ((performance.now() - start) / 1000);
  start = performance.now();
  let received = 0;
  const allBack = new Promise<void>((resolve) =>
    raw.ws.on("message", () => {
      if (++received === MAP_INPUTS) resolve();
    }),
  );
  for (let i = 0; i < MAP_INPUTS; i++) raw.ws.send(JSON.stringify(i));
  await allBack;
  raw.ws.removeAllListeners("message");
  const rawRate = MAP_INPUTS / ((performance.now() - start) / 1000);
  rows.push({ name: "map, 20k tiny inputs", flow: mapRate, baseline: rawRate, unit: "msg/s", baselineName: "raw pipelined ws echo" });

  // 3. Bulk: a 64 MiB Float32Array there and back.
  const bulk = new Float32Array(BULK_BYTES / 4).map((_, i) => i);
  const mbps = (ms: number) => (2 * BULK_BYTES) / (1 << 20) / (ms / 1000);
  await echo.remote(bulk.subarray(0, 1024));
  const flowBulk: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await echo.remote(bulk);
    flowBulk.push(performance.now() - t);
  }
  // Before the superjson baseline below, whose number arrays would dwarf the SDK's own footprint.
  memory.clientPeakRssMiB = process.resourceUsage().maxRSS / 1024;
  memory.agentPeakRssMiB = (await agentPeakRss.remote()) / (1 << 20);
  const rawBulk: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const reply = nextMessage(raw.ws);
    raw.ws.send(Buffer.from(bulk.buffer));
    await reply;
    rawBulk.push(performance.now() - t);
  }
  const t = performance.now();
  superjson.parse(superjson.stringify(bulk)) as Float32Array;
  const superjsonMs = performance.now() - t;
  rows.push({ name: "64 MiB Float32Array round trip", flow: mbps(median(flowBulk)), baseline: mbps(median(rawBulk)), unit: "MB/s", baselineName: "raw ws binary echo" });
  rows.push({ name: "64 MiB Float32Array round trip", flow: mbps(median(flowBulk)), baseline: mbps(superjsonMs), unit: "MB/s", baselineName: "plain superjson encode+decode" });

  // A plain number[] of 5M elements there and back, against the same numbers as a Float64Array.
  const numbers = Array.from({ length: PLAIN_NUMBERS }, (_, i) => i * 0.5);
  const medianEcho = async (value: unknown) => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await echo.remote(value);
      times.push(performance.now() - t);
    }
    return median(times);
  };
  rows.push({ name: "5M-element number[] round trip", flow: await medianEcho(numbers), baseline: await medianEcho(Float64Array.from(numbers)), unit: "ms", baselineName: "same numbers as a Float64Array" });
});
raw.stop();

// 4. Cold start: the whole CLI, bundling and an agent included, against starting node at all.
const wall = (args: string[]) => {
  const times: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    const t = performance.now();
    execFileSync(process.execPath, args, { stdio: "ignore" });
    times.push(performance.now() - t);
  }
  return median(times);
};
rows.push({ name: "cold start", flow: wall(["bin/flow.js", "run", "examples/hello.ts"]), baseline: wall(["-e", ""]), unit: "ms", baselineName: 'node -e ""' });

// 5. The cloud path against the simulator (no allocation or boot delays, so what remains is ours:
//    API calls, the startup script, SSH, uploads, the tunnel), against the same on the local provider.
const scratch = mkdtempSync(join(tmpdir(), "flow-bench-"));
const sim = await FcpSimulator.start({ allocationDelayMs: 0, bootStepMs: 0, stateDir: join(scratch, "sim") });
const cloudEnv = { ...process.env, FLOW_API_URL: sim.url, FLOW_API_KEY: sim.apiKey, FLOW_PROJECT: sim.project.name, FLOW_HOME: join(scratch, "flow") };
// Asynchronously: the simulator serves from this process's event loop.
const squareOn = async (provider: string) => {
  const times: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    const t = performance.now();
    await execFileAsync(process.execPath, ["bin/flow.js", "run", "examples/hello.ts::square", "7", "--provider", provider], { env: cloudEnv });
    times.push(performance.now() - t);
  }
  return median(times);
};
rows.push({ name: "cold call on a fresh instance (sim)", flow: await squareOn("fcp"), baseline: await squareOn("local"), unit: "ms", baselineName: "same on the local provider" });
const provider = new FcpProvider({
  config: loadConfig({ env: cloudEnv }),
  flowHome: join(scratch, "flow"),
  pollIntervalMs: 20,
});
let tunnelTimes: number[] = [];
let localTimes: number[] = [];
await app.run(async () => void (tunnelTimes = await timeRoundTrips(ROUND_TRIPS, () => echo.remote({ n: 1 }))), { provider });
await app.run(async () => void (localTimes = await timeRoundTrips(ROUND_TRIPS, () => echo.remote({ n: 1 }))));
rows.push({ name: "warm round trip p50 over SSH (sim)", flow: percentile(tunnelTimes, 50), baseline: percentile(localTimes, 50), unit: "ms", baselineName: "local provider" });
// 6. Reconnection: the SSH connection to the instance drops under a stream; how long until the
//    next item arrives (detect, new SSH connection, port forward, resume, replay), against the
//    gap between two items when nothing drops.
const TICK_MS = 20;
const nextItemAfter = async (drop: boolean): Promise<number[]> => {
  const gaps: number[] = [];
  let cutAt = 0;
  let index = 0;
  for await (const _ of ticks.remote(200, TICK_MS)) {
    if (cutAt > 0) {
      gaps.push(performance.now() - cutAt);
      cutAt = 0;
    }
    if (++index % 25 === 0) {
      if (drop) for (const instance of sim.liveInstances()) sim.faults.dropSshConnections(instance.fid);
      cutAt = performance.now();
    }
  }
  return gaps;
};
let resumeGaps: number[] = [];
let steadyGaps: number[] = [];
await app.run(async () => {
  resumeGaps = await nextItemAfter(true);
  steadyGaps = await nextItemAfter(false);
}, { provider });
rows.push({ name: "dropped SSH connection to the next stream item (sim)", flow: median(resumeGaps), baseline: median(steadyGaps), unit: "ms", baselineName: `next item without a drop (one every ${TICK_MS} ms)` });
await sim.close();
rmSync(scratch, { recursive: true, force: true });

const table = rows.map((r) => ({
  measure: r.name,
  flow: `${r.flow.toFixed(r.unit === "ms" ? 2 : 0)} ${r.unit}`,
  baseline: `${r.baseline.toFixed(r.unit === "ms" ? 2 : 0)} ${r.unit}`,
  against: r.baselineName,
  // Above 1 means flow is slower than the baseline (takes longer, or moves less per second).
  "slowdown": (r.unit === "ms" ? r.flow / r.baseline : r.baseline / r.flow).toFixed(2),
}));
console.table(table);
console.table({ "client peak RSS (MiB)": memory.clientPeakRssMiB!.toFixed(0), "agent peak RSS (MiB)": memory.agentPeakRssMiB!.toFixed(0) });
writeFileSync(
  "bench/results.json",
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rows, memory }, null, 2)}\n`,
);
process.exit(0);
