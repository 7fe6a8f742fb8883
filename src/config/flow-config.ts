/**
 * FlowConfig: what the SDK needs to talk to the cloud. `apiKey` and `project` may be absent until
 * a cloud provider is used (the local provider needs neither); see requireCloudConfig.
 */
import * as z from "zod";

/** The built-in providers, as `--provider`, FLOW_PROVIDER and `provider:` spell them. */
export const PROVIDER_NAMES = ["local", "fcp"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];
/** The Python SDK's config files name the cloud `mithril`; it means the same provider. */
const PROVIDER_ALIASES: Readonly<Record<string, ProviderName>> = { mithril: "fcp" };

export const DEFAULT_REGION = "us-central1-b";
export const DEFAULT_API_URL = "https://api.mithril.ai";
export const DEFAULT_PROVIDER: ProviderName = "local";

/** One schema per setting, so each value can be checked against where it came from. */
export const CONFIG_FIELD_SCHEMAS = {
  apiKey: z.string().min(1, "must not be empty"),
  project: z.string().min(1, "must not be empty"),
  region: z.string().regex(/^[a-z0-9-]+$/, 'must be a region name like "us-central1-b"'),
  apiUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL like "https://api.mithril.ai"' })
    .transform((url) => url.replace(/\/+$/, "")),
  /** A private key of your own for instance logins, instead of the generated per-project key. */
  sshKey: z.string().min(1, "must be the path of a private key file"),
  /** Where tasks and functions run: "local" (this machine, the default) or "fcp" (the cloud). */
  provider: z
    .string()
    .transform((name) => PROVIDER_ALIASES[name] ?? name)
    .pipe(z.enum(PROVIDER_NAMES, { error: `must be one of: ${PROVIDER_NAMES.join(", ")}` })),
} as const;

export const FlowConfigSchema = z.strictObject({
  apiKey: CONFIG_FIELD_SCHEMAS.apiKey.optional(),
  project: CONFIG_FIELD_SCHEMAS.project.optional(),
  region: CONFIG_FIELD_SCHEMAS.region.default(DEFAULT_REGION),
  apiUrl: CONFIG_FIELD_SCHEMAS.apiUrl.default(DEFAULT_API_URL),
  sshKey: CONFIG_FIELD_SCHEMAS.sshKey.optional(),
  provider: CONFIG_FIELD_SCHEMAS.provider.default(DEFAULT_PROVIDER),
});

export type FlowConfig = z.output<typeof FlowConfigSchema>;

export const CONFIG_KEYS = ["apiKey", "project", "region", "apiUrl", "sshKey", "provider"] as const satisfies readonly (keyof FlowConfig)[];
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** A config a cloud provider can use: both credentials present. */
export type CloudConfig = FlowConfig & { apiKey: string; project: string };
