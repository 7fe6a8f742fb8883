/**
 * A persistent storage volume, as `flow.volumes.list()` returns it. (VolumeSpec, in
 * volume-spec.ts, is the request to create or attach one for a task.)
 */
export type StorageInterface = "block" | "file";

export interface Volume {
  volumeId: string;
  name: string;
  sizeGb: number;
  region: string;
  interface: StorageInterface;
  createdAt: Date;
  /** Instance ids the volume is attached to. */
  attachedTo: string[];
  /** Tasks and reservations that mount it and are not over (cloud: their bid and reservation ids). */
  usedBy?: string[];
  /** Where the provider keeps the data, when it is a path on this machine (local provider). */
  localPath?: string;
}

export interface CreateVolumeOptions {
  /** 3-64 lowercase letters, digits and hyphens; generated when omitted. */
  name?: string;
  /** Defaults to 1 GB, the seed's deliberately small default. */
  sizeGb?: number;
  interface?: StorageInterface;
  /** Where a cloud volume lives (tasks that mount it run there); the configured region by default. */
  region?: string;
}
