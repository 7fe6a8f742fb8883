/**
 * The "waiting" display: on a terminal, one line redrawn in place (`⠹ task-… running 1m 03s`),
 * with log lines printed above it; anywhere else (a pipe, a CI log), a plain line whenever the
 * status changes, so the output reads top to bottom without control characters.
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
  #frame = 0;
  #drawn = false;

  constructor(label: string, out: NodeJS.WriteStream = process.stdout) {
    this.#out = out;
    this.#live = out.isTTY === true;
    this.#label = label;
  }

  update(status: TaskStatus): void {
    const changed = status !== this.#status;
    this.#status = status;
    if (this.#live) this.#draw();
    else if (changed) this.#out.write(`${this.#label} ${status} (${formatDuration(Date.now() - this.#startedAt)})\n`);
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

  #draw(): void {
    if (this.#status === undefined) return;
    this.#frame = (this.#frame + 1) % SPINNER.length;
    const elapsed = formatDuration(Date.now() - this.#startedAt);
    this.#out.write(`\r\x1b[2K${paint(SPINNER[this.#frame] ?? "", "cyan", this.#out)} ${this.#label} ${paintStatus(this.#status, this.#out)} ${paint(elapsed, "dim", this.#out)}`);
    this.#drawn = true;
  }

  #clear(): void {
    if (!this.#drawn) return;
    this.#out.write("\r\x1b[2K");
    this.#drawn = false;
  }
}
