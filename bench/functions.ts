// The functions the benchmark calls.
import { App } from "flow-sdk";

export const app = new App("bench");

export const echo = app.function({ maxConcurrentInputs: 256 }, async (value: unknown) => value);

/** The agent's peak resident set size so far, in bytes. */
export const agentPeakRss = app.function({ maxConcurrentInputs: 256 }, async () => process.resourceUsage().maxRSS * 1024);
