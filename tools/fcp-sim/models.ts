/**
 * The API's resource shapes as the simulator stores and serves them (field names and enums exactly
 * as in mithril-openapi.json). Stored objects are served as copies, so handlers never leak
 * references that later mutations would change behind a test's back.
 */

export const BID_STATUSES = ["Open", "Allocated", "Preempting", "Terminated", "Paused"] as const;
export type BidStatus = (typeof BID_STATUSES)[number];

export const INSTANCE_STATUSES = [
  "STATUS_NEW",
  "STATUS_CONFIRMED",
  "STATUS_INITIALIZING",
  "STATUS_STARTING",
  "STATUS_RUNNING",
  "STATUS_STOPPING",
  "STATUS_TERMINATED",
  "STATUS_RELOCATING",
  "STATUS_PREEMPTING",
  "STATUS_PREEMPTED",
  "STATUS_REPLACED",
  "STATUS_PAUSED",
  "STATUS_ERROR",
] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/** Statuses after which an instance no longer costs money (the ledger leaves them out). */
export const ENDED_INSTANCE_STATUSES: ReadonlySet<InstanceStatus> = new Set(["STATUS_TERMINATED", "STATUS_PREEMPTED", "STATUS_ERROR", "STATUS_REPLACED"]);

export interface ProjectModel {
  fid: string;
  name: string;
  created_at: string;
}

export interface MeResponse {
  id: string;
  fid: string;
  email: string;
  user_name: string | null;
  organization_id: string;
  organization_role: string | null;
}

export interface LaunchSpecificationModel {
  volumes: string[];
  ssh_keys: string[];
  startup_script: string | null;
  kubernetes_cluster: string | null;
  image_version: string | null;
  memory_gb: number | null;
}

export interface BidModel {
  fid: string;
  name: string;
  project: string;
  created_by: string;
  created_at: string;
  deactivated_at: string | null;
  limit_price: string;
  instance_quantity: number;
  instance_type: string;
  region: string | null;
  instances: string[];
  launch_specification: LaunchSpecificationModel;
  status: BidStatus;
}

export interface InstanceModel {
  fid: string;
  name: string;
  project: string;
  created_at: string;
  created_by: string;
  instance_type: string;
  region: string | null;
  bid: string | null;
  reservation: string | null;
  ssh_destination: string | null;
  private_ip: string | null;
  status: InstanceStatus;
}

export interface SshKeyModel {
  fid: string;
  name: string;
  project: string;
  public_key: string;
  created_at: string;
  required: boolean;
}

export interface VolumeModel {
  fid: string;
  name: string;
  region: string;
  created_at: string;
  deleted_at: string | null;
  capacity_gb: number;
  project: string;
  interface: "Block" | "File";
  bids: string[];
  reservations: string[];
  attachments: Record<string, string>;
}
