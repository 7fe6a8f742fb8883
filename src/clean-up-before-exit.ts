/**
 * While something billable is half set up, the ways a process ends without unwinding its stack —
 * Ctrl-C, SIGTERM, an uncaught exception — run `cleanup` first, then end as they would have: exit
 * 130 or 143, or print the error and exit 1 (listening replaces Node's own crash, so this does
 * what it would have done). Returns the function that removes the handlers again.
 */
import { inspect } from "node:util";

export function cleanUpBeforeExit(cleanup: (reason: string) => Promise<unknown>): () => void {
  const end = (reason: string, code: number) => {
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
  };
}
