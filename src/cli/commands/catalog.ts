/**
 * `flow catalog`: the instance types the provider offers, with each region's spot price and free
 * capacity side by side. The local provider offers none (tasks run on this machine, for free); it
 * says so and where to look.
 */
import { CatalogFlagsSchema, flowFor, parseFlags } from "../cli-inputs.ts";
import { formatTable, printJson } from "../output.ts";

export interface CatalogCommandOptions {
  provider?: string;
  json?: boolean;
  gpu?: string;
  minGpuMemoryGb?: string;
  maxPricePerHour?: string;
  region?: string;
}

export async function catalogCommand(options: CatalogCommandOptions): Promise<void> {
  const { gpu, minGpuMemoryGb, maxPricePerHour, region } = parseFlags(CatalogFlagsSchema, options);
  const flow = flowFor(options.provider);
  const entries = (await flow.catalog()).search({
    ...(gpu === undefined ? {} : { gpuModel: gpu.toLowerCase() }),
    ...(minGpuMemoryGb === undefined ? {} : { minGpuMemoryGb }),
    ...(maxPricePerHour === undefined ? {} : { maxPricePerHour }),
    ...(region === undefined ? {} : { region }),
  });
  if (options.json) {
    printJson(entries);
    return;
  }
  if (flow.provider.name === "local") {
    process.stdout.write("The local provider runs tasks on this machine: it has no instance types or prices. See the cloud's with: flow catalog --provider fcp\n");
    return;
  }
  if (entries.length === 0) {
    process.stdout.write("No instance types match.\n");
    return;
  }
  // One row per type, one column per region: where it is cheapest, and where there is room, at a glance.
  const regions = [...new Set(entries.flatMap((e) => (e.region === undefined ? [] : [e.region])))].sort();
  const types = [...new Map(entries.map((e) => [e.fid, e])).values()];
  const rows = types.map((type) => [
    type.name,
    `${type.gpuCount}× ${type.gpuModel.toUpperCase()}`,
    `${type.gpuMemoryGb} GB`,
    ...regions.map((region) => {
      const offer = entries.find((e) => e.fid === type.fid && e.region === region);
      if (offer === undefined) return "-";
      return `${offer.pricePerHour === undefined ? "-" : `$${offer.pricePerHour.toFixed(2)}/h`} · ${offer.capacity ?? 0} free`;
    }),
  ]);
  process.stdout.write(`${formatTable(["NAME", "GPUS", "GPU MEMORY", ...regions.map((r) => r.toUpperCase())], rows)}\n`);
}
