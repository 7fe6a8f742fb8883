// The same kind of app as a plain program: `node --import flow-sdk/register examples/script.ts`.
// app.run() starts agents for the calls inside it and stops them when it returns.
import { App } from "flow-sdk";

const app = new App("script");

export const shout = app.function({}, async (text: string) => `${text.toUpperCase()}! (from pid ${process.pid})`);

await app.run(async () => {
  console.log(`caller pid ${process.pid}`);
  console.log(await shout.remote("hello"));
});
