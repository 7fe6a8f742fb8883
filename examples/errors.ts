// Remote errors come back as the same class, with their own properties, cause chain and a stack
// that points at this file, marked [remote].
//   npx flow run examples/errors.ts
import { App } from "flow-sdk";

const app = new App("errors");

export const loadConfig = app.function({}, async (path: string) => {
  try {
    JSON.parse(`{ "path": ${path} }`);
  } catch (cause) {
    throw Object.assign(new TypeError(`config at ${path} is not valid JSON`, { cause }), { code: "E_CONFIG" });
  }
});

app.localEntrypoint(async () => {
  try {
    await loadConfig.remote("settings.json");
  } catch (error) {
    const e = error as TypeError & { code: string };
    console.log(`caught ${e.name} (instanceof TypeError: ${e instanceof TypeError}), code ${e.code}`);
    console.log(`cause: ${(e.cause as Error).name}: ${(e.cause as Error).message}`);
    console.log(e.stack);
  }
});
