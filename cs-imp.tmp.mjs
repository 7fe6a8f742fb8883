const t0 = performance.now();
await import("flow-sdk");
const t1 = performance.now();
await import("./dist/register.js");
const t2 = performance.now();
await import(new URL("./examples/hello.ts", import.meta.url).href);
const t3 = performance.now();
console.log("sdk", (t1-t0).toFixed(0), "register", (t2-t1).toFixed(0), "hello", (t3-t2).toFixed(0));
