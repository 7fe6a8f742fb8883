/** JSON.parse that answers undefined for text that is not JSON; the caller's schema check says what was wrong. */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
