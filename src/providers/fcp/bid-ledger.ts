/**
 * The bids a process on this machine has to cancel when it ends, one file each under
 * `<FLOW_HOME>/fcp/open-bids/`: a function's agent (cancelled when the run ends) and a task that
 * still waits for uploads from the client that submitted it. The file is written under the bid's
 * unique name *before* the bid is posted, and gets the bid's FID when the API answers.
 *
 * A run that ends in any way it can see cancels its bids and removes their files. One that is
 * SIGKILLed or loses power cannot, and its instances would bill until their agents idle out or
 * their upload wait gives up; killed while its POST was in flight, it never even learned the FID.
 * So the next run on this machine sweeps: for each file of a process that is gone it cancels the
 * bid by FID, or finds it by its unique name.
 */
import { hostname } from "node:os";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import * as z from "zod";
import { parseJsonOrUndefined } from "../../parse-json.ts";
import { resolveFlowHome } from "../flow-home.ts";
import { isAlive } from "../processes.ts";
import { writeRecordFile } from "../record-files.ts";
import type { FcpContext } from "./fcp-context.ts";

/** A bid not found by name this soon after its intent was recorded may still be in the API's hands. */
const POST_SETTLE_MS = 10 * 60_000;

const OpenBidSchema = z.object({
  /** The bid's unique name, known before it is posted. */
  name: z.string().min(1),
  /** The project's FID, where to look for it by name. */
  project: z.string().min(1),
  /** Its FID, once the POST answered. */
  bid: z.string().optional(),
  pid: z.number().int(),
  host: z.string(),
  placedAt: z.string(),
});
export type OpenBid = z.infer<typeof OpenBidSchema>;

export class BidLedger {
  readonly #home: string;
  readonly #dir: string;

  constructor(flowHome = resolveFlowHome()) {
    this.#home = flowHome;
    this.#dir = join(flowHome, "fcp", "open-bids");
  }

  /** Before the POST: a bid under this (unique) name is about to be placed in `project`. */
  async intend(name: string, project: string): Promise<void> {
    await this.#write(name, { name, project, pid: process.pid, host: hostname(), placedAt: new Date().toISOString() });
  }

  /** After the POST: the bid named `name` is `fid`. */
  async placed(name: string, fid: string): Promise<void> {
    const entry = await this.#read(name);
    if (entry !== undefined) await this.#write(entry.name, { ...entry, bid: fid });
  }

  /** A bid whose name another bid may share (so it cannot be found by it): recorded by FID, once placed. */
  async record(fid: string, name: string, project: string): Promise<void> {
    await this.#write(fid, { name, project, bid: fid, pid: process.pid, host: hostname(), placedAt: new Date().toISOString() });
  }

  /** `key`: the name given to intend(), or the FID given to record(). */
  async remove(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  /** Bids placed on this host by processes that are gone (a reused pid errs on the side of alive), with their keys. */
  async orphans(): Promise<(OpenBid & { key: string })[]> {
    const files = await readdir(this.#dir).catch(() => [] as string[]);
    const orphans: (OpenBid & { key: string })[] = [];
    for (const file of files.filter((f) => f.endsWith(".json"))) {
      const parsed = OpenBidSchema.safeParse(parseJsonOrUndefined(await readFile(join(this.#dir, file), "utf8").catch(() => "")));
      if (!parsed.success) continue;
      const { pid, host } = parsed.data;
      if (host === hostname() && pid !== process.pid && !isAlive(pid)) orphans.push({ ...parsed.data, key: file.slice(0, -".json".length) });
    }
    return orphans;
  }

  async #read(name: string): Promise<OpenBid | undefined> {
    const parsed = OpenBidSchema.safeParse(parseJsonOrUndefined(await readFile(this.#path(name), "utf8").catch(() => "")));
    return parsed.success ? parsed.data : undefined;
  }

  async #write(key: string, entry: OpenBid): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeRecordFile(this.#path(key), JSON.stringify(entry), this.#home);
  }

  #path(key: string): string {
    return join(this.#dir, `${key.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);
  }
}

/** Cancels what runs on this machine left open when they died (see the file comment). */
export async function cancelOrphanBids(context: FcpContext, ledger: BidLedger): Promise<void> {
  for (const orphan of await ledger.orphans()) {
    const what = orphan.bid ?? `named ${orphan.name}`;
    try {
      const fids =
        orphan.bid !== undefined
          ? [orphan.bid]
          : (await context.client.listBids({ project: orphan.project, name: orphan.name }))
              .filter((bid) => bid.name === orphan.name && bid.status !== "Terminated")
              .map((bid) => bid.fid);
      // Nothing by that name yet: the POST may still land; a later run looks again.
      if (fids.length === 0 && orphan.bid === undefined && Date.now() - Date.parse(orphan.placedAt) < POST_SETTLE_MS) continue;
      for (const fid of fids) {
        await context.client.cancelBid(fid);
        context.progress(`cancelled bid ${fid}, left open by an earlier run that ended without cleaning up`);
      }
      await ledger.remove(orphan.key);
    } catch (error) {
      context.progress(`could not cancel the bid ${what}, left open by an earlier run (${(error as Error).message}); cancel it with \`flow cancel ${orphan.bid ?? orphan.name}\``);
    }
  }
}
