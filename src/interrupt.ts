/**
 * Ctrl-C and SIGTERM while something billable is half set up: run `cleanup` first, then exit as
 * the signal would have (130 / 143). Returns the function that removes the handlers again.
 */
export function cleanUpOnInterrupt(cleanup: (signal: NodeJS.Signals) => Promise<unknown>): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup(signal)
      .catch((error: unknown) => process.stderr.write(`flow: cleaning up after ${signal} failed: ${(error as Error).message}\n`))
      .finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
