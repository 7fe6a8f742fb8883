/**
 * Request validation with the API's error shape: every problem becomes one FastAPI-style
 * `{loc, msg, type}` entry of a 422. Bodies are checked strictly (unknown fields are refused, no
 * type coercion), so a client that drifts from the spec fails here rather than in production.
 */
import * as z from "zod";
import { validationError, type ValidationIssue } from "./api-error.ts";
import { parseDollarsToCents } from "./money.ts";

type Location = "body" | "query";

export function parseBody<Schema extends z.ZodType>(schema: Schema, body: unknown): z.output<Schema> {
  if (body === undefined) throw validationError([{ loc: ["body"], msg: "Field required", type: "missing" }]);
  return parseAt("body", schema, body);
}

/** Query values arrive as strings; schemas below convert them (comma-separated lists included). */
export function parseQuery<Schema extends z.ZodType>(schema: Schema, query: URLSearchParams): z.output<Schema> {
  const values: Record<string, string> = {};
  // A repeated parameter (?a=x&a=y) means the same as a comma-separated one (?a=x,y).
  for (const key of new Set(query.keys())) values[key] = query.getAll(key).join(",");
  return parseAt("query", schema, values);
}

function parseAt<Schema extends z.ZodType>(location: Location, schema: Schema, input: unknown): z.output<Schema> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw validationError(result.error.issues.flatMap((issue) => toValidationIssues(location, issue)));
}

function toValidationIssues(location: Location, issue: z.core.$ZodIssue): ValidationIssue[] {
  const loc = [location, ...issue.path.map((part) => (typeof part === "symbol" ? String(part) : part))];
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return [{ loc, msg: "Field required", type: "missing" }];
      return [{ loc, ...typeMismatch(issue.expected) }];
    case "unrecognized_keys":
      return issue.keys.map((key) => ({ loc: [...loc, key], msg: "Extra inputs are not permitted", type: "extra_forbidden" }));
    case "too_big":
      return [{ loc, msg: issue.message, type: issue.origin === "string" ? "string_too_long" : "less_than_equal" }];
    case "too_small":
      return [{ loc, msg: issue.message, type: issue.origin === "string" ? "string_too_short" : "greater_than_equal" }];
    case "invalid_value":
      if (issue.values.every((value) => typeof value === "boolean")) return [{ loc, msg: `Input should be ${issue.values.map((value) => (value ? "True" : "False")).join(" or ")}`, type: "literal_error" }];
      return [{ loc, msg: `Input should be ${issue.values.map((value) => `'${String(value)}'`).join(" or ")}`, type: "enum" }];
    case "invalid_format":
      return [{ loc, msg: issue.message, type: "string_pattern_mismatch" }];
    case "custom": {
      const type = typeof issue.params?.["type"] === "string" ? issue.params["type"] : "value_error";
      return [{ loc, msg: issue.message, type }];
    }
    default:
      return [{ loc, msg: issue.message, type: "value_error" }];
  }
}

function typeMismatch(expected: string): { msg: string; type: string } {
  switch (expected) {
    case "string":
      return { msg: "Input should be a valid string", type: "string_type" };
    case "int":
    case "number":
      return { msg: "Input should be a valid integer", type: "int_type" };
    case "boolean":
      return { msg: "Input should be a valid boolean", type: "bool_type" };
    case "array":
      return { msg: "Input should be a valid list", type: "list_type" };
    case "object":
      return { msg: "Input should be a valid dictionary or object to extract fields from", type: "model_attributes_type" };
    default:
      return { msg: `Input should be a valid ${expected}`, type: `${expected}_type` };
  }
}

// ---- building blocks ---------------------------------------------------------------------------

export const STARTUP_SCRIPT_MAX_BYTES = 10_000;

export const DollarPrice = z.string().refine((price) => parseDollarsToCents(price) !== undefined, {
  message: 'Price must be a dollar amount like "$12.34"',
  params: { type: "value_error" },
});

const StartupScript = z.string().refine((script) => Buffer.byteLength(script, "utf8") <= STARTUP_SCRIPT_MAX_BYTES, {
  message: `Startup script must be at most ${STARTUP_SCRIPT_MAX_BYTES} bytes; upload large payloads after boot instead`,
  params: { type: "string_too_long" },
});

/** A query integer: digits only, then range-checked. */
export function queryInt(min: number, max: number) {
  return z
    .string()
    .regex(/^-?\d+$/, "Input should be a valid integer, unable to parse string as an integer")
    .transform(Number)
    .pipe(z.int().min(min).max(max));
}

/** A comma-separated query list. */
export function queryList<Item extends z.ZodType>(item: Item) {
  return z.preprocess((value) => (typeof value === "string" ? value.split(",").filter((part) => part !== "") : value), z.array(item));
}

const TRUE_WORDS = ["true", "1", "yes", "on", "t", "y"];
const FALSE_WORDS = ["false", "0", "no", "off", "f", "n"];

export const QueryBool = z
  .string()
  .refine((value) => [...TRUE_WORDS, ...FALSE_WORDS].includes(value.toLowerCase()), {
    message: "Input should be a valid boolean, unable to interpret input",
    params: { type: "bool_parsing" },
  })
  .transform((value) => TRUE_WORDS.includes(value.toLowerCase()));

/**
 * A datetime as pydantic reads one: ISO 8601 date and time, with an offset or "Z" (without one it
 * is taken as UTC). Becomes epoch milliseconds.
 */
export const DateTime = z
  .string()
  .refine((value) => parseDateTimeMs(value) !== undefined, { message: "Input should be a valid datetime", params: { type: "datetime_parsing" } })
  .transform((value) => parseDateTimeMs(value) ?? Number.NaN);

const DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

function parseDateTimeMs(value: string): number | undefined {
  if (!DATETIME.test(value)) return undefined;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(value) ? value : `${value}Z`;
  const ms = Date.parse(zoned.replace(" ", "T"));
  return Number.isNaN(ms) ? undefined : ms;
}

// ---- request bodies (mithril-openapi.json components) ------------------------------------------

export const LaunchSpecificationBody = z.strictObject({
  volumes: z.array(z.string()),
  ssh_keys: z.array(z.string()),
  startup_script: StartupScript.nullable().optional(),
  kubernetes_cluster: z.string().nullable().optional(),
  image_version: z.string().nullable().optional(),
  memory_gb: z.int().nullable().optional(),
});

export const CreateBidBody = z.strictObject({
  project: z.string(),
  region: z.string(),
  instance_type: z.string(),
  limit_price: DollarPrice,
  instance_quantity: z.int().min(1),
  name: z.string(),
  launch_specification: LaunchSpecificationBody,
  notification_email: z.string().nullable().optional(),
});

export const UpdateBidBody = z.strictObject({
  limit_price: DollarPrice.nullable().optional(),
  paused: z.boolean().nullable().optional(),
  volumes: z.array(z.string()).nullable().optional(),
  memory_gb: z.int().nullable().optional(),
});

export const CreateSshKeyBody = z.strictObject({
  project: z.string(),
  name: z.string(),
  public_key: z.string().nullable().optional(),
  required: z.boolean().optional(),
});

const VolumeName = z
  .string()
  .max(64)
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "Name must be lowercase letters, digits and dashes, starting with a letter");

export const CreateVolumeBody = z.strictObject({
  name: VolumeName,
  project: z.string(),
  disk_interface: z.enum(["Block", "File"]),
  region: z.string(),
  size_gb: z.int().min(1),
});

export const UpdateVolumeBody = z.strictObject({ name: VolumeName });

export const UpdateSshKeyBody = z.strictObject({ required: z.boolean() });

export const PatchInstancesBody = z.strictObject({
  instances: z.array(z.string()).refine((fids) => new Set(fids).size === fids.length, { message: "List should have unique items", params: { type: "set_type" } }),
  status: z.enum(["STATUS_RUNNING", "STATUS_PAUSED"]),
});

export const PriceSpecificationBody = z.strictObject({
  offer_key: z.string().optional(),
  /** Cents per instance-hour. */
  max_unit_price: z.int().min(0).nullable().optional(),
});

export const CreateReservationBody = z.strictObject({
  project: z.string(),
  instance_type: z.string(),
  region: z.string(),
  start_time: DateTime,
  end_time: DateTime,
  instance_quantity: z.int().min(1),
  name: z.string(),
  launch_specification: LaunchSpecificationBody,
  price_specification: PriceSpecificationBody.nullable().optional(),
  notification_email: z.string().nullable().optional(),
});

export const ExtendReservationBody = z.strictObject({
  end_time: DateTime,
  price_specification: PriceSpecificationBody.nullable().optional(),
});

export const UpdateReservationBody = z.strictObject({
  paused: z.boolean().nullable().optional(),
  volumes: z.array(z.string()).nullable().optional(),
});

export const TerminateInstancesBody = z.strictObject({
  instances: z
    .array(z.string())
    .min(1)
    .refine((fids) => new Set(fids).size === fids.length, { message: "List should have unique items", params: { type: "set_type" } }),
  reduce_capacity: z.literal(true),
});
