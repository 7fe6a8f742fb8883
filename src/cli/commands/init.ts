/**
 * `flow init`: writes ~/.flow/config.yaml (mode 0600) with the API key, project and region.
 * On a terminal it asks for whatever the flags did not give (the key without echo); elsewhere
 * the flags are all there is. Values already in the file are kept unless replaced. The key is
 * only ever shown redacted.
 */
import { homedir } from "node:os";
import { globalConfigPath, readConfigFile, writeConfigFile } from "../../config/config-file.ts";
import { DEFAULT_REGION, type FlowConfig } from "../../config/flow-config.ts";
import { redact } from "../../config/redact.ts";
import { ValidationError } from "../../errors.ts";
import { printJson } from "../output.ts";
import { ask, canPrompt } from "../prompt.ts";

export interface InitCommandOptions {
  apiKey?: string;
  project?: string;
  region?: string;
  apiUrl?: string;
  json?: boolean;
}

export async function initCommand(options: InitCommandOptions): Promise<void> {
  const file = globalConfigPath(homedir());
  const current = readConfigFile(file);
  const values: Partial<FlowConfig> = { ...current };
  for (const key of ["apiKey", "project", "region", "apiUrl"] as const) {
    const given = options[key];
    if (given !== undefined) values[key] = given;
  }
  const missing = [values.apiKey === undefined ? "--api-key" : undefined, values.project === undefined ? "--project" : undefined].filter((f) => f !== undefined);
  if (canPrompt()) {
    if (options.apiKey === undefined) values.apiKey = (await ask("API key", { hidden: true, ...fallback(values.apiKey) })) || undefined;
    if (options.project === undefined) values.project = (await ask("Project", fallback(values.project))) || undefined;
    if (options.region === undefined) values.region = await ask("Region", { fallback: values.region ?? DEFAULT_REGION });
  } else if (missing.length > 0) {
    throw new ValidationError(`flow init needs ${missing.join(" and ")} (there is no terminal to ask on).`, {
      suggestions: ["flow init --api-key <key> --project <project> [--region us-central1-b]"],
      errorCode: "init_missing_values",
    });
  }
  writeConfigFile(file, values);
  const summary = {
    path: file,
    apiKey: values.apiKey === undefined ? undefined : redact(values.apiKey),
    project: values.project,
    region: values.region ?? DEFAULT_REGION,
  };
  if (options.json) printJson(summary);
  else process.stdout.write(`Wrote ${file} (api key ${summary.apiKey ?? "not set"}, project ${summary.project ?? "not set"}, region ${summary.region})\n`);
}

function fallback(value: string | undefined): { fallback?: string } {
  return value === undefined ? {} : { fallback: value };
}
