/**
 * ssh2 is loaded on first SSH use, not at import: the SDK (and the agent bundled from it) imports
 * the cloud provider's modules, but only a client that actually reaches an instance needs ssh2 and
 * its native crypto bindings.
 */
import type Ssh2 from "ssh2";

let loading: Promise<typeof Ssh2> | undefined;

// ssh2 is CommonJS; Node's ESM loader cannot see its named exports, hence the default export.
export function loadSsh2(): Promise<typeof Ssh2> {
  return (loading ??= import("ssh2").then((module) => module.default));
}
