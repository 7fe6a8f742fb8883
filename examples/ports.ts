// A task that serves HTTP, fetched here through the task's endpoint:
//   node --import flow-sdk/register examples/ports.ts                    (this machine)
//   FLOW_PROVIDER=fcp node --import flow-sdk/register examples/ports.ts  (the cloud: an SSH port-forward)
// `flow port-forward <task> 8765` does the same from a shell, until Ctrl-C.
import { Flow } from "flow-sdk";

const flow = new Flow();
const task = await flow.run({
  name: "hello-http",
  instanceType: "a100",
  command: "echo 'hello over HTTP' > index.html && exec python3 -m http.server 8765 --bind 127.0.0.1",
  ports: [8765],
  uploadCode: false,
});
try {
  while (task.status !== "running") {
    if (task.isTerminal) throw new Error(`the server task ended: ${task.message}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await task.refresh();
  }
  const forwards = await task.forwardPorts();
  const url = `${task.endpoints["8765"]}/index.html`;
  // The server takes a moment to start listening.
  let page: string | undefined;
  for (let tries = 0; page === undefined && tries < 100; tries++) {
    page = await fetch(url).then((response) => (response.ok ? response.text() : undefined), () => undefined);
    if (page === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  console.log(page?.trim() ?? "no answer");
  await forwards.close();
} finally {
  await task.cancel();
}
