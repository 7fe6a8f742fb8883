/**
 * `flow ssh`: a remote shell or command attached to local streams. When stdin is a terminal the
 * remote side gets a pty of the same size and the local terminal goes raw, so keys such as
 * Ctrl-C reach the remote program instead of killing this process.
 */
import type { ReadStream, WriteStream } from "node:tty";
import type { Client, ClientChannel, PseudoTtyOptions } from "ssh2";
import type { NetworkError } from "../../../errors.ts";
import { exitCodeOf } from "./exit-code.ts";

export interface ShellStreams {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export function openShell(client: Client, options: { command?: string } & ShellStreams, lost: () => NetworkError): Promise<number> {
  const terminalIn = asTerminal<ReadStream>(options.stdin);
  const terminalOut = asTerminal<WriteStream>(options.stdout);
  const pty: PseudoTtyOptions | undefined =
    terminalIn === undefined
      ? undefined
      : {
          term: process.env.TERM ?? "xterm-256color",
          rows: terminalOut?.rows ?? 24,
          cols: terminalOut?.columns ?? 80,
        };

  return new Promise<number>((resolve, reject) => {
    const opened = (error: Error | undefined, channel: ClientChannel) => {
      if (error) {
        reject(lost());
        return;
      }
      let code: number | undefined;
      const resize = () => channel.setWindow(terminalOut?.rows ?? 24, terminalOut?.columns ?? 80, 0, 0);
      if (pty !== undefined) {
        terminalIn?.setRawMode(true);
        terminalOut?.on("resize", resize);
      }
      options.stdin.pipe(channel);
      channel.pipe(options.stdout, { end: false });
      channel.stderr.pipe(options.stderr, { end: false });
      channel.on("exit", (exitCode: number | null, signalName?: string) => (code = exitCodeOf(exitCode, signalName)));
      channel.once("close", () => {
        options.stdin.unpipe(channel);
        if (pty !== undefined) {
          terminalIn?.setRawMode(false);
          terminalOut?.off("resize", resize);
        }
        // A piped stdin keeps the process alive while it is being read.
        options.stdin.pause();
        if (code === undefined) reject(lost());
        else resolve(code);
      });
    };
    if (options.command !== undefined) client.exec(options.command, pty === undefined ? {} : { pty }, opened);
    else client.shell(pty ?? false, opened);
  });
}

function asTerminal<T extends ReadStream | WriteStream>(stream: NodeJS.ReadableStream | NodeJS.WritableStream): T | undefined {
  return (stream as Partial<T>).isTTY === true ? (stream as T) : undefined;
}
