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

// ---- reservations ----------------------------------------------------------------------------

export const RESERVATION_STATUSES = ["Pending", "Active", "Paused", "Canceled", "Ended"] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/** Reservations that still hold (or will hold) capacity: the others are over for good. */
export const LIVE_RESERVATION_STATUSES: ReadonlySet<ReservationStatus> = new Set(["Pending", "Active", "Paused"]);

export interface ReservationModel {
  fid: string;
  name: string;
  project: string;
  created_by: string;
  created_at: string;
  deactivated_at: string | null;
  instance_quantity: number;
  instance_type: string;
  region: string | null;
  instances: string[];
  launch_specification: LaunchSpecificationModel;
  status: ReservationStatus;
  start_time: string;
  end_time: string;
  total_price: string;
  unit_price: string;
}

export interface ReservationOfferModel {
  key: string;
  display_name: string;
  unit_price: string;
  return_buyback_price: string;
  pause_buyback_price: string;
  total_price: string;
  total_etbp_value: string;
  total_fubp_value: string;
  option_premium: string;
}

export interface AvailabilitySlotModel {
  start_time: string;
  end_time: string;
  quantity: number;
}

export const RESERVATION_EVENT_TYPES = ["Placed", "Active", "Paused", "Resumed", "Canceled", "Ended", "Terms Set", "Terms Changed"] as const;
export type ReservationEventType = (typeof RESERVATION_EVENT_TYPES)[number];

export interface ReservationHistoryEventModel {
  timestamp: string;
  event_type: ReservationEventType;
  user_id: string | null;
  unit_price_cents: number | null;
  pause_credit_cents: number | null;
  return_credit_cents: number | null;
}

// ---- history and prices ----------------------------------------------------------------------

export const BID_EVENT_TYPES = [
  "Placed",
  "Paused",
  "Resumed",
  "Terminated",
  "Allocated",
  "Preempted",
  "Limit Price Changed",
  "Memory Adjusted",
  "Volumes Attached",
  "Volumes Removed",
] as const;
export type BidEventType = (typeof BID_EVENT_TYPES)[number];

export interface BidHistoryEventModel {
  timestamp: string;
  event_type: BidEventType;
  limit_price: string | null;
  user_id: string | null;
  memory_gb: number | null;
  persistent_disk_change: { attached: string | null; removed: string | null } | null;
}

export interface QuotaModel {
  fid: string;
  project: string;
  instance_type: string | null;
  product_type: "Spot" | "Reservations" | "Storage";
  total_quantity: number;
  used_quantity: number;
  units: string;
  name: string;
}
