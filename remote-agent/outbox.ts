/**
 * The worker's way out: every frame it sends to the control plane, written synchronously to fd 4.
 *
 * Synchronous like Node's own stdout on a pipe, and for the same reason: code that prints in a
 * tight loop must not pile its output up in memory. When the control plane stops reading (its
 * client is slower than the output), the write blocks the printing code until there is room.
 *
 * Results and other protocol frames go out at once. Printed output is gathered into one frame per
 * call and stream for a few milliseconds (or 64 KiB) at a time, so a million console.log lines
 * cross as a few hundred frames, not a million messages; the first line after a quiet spell goes
 * out at once, so a line printed just before a long synchronous computation is not held back.
 */
import { writevSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { FrameKind, encodeFrame } from "./worker-link.ts";

const FD = 4;
const LOG_WINDOW_MS = 10;
const LOG_FRAME_CHARS = 64 << 10;

interface PendingLog {
  session: number;
  id: string;
  kind: FrameKind;
  text: string;
  since: number;
}

export class Outbox {
  readonly #onBroken: (error: Error) => void;
  #log: PendingLog | undefined;
  #lastLogFlush = 0;
  #flushScheduled = false;

  /** `onBroken`: the control plane is gone (the write failed); the worker should end. */
  constructor(onBroken: (error: Error) => void) {
    this.#onBroken = onBroken;
  }

  /** Send one frame now (pending output first, so the order is what the code did). */
  frame(kind: FrameKind, session: number, id: string, payload: string | Uint8Array): void {
    const frame = encodeFrame(kind, session, id, payload);
    const log = this.#takeLog();
    this.#write(log ? [log, frame] : [frame]);
  }

  /** Several buffers in one write: whole frames, or a frame's header and then its payload. */
  frames(frames: Uint8Array[]): void {
    const log = this.#takeLog();
    this.#write(log ? [log, ...frames] : frames);
  }

  log(session: number, id: string, stream: "stdout" | "stderr", text: string): void {
    const kind = stream === "stdout" ? FrameKind.stdout : FrameKind.stderr;
    const now = performance.now();
    const pending = this.#log;
    if (pending && pending.session === session && pending.id === id && pending.kind === kind) {
      pending.text += text;
    } else {
      this.flush();
      this.#log = { session, id, kind, text, since: now };
    }
    const log = this.#log!;
    if (log.text.length >= LOG_FRAME_CHARS || now - log.since >= LOG_WINDOW_MS || now - this.#lastLogFlush >= LOG_WINDOW_MS) {
      this.flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Write out pending output now (before the process ends, for one). */
  flush(): void {
    const log = this.#takeLog();
    if (log) this.#write([log]);
  }

  #takeLog(): Buffer | undefined {
    const log = this.#log;
    if (!log) return undefined;
    this.#log = undefined;
    this.#lastLogFlush = performance.now();
    return encodeFrame(log.kind, log.session, log.id, log.text);
  }

  #write(buffers: Uint8Array[]): void {
    try {
      let total = 0;
      for (const buffer of buffers) total += buffer.byteLength;
      let written = writevSync(FD, buffers);
      // A blocking socket writes everything unless a signal interrupts it; finish what is left.
      while (written < total) {
        const rest = Buffer.concat(buffers as readonly Uint8Array[]).subarray(written);
        buffers = [rest];
        total = rest.byteLength;
        written = writevSync(FD, buffers);
      }
    } catch (error) {
      this.#onBroken(error as Error);
    }
  }
}
