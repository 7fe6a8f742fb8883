/**
 * What a caller is told when the process that ran its call on the agent ended under it: the agent
 * reports how (a ProcessEnd), and this turns it into the error the call rejects with.
 *
 * The call's own doing (it exited, crashed, ran out of memory, threw where nothing caught it) is a
 * FunctionCrashedError, which is not retried by default. Anything else (killed from outside, ended
 * by another call, stopped because another call ignored its cancellation) is an AgentLostError,
 * retried like any infrastructure failure.
 */
import { AgentLostError, FunctionCrashedError, type CrashKind } from "../errors.ts";
import type { ProcessEnd } from "./protocol.ts";

export function processEndError(functionId: string, end: ProcessEnd, cause: Error | undefined): FunctionCrashedError | AgentLostError {
  const tail = end.stderrTail ? `\nLast lines on its stderr:\n${indent(end.stderrTail)}` : "";
  const other = end.otherFunctionId ?? "another function";
  switch (end.how) {
    case "exit":
      return crashed("exit", `${functionId}: its process exited with code ${end.exitCode ?? "?"} while the call ran (process.exit() in your code, or a native module).${tail}`, end, cause, [
        "Return or throw instead of calling process.exit() in a remote function.",
      ]);
    case "signal":
      return crashed("signal", `${functionId}: its process died of ${end.signal ?? "a signal"} while the call ran (a crash in native code, or process.abort()).${tail}`, end, cause, []);
    case "out-of-memory": {
      const limit = end.heapLimitBytes ? ` (its limit is ${Math.round(end.heapLimitBytes / (1 << 20))} MB)` : "";
      return crashed("out-of-memory", `${functionId}: its process ran out of JavaScript heap memory${limit} while the call ran.${tail}`, end, cause, [
        "Use less memory per call (smaller inputs, fewer concurrent inputs with maxConcurrentInputs),",
        'or raise the heap limit: env: { NODE_OPTIONS: "--max-old-space-size=<MB>" } in the function\'s options.',
      ]);
    }
    case "uncaught-exception":
      return crashed("uncaught-exception", `${functionId}: an exception nothing caught ended its process: ${describe(cause)}${tail}`, end, cause, [
        "Await the work that threw (a callback or timer outside the call's promise chain), or catch the error there.",
      ]);
    case "unhandled-rejection":
      return crashed("unhandled-rejection", `${functionId}: a promise rejection nothing handled failed the call: ${describe(cause)}`, end, cause, [
        "Await the promise that rejected, or attach a .catch() to it.",
      ]);
    case "killed-from-outside":
      return new AgentLostError(
        `${functionId}: its process was killed by ${end.signal ?? "a signal"} from outside flow while the call ran (the kernel's out-of-memory killer sends SIGKILL when the machine runs low on memory).${tail}`,
        { signal: end.signal },
      );
    case "ended-by-other-call":
      return new AgentLostError(`${functionId}: the process running the call was ended by a call of ${other} (${end.exitCode === undefined ? "an uncaught exception" : `exit code ${end.exitCode}`}).`);
    case "stopped-for-cancel":
      return new AgentLostError(
        `${functionId}: the process running the call was stopped because a call of ${other} was cancelled${end.cancelReason ? ` (${end.cancelReason})` : ""} and did not return within the grace period.`,
      );
    case "load-failed":
      return new AgentLostError(`${functionId}: the agent restarted the process for your code, and loading your module there failed: ${describe(cause)}`, cause ? { cause } : {});
  }
}

function crashed(crash: CrashKind, message: string, end: ProcessEnd, cause: Error | undefined, suggestions: string[]): FunctionCrashedError {
  return new FunctionCrashedError(message, {
    crash,
    exitCode: end.exitCode,
    signal: end.signal,
    stderrTail: end.stderrTail,
    suggestions,
    ...(cause ? { cause } : {}),
  });
}

function describe(error: Error | undefined): string {
  return error ? `${error.name}: ${error.message}` : "(no error)";
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}
