export { buildStartupScript, STARTUP_SCRIPT_LIMIT_BYTES, type BuiltStartupScript } from "./startup-script.ts";
export { PINNED_NODE_VERSION } from "./sections.ts";
export type { InstanceWorkload, StartupScriptSpec, VolumeMount } from "./spec.ts";
