/**
 * The built-in providers by name, as `--provider`, FLOW_PROVIDER and `provider:` in a config file
 * spell them. Kept apart from the providers themselves so the CLI can check a name without
 * loading either.
 */
import { loadSetting, type LoadConfigOptions } from "../config/load-config.ts";
import { CONFIG_FIELD_SCHEMAS, DEFAULT_PROVIDER, PROVIDER_NAMES, type ProviderName } from "../config/flow-config.ts";
import { ValidationError } from "../errors.ts";

export { PROVIDER_NAMES, type ProviderName };

/**
 * The provider to use: `explicit` (a `--provider` flag or an option in code) when given, else
 * FLOW_PROVIDER, else `provider:` in the project's `.flow/config.yaml`, else in
 * `~/.flow/config.yaml`, else "local". A bad value is a ValidationError naming where it came from.
 */
export function providerName(explicit?: string, options: Omit<LoadConfigOptions, "explicit"> = {}): ProviderName {
  if (explicit === undefined) return (loadSetting("provider", options).value as ProviderName | undefined) ?? DEFAULT_PROVIDER;
  const checked = CONFIG_FIELD_SCHEMAS.provider.safeParse(explicit);
  if (checked.success) return checked.data;
  throw new ValidationError(`Unknown provider ${JSON.stringify(explicit)}.`, {
    suggestions: [`use one of: ${PROVIDER_NAMES.join(", ")}`],
  });
}

/**
 * The provider a task id belongs to, when its form says so: FCP tasks are bids (`bid_…`),
 * reservations made for a task (`res_…`) or tasks delivered to a reservation (`rtask_…`).
 */
export function providerOfTaskId(taskId: string): ProviderName | undefined {
  return /^(bid|res|rtask)_[A-Za-z0-9]+$/.test(taskId) ? "fcp" : undefined;
}
