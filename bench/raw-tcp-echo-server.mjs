// Baseline: a plain TCP echo in its own process, the physical limit for bulk data on this machine.
import { createServer } from "node:net";

const server = createServer((socket) => socket.pipe(socket));
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
process.stdin.on("end", () => process.exit(0)).resume();
