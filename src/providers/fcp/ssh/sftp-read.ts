/**
 * Reading a file on the instance at any offset over SFTP: what `flow logs` needs to take the last
 * lines of a log without fetching all of it (../../log-lines.ts).
 */
import type { SFTPWrapper } from "ssh2";
import type { ByteSource } from "../../log-lines.ts";

/** SFTP v3's SSH_FX_NO_SUCH_FILE (ssh2 itself is loaded only when a connection is made). */
const NO_SUCH_FILE = 2;

export interface RemoteFile extends ByteSource {
  close(): Promise<void>;
}

/** The file opened for reading, or undefined when there is no such file. */
export async function openRemoteFile(sftp: SFTPWrapper, path: string): Promise<RemoteFile | undefined> {
  let handle: Buffer;
  try {
    handle = await new Promise<Buffer>((resolve, reject) => sftp.open(path, "r", (error, opened) => (error ? reject(error) : resolve(opened))));
  } catch (error) {
    if ((error as { code?: unknown }).code === NO_SUCH_FILE) return undefined;
    throw error;
  }
  return {
    size: () => new Promise((resolve, reject) => sftp.fstat(handle, (error, stats) => (error ? reject(error) : resolve(stats.size)))),
    // ssh2 splits a read larger than the server's packet limit into several requests; at the end of the file it reads 0 bytes.
    read: (buffer, position) =>
      new Promise((resolve, reject) => sftp.read(handle, buffer, 0, buffer.length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)))),
    close: () => new Promise<void>((resolve) => sftp.close(handle, () => resolve())),
  };
}
