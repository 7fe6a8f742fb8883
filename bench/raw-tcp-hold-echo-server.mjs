// Baseline: a TCP echo shaped like a call. Each message is an 8-byte length and a payload; the
// server holds the whole payload in a buffer of its own (as a worker hands a function its whole
// argument) before it writes it back, and the client (bench/run.ts) does the same with what comes
// back (as a call hands its caller the whole result). Fresh memory is dear on a virtual machine;
// this is the least any call that returns the array pays, where raw-tcp-echo-server.mjs pays none.
// The bench starts it with huge pages on, as the local provider starts an agent's worker.
import { createServer } from "node:net";

const server = createServer((socket) => {
  let header = Buffer.alloc(0);
  let payload = null;
  let filled = 0;
  socket.on("data", (chunk) => {
    while (chunk.length > 0) {
      if (payload === null) {
        header = Buffer.concat([header, chunk]);
        if (header.length < 8) return;
        payload = Buffer.allocUnsafeSlow(Number(header.readBigUInt64BE(0)));
        chunk = header.subarray(8);
        header = Buffer.alloc(0);
        filled = 0;
      }
      const taken = chunk.copy(payload, filled);
      filled += taken;
      chunk = chunk.subarray(taken);
      if (filled === payload.length) {
        socket.write(payload);
        payload = null;
      }
    }
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
process.stdin.on("end", () => process.exit(0)).resume();
