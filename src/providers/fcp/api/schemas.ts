/**
 * The FCP (Mithril) API models the provider uses, as zod schemas with the OpenAPI spec's names and
 * snake_case fields (/work/shared/fcp/mithril-openapi.json).
 *
 * Response models are loose objects: fields a newer API adds are tolerated, so an older SDK keeps
 * working. Fields the spec marks nullable and not required are `nullish` (absent or null).
 * Request models are checked before sending, so a malformed request fails here with the field
 * named instead of as a 422 from the server.
 */
import { z } from "zod";

export { AuctionModelSchema, InstanceTypeModelSchema, type AuctionModel, type InstanceTypeModel } from "../../../instance-types/from-api.ts";

// ---- account ---------------------------------------------------------------------------------

export const ProjectModelSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  created_at: z.string(),
});
export type Project = z.infer<typeof ProjectModelSchema>;

export const MeResponseSchema = z.looseObject({
  id: z.string(),
  fid: z.string(),
  email: z.string(),
  user_name: z.string().nullish(),
  organization_id: z.string(),
  organization_role: z.string().nullish(),
});
export type Me = z.infer<typeof MeResponseSchema>;

// ---- spot bids -------------------------------------------------------------------------------

export const BID_STATUSES = ["Open", "Allocated", "Preempting", "Terminated", "Paused"] as const;
export const BidStatusSchema = z.enum(BID_STATUSES);
export type BidStatus = z.infer<typeof BidStatusSchema>;

/** The detailed status endpoint also reports a bid being moved to another region. */
export const BidDetailedStatusSchema = z.enum([...BID_STATUSES, "Relocating"]);
export type BidDetailedStatus = z.infer<typeof BidDetailedStatusSchema>;

export const LaunchSpecificationModelSchema = z.looseObject({
  /** Volume FIDs. */
  volumes: z.array(z.string()),
  /** SSH key FIDs. */
  ssh_keys: z.array(z.string()),
  startup_script: z.string().nullish(),
  kubernetes_cluster: z.string().nullish(),
  image_version: z.string().nullish(),
  memory_gb: z.number().int().nullish(),
});
export type LaunchSpecification = z.infer<typeof LaunchSpecificationModelSchema>;

export const BidModelSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  project: z.string(),
  created_by: z.string(),
  created_at: z.string(),
  deactivated_at: z.string().nullish(),
  /** Dollar string, e.g. "$15.60" (see parseDollars). */
  limit_price: z.string(),
  instance_quantity: z.number().int(),
  /** The instance type's FID. */
  instance_type: z.string(),
  region: z.string().nullish(),
  /** Instance FIDs. */
  instances: z.array(z.string()),
  launch_specification: LaunchSpecificationModelSchema,
  status: BidStatusSchema,
});
export type Bid = z.infer<typeof BidModelSchema>;

export const GetBidsResponseSchema = z.looseObject({
  data: z.array(BidModelSchema),
  next_cursor: z.string().nullish(),
});
export type BidPage = z.infer<typeof GetBidsResponseSchema>;

export const BidStatusResponseSchema = z.looseObject({
  bid_fid: z.string(),
  status: BidDetailedStatusSchema,
});
export type BidStatusResponse = z.infer<typeof BidStatusResponseSchema>;

/** "$25.60" or "$1,234.50": the API takes prices as dollar strings, like it returns them. */
const DollarStringSchema = z.string().regex(/^\$\d{1,3}(,?\d{3})*(\.\d+)?$/, 'must be a dollar string like "$25.60"');

export const LaunchSpecificationRequestSchema = z.object({
  volumes: z.array(z.string().min(1)),
  ssh_keys: z.array(z.string().min(1)),
  startup_script: z.string().nullish(),
  kubernetes_cluster: z.string().nullish(),
  image_version: z.string().nullish(),
  memory_gb: z.number().int().positive().nullish(),
});

export const CreateBidRequestSchema = z.object({
  project: z.string().min(1),
  region: z.string().min(1),
  /** The instance type's FID. */
  instance_type: z.string().min(1),
  limit_price: DollarStringSchema,
  instance_quantity: z.number().int().positive(),
  /** Unique within the project: the client finds a bid by name when a create's response is lost. */
  name: z.string().min(1),
  launch_specification: LaunchSpecificationRequestSchema,
  notification_email: z.string().nullish(),
});
export type CreateBidRequest = z.input<typeof CreateBidRequestSchema>;

export const UpdateBidRequestSchema = z.object({
  limit_price: DollarStringSchema.nullish(),
  paused: z.boolean().nullish(),
  volumes: z.array(z.string().min(1)).nullish(),
  memory_gb: z.number().int().positive().nullish(),
});
export type UpdateBidRequest = z.input<typeof UpdateBidRequestSchema>;

// ---- instances -------------------------------------------------------------------------------

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
export const InstanceStatusSchema = z.enum(INSTANCE_STATUSES);
export type InstanceStatus = z.infer<typeof InstanceStatusSchema>;

export const InstanceModelSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  project: z.string(),
  created_at: z.string(),
  created_by: z.string(),
  instance_type: z.string(),
  region: z.string().nullish(),
  bid: z.string().nullish(),
  reservation: z.string().nullish(),
  /** Where to SSH once the instance runs, e.g. "203.0.113.7" or "203.0.113.7:2222". */
  ssh_destination: z.string().nullish(),
  private_ip: z.string().nullish(),
  status: InstanceStatusSchema,
});
export type Instance = z.infer<typeof InstanceModelSchema>;

export const GetInstancesResponseSchema = z.looseObject({
  data: z.array(InstanceModelSchema),
  next_cursor: z.string().nullish(),
});
export type InstancePage = z.infer<typeof GetInstancesResponseSchema>;

export const InstanceStatusResponseSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  status: InstanceStatusSchema,
  bid: z.string().nullish(),
  reservation: z.string().nullish(),
  end_time: z.string().nullish(),
});
export type InstanceStatusResponse = z.infer<typeof InstanceStatusResponseSchema>;

// ---- SSH keys --------------------------------------------------------------------------------

export const NewSshKeyModelSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  project: z.string(),
  public_key: z.string(),
  created_at: z.string(),
  required: z.boolean(),
});
export type SshKey = z.infer<typeof NewSshKeyModelSchema>;

export const CreatedSshKeyModelSchema = NewSshKeyModelSchema.extend({
  /** Only when the API generated the pair (no public_key sent). */
  private_key: z.string().nullish(),
});
export type CreatedSshKey = z.infer<typeof CreatedSshKeyModelSchema>;

export const CreateSshKeyRequestSchema = z.object({
  project: z.string().min(1),
  /** Unique within the project: the client finds a key by name when a create's response is lost. */
  name: z.string().min(1),
  public_key: z.string().min(1).nullish(),
  required: z.boolean().optional(),
});
export type CreateSshKeyRequest = z.input<typeof CreateSshKeyRequestSchema>;

// ---- volumes ---------------------------------------------------------------------------------

export const VolumeInterfaceSchema = z.enum(["Block", "File"]);
export type VolumeInterface = z.infer<typeof VolumeInterfaceSchema>;

export const VolumeModelSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  region: z.string(),
  created_at: z.string(),
  deleted_at: z.string().nullish(),
  capacity_gb: z.number().int(),
  project: z.string(),
  interface: VolumeInterfaceSchema,
  bids: z.array(z.string()),
  reservations: z.array(z.string()),
  /** Instance FID → device or mount point. */
  attachments: z.record(z.string(), z.string()),
});
export type VolumeModel = z.infer<typeof VolumeModelSchema>;

export const CreateVolumeRequestSchema = z.object({
  /** Unique within the project: the client finds a volume by name when a create's response is lost. */
  name: z
    .string()
    .max(64)
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "must be lowercase letters, digits and dashes, starting with a letter and not ending with a dash"),
  project: z.string().min(1),
  disk_interface: VolumeInterfaceSchema,
  region: z.string().min(1),
  size_gb: z.number().int().positive(),
});
export type CreateVolumeRequest = z.input<typeof CreateVolumeRequestSchema>;

// ---- errors ----------------------------------------------------------------------------------

export const ValidationErrorModelSchema = z.looseObject({
  loc: z.array(z.union([z.string(), z.number()])),
  msg: z.string(),
  type: z.string(),
});
export type ApiValidationIssue = z.infer<typeof ValidationErrorModelSchema>;

export const HTTPValidationErrorSchema = z.looseObject({
  detail: z.array(ValidationErrorModelSchema),
});
export type HTTPValidationError = z.infer<typeof HTTPValidationErrorSchema>;
