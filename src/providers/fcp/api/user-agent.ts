/** `flow-sdk-ts/<sdk version> node/<node version>`: lets the API's operators tell clients apart. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sdkRoot } from "../../../sdk-paths.ts";

let cached: string | undefined;

export function defaultUserAgent(): string {
  cached ??= `flow-sdk-ts/${sdkVersion()} node/${process.versions.node}`;
  return cached;
}

function sdkVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(join(sdkRoot(), "package.json"), "utf8"));
  const version = typeof manifest === "object" && manifest !== null && "version" in manifest ? manifest.version : undefined;
  return typeof version === "string" ? version : "unknown";
}
