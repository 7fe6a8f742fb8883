/**
 * Helpers every user-facing validator shares (task config, instance types, config files): turning
 * zod issues into FieldIssues, snake_case spellings, did-you-mean suggestions, and one
 * ValidationError that lists every problem at once with its path, reason and fix.
 */
import * as z from "zod";
import { ValidationError, type FieldIssue } from "./errors.ts";

/** A path as zod reports it: object keys and array indexes. */
export type IssuePath = readonly PropertyKey[];

/** `volumes[0].size_gb`, `env["MY-VAR"]`; the empty path is the document itself. */
export function formatPath(path: IssuePath): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(segment))) out += out === "" ? String(segment) : `.${String(segment)}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out === "" ? "(root)" : out;
}

/**
 * Optimal-string-alignment distance: Levenshtein plus adjacent transpositions, so "ennv" and
 * "evn" are both one edit from "env".
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      const row = d[i];
      if (row) row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** `maxPricePerHour` → `max_price_per_hour`: the Python SDK's spelling of a camelCase field. */
export function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Case, `_` and `-` do not count as differences: `Max_Price_Per_Hour` is `maxPricePerHour`. */
function fold(word: string): string {
  return word.toLowerCase().replace(/[_-]/g, "");
}

/**
 * The candidate nearest to `word`, or undefined when nothing is close enough to be a plausible
 * typo (about one edit per four characters, at least two). Failing that, a candidate that is an
 * abbreviation of the word or the other way round (`medium` → `med`) is still a good guess.
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  const folded = fold(word);
  const limit = Math.max(2, Math.floor(folded.length / 4));
  const list = [...candidates];
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of list) {
    const distance = editDistance(folded, fold(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (bestDistance <= limit) return best;
  return list.find((candidate) => {
    const other = fold(candidate);
    return Math.min(other.length, folded.length) >= 3 && (other.startsWith(folded) || folded.startsWith(other));
  });
}

/**
 * zod issues as FieldIssues. A custom issue carries its fix in `params.suggestion`; an enum
 * mismatch gets a did-you-mean over the allowed values. `renderPath` lets callers show paths the
 * way the user spelled them (snake_case or camelCase).
 */
export function issuesFromZod(error: z.ZodError, renderPath: (path: IssuePath) => string = formatPath): FieldIssue[] {
  return error.issues.map((issue) => {
    // A record key's own message (e.g. the env-name rule) sits one level down.
    const message = issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    const out: FieldIssue = { path: renderPath(issue.path), message };
    if (issue.code === "custom" && typeof issue.params?.["suggestion"] === "string") {
      out.suggestion = issue.params["suggestion"];
    } else if (issue.code === "invalid_value" && typeof issue.input === "string") {
      const near = closestMatch(
        issue.input,
        issue.values.filter((v): v is string => typeof v === "string"),
      );
      if (near !== undefined) out.suggestion = `did you mean "${near}"?`;
    }
    return out;
  });
}

/** One line per issue: `path: reason; suggestion`. */
export function formatIssue(issue: FieldIssue): string {
  return `${issue.path}: ${issue.message}${issue.suggestion === undefined ? "" : `; ${issue.suggestion}`}`;
}

/**
 * A ValidationError listing every issue, e.g.
 * `Invalid task config in job.yaml (2 problems):\n  - environment: unknown field; use \`env\``.
 */
export function validationError(
  subject: string,
  issues: FieldIssue[],
  options: { source?: string | undefined; suggestions?: string[]; errorCode?: string } = {},
): ValidationError {
  const where = options.source === undefined ? "" : ` in ${options.source}`;
  const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
  const lines = issues.map((issue) => `  - ${formatIssue(issue)}`).join("\n");
  return new ValidationError(`Invalid ${subject}${where} (${count}):\n${lines}`, {
    issues,
    suggestions: options.suggestions ?? [],
    errorCode: options.errorCode ?? "validation_error",
  });
}

/**
 * Options for an object-level zod refinement that must run even when a field already failed, so
 * that every problem is reported at once. Such refinements see partly-parsed input and must check
 * the types of what they read.
 */
export const evenWithFieldIssues = { when: (): boolean => true };

/** A container path: absolute, and without `..` so it cannot climb out of where it points. */
export const AbsolutePath = z
  .string()
  .refine((p) => p.startsWith("/"), { message: "must be an absolute path (start with /)" })
  .refine((p) => !p.split("/").includes(".."), { message: "must not contain `..`" });
