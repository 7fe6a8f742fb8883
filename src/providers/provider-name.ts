/**
 * The built-in providers by name, as `--provider` and FLOW_PROVIDER spell them. Kept apart from
 * the providers themselves so the CLI can check a name without loading either.
 */
import { ValidationError } from "../errors.ts";

export const PROVIDER_NAMES = ["local", "fcp"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** A provider name from a flag or FLOW_PROVIDER, checked. */
export function providerName(name: string | undefined = process.env["FLOW_PROVIDER"]): ProviderName {
  if (name === undefined || name === "") return "local";
  if ((PROVIDER_NAMES as readonly string[]).includes(name)) return name as ProviderName;
  throw new ValidationError(`Unknown provider ${JSON.stringify(name)}.`, {
    suggestions: [`use one of: ${PROVIDER_NAMES.join(", ")} (with --provider, or FLOW_PROVIDER)`],
  });
}

/** The provider a task id belongs to, when its form says so: FCP tasks are bids (`bid_…`). */
export function providerOfTaskId(taskId: string): ProviderName | undefined {
  return /^bid_[A-Za-z0-9]+$/.test(taskId) ? "fcp" : undefined;
}
