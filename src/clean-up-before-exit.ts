/**
 * While something billable is half set up, the ways a process ends without unwinding its stack —
 * Ctrl-C, SIGTERM, an uncaught exception — run `cleanup` first, then end as they would have: exit
 * 130 or 143, or print the error and exit 1 (listening replaces Node's own crash, so this does
 * what it would have done).
 *
 * Returns the function to await when the guarded work ends, however it ends: it removes the
 * handlers, but once an exit has begun it never settles, so the work neither returns nor throws
 * before the exit. The cleanup itself makes the work fail (a cancelled bid is reported terminated,
 * a stopped agent's call is cancelled), and that error, let through, reaches the CLI's catch, which
 * exits 1 while the cleanup still waits for its answer; a result let through would exit 0.
 */
import { inspect } from "node:util";

export function cleanUpBeforeExit(cleanup: (reason: string) => Promise<unknown>): () => Promise<void> {
  let exiting = false;
  const end = (reason: string, code: number) => {
    // The first reason decides the exit code; a crash or signal during the cleanup does not
    // start a second one that could exit before it.
    if (exiting) return;
    exiting = true;
    void cleanup(reason)
      .catch((error: unknown) => process.stderr.write(`flow: cleaning up after ${reason} failed: ${(error as Error).message}\n`))
      .finally(() => process.exit(code));
  };
  const onSignal = (signal: NodeJS.Signals) => end(`interrupted by ${signal}`, signal === "SIGINT" ? 130 : 143);
  const onCrash = (error: unknown) => {
    process.stderr.write(`${inspect(error)}\n`);
    end("the process crashed", 1);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("uncaughtException", onCrash);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("uncaughtException", onCrash);
    return exiting ? new Promise<never>(() => {}) : Promise.resolve();
  };
}
