// The tour's first stop: two remote functions and a local entrypoint.
//   npx flow run examples/hello.ts             runs the entrypoint below
//   npx flow run examples/hello.ts::square 7   calls one function
import { App } from "flow-sdk";

const app = new App("hello");

export const square = app.function({ gpu: "a100" }, async (x: number) => x * x);

export class Stats {
  @app.function({ gpu: "1xh100" })
  static async describe(xs: Float32Array) {
    console.log(`summarising ${xs.length} values`); // shows up live in your terminal
    return { n: xs.length, mean: xs.reduce((a, b) => a + b, 0) / xs.length, at: new Date() };
  }
}

app.localEntrypoint(async () => {
  console.log(await square.remote(7)); // 49
  console.log(await app.cls(Stats).describe.remote(new Float32Array([1, 2, 3])));
});
