/**
 * `flow pricing [--gpu h100] [-i type] [--region r] [--history 7d]`: what instance types cost now
 * on the spot market and reserved, with the capacity there is; with --history, how the spot price
 * moved, as a small chart per type and region.
 */
import * as z from "zod";
import type { PriceQuery } from "../../providers/cloud-account.ts";
import { flowFor, parseFlags, SinceSchema } from "../cli-inputs.ts";
import { formatTable, printJson, usd } from "../output.ts";
import { areaChart } from "../text-chart.ts";

export interface PricingCommandOptions {
  provider?: string;
  json?: boolean;
  gpu?: string;
  instanceType?: string;
  region?: string;
  history?: string;
}

export async function pricingCommand(options: PricingCommandOptions): Promise<void> {
  const { history } = parseFlags(z.object({ history: SinceSchema.optional() }), { history: options.history });
  const query: PriceQuery = {
    ...(options.gpu === undefined ? {} : { gpu: options.gpu }),
    ...(options.instanceType === undefined ? {} : { instanceType: options.instanceType }),
    ...(options.region === undefined ? {} : { region: options.region }),
  };
  const flow = flowFor(options.provider);
  if (history !== undefined) {
    const series = await flow.pricing.history({ ...query, since: new Date(Date.now() - history) });
    if (options.json) return printJson(series);
    const width = Math.max(20, Math.min(72, (process.stdout.columns || 80) - 12));
    const blocks = series.map((s) => {
      const prices = s.points.map((p) => p.spotPrice);
      if (prices.length === 0) return `${s.instanceType} in ${s.region}: no prices recorded`;
      const head = `${s.instanceType} in ${s.region}: spot ${usd(prices.at(-1)!)}/h now, ${usd(Math.min(...prices))} to ${usd(Math.max(...prices))} since ${options.history} ago`;
      const day = (d: Date) => d.toISOString().slice(0, history > 2 * 86_400_000 ? 10 : 16).replace("T", " ");
      const chart = areaChart(prices, { width, label: usd, from: day(s.points[0]!.time), to: day(s.points.at(-1)!.time) });
      return [head, ...chart].join("\n");
    });
    process.stdout.write(`${blocks.join("\n\n") || "No price history matches."}\n`);
    return;
  }
  const prices = await flow.pricing.current(query);
  if (options.json) return printJson(prices);
  const money = (n: number | undefined) => (n === undefined ? "-" : `${usd(n)}/h`);
  const rows = prices.map((p) => [
    p.instanceType,
    p.region,
    money(p.spotPrice),
    money(p.reservedPrice),
    money(p.minimumPrice),
    p.availableCapacity === undefined ? "-" : `${p.availableCapacity}${p.totalCapacity === undefined ? "" : ` of ${p.totalCapacity}`}`,
  ]);
  process.stdout.write(
    rows.length === 0 ? "No instance types match.\n" : `${formatTable(["INSTANCE TYPE", "REGION", "SPOT", "RESERVED", "MINIMUM BID", "AVAILABLE"], rows)}\n`,
  );
}
