/**
 * Writing the small records the SDK keeps under FLOW_HOME (local task states, cloud task records,
 * open bids): atomically — a temp file beside, renamed into place, so a reader in another process
 * sees the old version or the new one, never a mix — and, when the disk is full, as an error that
 * says so (naming FLOW_HOME and the space left) with the temp file removed, not a raw ENOSPC.
 */
import { randomBytes } from "node:crypto";
import { rename, rm, statfs, writeFile } from "node:fs/promises";
import { ProviderError } from "../errors.ts";

/** The error code of DiskFull errors (a ProviderError). */
export const DISK_FULL = "disk_full";

export async function writeRecordFile(path: string, text: string, flowHome: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, text, { mode: 0o600 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw isDiskFull(error) ? await diskFullError(flowHome, { neededBytes: Buffer.byteLength(text), cause: error }) : error;
  }
}

/** ENOSPC, or a quota that ran out (EDQUOT): either way, no room to write. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

export async function diskFullError(flowHome: string, options: { neededBytes?: number; what?: string; cause?: unknown } = {}): Promise<ProviderError> {
  const free = await freeBytes(flowHome);
  const room = [free === undefined ? undefined : `${formatBytes(free)} free`, options.neededBytes === undefined ? undefined : `${formatBytes(options.neededBytes)} needed`]
    .filter((part) => part !== undefined)
    .join(", ");
  return new ProviderError(`The disk holding FLOW_HOME (${flowHome}) is full${room === "" ? "" : ` (${room})`}${options.what === undefined ? "" : `: ${options.what}`}.`, {
    suggestions: [
      `Free some space on that disk: finished local tasks live in ${flowHome}/tasks (their logs too); delete the ones you no longer need.`,
      "Or point FLOW_HOME at a disk with room.",
    ],
    errorCode: DISK_FULL,
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

/** What an unprivileged user can still write there; undefined when the system cannot say. */
export async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
