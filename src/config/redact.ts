/**
 * An API key as it may appear in messages and logs: its kind prefix and last four characters,
 * `fkey_…abcd`. Short keys show no characters at all, since four of eight would give away half.
 */
export function redact(apiKey: string): string {
  const prefix = /^[A-Za-z]{2,8}[_-]/.exec(apiKey)?.[0] ?? "";
  const rest = apiKey.slice(prefix.length);
  return rest.length >= 12 ? `${prefix}…${rest.slice(-4)}` : `${prefix}…`;
}
