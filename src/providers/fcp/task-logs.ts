/**
 * A task's logs outlive its instances: when the task ends, each node's command output and
 * startup log are copied from the instance into the local record's directory (at most the last
 * LOG_COPY_LIMIT_BYTES of each), and read from there from then on.
 */
import { createWriteStream } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { LogSource, LogStream } from "../task-provider.ts";
import type { InstanceConnection } from "./instance-connection.ts";
import { READ_CHUNK_BYTES } from "../log-lines.ts";

/** Per file: a log bigger than this keeps its end (the part that says how the task ended). */
export const LOG_COPY_LIMIT_BYTES = 64 * 1024 * 1024;

export type LogFileName = "stdout" | "stderr" | "startup";

export function logFileName(source: LogSource, stream: LogStream): LogFileName {
  return source === "startup" ? "startup" : stream;
}

/** `<dir>/node-<k>/<name>.log`. */
export function localLogPath(dir: string, node: number, name: LogFileName): string {
  return join(dir, `node-${node}`, `${name}.log`);
}

/** Copies the node's logs from its instance (missing files as empty ones), each written whole and renamed into place. */
export async function collectLogs(connection: InstanceConnection, dir: string, node: number): Promise<void> {
  await mkdir(join(dir, `node-${node}`), { recursive: true, mode: 0o700 });
  const { paths } = connection;
  const remote: Record<LogFileName, string> = { stdout: paths.taskStdout, stderr: paths.taskStderr, startup: paths.startupLog };
  for (const [name, path] of Object.entries(remote) as [LogFileName, string][]) {
    await copyTail(connection, path, localLogPath(dir, node, name));
  }
}

async function copyTail(connection: InstanceConnection, remotePath: string, localPath: string): Promise<void> {
  const part = `${localPath}.part`;
  const out = createWriteStream(part, { mode: 0o600 });
  const finished = new Promise<void>((resolve, reject) => out.once("finish", resolve).once("error", reject));
  const file = await connection.ssh.openFile(remotePath);
  try {
    if (file !== undefined) {
      const size = await file.size();
      let offset = Math.max(0, size - LOG_COPY_LIMIT_BYTES);
      if (offset > 0) out.write(`[flow: the first ${offset} bytes of this log were not kept]\n`);
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      while (offset < size) {
        const read = await file.read(buffer.subarray(0, Math.min(buffer.length, size - offset)), offset);
        if (read === 0) break;
        offset += read;
        if (!out.write(Buffer.from(buffer.subarray(0, read)))) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      }
    }
  } finally {
    await file?.close();
    out.end();
  }
  await finished;
  await rename(part, localPath);
}
