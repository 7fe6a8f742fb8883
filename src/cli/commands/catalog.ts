/**
 * `flow catalog`: the instance types the provider offers, with regions, prices and capacity. The
 * local provider offers none (tasks run on this machine, for free); it says so and where to look.
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
  const rows = entries.map((e) => [
    e.name,
    e.fid,
    `${e.gpuCount}× ${e.gpuModel.toUpperCase()}`,
    `${e.gpuMemoryGb} GB`,
    e.region ?? "-",
    e.pricePerHour === undefined ? "-" : `$${e.pricePerHour.toFixed(2)}/h`,
    e.capacity === undefined ? "-" : String(e.capacity),
  ]);
  process.stdout.write(`${formatTable(["NAME", "FID", "GPUS", "GPU MEMORY", "REGION", "PRICE", "AVAILABLE"], rows)}\n`);
}
