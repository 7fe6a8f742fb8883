/**
 * Parsing of the instance-type strings users write (`"a100"`, `"4xa100"`, `"a100:4"`,
 * `"a100-80gb.sxm.1x"`, `"it_MsIRhxj3ccyVWGfP"`) into a spec a catalog can resolve.
 *
 * The parser is deliberately strict ("one obvious way"), but every rejected spelling the Python
 * SDK's guide lists — `a100x8`, `A100`, `nvidia-a100`, `gpu.nvidia.a100`, `a100-80gb` — comes back
 * with the valid spelling it most likely meant. Whether a type is actually offered is the
 * catalog's question (see catalog.ts), not the parser's.
 */
import { errorClass, ValidationError } from "../errors.ts";
import { closestMatch } from "../validation.ts";

export type Interconnect = "sxm" | "pcie";

/**
 * GPU models the short forms (`a100`, `2xa100`, `a100:2`) accept. Full FCP names and FIDs are
 * accepted for any model, because they are copied from the live listing, which may be newer
 * than this list.
 */
export const KNOWN_GPU_MODELS = ["a100", "h100", "h200", "b200"] as const;

/** GPUs per instance the cloud sells. */
export const VALID_GPU_COUNTS = [1, 2, 4, 8] as const;

/**
 * The GPU count a bare model name means. The seed's resolution table maps plain `"h100"` to the
 * 8-GPU SXM node (`it_5ECSoHQjLBzrp5YM`), not to one GPU, because H100 SXM is sold as whole nodes;
 * every other model defaults to one GPU.
 */
const DEFAULT_GPU_COUNT: Readonly<Record<string, number>> = { h100: 8 };

export function defaultGpuCount(gpuModel: string): number {
  return DEFAULT_GPU_COUNT[gpuModel] ?? 1;
}

/** An instance type described by its hardware; `canonical` is the same for equivalent spellings. */
export interface GpuInstanceTypeSpec {
  kind: "gpu";
  gpuModel: string;
  gpuCount: number;
  gpuMemoryGb?: number;
  interconnect?: Interconnect;
  /** `"1xa100"` for `"a100"`, `"1xa100"` and `"a100:1"`; full names and FIDs are their own. */
  canonical: string;
}

/** An instance type given by its opaque FID; its hardware is known only to a catalog. */
export interface FidInstanceTypeSpec {
  kind: "fid";
  fid: string;
  canonical: string;
}

export type InstanceTypeSpec = GpuInstanceTypeSpec | FidInstanceTypeSpec;

export type InstanceTypeParseResult =
  | { ok: true; spec: InstanceTypeSpec }
  | { ok: false; reason: string; suggestion?: string };

/** An instance-type string that is not one of the accepted formats. */
export class InstanceTypeError extends ValidationError {
  readonly input: string;
  readonly reason: string;
  readonly suggestion: string | undefined;

  constructor(input: string, reason: string, suggestion: string | undefined) {
    const fix = suggestion === undefined ? "" : `; ${suggestion}`;
    super(`Invalid instance type ${JSON.stringify(input)}: ${reason}${fix}`, {
      issues: [{ path: "instanceType", message: reason, ...(suggestion === undefined ? {} : { suggestion }) }],
      suggestions: suggestion === undefined ? [] : [suggestion],
      errorCode: "invalid_instance_type",
    });
    this.input = input;
    this.reason = reason;
    this.suggestion = suggestion;
  }
}
errorClass(InstanceTypeError, "InstanceTypeError");

/** Parses `input` or throws an InstanceTypeError carrying the closest valid spelling. */
export function parseInstanceType(input: string): InstanceTypeSpec {
  const result = tryParseInstanceType(input);
  if (!result.ok) throw new InstanceTypeError(input, result.reason, result.suggestion);
  return result.spec;
}

const FID = /^it_[A-Za-z0-9]+$/;
/** `a100-80gb.sxm.1x`: the seed's verified FCP name format. */
const FCP_NAME = /^([a-z][a-z0-9]*)-(\d+)gb\.(sxm|pcie)\.(\d+)x$/;
/** `h100.80gb.sxm`: the name format in the OpenAPI spec's InstanceTypeModel example (no count). */
const SPEC_NAME = /^([a-z][a-z0-9]*)\.(\d+)gb\.(sxm|pcie)$/;
const COUNT_PREFIX = /^(\d+)x([a-z][a-z0-9]*)$/;
const COUNT_SUFFIX = /^([a-z][a-z0-9]*):(\d+)$/;
const BARE_MODEL = /^[a-z][a-z0-9]*$/;

/** Like parseInstanceType, but returns the reason and suggestion instead of throwing. */
export function tryParseInstanceType(input: string): InstanceTypeParseResult {
  if (input.trim() === "") {
    return { ok: false, reason: "instance type is empty", suggestion: 'use e.g. "a100", "8xh100" or "a100-80gb.sxm.1x"' };
  }
  const direct = matchFormats(input);
  if (direct?.ok) return direct;

  // Not a valid spelling: repair it step by step and suggest the first repaired form that parses.
  // Some inputs look like a format with a bad part ("a100x8" reads as the model "a100x8"), so a
  // problem found along the way is reported only when no further repair yields a valid name.
  const reasons: string[] = [];
  let problem = direct;
  let candidate = input;
  for (const repair of REPAIRS) {
    const repaired = repair.apply(candidate);
    if (repaired === undefined || repaired === candidate) continue;
    reasons.push(repair.reason);
    candidate = repaired;
    const result = matchFormats(candidate);
    if (result === undefined) continue;
    if (result.ok) return { ok: false, reason: reasons.join("; "), suggestion: `did you mean "${candidate}"?` };
    problem = { ...result, reason: [...reasons, result.reason].join("; ") };
  }
  if (problem !== undefined) return problem;
  return {
    ok: false,
    reason: "not a recognized instance type format",
    suggestion: 'use "a100", "2xa100" (count first: 1, 2, 4 or 8), "a100:2", "a100-80gb.sxm.1x" or a FID like "it_MsIRhxj3ccyVWGfP"',
  };
}

interface Repair {
  reason: string;
  apply(s: string): string | undefined;
}

/** Each rejected spelling from the seed's guide, in the order they compose (e.g. `NVIDIA-A100x8`). */
const REPAIRS: Repair[] = [
  { reason: "remove the surrounding whitespace", apply: (s) => s.trim() },
  { reason: "instance types are lowercase", apply: (s) => s.toLowerCase() },
  {
    reason: "instance types have no vendor prefix",
    apply: (s) => s.replace(/^(?:gpu[._ -])?(?:nvidia[._ -])?/, "").replace(/^nvidia(?=[a-z]\d)/, ""),
  },
  {
    reason: "the GPU count goes first",
    apply: (s) => {
      const m = /^([a-z][a-z0-9]*?)\s*[x*×]\s*(\d+)$/.exec(s);
      return m === null ? undefined : `${m[2]}x${m[1]}`;
    },
  },
  {
    reason: "incomplete name; the full form is {gpu}-{memory}gb.{sxm|pcie}.{count}x",
    apply: (s) => {
      const m = /^([a-z][a-z0-9]*)-(\d+)gb(?:\.(sxm|pcie))?(?:\.(\d+)x?)?$/.exec(s);
      if (m === null) return undefined;
      const [, model = "", memory = "", interconnect = "sxm", count] = m;
      return `${model}-${memory}gb.${interconnect}.${count ?? defaultGpuCount(model)}x`;
    },
  },
];

/** A result when `s` has one of the formats (valid, or with a bad count/model); else undefined. */
function matchFormats(s: string): InstanceTypeParseResult | undefined {
  if (FID.test(s)) return { ok: true, spec: { kind: "fid", fid: s, canonical: s } };

  let m = FCP_NAME.exec(s);
  if (m !== null) {
    const [, model = "", memory = "", interconnect = "", count = ""] = m;
    return withCount(Number(count), (n) => `${model}-${memory}gb.${interconnect}.${n}x`, () => ({
      kind: "gpu",
      gpuModel: model,
      gpuCount: Number(count),
      gpuMemoryGb: Number(memory),
      interconnect: interconnect as Interconnect,
      canonical: s,
    }));
  }

  m = SPEC_NAME.exec(s);
  if (m !== null) {
    const [, model = "", memory = "", interconnect = ""] = m;
    return {
      ok: true,
      spec: {
        kind: "gpu",
        gpuModel: model,
        gpuCount: defaultGpuCount(model),
        gpuMemoryGb: Number(memory),
        interconnect: interconnect as Interconnect,
        canonical: s,
      },
    };
  }

  m = COUNT_PREFIX.exec(s);
  if (m !== null) return shortForm(m[2] ?? "", Number(m[1]));
  m = COUNT_SUFFIX.exec(s);
  if (m !== null) return shortForm(m[1] ?? "", Number(m[2]));
  if (BARE_MODEL.test(s)) return shortForm(s, defaultGpuCount(s));
  return undefined;
}

function shortForm(model: string, count: number): InstanceTypeParseResult {
  if (!(KNOWN_GPU_MODELS as readonly string[]).includes(model)) {
    const near = closestMatch(model, KNOWN_GPU_MODELS);
    const hint = near !== undefined && near[0] === model[0] ? `did you mean "${near}"? ` : "";
    return {
      ok: false,
      reason: `unknown GPU model "${model}"`,
      suggestion: `${hint}known models: ${KNOWN_GPU_MODELS.join(", ")}`,
    };
  }
  return withCount(count, (n) => `${n}x${model}`, () => ({
    kind: "gpu",
    gpuModel: model,
    gpuCount: count,
    canonical: `${count}x${model}`,
  }));
}

/** Checks the GPU count; a bad one gets the nearest valid spelling (or multi-node for > 8). */
function withCount(count: number, spell: (n: number) => string, spec: () => GpuInstanceTypeSpec): InstanceTypeParseResult {
  if ((VALID_GPU_COUNTS as readonly number[]).includes(count)) return { ok: true, spec: spec() };
  const reason = `GPU count must be 1, 2, 4 or 8 (got ${count})`;
  if (count > 8) {
    const nodes = Math.ceil(count / 8);
    return { ok: false, reason, suggestion: `use "${spell(8)}" with numInstances: ${nodes} for ${nodes * 8} GPUs` };
  }
  const next = VALID_GPU_COUNTS.find((n) => n >= count) ?? 1;
  return { ok: false, reason, suggestion: `did you mean "${spell(next)}"?` };
}
