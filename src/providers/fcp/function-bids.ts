/**
 * The function bids this machine has open, one file each under `<FLOW_HOME>/fcp/function-bids/`,
 * naming the process that placed it. A run that ends in any way it can see cancels its bids; one
 * that is SIGKILLed or loses power cannot, and its instances would bill until their agents idle
 * out. So the next run on this machine sweeps: a bid whose process is gone is cancelled.
 */
import { hostname } from "node:os";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { parseJsonOrUndefined } from "../../parse-json.ts";
import { resolveFlowHome } from "../flow-home.ts";
import { isAlive } from "../processes.ts";

const FunctionBidSchema = z.object({ bid: z.string(), pid: z.number().int(), host: z.string(), placedAt: z.string() });

export class FunctionBids {
  readonly #dir: string;

  constructor(flowHome = resolveFlowHome()) {
    this.#dir = join(flowHome, "fcp", "function-bids");
  }

  async add(bid: string): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const record = { bid, pid: process.pid, host: hostname(), placedAt: new Date().toISOString() };
    await writeFile(this.#path(bid), JSON.stringify(record), { mode: 0o600 });
  }

  async remove(bid: string): Promise<void> {
    await rm(this.#path(bid), { force: true });
  }

  /** Bids placed on this host by processes that are gone (a reused pid errs on the side of alive). */
  async orphans(): Promise<string[]> {
    const names = await readdir(this.#dir).catch(() => []);
    const orphans: string[] = [];
    for (const name of names) {
      const parsed = FunctionBidSchema.safeParse(parseJsonOrUndefined(await readFile(join(this.#dir, name), "utf8").catch(() => "")));
      if (!parsed.success) continue;
      const { bid, pid, host } = parsed.data;
      if (host === hostname() && pid !== process.pid && !isAlive(pid)) orphans.push(bid);
    }
    return orphans;
  }

  #path(bid: string): string {
    return join(this.#dir, `${bid.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);
  }
}
