/**
 * TaskConfig: the complete, provider-independent description of a task, as in the Python SDK's
 * `flow.sdk.models.TaskConfig`, with camelCase names and milliseconds for the SDK's own durations.
 *
 * `parseTaskConfig` is the one way in: it accepts camelCase or the seed's snake_case, rejects
 * unknown keys with a targeted fix, and reports every problem at once in a ValidationError whose
 * issues name the field as the user spelled it.
 */
import { parseDocument, stringify } from "yaml";
import * as z from "zod";
import { tryParseInstanceType } from "../instance-types/parse-instance-type.ts";
import { MountSpecSchema } from "./mount-spec.ts";
import { RetriesSchema } from "./retries.ts";
import { normalizeKeys, toSnakeKeys, type ObjectKeys } from "./task-keys.ts";
import { AbsolutePath, evenWithFieldIssues, issuesFromZod, validationError } from "../validation.ts";
import { VolumeSpecSchema } from "./volume-spec.ts";

export const DEFAULT_TASK_NAME = "flow-task";
export const DEFAULT_IMAGE = "nvidia/cuda:12.1.0-runtime-ubuntu22.04";
export const DEFAULT_WORKING_DIR = "/workspace";
/** What a task without a command runs: it stays up for interactive use (SSH, dev VMs). */
export const DEFAULT_COMMAND: readonly string[] = ["sleep", "infinity"];
export const MAX_TASK_NAME_LENGTH = 64;
/** Docker's layer store; a volume here caches images between runs (`allowDockerCache`). */
const DOCKER_DATA_ROOT = "/var/lib/docker";

const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const SCHEDULED_TIME_FORMAT = "must be an ISO 8601 time with a zone, like 2025-07-01T09:00:00Z";

const HoursLimit = z.number().positive("must be a positive number of hours");

export const TaskConfigSchema = z
  .strictObject({
    name: z
      .string()
      .default(DEFAULT_TASK_NAME)
      .superRefine((name, ctx) => {
        if (TASK_NAME.test(name) && name.length <= MAX_TASK_NAME_LENGTH) return;
        const fixed = taskNameFor(name);
        ctx.addIssue({
          code: "custom",
          message: `must be 1-${MAX_TASK_NAME_LENGTH} letters, digits, dashes or underscores, starting with a letter or digit`,
          params: fixed === undefined ? {} : { suggestion: `did you mean "${fixed}"?` },
        });
      }),
    /** Append a unique suffix to `name`, so reruns do not collide. */
    uniqueName: z.boolean().default(true),
    /** An explicit instance type in any accepted spelling (see parseInstanceType). */
    instanceType: z
      .string()
      .superRefine((type, ctx) => {
        const parsed = tryParseInstanceType(type);
        if (parsed.ok) return;
        ctx.addIssue({
          code: "custom",
          message: `${JSON.stringify(type)} is not a valid instance type: ${parsed.reason}`,
          params: parsed.suggestion === undefined ? {} : { suggestion: parsed.suggestion },
        });
      })
      .optional(),
    /** Per-GPU memory; the provider picks the cheapest type that has it. */
    minGpuMemoryGb: z.number().int("must be a whole number of GB").positive("must be positive").optional(),
    /** argv list, a one-line shell command, or a multi-line script (see commandKind). */
    command: z
      .union([z.string(), z.array(z.string())], {
        error: "must be a list of strings, a shell command line, or a multi-line script",
      })
      .refine((c) => (typeof c === "string" ? c.trim() !== "" : c.length > 0 && c[0] !== ""), {
        message: "must not be empty",
      })
      .optional(),
    image: z.string().min(1, "must not be empty").default(DEFAULT_IMAGE),
    /** Values may be written as numbers or booleans (YAML `PORT: 8080`); they become strings. */
    env: z
      .record(
        z.string().regex(ENV_NAME, "environment variable names are letters, digits and underscores, not starting with a digit"),
        z.union([z.string(), z.number(), z.boolean()], { error: "must be a string" }).transform(String),
      )
      .default({}),
    workingDir: AbsolutePath.default(DEFAULT_WORKING_DIR),
    volumes: z.array(VolumeSpecSchema).default([]),
    dataMounts: z.array(MountSpecSchema).default([]),
    /** High ports only: below 1024 is reserved for the system. */
    ports: z
      .array(z.number().int("must be a whole number").min(1024, "must be 1024 or higher").max(65535, "must be 65535 or lower"))
      .default([])
      .superRefine((ports, ctx) => {
        ports.forEach((port, i) => {
          if (ports.indexOf(port) !== i) ctx.addIssue({ code: "custom", path: [i], message: `port ${port} is listed twice` });
        });
      }),
    /** Allows a volume at /var/lib/docker to keep image layers between runs; single-node only. */
    allowDockerCache: z.boolean().default(false),
    retries: RetriesSchema.optional(),
    /** USD per instance-hour. */
    maxPricePerHour: z.number().positive("must be a positive number of dollars").optional(),
    /** At most 168 (7 days); 0, like leaving it out, means no limit. */
    maxRunTimeHours: z
      .number()
      .min(0, "must be a positive number of hours (or 0 for no limit)")
      .max(168, "must be at most 168 hours (7 days)")
      .optional(),
    minRunTimeHours: HoursLimit.optional(),
    /** Hours from submission until the task must be done. */
    deadlineHours: HoursLimit.optional(),
    /** SSH key IDs authorized on the instances. */
    sshKeys: z.array(z.string().min(1, "must not be empty")).default([]),
    allocationMode: z.enum(["spot", "reserved", "auto"]).default("spot"),
    reservationId: z.string().min(1, "must not be empty").optional(),
    /** ISO 8601 with an offset, or a Date; normalized to UTC (`…Z`). */
    scheduledStartTime: z
      .union([z.iso.datetime({ offset: true, error: SCHEDULED_TIME_FORMAT }), z.date()], { error: SCHEDULED_TIME_FORMAT })
      .refine((t) => !Number.isNaN(new Date(t).getTime()), { message: "is not a valid date" })
      .transform((t) => new Date(t).toISOString())
      .optional(),
    reservedDurationHours: z
      .number()
      .int("must be a whole number of hours")
      .min(3, "must be between 3 and 336 hours")
      .max(336, "must be between 3 and 336 hours")
      .optional(),
    region: z.string().min(1, "must not be empty").optional(),
    numInstances: z.number().int("must be a whole number").min(1, "must be between 1 and 100").max(100, "must be between 1 and 100").default(1),
    priority: z
      .enum(["low", "med", "high"], {
        error: (issue) =>
          typeof issue.input === "number"
            ? 'is a tier, not a number: use "low", "med" or "high"'
            : 'must be "low", "med" or "high"',
      })
      .default("med"),
    /** For numInstances > 1: "auto" assigns ranks and the leader IP; "manual" leaves FLOW_* env to you. */
    distributedMode: z.enum(["auto", "manual"]).optional(),
    /** e.g. "InfiniBand", "IB_3200", "Ethernet". */
    internodeInterconnect: z.string().min(1, "must not be empty").optional(),
    /** e.g. "SXM5", "PCIe". */
    intranodeInterconnect: z.string().min(1, "must not be empty").optional(),
    uploadCode: z.boolean().default(true),
    /** A developer VM: no background code upload. Undefined falls back to FLOW_DEV_VM. */
    devVm: z.boolean().optional(),
    /** On the cloud, how the code archive reaches the instance. auto: embedded up to 4 KiB, else scp; embedded: inside the startup script (FCP takes 10,000 bytes); scp: over SFTP. */
    uploadStrategy: z.enum(["auto", "embedded", "scp", "none"]).default("auto"),
    /** Cancel the task as soon as its main container exits. */
    terminateOnExit: z.boolean().default(false),
    /**
     * On the cloud, keep a finished task's instances up this long (for `flow ssh`); by default they
     * are released as soon as a client sees the task end, its logs and exit code kept locally.
     */
    keepAliveMinutes: z.number().min(0, "must be 0 or more minutes").max(24 * 60, "must be at most 1440 minutes (a day)").default(0),
    /** The seed's `upload_timeout` (60-3600 seconds), in milliseconds like every SDK duration. */
    uploadTimeoutMs: z
      .number()
      .int("must be a whole number of milliseconds")
      .min(60_000, "must be between 60 and 3600 seconds (60000-3600000 ms)")
      .max(3_600_000, "must be between 60 and 3600 seconds (60000-3600000 ms)")
      .default(600_000),
    /** The directory to upload when uploadCode is true; the current directory when omitted. */
    codeRoot: z.string().min(1, "must not be empty").optional(),
  })
  .superRefine((config, ctx) => {
    if (typeof config !== "object" || config === null) return;
    for (const issue of crossFieldIssues(config)) ctx.addIssue({ code: "custom", ...issue });
  }, evenWithFieldIssues);

export type TaskConfig = z.output<typeof TaskConfigSchema>;
/** What a TypeScript caller may write: camelCase, defaults optional. */
export type TaskConfigInput = z.input<typeof TaskConfigSchema>;

interface CrossFieldIssue {
  path: PropertyKey[];
  message: string;
  params?: { suggestion: string };
}

/** Rules across fields. Field-level problems may be present, so every value read is type-checked. */
function crossFieldIssues(config: Record<string, unknown>): CrossFieldIssue[] {
  const issues: CrossFieldIssue[] = [];
  const has = (field: string): boolean => config[field] !== undefined;

  if (has("instanceType") && has("minGpuMemoryGb")) {
    issues.push({
      path: ["minGpuMemoryGb"],
      message: "give either `instanceType` or `minGpuMemoryGb`, not both",
      params: { suggestion: "remove `minGpuMemoryGb` to run on exactly `instanceType`, or remove `instanceType` to pick by GPU memory" },
    });
  } else if (!has("instanceType") && !has("minGpuMemoryGb") && !has("reservationId")) {
    // A task on a reservation runs on the reservation's instance type.
    issues.push({
      path: ["instanceType"],
      message: "no instance type given",
      params: { suggestion: 'set `instanceType: "a100"` (or `minGpuMemoryGb: 80` to pick by GPU memory)' },
    });
  }

  const { minRunTimeHours: min, maxRunTimeHours: max } = config;
  if (typeof min === "number" && typeof max === "number" && max > 0 && min > max) {
    issues.push({ path: ["minRunTimeHours"], message: `must not exceed \`maxRunTimeHours\` (${max})` });
  }

  const nodes = config["numInstances"];
  if (config["allowDockerCache"] === true && typeof nodes === "number" && nodes > 1) {
    issues.push({
      path: ["allowDockerCache"],
      message: "a Docker cache volume is for single-node tasks only",
      params: { suggestion: "remove `allowDockerCache` or set `numInstances: 1`" },
    });
  }

  const mode = config["allocationMode"];
  if (mode === "spot" || mode === "auto") {
    for (const field of ["reservationId", "scheduledStartTime", "reservedDurationHours"]) {
      if (!has(field)) continue;
      issues.push({
        path: [field],
        message:
          mode === "spot"
            ? 'only applies to reserved capacity, but `allocationMode` is "spot"'
            : 'only applies when `allocationMode` is "reserved"; "auto" uses an active reservation of the right type when there is one, else the spot market',
        params: { suggestion: 'set `allocationMode: "reserved"`' },
      });
    }
  }
  if (mode === "reserved" && has("reservationId") && (has("scheduledStartTime") || has("reservedDurationHours"))) {
    issues.push({
      path: [has("scheduledStartTime") ? "scheduledStartTime" : "reservedDurationHours"],
      message: "reserves new capacity, but `reservationId` names a reservation to run on",
      params: { suggestion: "give either `reservationId` or `reservedDurationHours` (with `scheduledStartTime`)" },
    });
  }
  if (mode === "reserved" && has("scheduledStartTime") && !has("reservedDurationHours")) {
    issues.push({
      path: ["reservedDurationHours"],
      message: "is needed with `scheduledStartTime`: how long to reserve (3 to 336 hours)",
      params: { suggestion: "set `reservedDurationHours: 3`" },
    });
  }

  issues.push(...mountPathIssues(config));
  return issues;
}

/** Two mounts at one path would hide each other; a Docker cache volume must be opted into. */
function mountPathIssues(config: Record<string, unknown>): CrossFieldIssue[] {
  const issues: CrossFieldIssue[] = [];
  const seen = new Map<string, string>();
  const check = (field: string, key: string): void => {
    const list = config[field];
    if (!Array.isArray(list)) return;
    list.forEach((item: unknown, i) => {
      const target = typeof item === "object" && item !== null ? (item as Record<string, unknown>)[key] : undefined;
      if (typeof target !== "string") return;
      const here = `${field}[${i}]`;
      const first = seen.get(target);
      if (first !== undefined) issues.push({ path: [field, i, key], message: `${target} is already mounted by ${first}` });
      else seen.set(target, here);
      if (field === "volumes" && target === DOCKER_DATA_ROOT && config["allowDockerCache"] !== true) {
        issues.push({
          path: [field, i, key],
          message: `a volume at ${DOCKER_DATA_ROOT} caches Docker images and must be enabled explicitly`,
          params: { suggestion: "set `allowDockerCache: true` (single-node tasks only)" },
        });
      }
    });
  };
  check("volumes", "mountPath");
  check("dataMounts", "target");
  return issues;
}

/** `"My Job!"` → `"My-Job"`, when that makes a valid name. */
function taskNameFor(name: string): string | undefined {
  const fixed = name
    .replace(/[^A-Za-z0-9_-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, MAX_TASK_NAME_LENGTH)
    .replace(/-+$/, "");
  return TASK_NAME.test(fixed) ? fixed : undefined;
}

// ---- spellings ---------------------------------------------------------------------------------

const RETRIES_KEYS: ObjectKeys = {
  fields: Object.keys(RetriesSchema.shape),
  seconds: { initial_delay: "initialDelayMs", max_delay: "maxDelayMs" },
  mistakes: {
    initialDelay: "use `initialDelayMs` (milliseconds) or `initial_delay` (seconds)",
    maxDelay: "use `maxDelayMs` (milliseconds) or `max_delay` (seconds)",
    retries: "use `maxRetries`",
  },
};

const VOLUME_KEYS: ObjectKeys = {
  fields: Object.keys(VolumeSpecSchema.in.shape),
  snake: { throughputMbPerSecond: "throughput_mb_s" },
  mistakes: {
    size: "use `sizeGb`",
    throughput: "use `throughputMbPerSecond` (MB/s)",
    id: "use `volumeId`",
    path: "use `mountPath`",
    mount: "use `mountPath`",
  },
};

const MOUNT_KEYS: ObjectKeys = {
  fields: Object.keys(MountSpecSchema.in.shape),
  mistakes: {
    type: "use `mountType`",
    path: "use `target`",
    mountPath: "use `target`",
    mount_path: "use `target`",
    readonly: "use `options: { readonly: true }`",
    read_only: "use `options: { readonly: true }`",
  },
};

const use = (text: string, ...keys: string[]): Record<string, string> => Object.fromEntries(keys.map((k) => [k, text]));

const TASK_CONFIG_KEYS: ObjectKeys = {
  fields: Object.keys(TaskConfigSchema.shape),
  seconds: { upload_timeout: "uploadTimeoutMs" },
  // The seed's TaskConfig takes the command as exactly one of command/shell/script.
  aliases: { shell: "command", script: "command" },
  mistakes: {
    ...use("use `env` for environment variables", "environment", "environment_variables", "env_vars", "envVars"),
    ...use("use `sshKeys` (always plural)", "ssh_key", "sshKey"),
    ...use("use `maxPricePerHour` (USD per instance-hour)", "max_price", "maxPrice", "price", "limit_price", "limitPrice"),
    ...use("use `numInstances`", "instance_count", "instanceCount", "instances", "instance_quantity", "quantity"),
    ...use('use `instanceType`, e.g. `instanceType: "a100:4"`', "gpu", "gpus", "gpu_type", "gpuType"),
    ...use("use `terminateOnExit`", "auto_terminate", "autoTerminate"),
    ...use("use `keepAliveMinutes`", "keep_alive", "keepAlive", "keep"),
    ...use("use `command`", "cmd", "args"),
    ...use("use `workingDir`", "workdir", "work_dir", "cwd"),
    uploadTimeout: "use `uploadTimeoutMs` (milliseconds) or `upload_timeout` (seconds)",
  },
  nested: {
    retries: { list: false, keys: RETRIES_KEYS },
    volumes: { list: true, keys: VOLUME_KEYS },
    dataMounts: { list: true, keys: MOUNT_KEYS },
  },
};

// ---- API ---------------------------------------------------------------------------------------

/**
 * Validates `input` (camelCase or snake_case keys) into a TaskConfig with defaults applied.
 * Throws a ValidationError listing every problem; `source` (e.g. "job.yaml") names the input.
 */
export function parseTaskConfig(input: unknown, options: { source?: string } = {}): TaskConfig {
  const normalized = normalizeKeys(input, TASK_CONFIG_KEYS);
  const result = TaskConfigSchema.safeParse(normalized.value, { reportInput: true });
  const issues = [...normalized.issues, ...(result.success ? [] : issuesFromZod(result.error, normalized.renderPath))].map(
    (issue) => ({
      ...issue,
      message: normalized.restyle(issue.message),
      ...(issue.suggestion === undefined ? {} : { suggestion: normalized.restyle(issue.suggestion) }),
    }),
  );
  if (issues.length > 0 || !result.success) throw validationError("task config", issues, { source: options.source });
  return result.data;
}

/** Parses a YAML task file (the Python SDK's format, snake_case keys) into a TaskConfig. */
export function taskConfigFromYaml(text: string, source?: string): TaskConfig {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw validationError(
      "YAML",
      doc.errors.map((e) => ({ path: e.linePos === undefined ? "(root)" : `line ${e.linePos[0].line}`, message: (e.message.split("\n")[0] ?? e.message).replace(/:$/, "") })),
      { source },
    );
  }
  return parseTaskConfig(doc.toJS(), source === undefined ? {} : { source });
}

/** YAML with the Python SDK's snake_case keys; reads back equal through taskConfigFromYaml. */
export function taskConfigToYaml(config: TaskConfig): string {
  return stringify(toSnakeKeys(config, TASK_CONFIG_KEYS), { lineWidth: 0 });
}

export type CommandKind = "argv" | "shell" | "script";

/**
 * How the command runs: a list is an argv (no shell); a multi-line string, or one starting with
 * a shebang, is a script file; any other string is one shell command line. No command means
 * DEFAULT_COMMAND, an argv.
 */
export function commandKind(config: Pick<TaskConfig, "command">): CommandKind {
  const { command } = config;
  if (command === undefined || Array.isArray(command)) return "argv";
  const text = command.trim();
  return text.startsWith("#!") || text.includes("\n") ? "script" : "shell";
}
