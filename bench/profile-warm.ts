import { app, echo } from "./functions.ts";
await app.run(async () => {
  for (let i = 0; i < 200; i++) await echo.remote({ n: 1 });
  let t = performance.now();
  for (let i = 0; i < 5000; i++) await echo.remote({ n: 1 });
  console.log("warm avg ms", (performance.now() - t) / 5000);
  t = performance.now(); let c = 0;
  for await (const _ of echo.map(Array.from({ length: 20000 }, (_, i) => i), { concurrency: 256 })) c++;
  console.log("map/s", c / ((performance.now() - t) / 1000));
});
process.exit(0);
