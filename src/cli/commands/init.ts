/**
 * `flow init`: writes ~/.flow/config.yaml (mode 0600) with the API key, project, a region when the
 * user names one, and the default provider. On a terminal it asks for whatever the flags did not
 * give (the key without echo); elsewhere the flags are all there is. Values already in the file
 * are kept unless replaced. The key is only ever shown redacted.
 *
 * Before anything is written the key is checked against the API (`/v2/me`), and the project
 * against the projects it can use: on a terminal they are listed to pick from, and a project that
 * does not exist fails naming the ones that do. Nothing is written unless all of it checks out.
 *
 * No region is written unless the user gives one: a region in the file pins every bid there, and
 * without one the SDK bids in the cheapest region with capacity. `any` removes a region the file
 * has (older versions of `flow init` wrote us-central1-b by default).
 */
import { homedir } from "node:os";
import { verifyApiKey } from "../../backends.ts";
import { globalConfigPath, readConfigFile, writeConfigFile, type RawConfigValues } from "../../config/config-file.ts";
import { CONFIG_FIELD_SCHEMAS, DEFAULT_API_URL, PROVIDER_NAMES } from "../../config/flow-config.ts";
import { redact } from "../../config/redact.ts";
import { ResourceNotFoundError, ValidationError } from "../../errors.ts";
import type { AccountProject, AccountUser } from "../../providers/cloud-account.ts";
import { printJson } from "../output.ts";
import { ask, canPrompt } from "../prompt.ts";

export interface InitCommandOptions {
  apiKey?: string;
  project?: string;
  region?: string;
  apiUrl?: string;
  provider?: string;
  json?: boolean;
}

/** The answer (or `--region`) that means "no fixed region: the cheapest with capacity". */
const ANY_REGION = "any";
const CHEAPEST = "the cheapest with capacity";

/** Who a key belongs to and what it may use, as the API says. */
export type KeyCheck = (settings: { apiUrl: string; apiKey: string; apiKeySource: string }) => Promise<{ user: AccountUser; projects: AccountProject[] }>;

/** How init asks and checks: the terminal and the API, or stand-ins in tests. */
export interface InitIo {
  canPrompt(): boolean;
  ask(question: string, options?: { hidden?: boolean; fallback?: string }): Promise<string>;
  /** A line for the person at the terminal (who the key belongs to, the projects). */
  say(line: string): void;
  verify: KeyCheck;
}

export async function initCommand(options: InitCommandOptions): Promise<void> {
  const file = globalConfigPath(homedir());
  const { values, user } = await writeInitialConfig(file, options, {
    canPrompt,
    ask,
    say: (line) => process.stdout.write(`${line}\n`),
    verify: verifyApiKey,
  });
  const summary = {
    path: file,
    apiKey: values.apiKey === undefined ? undefined : redact(values.apiKey),
    project: values.project,
    region: values.region,
    provider: values.provider,
    user: user?.email,
  };
  if (options.json) printJson(summary);
  else {
    process.stdout.write(
      `Wrote ${file} (api key ${summary.apiKey ?? "not set"}${user === undefined ? "" : ` of ${user.email}`}, project ${summary.project ?? "not set"}, ` +
        `region ${summary.region ?? CHEAPEST}, provider ${summary.provider ?? "local (the default)"})\n`,
    );
  }
}

/**
 * Merges the flags and answers into `file`'s values, checks the key and project against the API,
 * and writes them; returns what was written and whose key it is.
 */
export async function writeInitialConfig(file: string, options: InitCommandOptions, io: InitIo): Promise<{ values: RawConfigValues; user?: AccountUser }> {
  const values: RawConfigValues = { ...readConfigFile(file) };
  for (const key of ["apiKey", "project", "region", "apiUrl", "provider"] as const) {
    const given = options[key];
    if (given !== undefined) values[key] = given;
  }
  // Flags are checked before the API is asked anything.
  if (values.provider !== undefined) values.provider = checked("provider", values.provider);
  const interactive = io.canPrompt();
  if (interactive && options.apiKey === undefined) answer(values, "apiKey", await io.ask("API key", { hidden: true, ...fallback(values.apiKey) }));
  const missing = [values.apiKey === undefined ? "--api-key" : undefined, values.project === undefined && !interactive ? "--project" : undefined].filter((f) => f !== undefined);
  if (missing.length > 0 && !interactive) {
    throw new ValidationError(`flow init needs ${missing.join(" and ")} (there is no terminal to ask on).`, {
      suggestions: ["flow init --api-key <key> --project <project> [--region <region>] [--provider fcp]"],
      errorCode: "init_missing_values",
    });
  }

  let user: AccountUser | undefined;
  if (values.apiKey !== undefined) {
    const apiUrl = checked("apiUrl", options.apiUrl ?? process.env["FLOW_API_URL"] ?? values.apiUrl ?? DEFAULT_API_URL);
    const account = await io.verify({ apiUrl, apiKey: values.apiKey, apiKeySource: options.apiKey !== undefined ? "--api-key" : interactive ? "the key you entered" : file });
    user = account.user;
    if (interactive) io.say(`The key belongs to ${account.user.email}. Its projects: ${account.projects.map((p, i) => `${i + 1}) ${p.name}`).join("  ") || "none"}`);
    if (interactive && options.project === undefined) {
      const current = values.project ?? (account.projects.length === 1 ? account.projects[0]!.name : undefined);
      answer(values, "project", await io.ask("Project (its number or name)", fallback(current)));
    }
    if (values.project !== undefined) values.project = projectNamed(values.project, account.projects, account.user);
  } else if (interactive && options.project === undefined) {
    answer(values, "project", await io.ask("Project", fallback(values.project)));
  }

  if (interactive && options.region === undefined) {
    const question = values.region === undefined ? `Region (blank: ${CHEAPEST})` : `Region ("${ANY_REGION}": ${CHEAPEST})`;
    answer(values, "region", await io.ask(question, fallback(values.region)));
  }
  if (interactive && options.provider === undefined) {
    answer(values, "provider", await io.ask('Default provider ("fcp": the cloud, "local": this machine)', fallback(values.provider ?? "local")));
  }
  if (values.provider !== undefined) values.provider = checked("provider", values.provider);
  if (values.region === ANY_REGION) delete values.region;
  writeConfigFile(file, values);
  return { values, ...(user === undefined ? {} : { user }) };
}

/** The project the answer names — its number in the list, its name or its id — as its name. */
function projectNamed(answer: string, projects: readonly AccountProject[], user: AccountUser): string {
  const index = /^\d+$/.test(answer) ? Number(answer) - 1 : -1;
  const project = projects[index] ?? projects.find((p) => p.name === answer || p.projectId === answer);
  if (project !== undefined) return project.name;
  throw new ResourceNotFoundError(`The API key of ${user.email} has no project ${JSON.stringify(answer)}.`, {
    suggestions:
      projects.length === 0
        ? ["this key sees no projects: create one in the Mithril console, or use a key of a project member"]
        : [`its projects: ${projects.map((p) => `${p.name} (${p.projectId})`).join(", ")}`, `flow init --project ${projects[0]!.name}`],
    errorCode: "project_not_found",
  });
}

/** A value as the config file would take it, refused here (before anything is written) otherwise. */
function checked(key: "apiUrl" | "provider", value: string): string {
  const result = CONFIG_FIELD_SCHEMAS[key].safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(`${JSON.stringify(value)} is not a valid ${key === "apiUrl" ? "API URL" : "provider"}.`, {
    issues: [{ path: key, message: result.error.issues[0]?.message ?? "is invalid" }],
    ...(key === "provider" ? { suggestions: [`use one of: ${PROVIDER_NAMES.join(", ")}`] } : {}),
  });
}

/** A blank answer leaves the setting unset. */
function answer(values: RawConfigValues, key: "apiKey" | "project" | "region" | "provider", text: string): void {
  if (text === "") delete values[key];
  else values[key] = text;
}

function fallback(value: string | undefined): { fallback?: string } {
  return value === undefined ? {} : { fallback: value };
}
