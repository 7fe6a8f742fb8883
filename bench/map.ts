// `npm run bench:map`: only the rows map batching changes (map over 20k and 100k inputs on 1, 2 and
// 4 agents, and the warm round trip it must not slow down), each alternating with its raw baseline
// as in run.ts, medians of REPS. Quicker than the whole bench while working on map; prints a table.
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { WebSocket } from "ws";
import { app, echo, echoOn2, echoOn4 } from "./functions.ts";

const REPS = Number(process.env.REPS ?? 3);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const server = spawn(process.execPath, ["bench/raw-echo-server.mjs"], { stdio: ["pipe", "pipe", "inherit"] });
const [line] = (await once(createInterface({ input: server.stdout! }), "line")) as [string];
const ws = new WebSocket(`ws://127.0.0.1:${Number(line.trim())}`, { perMessageDeflate: false });
await once(ws, "open");

async function rawPipelinedRate(inputs: number): Promise<number> {
  const start = performance.now();
  let received = 0;
  const allBack = new Promise<void>((resolve) => ws.on("message", () => ++received === inputs && resolve()));
  for (let i = 0; i < inputs; i++) ws.send(JSON.stringify(i));
  await allBack;
  ws.removeAllListeners("message");
  return inputs / ((performance.now() - start) / 1000);
}

async function mapRate(fn: typeof echo, agents: number, inputs: number): Promise<number> {
  const start = performance.now();
  let count = 0;
  for await (const _ of fn.map(Array.from({ length: inputs }, (_, i) => i), { concurrency: 256 * agents })) count++;
  return count / ((performance.now() - start) / 1000);
}

async function p50(call: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 100; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return median(times);
}

const rows: Record<string, { flow: string; baseline: string; ratio: string }> = {};
async function row(name: string, flow: () => Promise<number>, baseline: () => Promise<number>) {
  const runs = { flow: [] as number[], baseline: [] as number[] };
  for (let i = 0; i < REPS; i++) {
    runs.flow.push(await flow());
    runs.baseline.push(await baseline());
  }
  const [f, b] = [median(runs.flow), median(runs.baseline)];
  rows[name] = { flow: f.toFixed(3), baseline: b.toFixed(3), ratio: (f / b).toFixed(2) };
  console.error(name, runs);
}

await app.run(async () => {
  await row("warm round trip p50 (ms)", () => p50(() => echo.remote({ n: 1 })), () =>
    p50(async () => {
      const reply = once(ws, "message");
      ws.send(JSON.stringify({ n: 1 }));
      JSON.parse(String((await reply)[0]));
    }),
  );
  // One untimed round on each side first, as in run.ts: throughput is the steady state's.
  await mapRate(echo, 1, 20_000);
  await rawPipelinedRate(20_000);
  await row("map, 20k tiny inputs (msg/s)", () => mapRate(echo, 1, 20_000), () => rawPipelinedRate(20_000));
  await row("map, 100k inputs, 1 agent (msg/s)", () => mapRate(echo, 1, 100_000), () => rawPipelinedRate(100_000));
  await mapRate(echoOn2, 2, 20_000);
  await row("map, 100k inputs, 2 agents (msg/s)", () => mapRate(echoOn2, 2, 100_000), () => rawPipelinedRate(100_000));
  await mapRate(echoOn4, 4, 20_000);
  await row("map, 100k inputs, 4 agents (msg/s)", () => mapRate(echoOn4, 4, 100_000), () => rawPipelinedRate(100_000));
});
ws.close();
server.stdin!.end();
console.table(rows);
