/**
 * `flow logs <task> [-f] [--tail N] [--stderr] [--startup] [--node K]`: a task's output (or its
 * machine's boot log), or follow it until it ends. A
 * followed task that has not started yet (a cloud bid waiting for an instance) is waited for, with
 * what it waits for on stderr, so `flow logs <id> -f` works right after `flow run`.
 */
import { DEFAULT_LOG_TAIL_LINES } from "../../client/task.ts";
import { flowFor, parseFlags, TailSchema } from "../cli-inputs.ts";
import { StatusLine } from "../status-line.ts";
import { outcomeLine, waitingFor } from "../task-view.ts";
import * as z from "zod";

export interface LogsCommandOptions {
  provider?: string;
  follow?: boolean;
  tail?: string;
  stderr?: boolean;
  startup?: boolean;
  node?: string;
}

export async function logsCommand(idOrName: string, options: LogsCommandOptions): Promise<void> {
  const { tail, node } = parseFlags(z.object({ tail: TailSchema.optional(), node: z.coerce.number().int("must be a whole number").min(0, "must be 0 or more").optional() }), {
    tail: options.tail,
    node: options.node,
  });
  const task = await flowFor(options.provider).getTask(idOrName);
  const common = {
    tail: tail ?? DEFAULT_LOG_TAIL_LINES,
    stderr: options.stderr === true,
    ...(options.startup ? { source: "startup" as const } : {}),
    ...(node === undefined ? {} : { node }),
  };
  if (!options.follow) {
    await written(process.stdout, await task.logs(common));
    return;
  }
  const waiting = new StatusLine(task.taskId, process.stderr);
  const onWaiting = () => waiting.update(task.status, waitingFor(task));
  const out = new BatchedLines(process.stdout);
  for await (const line of task.logs({ ...common, follow: true, onWaiting })) {
    waiting.done();
    const backedUp = out.write(line);
    if (backedUp !== undefined) await backedUp;
  }
  await out.end();
  waiting.done();
  // Ended with no output and not completed (cancelled while its bid waited, failed to boot): say
  // how, or the user is left with nothing at all.
  if (!out.written && task.status !== "completed") process.stderr.write(`${outcomeLine(task)}\n`);
}

/**
 * Resolves once `text` is handed to the system. The CLI exits as soon as a command returns, and
 * on a pipe whatever was still queued would be cut off.
 */
function written(out: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => out.write(text, (error?: Error | null) => (error ? reject(error) : resolve())));
}

/**
 * Lines written in batches: what one read of the log brings (a progress bar's thousands of
 * redraws) goes out in one write, not one each; a batch goes out when it is big or before this
 * process waits for more. A reader slower than the task (`flow logs -f | slow`) holds the follow
 * back rather than have its lines pile up here: write() then returns a promise to wait for.
 */
class BatchedLines {
  static readonly #FLUSH_CHARS = 64 * 1024;
  readonly #out: NodeJS.WritableStream;
  #pending = "";
  #scheduled = false;
  written = false;

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  write(line: string): Promise<void> | undefined {
    this.written = true;
    this.#pending += `${line}\n`;
    if (this.#pending.length >= BatchedLines.#FLUSH_CHARS) return this.#flush();
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => void this.#flush());
    }
    return undefined;
  }

  /** Everything written, and handed to the system. */
  async end(): Promise<void> {
    await this.#flush();
    await written(this.#out, "");
  }

  /** Resolves when the stream can take more. */
  #flush(): Promise<void> | undefined {
    this.#scheduled = false;
    if (this.#pending === "") return undefined;
    const text = this.#pending;
    this.#pending = "";
    if (this.#out.write(text)) return undefined;
    return new Promise((resolve) => this.#out.once("drain", resolve));
  }
}
