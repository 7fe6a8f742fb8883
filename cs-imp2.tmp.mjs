import { register } from "node:module";
await import("flow-sdk");
await import("./dist/register.js");
register(new URL("./cs-hook.tmp.mjs", import.meta.url));
const t2 = performance.now();
console.error("main", t2.toFixed(0), "start import");
await import(new URL("./examples/hello.ts", import.meta.url).href);
console.error("main", performance.now().toFixed(0), "hello", (performance.now()-t2).toFixed(0));
