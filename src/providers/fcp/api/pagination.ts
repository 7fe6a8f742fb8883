/**
 * The API's cursor pagination: each page has `data` and, when more follow, `next_cursor`, which
 * the next request passes back as the `next_cursor` query parameter.
 */
import { ProviderError } from "../../../errors.ts";

export interface Page<T> {
  data: T[];
  next_cursor?: string | null | undefined;
}

/** Every item of every page, fetching pages lazily, in order. */
export async function* paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  const seen = new Set<string>();
  do {
    const page = await fetchPage(cursor);
    yield* page.data;
    cursor = page.next_cursor || undefined;
    // A server that hands back a cursor it already gave would otherwise make us loop forever.
    if (cursor !== undefined && seen.has(cursor)) {
      throw new ProviderError(`The API returned the page cursor ${JSON.stringify(cursor)} twice; stopped listing to avoid a loop.`, {
        errorCode: "pagination_loop",
      });
    }
    if (cursor !== undefined) seen.add(cursor);
  } while (cursor !== undefined);
}

/** All items of all pages. */
export async function collectPages<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of paginate(fetchPage)) items.push(item);
  return items;
}
