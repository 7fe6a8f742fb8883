/**
 * Messages sent in one turn of the event loop leave in one write: the first corks the socket, and
 * it is uncorked once the turn's microtasks have run. `map` sends the next inputs, and an agent
 * forwards the results of calls that ended together, many at a time; without this each message is
 * a system call of its own (and a wake-up of the reader). A single message waits for no timer:
 * process.nextTick runs before the event loop polls again.
 */
interface Corkable {
  cork(): void;
  uncork(): void;
}

const corked = new WeakSet<Corkable>();

export function batchThisTurn(socket: Corkable | undefined): void {
  if (socket === undefined || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
