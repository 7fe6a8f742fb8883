// The functions the benchmark calls.
import { App } from "flow-sdk";

export const app = new App("bench");

export const echo = app.function({ maxConcurrentInputs: 256 }, async (value: unknown) => value);

/** The same on up to 2 and 4 agents, for the scale curve. */
export const echoOn2 = app.function({ maxContainers: 2, maxConcurrentInputs: 256 }, async (value: unknown) => value);
export const echoOn4 = app.function({ maxContainers: 4, maxConcurrentInputs: 256 }, async (value: unknown) => value);

/** The agent's peak resident set size so far, in bytes. */
export const agentPeakRss = app.function({ maxConcurrentInputs: 256 }, async () => process.resourceUsage().maxRSS * 1024);

/** Yields `count` numbers, one every `ms`: a stream to cut the connection under. */
export const ticks = app.function({}, async function* (count: number, ms: number) {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    yield i;
  }
});
