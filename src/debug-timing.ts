/**
 * `FLOW_DEBUG=timing`: each phase of a start (CLI loaded, bundle built, agent started, connected,
 * first result, and the agent's own phases) printed to stderr with the milliseconds since this
 * process started, so a slow cold start shows where its time went. Off, it costs one branch.
 */
import { performance } from "node:perf_hooks";

const enabled = (process.env.FLOW_DEBUG ?? "").split(",").includes("timing");

export function timingMark(phase: string): void {
  if (enabled) process.stderr.write(`[flow timing] ${performance.now().toFixed(1)} ms ${phase}\n`);
}

/** Marks `phase` once, however many times it is reached (e.g. the first result). */
const marked = new Set<string>();
export function timingMarkOnce(phase: string): void {
  if (!enabled || marked.has(phase)) return;
  marked.add(phase);
  timingMark(phase);
}
