/**
 * What a process started by the local provider inherits from this shell: only what any machine
 * has (PATH, HOME, locale, …). Everything else a function or task needs (its env, its secrets)
 * reaches it explicitly, as on the cloud, so credentials in this shell (FLOW_API_KEY) never leak
 * in and code that works here does not secretly depend on this shell.
 */
const MACHINE_ENV = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "TMPDIR",
  "LANG",
  "LC_ALL",
  "TZ",
  "TERM",
  // Needed by npm, which installs an agent's external packages.
  "NODE_EXTRA_CA_CERTS",
  "npm_config_cache",
];

export function machineEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of MACHINE_ENV) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}
