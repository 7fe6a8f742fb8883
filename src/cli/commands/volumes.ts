/**
 * `flow volumes list|create|delete|rename`: persistent volumes. A task mounts one with
 * `flow run … --volume name:/path`; deleting one a task uses is refused, naming the task.
 */
import * as z from "zod";
import { Count, flowFor, parseFlags } from "../cli-inputs.ts";
import { formatTable, formatTime, printJson } from "../output.ts";

interface Common {
  provider?: string;
  json?: boolean;
}

export async function volumesListCommand(options: Common): Promise<void> {
  const volumes = await flowFor(options.provider).volumes.list();
  if (options.json) return printJson(volumes);
  if (volumes.length === 0) {
    process.stdout.write("No volumes. Create one with: flow volumes create <name> --size-gb 100\n");
    return;
  }
  const rows = volumes.map((v) => [v.name, v.volumeId, `${v.sizeGb} GB`, v.region, v.interface, formatTime(v.createdAt), (v.usedBy ?? v.attachedTo).join(", ") || "-"]);
  process.stdout.write(`${formatTable(["NAME", "ID", "SIZE", "REGION", "INTERFACE", "CREATED", "USED BY"], rows)}\n`);
}

export async function volumesCreateCommand(name: string, options: Common & { sizeGb?: string; region?: string; interface?: string }): Promise<void> {
  const flags = parseFlags(z.object({ sizeGb: Count.optional(), interface: z.enum(["block", "file"]).optional() }), { sizeGb: options.sizeGb, interface: options.interface });
  const flow = flowFor(options.provider);
  const volume = await flow.volumes.create({
    name,
    ...(flags.sizeGb === undefined ? {} : { sizeGb: flags.sizeGb }),
    ...(flags.interface === undefined ? {} : { interface: flags.interface }),
    ...(options.region === undefined ? {} : { region: options.region }),
  });
  if (options.json) return printJson(volume);
  // Local tasks mount no volumes: there the hint would lead nowhere.
  const hint = flow.provider.name === "local" ? "" : ` Mount it: flow run … --volume ${volume.name}:/mnt/${volume.name}`;
  process.stdout.write(`Created volume ${volume.name} (${volume.volumeId}): ${volume.sizeGb} GB, ${volume.interface}, in ${volume.region}.${hint}\n`);
}

export async function volumesDeleteCommand(idOrName: string, options: Common): Promise<void> {
  await flowFor(options.provider).volumes.delete(idOrName);
  if (options.json) return printJson({ deleted: idOrName });
  process.stdout.write(`Deleted volume ${idOrName}.\n`);
}

export async function volumesRenameCommand(idOrName: string, name: string, options: Common): Promise<void> {
  const volume = await flowFor(options.provider).volumes.rename(idOrName, name);
  if (options.json) return printJson(volume);
  process.stdout.write(`Renamed ${idOrName} to ${volume.name} (${volume.volumeId}).\n`);
}
