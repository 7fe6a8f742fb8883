/** `flow quotas`: the project's limits and how much of each is used. */
import { flowFor } from "../cli-inputs.ts";
import { formatTable, printJson } from "../output.ts";

export async function quotasCommand(options: { provider?: string; json?: boolean }): Promise<void> {
  const quotas = await flowFor(options.provider).quotas();
  if (options.json) return printJson(quotas);
  // The ones in use first: they are what a user is about to run into.
  const sorted = [...quotas].sort((a, b) => Number(b.used > 0) - Number(a.used > 0) || a.product.localeCompare(b.product) || a.name.localeCompare(b.name));
  const rows = sorted.map((q) => [q.name, q.product, `${q.used} of ${q.limit} ${q.units}`, q.limit === 0 ? "-" : `${Math.round((q.used / q.limit) * 100)}%`]);
  process.stdout.write(rows.length === 0 ? "The project has no quotas.\n" : `${formatTable(["QUOTA", "PRODUCT", "USED", "USE"], rows)}\n`);
}
