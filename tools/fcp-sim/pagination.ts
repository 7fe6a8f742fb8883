/**
 * The API's cursor pagination: a page of `limit` items and an opaque `next_cursor` (null on the last
 * page). The cursor names the last item served, so items created between pages never shift or
 * repeat what a client already saw.
 */
import { validationError } from "./api-error.ts";

export const DEFAULT_PAGE_LIMIT = 100;

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export function paginate<T extends { fid: string }>(sorted: readonly T[], cursor: string | undefined, limit: number | undefined): Page<T> {
  const start = cursor === undefined ? 0 : indexAfterCursor(sorted, cursor);
  const data = sorted.slice(start, start + (limit ?? DEFAULT_PAGE_LIMIT));
  const last = data.at(-1);
  const more = start + data.length < sorted.length;
  return { data, next_cursor: more && last !== undefined ? encodeCursor(last.fid) : null };
}

/** Sorts by one key (ties keep creation order), ascending or descending. */
export function sortBy<T>(items: readonly T[], key: (item: T) => string, direction: "asc" | "desc"): T[] {
  const sign = direction === "asc" ? 1 : -1;
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => sign * (key(a.item).localeCompare(key(b.item)) || a.index - b.index))
    .map(({ item }) => item);
}

function encodeCursor(lastFid: string): string {
  return Buffer.from(JSON.stringify({ after: lastFid })).toString("base64url");
}

function indexAfterCursor<T extends { fid: string }>(sorted: readonly T[], cursor: string): number {
  let after: unknown;
  try {
    after = (JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { after?: unknown }).after;
  } catch {
    after = undefined;
  }
  const index = typeof after === "string" ? sorted.findIndex((item) => item.fid === after) : -1;
  if (index === -1) throw validationError([{ loc: ["query", "next_cursor"], msg: "Invalid cursor; pass next_cursor exactly as returned", type: "value_error" }]);
  return index + 1;
}
