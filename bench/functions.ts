// The functions the benchmark calls.
import { App } from "flow-sdk";

export const app = new App("bench");

export const echo = app.function({ maxConcurrentInputs: 256 }, async (value: unknown) => value);

/** The agent's peak resident set size so far, in bytes. */
export const agentPeakRss = app.function({ maxConcurrentInputs: 256 }, async () => process.resourceUsage().maxRSS * 1024);

/** Yields `count` numbers, one every `ms`: a stream to cut the connection under. */
export const ticks = app.function({}, async function* (count: number, ms: number) {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    yield i;
  }
});
