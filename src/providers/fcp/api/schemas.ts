/**
 * The FCP (Mithril) API models the provider uses, as zod schemas with the OpenAPI spec's names and
 * snake_case fields (/work/shared/fcp/mithril-openapi.json).
 *
 * Response models are loose objects: fields a newer API adds are tolerated, so an older SDK keeps
 * working. Fields the spec marks nullable and not required are `nullish` (absent or null).
 * Request models are checked before sending, so a malformed request fails here with the field
 * named instead of as a 422 from the server.
 */
import * as z from "zod";

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

/** A time the API takes: a Date, or an ISO 8601 string with its offset ("Z", "+02:00"); sent as ISO. */
export const DateTimeInputSchema = z
  .union([z.date(), z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time with an offset, like "2025-01-31T18:00:00Z"' })])
  .refine((value) => !(value instanceof Date) || !Number.isNaN(value.getTime()), "must be a valid Date")
  .transform((value) => (value instanceof Date ? value.toISOString() : value));
export type DateTimeInput = z.input<typeof DateTimeInputSchema>;

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

export const UpdateBidRequestSchema = z
  .object({
    limit_price: DollarStringSchema.nullish(),
    paused: z.boolean().nullish(),
    volumes: z.array(z.string().min(1)).nullish(),
    memory_gb: z.number().int().positive().nullish(),
  })
  .refine((update) => Object.values(update).some((value) => value !== undefined && value !== null), "names nothing to change: set limit_price, paused, volumes or memory_gb");
export type UpdateBidRequest = z.input<typeof UpdateBidRequestSchema>;

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

export const BidHistoryEventModelSchema = z.looseObject({
  timestamp: z.string(),
  event_type: z.enum(BID_EVENT_TYPES),
  /** The limit price after the event, for "Placed" and "Limit Price Changed". */
  limit_price: z.string().nullish(),
  user_id: z.string().nullish(),
  memory_gb: z.number().int().nullish(),
  persistent_disk_change: z.looseObject({ attached: z.string().nullish(), removed: z.string().nullish() }).nullish(),
});
export type BidHistoryEvent = z.infer<typeof BidHistoryEventModelSchema>;

export const BidHistoryResponseSchema = z.looseObject({
  bid_fid: z.string(),
  /** Oldest first. */
  events: z.array(BidHistoryEventModelSchema),
});
export type BidHistory = z.infer<typeof BidHistoryResponseSchema>;

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

/** What PATCH /v2/instances can ask of reserved instances: start or pause. */
export const InstanceTargetStatusSchema = z.enum(["STATUS_RUNNING", "STATUS_PAUSED"]);
export type InstanceTargetStatus = z.infer<typeof InstanceTargetStatusSchema>;

export const PatchInstanceStatusRequestSchema = z.object({
  instances: z
    .array(z.string().min(1))
    .min(1, "must name at least one instance")
    .refine((fids) => new Set(fids).size === fids.length, "must not name an instance twice"),
  status: InstanceTargetStatusSchema,
});

export const PatchInstanceStatusResponseSchema = z.looseObject({
  /** Every requested instance's status after the request (STATUS_CONFIRMED: starting; STATUS_STOPPING: pausing). */
  instances: z.record(z.string(), InstanceStatusSchema),
});

export const InstanceStatusHistorySchema = z.looseObject({
  instance_fid: z.string(),
  events: z.array(z.looseObject({ timestamp: z.string(), status: InstanceStatusSchema })),
  bid_fid: z.string().nullish(),
  reservation_fid: z.string().nullish(),
});
export type InstanceStatusHistory = z.infer<typeof InstanceStatusHistorySchema>;

export const InstanceStatusHistoryResponseSchema = z.looseObject({
  instances: z.array(InstanceStatusHistorySchema),
  next_cursor: z.string().nullish(),
});

/** A period an instance was billed at one price; `end_time` is null while it still is. */
export const InstancePricingEventSchema = z.looseObject({
  price_cents: z.number().int(),
  start_time: z.string(),
  end_time: z.string().nullable(),
});
export type InstancePricingEvent = z.infer<typeof InstancePricingEventSchema>;

export const InstancePricingHistorySchema = z.looseObject({
  instance_fid: z.string(),
  events: z.array(InstancePricingEventSchema),
  bid_fid: z.string().nullish(),
  reservation_fid: z.string().nullish(),
});
export type InstancePricingHistory = z.infer<typeof InstancePricingHistorySchema>;

export const InstancePricingHistoryResponseSchema = z.looseObject({
  instances: z.array(InstancePricingHistorySchema),
  next_cursor: z.string().nullish(),
});

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

export const UpdateSshKeyRequestSchema = z.object({
  /** A required key is let into every instance of the project. Only org admins may set it. */
  required: z.boolean(),
});
export type UpdateSshKeyRequest = z.input<typeof UpdateSshKeyRequestSchema>;

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

const VolumeNameSchema = z
  .string()
  .max(64)
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "must be lowercase letters, digits and dashes, starting with a letter and not ending with a dash");

export const CreateVolumeRequestSchema = z.object({
  /** Unique within the project: the client finds a volume by name when a create's response is lost. */
  name: VolumeNameSchema,
  project: z.string().min(1),
  disk_interface: VolumeInterfaceSchema,
  region: z.string().min(1),
  size_gb: z.number().int().positive(),
});
export type CreateVolumeRequest = z.input<typeof CreateVolumeRequestSchema>;

export const UpdateVolumeRequestSchema = z.object({ name: VolumeNameSchema });
export type UpdateVolumeRequest = z.input<typeof UpdateVolumeRequestSchema>;

// ---- prices and quotas -----------------------------------------------------------------------

/** GET /v2/pricing/current, in cents per instance-hour; null where the API has no figure. */
export const CurrentPricesResponseSchema = z.looseObject({
  spot_price_cents: z.number().int().nullish(),
  reserved_price_cents: z.number().int().nullish(),
  /** The least a bid may offer. */
  minimum_price_cents: z.number().int().nullish(),
  lowest_allocated_bid_cents: z.number().int().nullish(),
  /** What a bid for instance_quantity instances would need to win now. */
  dynamic_win_price_cents: z.number().int().nullish(),
  available_capacity: z.number().int().nullish(),
  total_capacity: z.number().int().nullish(),
});
export type CurrentPrices = z.infer<typeof CurrentPricesResponseSchema>;

/** One instance type in one region: parallel arrays, dollar strings. */
export const HistoricalPriceSeriesModelSchema = z.looseObject({
  instance_type: z.string(),
  region: z.string(),
  timestamps: z.array(z.string()),
  spot_prices: z.array(z.string()),
  reserved_prices: z.array(z.string()),
  region_disabled: z.boolean().optional(),
});
export type HistoricalPriceSeries = z.infer<typeof HistoricalPriceSeriesModelSchema>;

export const HistoricalPricesResponseModelSchema = z.looseObject({
  series: z.array(HistoricalPriceSeriesModelSchema),
  complete: z.boolean().optional(),
});
export type HistoricalPrices = z.infer<typeof HistoricalPricesResponseModelSchema>;

export const QuotaModelSchema = z.looseObject({
  fid: z.string(),
  project: z.string(),
  instance_type: z.string().nullish(),
  /** "Spot", "Reservations", "Storage", … */
  product_type: z.string(),
  total_quantity: z.number().int(),
  used_quantity: z.number().int(),
  /** "instances", "GB", … */
  units: z.string(),
  name: z.string(),
});
export type Quota = z.infer<typeof QuotaModelSchema>;

// ---- reservations ----------------------------------------------------------------------------

export const RESERVATION_STATUSES = ["Pending", "Active", "Paused", "Canceled", "Ended"] as const;
export const ReservationStatusSchema = z.enum(RESERVATION_STATUSES);
export type ReservationStatus = z.infer<typeof ReservationStatusSchema>;

export const ReservationModelSchema = z.looseObject({
  fid: z.string(),
  name: z.string(),
  project: z.string(),
  created_by: z.string(),
  created_at: z.string(),
  deactivated_at: z.string().nullish(),
  instance_quantity: z.number().int(),
  /** The instance type's FID. */
  instance_type: z.string(),
  region: z.string().nullish(),
  /** Instance FIDs; they exist from creation and boot at start_time. */
  instances: z.array(z.string()),
  launch_specification: LaunchSpecificationModelSchema,
  status: ReservationStatusSchema,
  start_time: z.string(),
  end_time: z.string(),
  /** Dollar strings: the whole reservation, and one instance-hour. */
  total_price: z.string(),
  unit_price: z.string(),
});
export type Reservation = z.infer<typeof ReservationModelSchema>;

export const GetReservationsResponseSchema = z.looseObject({
  data: z.array(ReservationModelSchema),
  next_cursor: z.string().nullish(),
});

/** One way to buy the reservation; every price is a dollar string. */
export const ReservationOfferSchema = z.looseObject({
  /** Pass as price_specification.offer_key; "standard" is the default. */
  key: z.string(),
  display_name: z.string(),
  /** Per instance-hour. */
  unit_price: z.string(),
  /** Credited per instance-hour given back early. */
  return_buyback_price: z.string(),
  /** Credited per instance-hour paused. */
  pause_buyback_price: z.string(),
  total_price: z.string(),
  total_etbp_value: z.string(),
  total_fubp_value: z.string(),
  option_premium: z.string(),
});
export type ReservationOffer = z.infer<typeof ReservationOfferSchema>;

export const ReservationQuoteResponseSchema = z.looseObject({ offers: z.array(ReservationOfferSchema) });
export type ReservationQuote = z.infer<typeof ReservationQuoteResponseSchema>;

export const AvailabilitySlotModelSchema = z.looseObject({
  start_time: z.string(),
  end_time: z.string(),
  quantity: z.number().int(),
});
export type AvailabilitySlot = z.infer<typeof AvailabilitySlotModelSchema>;

/**
 * The spec documents a list of slots for every mode of GET /v2/reservation/availability, and also
 * defines these two models, named after the other modes; the client accepts either shape.
 */
export const GetLatestEndTimeResponseSchema = z.looseObject({ latest_end_time: z.string(), available: z.boolean() });
export const CheckAvailabilityResponseSchema = z.looseObject({ available: z.boolean() });

export const ExtensionAvailabilityResponseSchema = z.looseObject({
  latest_extension_time: z.string(),
  available: z.boolean(),
});
export type ExtensionAvailability = z.infer<typeof ExtensionAvailabilityResponseSchema>;

export const PriceSpecificationSchema = z.object({
  /** An offer's key from the quote; the API defaults to "standard". */
  offer_key: z.string().min(1).optional(),
  /** Cents per instance-hour: the request fails if the offer's price has moved above it. */
  max_unit_price: z.number().int().nonnegative().nullish(),
});
export type PriceSpecification = z.input<typeof PriceSpecificationSchema>;

export const CreateReservationRequestSchema = z.object({
  project: z.string().min(1),
  /** The instance type's FID. */
  instance_type: z.string().min(1),
  region: z.string().min(1),
  start_time: DateTimeInputSchema,
  end_time: DateTimeInputSchema,
  instance_quantity: z.number().int().positive(),
  /** The client finds a reservation by name (and terms) when a create's response is lost. */
  name: z.string().min(1),
  launch_specification: LaunchSpecificationRequestSchema,
  price_specification: PriceSpecificationSchema.nullish(),
  notification_email: z.string().nullish(),
});
export type CreateReservationRequest = z.input<typeof CreateReservationRequestSchema>;

export const ExtendReservationRequestSchema = z.object({
  end_time: DateTimeInputSchema,
  price_specification: PriceSpecificationSchema.nullish(),
});
export type ExtendReservationRequest = z.input<typeof ExtendReservationRequestSchema>;

export const UpdateReservationRequestSchema = z
  .object({
    paused: z.boolean().nullish(),
    volumes: z.array(z.string().min(1)).nullish(),
  })
  .refine((update) => (update.paused ?? update.volumes ?? undefined) !== undefined, "names nothing to change: set paused or volumes");
export type UpdateReservationRequest = z.input<typeof UpdateReservationRequestSchema>;

export const TerminateInstanceRequestSchema = z.object({
  instances: z
    .array(z.string().min(1))
    .min(1, "must name at least one instance")
    .refine((fids) => new Set(fids).size === fids.length, "must not name an instance twice"),
  reduce_capacity: z.literal(true),
});

export const ReservationHistoryEventModelSchema = z.looseObject({
  timestamp: z.string(),
  event_type: z.enum(["Placed", "Active", "Paused", "Resumed", "Canceled", "Ended", "Terms Set", "Terms Changed"]),
  user_id: z.string().nullish(),
  unit_price_cents: z.number().int().nullish(),
  pause_credit_cents: z.number().int().nullish(),
  return_credit_cents: z.number().int().nullish(),
});
export type ReservationHistoryEvent = z.infer<typeof ReservationHistoryEventModelSchema>;

export const ReservationHistoryResponseSchema = z.looseObject({
  reservation_fid: z.string(),
  /** Oldest first. */
  events: z.array(ReservationHistoryEventModelSchema),
});
export type ReservationHistory = z.infer<typeof ReservationHistoryResponseSchema>;

export const ReservationUsageResponseSchema = z.looseObject({
  reservation: z.looseObject({
    fid: z.string(),
    order_name: z.string(),
    start_date: z.string(),
    end_date: z.string(),
    /** The spec reuses the bid statuses here. */
    status: BidStatusSchema,
    committed_cost_cents: z.number().int(),
  }),
  summary: z.looseObject({
    committed_cost_cents: z.number().int(),
    flex_use_credits_cents: z.number().int(),
    early_termination_credits_cents: z.number().int(),
    net_cost_cents: z.number().int(),
    /** ISO 8601 durations, e.g. "PT12H30M" (see isoDurationMs). */
    reserved_instance_hours: z.string(),
    active_instance_hours: z.string(),
    idle_instance_hours: z.string(),
    as_of: z.string(),
  }),
  grants: z.array(
    z.looseObject({
      fid: z.string(),
      starts_at: z.string(),
      ends_at: z.string(),
      quantity: z.number().int(),
      /** Cents per instance-hour. */
      unit_price: z.number().int(),
      price_credit: z.number().int(),
      return_credit: z.number().int(),
    }),
  ),
  pricing_events: z.array(
    z.looseObject({ id: z.string(), occurred_at: z.string(), instance_fid: z.string(), instance_name: z.string(), instance_status: InstanceStatusSchema }),
  ),
  reservation_events: z.array(z.looseObject({ occurred_at: z.string(), event_type: z.enum(["Started", "Paused", "Extended"]), reservation_name: z.string() })),
});
export type ReservationUsage = z.infer<typeof ReservationUsageResponseSchema>;

/**
 * An ISO 8601 duration as the API writes one ("PT3H", "P1DT2H30M", "PT0.5S") in milliseconds;
 * undefined for anything else. Years and months are refused: their length depends on the date.
 */
export function isoDurationMs(text: string): number | undefined {
  const match = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (match === null || text === "P" || text.endsWith("T")) return undefined;
  const [weeks, days, hours, minutes, seconds] = match.slice(1).map((part) => Number(part ?? 0));
  return Math.round(((((weeks ?? 0) * 7 + (days ?? 0)) * 24 + (hours ?? 0)) * 60 + (minutes ?? 0)) * 60_000 + (seconds ?? 0) * 1000);
}

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
