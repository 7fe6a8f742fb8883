// Zero-import execution: call an exported function of a file that never imports flow-sdk.
//   node --import flow-sdk/register examples/invoke.ts
import { invoke } from "flow-sdk";
import type { train } from "./plain.ts";

const result = await invoke<Awaited<ReturnType<typeof train>>>("examples/plain.ts", "train", { args: [3], gpu: "a100" });
console.log(result, `(caller pid ${process.pid})`);
