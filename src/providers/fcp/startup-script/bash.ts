/**
 * Quoting for the generated bash. Everything the user controls (commands, env values, image
 * names, mount paths) goes through `quote`; instance paths go through `rooted`.
 */

/** Single-quoted: safe for any string bash can hold (everything but NUL), newlines included. */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A path from instancePaths("$ROOT"), double-quoted so `$ROOT` expands and the root may hold
 * spaces. Only for those paths: they contain no other character special inside double quotes.
 */
export function rooted(path: string): string {
  return `"${path}"`;
}

/** A command line of already-quoted words. */
export function words(...parts: (string | false | undefined)[]): string {
  return parts.filter((part): part is string => typeof part === "string" && part !== "").join(" ");
}
