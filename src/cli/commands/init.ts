/**
 * `flow init`: writes ~/.flow/config.yaml (mode 0600) with the API key, project and, when the user
 * names one, a region. On a terminal it asks for whatever the flags did not give (the key without
 * echo); elsewhere the flags are all there is. Values already in the file are kept unless replaced.
 * The key is only ever shown redacted.
 *
 * No region is written unless the user gives one: a region in the file pins every bid there, and
 * without one the SDK bids in the cheapest region with capacity. `any` removes a region the file
 * has (older versions of `flow init` wrote us-central1-b by default).
 */
import { homedir } from "node:os";
import { globalConfigPath, readConfigFile, writeConfigFile, type RawConfigValues } from "../../config/config-file.ts";
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

/** The answer (or `--region`) that means "no fixed region: the cheapest with capacity". */
const ANY_REGION = "any";
const CHEAPEST = "the cheapest with capacity";

/** How init asks: the terminal, or a stand-in in tests. */
export interface Prompter {
  canPrompt(): boolean;
  ask(question: string, options?: { hidden?: boolean; fallback?: string }): Promise<string>;
}

export async function initCommand(options: InitCommandOptions): Promise<void> {
  const file = globalConfigPath(homedir());
  const values = await writeInitialConfig(file, options, { canPrompt, ask });
  const summary = {
    path: file,
    apiKey: values.apiKey === undefined ? undefined : redact(values.apiKey),
    project: values.project,
    region: values.region,
  };
  if (options.json) printJson(summary);
  else process.stdout.write(`Wrote ${file} (api key ${summary.apiKey ?? "not set"}, project ${summary.project ?? "not set"}, region ${summary.region ?? CHEAPEST})\n`);
}

/** Merges the flags and answers into `file`'s values and writes them; returns what was written. */
export async function writeInitialConfig(file: string, options: InitCommandOptions, { canPrompt, ask }: Prompter): Promise<RawConfigValues> {
  const values: RawConfigValues = { ...readConfigFile(file) };
  for (const key of ["apiKey", "project", "region", "apiUrl"] as const) {
    const given = options[key];
    if (given !== undefined) values[key] = given;
  }
  const missing = [values.apiKey === undefined ? "--api-key" : undefined, values.project === undefined ? "--project" : undefined].filter((f) => f !== undefined);
  if (canPrompt()) {
    if (options.apiKey === undefined) answer(values, "apiKey", await ask("API key", { hidden: true, ...fallback(values.apiKey) }));
    if (options.project === undefined) answer(values, "project", await ask("Project", fallback(values.project)));
    if (options.region === undefined) {
      const question = values.region === undefined ? `Region (blank: ${CHEAPEST})` : `Region ("${ANY_REGION}": ${CHEAPEST})`;
      answer(values, "region", await ask(question, fallback(values.region)));
    }
  } else if (missing.length > 0) {
    throw new ValidationError(`flow init needs ${missing.join(" and ")} (there is no terminal to ask on).`, {
      suggestions: ["flow init --api-key <key> --project <project> [--region <region>]"],
      errorCode: "init_missing_values",
    });
  }
  if (values.region === ANY_REGION) delete values.region;
  writeConfigFile(file, values);
  return values;
}

/** A blank answer leaves the setting unset. */
function answer(values: RawConfigValues, key: "apiKey" | "project" | "region", text: string): void {
  if (text === "") delete values[key];
  else values[key] = text;
}

function fallback(value: string | undefined): { fallback?: string } {
  return value === undefined ? {} : { fallback: value };
}
