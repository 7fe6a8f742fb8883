import { constants } from "node:os";

/**
 * A remote command's exit code from ssh2's 'exit' event: the status, or the shell convention
 * 128+N when it died of signal N (ssh2 names it "SIGTERM"); 255, like ssh, when neither is known.
 */
export function exitCodeOf(code: number | null | undefined, signalName: string | undefined): number {
  if (typeof code === "number") return code;
  const name = signalName?.startsWith("SIG") ? signalName : `SIG${signalName}`;
  const signalNumber = constants.signals[name as keyof typeof constants.signals] as number | undefined;
  return signalNumber === undefined ? 255 : 128 + signalNumber;
}
