/**
 * A folder of JSON records under FLOW_HOME, one file per key: read against a schema (a damaged
 * file reads as none, with one warning), written atomically (record-files.ts), and changed one
 * update at a time per key within this process, so a status poll and two log followers that
 * change the same record never lose each other's change.
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type * as z from "zod";
import { parseJsonOrUndefined } from "../parse-json.ts";
import { writeRecordFile } from "./record-files.ts";

export class RecordDir<T extends object> {
  readonly #home: string;
  readonly #dir: string;
  readonly #schema: z.ZodType<T>;
  readonly #warn: (message: string) => void;
  /** Damaged records already warned about. */
  readonly #skipped = new Set<string>();
  /** Per key, the last update in flight. */
  readonly #updating = new Map<string, Promise<void>>();

  /** `onWarning`: told (once per file) about a damaged record, which is then read as none. */
  constructor(options: { flowHome: string; dir: string; schema: z.ZodType<T>; onWarning?: (message: string) => void }) {
    this.#home = options.flowHome;
    this.#dir = options.dir;
    this.#schema = options.schema;
    this.#warn = options.onWarning ?? (() => {});
  }

  get dir(): string {
    return this.#dir;
  }

  async read(key: string): Promise<T | undefined> {
    const path = this.#path(key);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") this.#skip(path, `cannot be read (${code ?? (error as Error).message})`);
      return undefined;
    }
    const raw = parseJsonOrUndefined(text);
    const parsed = this.#schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const first = parsed.error.issues[0];
    this.#skip(path, `is unreadable: ${raw === undefined || first === undefined ? "not JSON" : `${first.path.join(".") || "(root)"}: ${first.message}`}`);
    return undefined;
  }

  /** Every readable record (damaged ones skipped with a warning), in no order. */
  async list(): Promise<T[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const records = await Promise.all(names.filter((n) => n.endsWith(".json")).map((n) => this.read(n.slice(0, -".json".length))));
    return records.filter((r) => r !== undefined);
  }

  /** Written beside under a name of its own and renamed into place; a full disk is a clear error. */
  async write(key: string, record: T): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeRecordFile(this.#path(key), JSON.stringify(record, null, 2), this.#home);
  }

  /** Read, change, write; one at a time per key in this process, so no change is lost. */
  update(key: string, change: Partial<T>): Promise<void> {
    const previous = this.#updating.get(key) ?? Promise.resolve();
    const next = previous.then(async () => {
      const current = await this.read(key);
      if (current !== undefined) await this.write(key, { ...current, ...change });
    });
    const settled = next.catch(() => {});
    this.#updating.set(key, settled);
    void settled.then(() => {
      if (this.#updating.get(key) === settled) this.#updating.delete(key);
    });
    return next;
  }

  /** A key as a file name: anything but letters, digits, `_` and `-` becomes `_`. */
  safeName(key: string): string {
    return key.replace(/[^A-Za-z0-9_-]/g, "_");
  }

  #skip(path: string, what: string): void {
    if (this.#skipped.has(path)) return;
    this.#skipped.add(path);
    this.#warn(`the local record of a task (${path}) ${what}; going by what the API says (delete the file if you no longer need it)`);
  }

  #path(key: string): string {
    return join(this.#dir, `${this.safeName(key)}.json`);
  }
}
