/**
 * The "waiting" display: on a terminal, one line redrawn in place (`⠹ task-… running 1m 03s`),
 * with log lines printed above it; anywhere else (a pipe, a CI log), a plain line whenever the
 * status or what it waits for changes, so the output reads top to bottom without control characters.
 */
import type { TaskStatus } from "../task/task-status.ts";
import { formatDuration, paint, paintStatus } from "./output.ts";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export class StatusLine {
  readonly #out: NodeJS.WriteStream;
  readonly #live: boolean;
  readonly #label: string;
  readonly #startedAt = Date.now();
  #status: TaskStatus | undefined;
  #waitingFor: string | undefined;
  #frame = 0;
  #drawn = false;

  constructor(label: string, out: NodeJS.WriteStream = process.stdout) {
    this.#out = out;
    this.#live = out.isTTY === true;
    this.#label = label;
  }

  /** `waitingFor`: what a task that has not started waits for ("waiting for an instance (bid Open, …)"). */
  update(status: TaskStatus, waitingFor?: string): void {
    const changed = status !== this.#status || waitingFor !== this.#waitingFor;
    this.#status = status;
    this.#waitingFor = waitingFor;
    if (this.#live) this.#draw();
    else if (changed) this.#out.write(`${this.#label} ${this.#describe(this.#out)} (${formatDuration(Date.now() - this.#startedAt)})\n`);
  }

  /** A line of output (the task's logs), above the status line. */
  print(line: string, stream: NodeJS.WriteStream = process.stdout): void {
    this.#clear();
    stream.write(`${line}\n`);
    if (this.#live && this.#status !== undefined) this.#draw();
  }

  /** Removes the live line, leaving the terminal as it was before. */
  done(): void {
    this.#clear();
  }

  /** `room`: at most this many characters of what it waits for (a wrapped line cannot be redrawn). */
  #describe(out: NodeJS.WriteStream, room = Number.POSITIVE_INFINITY): string {
    if (this.#waitingFor !== undefined) {
      const text = `${this.#waitingFor}…`;
      return text.length <= room ? text : `${text.slice(0, Math.max(0, room - 1))}…`;
    }
    return this.#status === undefined ? "" : paintStatus(this.#status, out);
  }

  #draw(): void {
    if (this.#status === undefined) return;
    this.#frame = (this.#frame + 1) % SPINNER.length;
    const elapsed = formatDuration(Date.now() - this.#startedAt);
    const room = (this.#out.columns || Number.POSITIVE_INFINITY) - this.#label.length - elapsed.length - 5;
    this.#out.write(`\r\x1b[2K${paint(SPINNER[this.#frame] ?? "", "cyan", this.#out)} ${this.#label} ${this.#describe(this.#out, room)} ${paint(elapsed, "dim", this.#out)}`);
    this.#drawn = true;
  }

  #clear(): void {
    if (!this.#drawn) return;
    this.#out.write("\r\x1b[2K");
    this.#drawn = false;
  }
}
