/**
 * Which env values are secrets. A task's env is written to the provider's records and shown by
 * `flow status`; values whose names look like credentials are replaced there, using the config's
 * `redact` (kind prefix and last four characters at most), so they never reach a log, a message
 * or a state file. The running task itself receives the real values.
 */
import { redact } from "../config/redact.ts";

const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE|DSN/i;

export function isSecretEnvName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** `env` with every secret-looking value redacted. */
export function redactEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, isSecretEnvName(name) ? redact(value) : value]));
}
