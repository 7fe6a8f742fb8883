/**
 * Local port forwarding (`ssh -L`): a loopback listener whose every connection becomes a
 * direct-tcpip channel to a host and port as seen from the instance.
 */
import { createServer, type Socket } from "node:net";
import type { Client, ClientChannel } from "ssh2";
import { NetworkError } from "../../../errors.ts";

export interface PortForward {
  /** The port on 127.0.0.1 to connect to. */
  localPort: number;
  /** Stops listening and ends every forwarded connection. */
  close(): Promise<void>;
}

/** `localPort` 0 (the default) picks a free one. */
export async function forwardLocalPort(client: Client, connectionClosed: Promise<void>, remoteHost: string, remotePort: number, localPort = 0): Promise<PortForward> {
  const sockets = new Set<Socket>();
  // allowHalfOpen: a client that finishes sending must still receive the rest of the reply.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // Until the channel opens, hold what the local side sends (paused sockets buffer in the kernel).
    socket.pause();
    socket.on("error", () => socket.destroy());
    client.forwardOut("127.0.0.1", socket.remotePort ?? 0, remoteHost, remotePort, (error, channel) => {
      if (error) {
        socket.destroy();
        return;
      }
      splice(socket, channel);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new NetworkError(`Could not open local port ${localPort === 0 ? "(any)" : localPort} to forward to ${remoteHost}:${remotePort}: ${error.message}`, {
          cause: error,
          ...(localPort === 0 ? {} : { suggestions: [`port ${localPort} may be in use here: pick another local port, or let Flow pick one`] }),
        }),
      ),
    );
    server.listen(localPort, "127.0.0.1", () => resolve());
  });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };
  // Nothing can be forwarded once the SSH connection is gone; free the port.
  void connectionClosed.then(close);

  const address = server.address();
  if (address === null || typeof address === "string") throw new NetworkError("The local forwarding listener has no TCP port.");
  return { localPort: address.port, close };
}

/** Pipes both ways, keeping half-closes (EOF one way while the other still flows). */
function splice(socket: Socket, channel: ClientChannel): void {
  socket.pipe(channel);
  channel.pipe(socket);
  channel.on("error", () => socket.destroy());
  channel.once("close", () => socket.end());
  socket.once("close", () => channel.close());
  socket.resume();
}
