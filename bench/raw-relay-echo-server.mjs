// Baseline: the raw ws echo in the shape of an agent. The ws server (the control plane's place)
// hands each message to a child process (the worker's place) over the child's stdin and stdout,
// which libuv makes a socket pair, as the worker's link is, and sends back what the child answers.
// Four writes per round trip, as a call makes; no protocol, no validation, no codec.
import { spawn } from "node:child_process";
import { WebSocketServer } from "ws";

if (process.argv[2] === "--child") {
  process.stdin.on("data", (chunk) => process.stdout.write(chunk));
} else {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  server.on("connection", (ws) => {
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "--child"], { stdio: ["pipe", "pipe", "inherit"] });
    // Messages are JSON texts, one per line.
    let pending = "";
    child.stdout.setEncoding("utf8").on("data", (text) => {
      const lines = (pending + text).split("\n");
      pending = lines.pop();
      for (const line of lines) ws.send(line);
    });
    ws.on("message", (data) => child.stdin.write(`${data}\n`));
    ws.on("close", () => child.kill());
  });
  server.on("listening", () => process.stdout.write(`${server.address().port}\n`));
  process.stdin.on("end", () => process.exit(0)).resume();
}
