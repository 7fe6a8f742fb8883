/**
 * How TaskConfig's fields may be spelled by users, and how they are written back out.
 *
 * Users bring configs in the Python SDK's snake_case (YAML files, JSON) or in TypeScript's
 * camelCase; both are accepted everywhere and normalized to camelCase before the zod schema sees
 * them. Along the way this layer:
 * - converts the seed's seconds fields (`initial_delay`, `max_delay`, `upload_timeout`) to the
 *   SDK's milliseconds fields;
 * - folds the seed's `shell` / `script` into `command`;
 * - turns the seed's "common mistakes" (`environment`, `ssh_key`, `max_price`, …) into targeted
 *   messages, and any other unknown key into a did-you-mean;
 * - remembers how the user spelled each key, so error paths point at what they wrote.
 *
 * Messages name fields in backticks in camelCase (`` `sshKeys` ``); `restyle` rewrites them to
 * snake_case when the input was written that way.
 */
import type { FieldIssue } from "../errors.ts";
import { camelToSnake, closestMatch, formatPath, type IssuePath } from "../validation.ts";

/** The accepted spellings of one object's keys. */
export interface ObjectKeys {
  /** The camelCase fields, as in the zod schema. */
  fields: readonly string[];
  /** snake_case spellings that are not the mechanical conversion of the camelCase name. */
  snake?: Readonly<Record<string, string>>;
  /**
   * Seconds spellings of millisecond fields (the seed's units). They are converted on input, and
   * used when writing YAML so files stay compatible with the Python SDK.
   */
  seconds?: Readonly<Record<string, string>>;
  /** Other keys that set a field as-is (`shell` → `command`). */
  aliases?: Readonly<Record<string, string>>;
  /** Keys users often write by mistake, with the fix (field names in backticks, camelCase). */
  mistakes?: Readonly<Record<string, string>>;
  /** Fields holding objects (or lists of objects) with their own keys. */
  nested?: Readonly<Record<string, { list: boolean; keys: ObjectKeys }>>;
}

function snakeOf(keys: ObjectKeys, field: string): string {
  return keys.snake?.[field] ?? camelToSnake(field);
}

export type KeyStyle = "camel" | "snake";

/** Where each camelCase field was found in the input, for error paths in the user's spelling. */
interface KeyTree {
  spelled: Map<string, string>;
  children: Map<string, KeyTree | KeyTree[]>;
}

export interface NormalizedInput {
  /** The input with camelCase keys; values other than key names and unit conversions untouched. */
  value: unknown;
  /** Problems with the keys themselves. */
  issues: FieldIssue[];
  /** A zod path (camelCase) as the user spelled it, e.g. `volumes[0].size_gb`. */
  renderPath(path: IssuePath): string;
  /** A message or suggestion with its backticked field names in the input's style. */
  restyle(text: string): string;
}

export function normalizeKeys(input: unknown, keys: ObjectKeys): NormalizedInput {
  const style = detectStyle(input, keys);
  const issues: FieldIssue[] = [];
  const tree = newTree();
  const value = isPlainObject(input) ? normalizeObject(input, keys, [], tree, issues, style) : input;
  const snakeNames = new Map<string, string>();
  collectSnakeNames(keys, snakeNames);
  return {
    value,
    issues,
    renderPath: (path) => renderPath(path, tree, style),
    // A backticked name is a field when followed by a closing backtick or `:` (`field: value`).
    restyle: (text) =>
      style === "camel"
        ? text
        : text.replace(/`([A-Za-z][A-Za-z0-9]*)(?=[`:])/g, (whole, name: string) => {
            const snake = snakeNames.get(name);
            return snake === undefined ? whole : `\`${snake}`;
          }),
  };
}

function normalizeObject(
  input: Record<string, unknown>,
  keys: ObjectKeys,
  path: PropertyKey[],
  tree: KeyTree,
  issues: FieldIssue[],
  style: KeyStyle,
): Record<string, unknown> {
  const spellings = spellingTable(keys);
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(input)) {
    // YAML writes an empty `region:` as null; null means "not given" for every field.
    if (raw === null || raw === undefined) continue;
    const here = [...path, key];
    const match = spellings.get(key);
    if (match === undefined) {
      issues.push(unknownKeyIssue(key, keys, here, style));
      continue;
    }
    const earlier = tree.spelled.get(match.field);
    if (earlier !== undefined) {
      issues.push({
        path: formatPath(here),
        message: `"${earlier}" and "${key}" both set \`${match.field}\``,
        suggestion: "give only one of them",
      });
      continue;
    }
    tree.spelled.set(match.field, key);
    let value: unknown = match.fromSeconds && typeof raw === "number" ? raw * 1000 : raw;
    const nested = keys.nested?.[match.field];
    if (nested !== undefined) value = normalizeNested(value, nested, here, match.field, tree, issues, style);
    out[match.field] = value;
  }
  return out;
}

function normalizeNested(
  value: unknown,
  nested: { list: boolean; keys: ObjectKeys },
  path: PropertyKey[],
  field: string,
  tree: KeyTree,
  issues: FieldIssue[],
  style: KeyStyle,
): unknown {
  if (!nested.list) {
    if (!isPlainObject(value)) return value;
    const child = newTree();
    tree.children.set(field, child);
    return normalizeObject(value, nested.keys, path, child, issues, style);
  }
  if (!Array.isArray(value)) return value;
  const children = value.map(() => newTree());
  tree.children.set(field, children);
  return value.map((item, i) =>
    isPlainObject(item) ? normalizeObject(item, nested.keys, [...path, i], children[i] ?? newTree(), issues, style) : item,
  );
}

interface Spelling {
  field: string;
  fromSeconds: boolean;
}

function spellingTable(keys: ObjectKeys): Map<string, Spelling> {
  const table = new Map<string, Spelling>();
  for (const field of keys.fields) {
    table.set(field, { field, fromSeconds: false });
    table.set(snakeOf(keys, field), { field, fromSeconds: false });
  }
  for (const [key, field] of Object.entries(keys.seconds ?? {})) table.set(key, { field, fromSeconds: true });
  for (const [key, field] of Object.entries(keys.aliases ?? {})) table.set(key, { field, fromSeconds: false });
  return table;
}

function unknownKeyIssue(key: string, keys: ObjectKeys, path: PropertyKey[], style: KeyStyle): FieldIssue {
  const mistake = keys.mistakes?.[key];
  if (mistake !== undefined) return { path: formatPath(path), message: "unknown field", suggestion: mistake };
  const accepted = [...keys.fields, ...Object.keys(keys.seconds ?? {}), ...Object.keys(keys.aliases ?? {})];
  const near = closestMatch(key, accepted);
  if (near !== undefined) return { path: formatPath(path), message: "unknown field", suggestion: `did you mean \`${near}\`?` };
  const listed = keys.fields.length <= 8 ? keys.fields.map((f) => `\`${style === "snake" ? snakeOf(keys, f) : f}\``) : [];
  return {
    path: formatPath(path),
    message: "unknown field",
    ...(listed.length > 0 ? { suggestion: `valid fields: ${listed.join(", ")}` } : {}),
  };
}

/** snake_case when more keys are snake_case than camelCase; single words count for neither. */
function detectStyle(input: unknown, keys: ObjectKeys): KeyStyle {
  let snake = 0;
  let camel = 0;
  const visit = (value: unknown, k: ObjectKeys): void => {
    if (!isPlainObject(value)) return;
    const table = spellingTable(k);
    for (const [key, child] of Object.entries(value)) {
      if (/[a-z0-9]_[a-z]/.test(key)) snake++;
      else if (/[a-z0-9][A-Z]/.test(key)) camel++;
      const nested = k.nested?.[table.get(key)?.field ?? ""];
      if (nested === undefined) continue;
      for (const item of nested.list && Array.isArray(child) ? child : [child]) visit(item, nested.keys);
    }
  };
  visit(input, keys);
  return snake > camel ? "snake" : "camel";
}

function collectSnakeNames(keys: ObjectKeys, into: Map<string, string>): void {
  for (const field of keys.fields) into.set(field, snakeOf(keys, field));
  for (const nested of Object.values(keys.nested ?? {})) collectSnakeNames(nested.keys, into);
}

function renderPath(path: IssuePath, root: KeyTree, style: KeyStyle): string {
  const out: PropertyKey[] = [];
  let node: KeyTree | KeyTree[] | undefined = root;
  for (const segment of path) {
    if (Array.isArray(node)) {
      out.push(segment);
      node = typeof segment === "number" ? node[segment] : undefined;
    } else if (node !== undefined && typeof segment === "string") {
      out.push(node.spelled.get(segment) ?? (style === "snake" ? camelToSnake(segment) : segment));
      node = node.children.get(segment);
    } else {
      // Inside a record (env, options): keys are the user's own data, shown as written.
      out.push(segment);
      node = undefined;
    }
  }
  return formatPath(out);
}

/** Writes a camelCase object with the snake_case keys the Python SDK uses, seconds for seconds fields. */
export function toSnakeKeys(value: Record<string, unknown>, keys: ObjectKeys): Record<string, unknown> {
  const secondsKeyOf = new Map(Object.entries(keys.seconds ?? {}).map(([key, field]) => [field, key]));
  const out: Record<string, unknown> = {};
  for (const field of keys.fields) {
    const v = value[field];
    if (v === undefined || isEmptyCollection(v)) continue;
    const secondsKey = secondsKeyOf.get(field);
    const nested = keys.nested?.[field];
    if (secondsKey !== undefined && typeof v === "number") out[secondsKey] = v / 1000;
    else if (nested !== undefined && nested.list && Array.isArray(v))
      out[snakeOf(keys, field)] = v.map((item: unknown) => (isPlainObject(item) ? toSnakeKeys(item, nested.keys) : item));
    else if (nested !== undefined && isPlainObject(v)) out[snakeOf(keys, field)] = toSnakeKeys(v, nested.keys);
    else out[snakeOf(keys, field)] = v;
  }
  return out;
}

/** Empty lists and maps are the defaults, so writing them out would only add noise. */
function isEmptyCollection(v: unknown): boolean {
  return (Array.isArray(v) && v.length === 0) || (isPlainObject(v) && Object.keys(v).length === 0);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function newTree(): KeyTree {
  return { spelled: new Map(), children: new Map() };
}
