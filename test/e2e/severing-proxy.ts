// A provider that puts a real TCP proxy between the client and each local agent, so a test can cut
// every connection under a live session (as a Wi-Fi blip or a laptop going to sleep does).
import { createServer, type Server, type Socket } from "node:net";
import { LocalProvider } from "../../src/providers/local/local-provider.ts";
import type { AgentEndpoint, AgentSpec, Provider } from "../../src/providers/provider.ts";

export class SeveringProvider implements Provider {
  readonly name = "local";
  readonly #inner = new LocalProvider();
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #upstreams = new Map<Socket, Socket>();
  readonly #silent = new WeakSet<Socket>();
  /** Connections made through the proxy so far: the first of each agent, then one per resume. */
  connections = 0;
  /** While set, new connections are cut at once (the network is still down). */
  refusing = false;

  async startAgent(spec: AgentSpec): Promise<AgentEndpoint> {
    const endpoint = await this.#inner.startAgent(spec);
    const target = new URL(endpoint.url);
    const server = createServer((client) => {
      this.connections++;
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = new (client.constructor as typeof Socket)();
      upstream.connect(Number(target.port), target.hostname);
      this.#sockets.add(client);
      this.#upstreams.set(client, upstream);
      for (const socket of [client, upstream]) socket.on("error", () => {});
      client.on("close", () => {
        this.#sockets.delete(client);
        this.#upstreams.delete(client);
        // A silent cut leaves the agent's end open, as a dead tunnel does: it learns nothing.
        if (!this.#silent.has(client)) upstream.destroy();
      });
      upstream.on("close", () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#servers.push(server);
    const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
    return {
      url,
      secret: endpoint.secret,
      stop: endpoint.stop,
      reconnect: async () => {
        await endpoint.reconnect!();
        return url;
      },
    };
  }

  /**
   * Cut every connection through the proxy. With `silently`, only the client's end is closed: the
   * agent's end stays open and hears nothing more (what a dropped SSH tunnel looks like from the
   * agent), so what the agent sends meanwhile goes nowhere.
   */
  sever(options: { silently?: boolean } = {}): void {
    for (const socket of this.#sockets) {
      const upstream = this.#upstreams.get(socket);
      if (options.silently && upstream) {
        this.#silent.add(socket);
        upstream.unpipe();
        socket.unpipe();
        upstream.resume();
      }
      socket.destroy();
    }
  }

  async shutdown(): Promise<void> {
    for (const server of this.#servers) server.close();
    this.sever();
    await this.#inner.shutdown();
  }
}
