// `npm run bench`: the SDK against raw baselines measured by the same harness, in one run.
// Every row is measured REPS times, alternating with its baseline, and reports the medians.
// Prints a table and writes bench/results.json. Targets are in docs/performance.md; nothing here asserts.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import superjson from "superjson";
import { WebSocket } from "ws";
import { loadConfig } from "../src/config/load-config.ts";
import { FcpProvider } from "../src/providers/fcp/fcp-provider.ts";
import { withHugePages } from "../src/runtime/huge-pages.ts";
import { FcpSimulator } from "../tools/fcp-sim/simulator.ts";
import { agentPeakRss, app, echo, echoOn2, echoOn4, ticks } from "./functions.ts";

const execFileAsync = promisify(execFile);
const REPS = 3;
const ROUND_TRIPS = 1_000;
const MAP_INPUTS = 20_000;
const SCALE_INPUTS = 100_000;
const CONCURRENT_CALLS = 1_000;
const BULK_BYTES = 64 << 20;
const PLAIN_NUMBERS = 5_000_000;
const MiB = 1 << 20;

interface Row {
  name: string;
  flow: number;
  baseline: number;
  unit: string;
  baselineName: string;
  /** Each repetition's figures, flow and baseline side by side. */
  runs: { flow: number[]; baseline: number[] };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

const rows: Row[] = [];
const memory: Record<string, number> = {};
const phases: Record<string, Record<string, number>> = {};
const loadBefore = loadavg()[0]!;

/** REPS alternating runs of `flow` and `baseline`, medians kept. */
async function row(name: string, unit: string, baselineName: string, flow: () => Promise<number> | number, baseline: () => Promise<number> | number) {
  const runs = { flow: [] as number[], baseline: [] as number[] };
  for (let i = 0; i < REPS; i++) {
    runs.flow.push(await flow());
    runs.baseline.push(await baseline());
  }
  rows.push({ name, flow: median(runs.flow), baseline: median(runs.baseline), unit, baselineName, runs });
}

async function echoServer(file: string, env: NodeJS.ProcessEnv = process.env): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = spawn(process.execPath, [file], { stdio: ["pipe", "pipe", "inherit"], env });
  const [line] = (await once(createInterface({ input: server.stdout! }), "line")) as [string];
  // Stopped once it has exited: the cold start below counts the CPU of every child reaped meanwhile.
  const exited = once(server, "exit");
  const stop = async () => {
    server.stdin!.end();
    await exited;
  };
  return { port: Number(line.trim()), stop };
}

async function rawWsEcho(file = "bench/raw-echo-server.mjs"): Promise<{ ws: WebSocket; stop: () => Promise<void> }> {
  const server = await echoServer(file);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: false, maxPayload: 1 << 30 });
  ws.binaryType = "nodebuffer";
  await once(ws, "open");
  return { ws, stop: () => (ws.close(), server.stop()) };
}

async function rawTcpEcho(file = "bench/raw-tcp-echo-server.mjs", env?: NodeJS.ProcessEnv): Promise<{ socket: Socket; stop: () => Promise<void> }> {
  const server = await echoServer(file, env);
  const socket = connect(server.port, "127.0.0.1");
  await once(socket, "connect");
  socket.setNoDelay(true);
  return { socket, stop: () => (socket.destroy(), server.stop()) };
}

/** Write `bytes` to the echo and read as many back, holding only a chunk at a time. */
async function tcpRoundTrip(socket: Socket, bytes: Buffer): Promise<number> {
  const t = performance.now();
  const back = new Promise<void>((resolve) => {
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received >= bytes.byteLength) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
  });
  socket.write(bytes);
  await back;
  return performance.now() - t;
}

/**
 * Milliseconds to send `bytes` to the holding echo (raw-tcp-hold-echo-server.mjs) and have them
 * back in a new array; the caller keeps it until the next round trip, as a caller keeps a result.
 */
async function tcpHeldRoundTrip(socket: Socket, bytes: Buffer): Promise<{ ms: number; back: Float32Array }> {
  const t = performance.now();
  const back = new Promise<Float32Array>((resolve) => {
    const array = new Float32Array(bytes.byteLength / 4);
    const into = new Uint8Array(array.buffer);
    let received = 0;
    const onData = (chunk: Buffer) => {
      into.set(chunk, received);
      received += chunk.byteLength;
      if (received >= bytes.byteLength) {
        socket.off("data", onData);
        resolve(array);
      }
    };
    socket.on("data", onData);
  });
  const header = Buffer.alloc(8);
  header.writeBigUInt64BE(BigInt(bytes.byteLength));
  socket.write(header);
  socket.write(bytes);
  return { back: await back, ms: performance.now() - t };
}

/** Milliseconds to send `bytes` to the raw ws echo and have them back. */
async function wsRoundTrip(ws: WebSocket, bytes: Buffer): Promise<number> {
  const t = performance.now();
  const reply = nextMessage(ws);
  ws.send(bytes);
  await reply;
  return performance.now() - t;
}

function nextMessage(ws: WebSocket): Promise<Buffer> {
  return new Promise((resolve) => ws.once("message", (data) => resolve(data as Buffer)));
}

async function roundTripTimes(count: number, call: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 100; i++) await call(); // warm up
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

async function mapRate(fn: typeof echo, inputs: number): Promise<number> {
  const start = performance.now();
  let count = 0;
  for await (const _ of fn.map(Array.from({ length: inputs }, (_, i) => i), { concurrency: 256 * (fn === echoOn4 ? 4 : fn === echoOn2 ? 2 : 1) })) count++;
  return count / ((performance.now() - start) / 1000);
}

async function rawPipelinedRate(ws: WebSocket, inputs: number): Promise<number> {
  const start = performance.now();
  let received = 0;
  const allBack = new Promise<void>((resolve) =>
    ws.on("message", () => {
      if (++received === inputs) resolve();
    }),
  );
  for (let i = 0; i < inputs; i++) ws.send(JSON.stringify(i));
  await allBack;
  ws.removeAllListeners("message");
  return inputs / ((performance.now() - start) / 1000);
}

const ws = await rawWsEcho();
const relayed = await rawWsEcho("bench/raw-relay-echo-server.mjs");
const tcp = await rawTcpEcho();
const tcpHeld = await rawTcpEcho("bench/raw-tcp-hold-echo-server.mjs", { ...process.env, GLIBC_TUNABLES: withHugePages(process.env.GLIBC_TUNABLES) });

await app.run(async () => {
  // 1. Bulk first, while this process's peak RSS is still the idle one: a 64 MiB Float32Array there and back.
  const bulk = new Float32Array(BULK_BYTES / 4).map((_, i) => i);
  const bulkBytes = Buffer.from(bulk.buffer);
  const mbps = (ms: number) => (2 * BULK_BYTES) / MiB / (ms / 1000);
  await echo.remote(bulk.subarray(0, 1024));
  const idleRss = process.memoryUsage().rss;
  const flowBulk: number[] = [];
  const timeFlowBulk = async () => {
    const t = performance.now();
    await echo.remote(bulk);
    const ms = performance.now() - t;
    flowBulk.push(ms);
    return mbps(ms);
  };
  // The peak is read after the flow runs only, before the baselines add their own buffers. Each
  // side (flow, raw TCP, raw ws) moves the payload once untimed first: a new process's first big
  // transfers are its slowest (its heaps and the kernel's socket buffers grow), on either side.
  await echo.remote(bulk);
  for (let i = 0; i < REPS; i++) await timeFlowBulk();
  memory.clientRssGrowthMiB = (process.resourceUsage().maxRSS * 1024 - idleRss) / MiB;
  memory.clientPeakRssMiB = process.resourceUsage().maxRSS / 1024;
  memory.agentPeakRssMiB = (await agentPeakRss.remote()) / MiB;
  const tcpBulk: number[] = [];
  const wsBulk: number[] = [];
  const tcpHeldBulk: number[] = [];
  await tcpRoundTrip(tcp.socket, bulkBytes);
  await wsRoundTrip(ws.ws, bulkBytes);
  {
    // In a block: the last array the holding echo sent back is let go after the check.
    let { back: heldBack } = await tcpHeldRoundTrip(tcpHeld.socket, bulkBytes);
    for (let i = 0; i < REPS; i++) {
      tcpBulk.push(mbps(await tcpRoundTrip(tcp.socket, bulkBytes)));
      wsBulk.push(mbps(await wsRoundTrip(ws.ws, bulkBytes)));
      const held = await tcpHeldRoundTrip(tcpHeld.socket, bulkBytes);
      tcpHeldBulk.push(mbps(held.ms));
      heldBack = held.back;
    }
    if (heldBack[heldBack.length - 1] !== bulk[bulk.length - 1]) throw new Error("the holding TCP echo sent back other bytes");
  }
  const flowRates = flowBulk.map(mbps);
  rows.push({ name: "64 MiB Float32Array round trip", flow: median(flowRates), baseline: median(tcpBulk), unit: "MB/s", baselineName: "raw TCP socket echo", runs: { flow: flowRates, baseline: tcpBulk } });
  rows.push({ name: "64 MiB Float32Array round trip", flow: median(flowRates), baseline: median(tcpHeldBulk), unit: "MB/s", baselineName: "raw TCP echo, payload held at each end", runs: { flow: flowRates, baseline: tcpHeldBulk } });
  rows.push({ name: "64 MiB Float32Array round trip", flow: median(flowRates), baseline: median(wsBulk), unit: "MB/s", baselineName: "raw ws binary echo", runs: { flow: flowRates, baseline: wsBulk } });
  rows.push({
    name: "client RSS growth, 64 MiB round trip",
    flow: memory.clientRssGrowthMiB,
    baseline: 2 * (BULK_BYTES / MiB),
    unit: "MiB",
    baselineName: "target: 2× the payload",
    runs: { flow: [memory.clientRssGrowthMiB], baseline: [2 * (BULK_BYTES / MiB)] },
  });
  const superjsonRuns: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t = performance.now();
    superjson.parse(superjson.stringify(bulk));
    superjsonRuns.push(mbps(performance.now() - t));
  }
  rows.push({ name: "64 MiB Float32Array round trip", flow: median(flowRates), baseline: median(superjsonRuns), unit: "MB/s", baselineName: "plain superjson encode+decode", runs: { flow: flowRates, baseline: superjsonRuns } });

  // 2. Warm round trip, against a raw ws JSON echo, and the same relayed through a child process
  // (the least a call pays that runs user code outside the process holding the connection).
  const p50s = { flow: [] as number[], baseline: [] as number[] };
  const p99s = { flow: [] as number[], baseline: [] as number[] };
  const relayedP50s: number[] = [];
  const rawEcho = (socket: WebSocket) => async () => {
    const reply = nextMessage(socket);
    socket.send(JSON.stringify({ n: 1 }));
    JSON.parse((await reply).toString());
  };
  for (let i = 0; i < REPS; i++) {
    const flowTimes = await roundTripTimes(ROUND_TRIPS, () => echo.remote({ n: 1 }));
    const rawTimes = await roundTripTimes(ROUND_TRIPS, rawEcho(ws.ws));
    const relayedTimes = await roundTripTimes(ROUND_TRIPS, rawEcho(relayed.ws));
    p50s.flow.push(percentile(flowTimes, 50));
    p50s.baseline.push(percentile(rawTimes, 50));
    relayedP50s.push(percentile(relayedTimes, 50));
    p99s.flow.push(percentile(flowTimes, 99));
    p99s.baseline.push(percentile(rawTimes, 99));
  }
  rows.push({ name: "warm round trip p50", flow: median(p50s.flow), baseline: median(p50s.baseline), unit: "ms", baselineName: "raw ws JSON echo", runs: p50s });
  rows.push({ name: "warm round trip p50", flow: median(p50s.flow), baseline: median(relayedP50s), unit: "ms", baselineName: "the same, relayed through a child process", runs: { flow: p50s.flow, baseline: relayedP50s } });
  rows.push({ name: "warm round trip p99", flow: median(p99s.flow), baseline: median(p99s.baseline), unit: "ms", baselineName: "raw ws JSON echo", runs: p99s });

  // 3. map throughput over tiny inputs vs pipelined raw echo.
  // Throughput rows measure the steady state: one untimed round first, on each side (the map's
  // batching code and the raw loop both get compiled by then; more agents get started).
  await mapRate(echo, MAP_INPUTS);
  await rawPipelinedRate(ws.ws, MAP_INPUTS);
  await row("map, 20k tiny inputs", "msg/s", "raw pipelined ws echo", () => mapRate(echo, MAP_INPUTS), () => rawPipelinedRate(ws.ws, MAP_INPUTS));

  // A plain number[] of 5M elements there and back, against the same numbers as a Float64Array.
  const numbers = Array.from({ length: PLAIN_NUMBERS }, (_, i) => i * 0.5);
  const typed = Float64Array.from(numbers);
  const timeEcho = async (value: unknown) => {
    const t = performance.now();
    await echo.remote(value);
    return performance.now() - t;
  };
  await row("5M-element number[] round trip", "ms", "same numbers as a Float64Array", () => timeEcho(numbers), () => timeEcho(typed));

  // 4. Scale: map over 100k inputs on 1, 2 and 4 agents; 1,000 concurrent .remote() calls.
  const rssBefore = process.memoryUsage().rss;
  const oneAgent: number[] = [];
  await row("map, 100k inputs, 1 agent", "msg/s", "raw pipelined ws echo", async () => {
    const rate = await mapRate(echo, SCALE_INPUTS);
    oneAgent.push(rate);
    return rate;
  }, () => rawPipelinedRate(ws.ws, SCALE_INPUTS));
  memory.rssGrowthMap100kOneAgentMiB = (process.memoryUsage().rss - rssBefore) / MiB;
  await mapRate(echoOn2, MAP_INPUTS);
  await row("map, 100k inputs, 2 agents", "msg/s", "same on 1 agent (above)", () => mapRate(echoOn2, SCALE_INPUTS), async () => oneAgent.shift()!);
  memory.rssGrowthMap100kTwoAgentsMiB = (process.memoryUsage().rss - rssBefore) / MiB;
  const oneAgentAgain = [...rows.at(-2)!.runs.flow];
  await mapRate(echoOn4, MAP_INPUTS);
  await row("map, 100k inputs, 4 agents", "msg/s", "same on 1 agent (above)", () => mapRate(echoOn4, SCALE_INPUTS), async () => oneAgentAgain.shift()!);
  memory.rssGrowthMap100kFourAgentsMiB = (process.memoryUsage().rss - rssBefore) / MiB;
  const concurrentMs = async (call: () => Promise<unknown>) => {
    const t = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT_CALLS }, call));
    return performance.now() - t;
  };
  await row("1,000 concurrent .remote()", "ms", "1,000 pipelined raw ws echoes", () => concurrentMs(() => echo.remote({ n: 1 })), async () => (CONCURRENT_CALLS / (await rawPipelinedRate(ws.ws, CONCURRENT_CALLS))) * 1000);
  memory.rssAfterScaleMiB = process.memoryUsage().rss / MiB;
});
await Promise.all([ws.stop(), relayed.stop(), tcp.stop(), tcpHeld.stop()]);

// 5. Cold start: the whole CLI, bundling and an agent included, against starting node at all.
//    Then the same with FLOW_DEBUG=timing, for where the time goes (the median of each phase).
const wallMs = async (args: string[], env: NodeJS.ProcessEnv = process.env) => {
  const t = performance.now();
  const cpu = childrenCpuMs();
  const { stderr } = await execFileAsync(process.execPath, args, { env });
  return { ms: performance.now() - t, cpuMs: childrenCpuMs() - cpu, stderr };
};
/**
 * CPU time (user + system) of the children this process has waited for, with that of theirs:
 * a run's whole process tree, the agents and workers the CLI started included (Linux's /proc).
 */
const childrenCpuMs = () => {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  // cutime and cstime, the 16th and 17th fields, in clock ticks (100 per second).
  return (Number(fields[13]) + Number(fields[14])) * 10;
};
const TIMING_LINE = /^\[flow timing\] ([\d.]+) ms (.+)$/;
/** The client's `[flow timing]` lines (not the agent's, whose clock starts with the agent). */
const phasesOf = (stderr: string) =>
  Object.fromEntries(stderr.split("\n").flatMap((line) => {
    const match = TIMING_LINE.exec(line);
    // The worker's lines reach stderr unprefixed; like the agent's, they count from their own start.
    return match && !match[2]!.startsWith("worker:") ? [[match[2]!, Number(match[1])]] : [];
  }));
const medianPhases = (runs: Record<string, number>[]) =>
  Object.fromEntries(Object.keys(runs[0] ?? {}).map((phase) => [phase, median(runs.map((run) => run[phase] ?? Number.NaN))]));

const hello = ["bin/flow.js", "run", "examples/hello.ts"];
const coldCpu = { flow: [] as number[], baseline: [] as number[] };
const coldStart = async () => {
  const { ms, cpuMs } = await wallMs(hello);
  coldCpu.flow.push(cpuMs);
  coldCpu.baseline.push(ms);
  return ms;
};
await row("cold start `flow run examples/hello.ts`", "ms", 'node -e ""', coldStart, async () => (await wallMs(["-e", ""])).ms);
// Where the start is bound by CPU, CPU time over the cores is the least wall time it can take.
rows.push({ name: "cold start: CPU time of all its processes", flow: median(coldCpu.flow), baseline: median(coldCpu.baseline), unit: "ms", baselineName: `its wall time (${cpus().length} cores)`, runs: coldCpu });
const coldPhases: Record<string, number>[] = [];
for (let i = 0; i < REPS; i++) coldPhases.push(phasesOf((await wallMs(hello, { ...process.env, FLOW_DEBUG: "timing" })).stderr));
phases.coldStart = medianPhases(coldPhases);

// 6. The cloud path against the simulator (no allocation or boot delays, so what remains is ours:
//    API calls, the startup script, SSH, uploads, the tunnel), against the same on the local provider.
const scratch = mkdtempSync(join(tmpdir(), "flow-bench-"));
const sim = await FcpSimulator.start({ allocationDelayMs: 0, bootStepMs: 0, stateDir: join(scratch, "sim") });
const cloudEnv = { ...process.env, FLOW_API_URL: sim.url, FLOW_API_KEY: sim.apiKey, FLOW_PROJECT: sim.project.name, FLOW_HOME: join(scratch, "flow"), FLOW_DEBUG: "timing" };
// Asynchronously: the simulator serves from this process's event loop.
const cloudRuns: Record<string, number>[] = [];
const localRuns: Record<string, number>[] = [];
const squareOn = async (provider: string, runs: Record<string, number>[], env = cloudEnv) => {
  const { ms, stderr } = await wallMs(["bin/flow.js", "run", "examples/hello.ts::square", "7", "--provider", provider], env);
  runs.push(phasesOf(stderr));
  return ms;
};
await row("cold call on a fresh instance (sim)", "ms", "same on the local provider", () => squareOn("fcp", cloudRuns), () => squareOn("local", localRuns));
phases.cloudColdCall = medianPhases(cloudRuns);
phases.localColdCall = medianPhases(localRuns);
const since = (runs: Record<string, number>[], from: string) =>
  runs.map((run) => (run["first result"] ?? Number.NaN) - (run[from] ?? Number.NaN));
const cloudAllocatedToResult = since(cloudRuns, "square: instance allocated");
const localStartToResult = since(localRuns, "agent for square: starting");
rows.push({
  name: "cloud: allocated → first result (sim)",
  flow: median(cloudAllocatedToResult),
  baseline: median(localStartToResult),
  unit: "ms",
  baselineName: "local: agent start → first result",
  runs: { flow: cloudAllocatedToResult, baseline: localStartToResult },
});
// The same over SSH round trips of a distant region's link (loopback's are ~0.1 ms): what the
// handshake's round trips cost, against the same call on loopback.
const SSH_ROUND_TRIP_MS = 40;
const distant = await FcpSimulator.start({ allocationDelayMs: 0, bootStepMs: 0, sshRoundTripMs: SSH_ROUND_TRIP_MS, stateDir: join(scratch, "sim-distant") });
const distantEnv = { ...cloudEnv, FLOW_API_URL: distant.url, FLOW_API_KEY: distant.apiKey, FLOW_PROJECT: distant.project.name, FLOW_HOME: join(scratch, "flow-distant") };
const distantRuns: Record<string, number>[] = [];
for (let i = 0; i < REPS; i++) await squareOn("fcp", distantRuns, distantEnv);
await distant.close();
phases.cloudColdCallDistant = medianPhases(distantRuns);
const distantAllocatedToResult = since(distantRuns, "square: instance allocated");
rows.push({
  name: `cloud: allocated → first result, ${SSH_ROUND_TRIP_MS} ms SSH round trips (sim)`,
  flow: median(distantAllocatedToResult),
  baseline: median(cloudAllocatedToResult),
  unit: "ms",
  baselineName: "same on loopback",
  runs: { flow: distantAllocatedToResult, baseline: cloudAllocatedToResult },
});

const provider = new FcpProvider({
  config: loadConfig({ env: cloudEnv }),
  flowHome: join(scratch, "flow"),
  pollIntervalMs: 20,
});
const tunnel = { flow: [] as number[], baseline: [] as number[] };
await app.run(async () => {
  for (let i = 0; i < REPS; i++) tunnel.flow.push(percentile(await roundTripTimes(ROUND_TRIPS, () => echo.remote({ n: 1 })), 50));
}, { provider });
await app.run(async () => {
  for (let i = 0; i < REPS; i++) tunnel.baseline.push(percentile(await roundTripTimes(ROUND_TRIPS, () => echo.remote({ n: 1 })), 50));
});
rows.push({ name: "warm round trip p50 over SSH (sim)", flow: median(tunnel.flow), baseline: median(tunnel.baseline), unit: "ms", baselineName: "local provider", runs: tunnel });
// 7. Reconnection: the SSH connection to the instance drops under a stream; how long until the
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
rows.push({ name: "dropped SSH connection to the next stream item (sim)", flow: median(resumeGaps), baseline: median(steadyGaps), unit: "ms", baselineName: `next item without a drop (one every ${TICK_MS} ms)`, runs: { flow: resumeGaps, baseline: steadyGaps } });
await sim.close();
rmSync(scratch, { recursive: true, force: true });

const lower = (unit: string) => unit === "ms" || unit === "MiB";
const table = rows.map((r) => ({
  measure: r.name,
  flow: `${r.flow.toFixed(lower(r.unit) ? 2 : 0)} ${r.unit}`,
  baseline: `${r.baseline.toFixed(lower(r.unit) ? 2 : 0)} ${r.unit}`,
  against: r.baselineName,
  // Above 1 means flow is slower than the baseline (takes longer, or moves less per second).
  slowdown: (lower(r.unit) ? r.flow / r.baseline : r.baseline / r.flow).toFixed(2),
}));
console.table(table);
console.table(Object.fromEntries(Object.entries(memory).map(([k, v]) => [k, v.toFixed(0)])));
for (const [name, phase] of Object.entries(phases)) {
  console.log(`${name} (ms since the client process started, median of ${REPS}):`);
  for (const [what, ms] of Object.entries(phase)) console.log(`  ${ms.toFixed(0).padStart(6)}  ${what}`);
}
const load = { before: loadBefore, after: loadavg()[0]! };
console.log(`load average (1 min): ${load.before.toFixed(1)} before, ${load.after.toFixed(1)} after, on ${cpus().length} cores shared with other work`);
writeFileSync(
  "bench/results.json",
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, repetitions: REPS, loadAverage: load, rows, memory, phases }, null, 2)}\n`,
);
process.exit(0);
