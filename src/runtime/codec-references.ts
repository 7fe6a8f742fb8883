/**
 * Shared references and array holes, put back after superjson has rebuilt a value's types.
 *
 * superjson records every place an object occurs (`meta.referentialEqualities`: the shortest path,
 * then the others), decodes each place as a separate copy, then points the others at the first.
 * Upstream does that one path at a time, replacing a Set member (or Map key) by deleting the copy
 * and adding the original at the end; that moves it, so the next path's index names a different
 * member: `{ list: [a, b], s: new Set([a, b]) }` arrived as `Set{copy of b, b}`. Here every path is
 * resolved against the positions as decoded (passing through the object each earlier position
 * really holds), and each Set and Map is rebuilt once, in its original order.
 *
 * Holes (`[1, , 3]`) are not values, so superjson never sees them and JSON turns them into null;
 * the encoder lists them (`meta.holes`) and they are punched back here.
 *
 * Paths use superjson's layout: property names and indexes joined by ".", with "." and "\" escaped
 * by a backslash; a Set member is its index, a Map entry its row then 0 (key) or 1 (value).
 */
import { SerializationError } from "../errors.ts";
import { FORBIDDEN_KEYS } from "./codec-registrations.ts";

/** Arrays with holes: the array's path (as segments) and [start, end) runs of hole indexes. */
export type Holes = [path: string[], runs: number[]][];

const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

type Slot =
  | { kind: "property"; holder: object; key: string }
  | { kind: "member"; set: Set<unknown>; index: number }
  | { kind: "entry"; map: Map<unknown, unknown>; row: number; part: 0 | 1 };

function malformed(problem: string): never {
  throw new SerializationError(`A value could not be decoded: ${problem}.`, { path: "value" });
}

export function escapeKey(key: string): string {
  return key.replace(/\\/g, "\\\\").replace(/\./g, "\\.");
}

export function parsePath(path: unknown): string[] {
  if (typeof path !== "string") malformed("a path in its metadata is not a string");
  const segments: string[] = [];
  let segment = "";
  for (let i = 0; i < path.length; i++) {
    const char = path[i];
    if (char === ".") {
      segments.push(segment);
      segment = "";
    } else if (char === "\\") {
      const escaped = path[++i];
      if (escaped !== "\\" && escaped !== ".") malformed(`the path ${JSON.stringify(path)} has a stray backslash`);
      segment += escaped;
    } else {
      segment += char;
    }
  }
  segments.push(segment);
  return segments;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((item) => typeof item === "string");
}

/** Reads positions of a decoded value; Set members and Map entries by index, as first seen. */
class Positions {
  readonly #members = new Map<Set<unknown>, unknown[]>();
  readonly #entries = new Map<Map<unknown, unknown>, [unknown, unknown][]>();

  /** The slot that `path[i]` (two segments for a Map entry) names inside `node`. */
  slot(node: unknown, path: readonly string[], i: number): Slot {
    const segment = path[i]!;
    if (FORBIDDEN_KEYS.has(segment)) malformed(`its metadata names the property "${segment}"`);
    if (node instanceof Set) return { kind: "member", set: node, index: index(segment, node.size) };
    if (node instanceof Map) {
      const part = path[i + 1];
      if (part !== "0" && part !== "1") malformed(`a Map entry's path does not end in 0 or 1`);
      return { kind: "entry", map: node, row: index(segment, node.size), part: part === "0" ? 0 : 1 };
    }
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, segment)) {
      malformed(`its metadata names a position that does not exist (${JSON.stringify(path.join("."))})`);
    }
    return { kind: "property", holder: node, key: segment };
  }

  read(slot: Slot): unknown {
    switch (slot.kind) {
      case "property":
        return (slot.holder as Record<string, unknown>)[slot.key];
      case "member":
        return this.members(slot.set)[slot.index];
      case "entry":
        return this.entries(slot.map)[slot.row]![slot.part];
    }
  }

  members(set: Set<unknown>): unknown[] {
    let members = this.#members.get(set);
    if (members === undefined) this.#members.set(set, (members = [...set]));
    return members;
  }

  entries(map: Map<unknown, unknown>): [unknown, unknown][] {
    let entries = this.#entries.get(map);
    if (entries === undefined) this.#entries.set(map, (entries = [...map]));
    return entries;
  }

  /** The value at `path` from `root`, with no redirection. */
  at(root: unknown, path: readonly string[]): unknown {
    let node = root;
    for (let i = 0; i < path.length; ) {
      const slot = this.slot(node, path, i);
      i += slot.kind === "entry" ? 2 : 1;
      node = this.read(slot);
    }
    return node;
  }
}

function index(segment: string, size: number): number {
  const i = Number(segment);
  if (!Number.isInteger(i) || i < 0 || i >= size || String(i) !== segment) malformed(`a Set or Map index is out of range`);
  return i;
}

/** Collects writes; Sets and Maps are rebuilt once each at the end, in their original order. */
class Rewrites {
  readonly #positions: Positions;
  readonly #sets = new Map<Set<unknown>, Map<number, unknown>>();
  readonly #maps = new Map<Map<unknown, unknown>, Map<number, [key: unknown, value: unknown]>>();

  constructor(positions: Positions) {
    this.#positions = positions;
  }

  write(slot: Slot, value: unknown): void {
    switch (slot.kind) {
      case "property":
        // Like superjson: only arrays and plain objects are patched. Class instances, Errors and
        // custom values keep their copy (the encoder refuses cycles through them).
        if (Array.isArray(slot.holder) || isPlainObject(slot.holder)) (slot.holder as Record<string, unknown>)[slot.key] = value;
        return;
      case "member": {
        let replaced = this.#sets.get(slot.set);
        if (replaced === undefined) this.#sets.set(slot.set, (replaced = new Map()));
        replaced.set(slot.index, value);
        return;
      }
      case "entry": {
        let replaced = this.#maps.get(slot.map);
        if (replaced === undefined) this.#maps.set(slot.map, (replaced = new Map()));
        const entry = replaced.get(slot.row) ?? [...this.#positions.entries(slot.map)[slot.row]!];
        entry[slot.part] = value;
        replaced.set(slot.row, entry as [unknown, unknown]);
      }
    }
  }

  apply(): void {
    for (const [set, replaced] of this.#sets) {
      const members = this.#positions.members(set).map((member, i) => (replaced.has(i) ? replaced.get(i) : member));
      set.clear();
      for (const member of members) set.add(member);
    }
    for (const [map, replaced] of this.#maps) {
      const entries = this.#positions.entries(map).map((entry, row) => replaced.get(row) ?? entry);
      map.clear();
      for (const [key, value] of entries) map.set(key, value);
    }
  }
}

/** Makes every place a shared object was sent from hold that one object (superjson's `referentialEqualities`). */
export function restoreReferences(root: unknown, annotations: unknown): void {
  const groups: { representative: string[]; others: string[][] }[] = [];
  let rootOthers: string[][] = [];
  const addGroups = (record: unknown) => {
    if (typeof record !== "object" || record === null || Array.isArray(record)) malformed("its shared-reference metadata is not an object");
    for (const [representative, others] of Object.entries(record)) {
      if (!isStringArray(others)) malformed("its shared-reference metadata is not a list of paths");
      groups.push({ representative: parsePath(representative), others: others.map(parsePath) });
    }
  };
  if (Array.isArray(annotations)) {
    const [rootPaths, rest] = annotations as unknown[];
    if (!isStringArray(rootPaths) || annotations.length > 2) malformed("its shared-reference metadata for the root is not a list of paths");
    rootOthers = rootPaths.map(parsePath);
    if (rest !== undefined) addGroups(rest);
  } else {
    addGroups(annotations);
  }

  const ROOT = -1;
  const owner = new Map<string, number>(); // the key of a non-representative path → its group
  const keyOf = (path: readonly string[]) => path.map(escapeKey).join(".");
  for (const path of rootOthers) owner.set(keyOf(path), ROOT);
  groups.forEach((group, i) => group.others.forEach((path) => owner.set(keyOf(path), i)));

  const positions = new Positions();
  const objects = new Map<number, unknown>([[ROOT, root]]);
  const resolving = new Set<number>();
  const objectOf = (group: number): unknown => {
    if (objects.has(group)) return objects.get(group);
    if (resolving.has(group)) malformed("its shared-reference metadata is circular");
    resolving.add(group);
    const object = positions.read(locate(groups[group]!.representative));
    resolving.delete(group);
    objects.set(group, object);
    return object;
  };
  // The slot `path` ends at. Each position on the way that held a copy is read as the object it
  // stands for, so a path beneath a copy lands in the object that survives.
  const locate = (path: readonly string[]): Slot => {
    let node = root;
    let key = "";
    for (let i = 0; ; ) {
      const slot = positions.slot(node, path, i);
      const end = i + (slot.kind === "entry" ? 2 : 1);
      for (; i < end; i++) key = i === 0 ? escapeKey(path[i]!) : `${key}.${escapeKey(path[i]!)}`;
      if (i >= path.length) return slot;
      const group = owner.get(key);
      node = group === undefined ? positions.read(slot) : objectOf(group);
    }
  };

  const rewrites = new Rewrites(positions);
  for (const path of rootOthers) rewrites.write(locate(path), root);
  groups.forEach((group, i) => {
    for (const path of group.others) rewrites.write(locate(path), objectOf(i));
  });
  rewrites.apply();
}

/** Turns the listed nulls back into holes. */
export function punchHoles(root: unknown, holes: unknown): void {
  if (!Array.isArray(holes)) malformed("its list of array holes is not an array");
  const positions = new Positions();
  for (const entry of holes as unknown[]) {
    const [path, runs] = Array.isArray(entry) ? (entry as unknown[]) : [];
    if (!isStringArray(path) || !Array.isArray(runs) || runs.length % 2 !== 0) malformed("an entry of its list of array holes is not [path, runs]");
    const array = positions.at(root, path);
    if (!Array.isArray(array)) malformed("its list of array holes names something that is not an array");
    let length = array.length;
    for (let r = 0; r < runs.length; r += 2) {
      const [start, end] = [runs[r], runs[r + 1]];
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start >= end || end > MAX_ARRAY_LENGTH) {
        malformed("its list of array holes has a run out of range");
      }
      for (let i = start; i < Math.min(end, array.length); i++) {
        if (array[i] !== null) malformed("its list of array holes names an element that is not empty");
        delete array[i];
      }
      length = Math.max(length, end);
    }
    // Trailing holes never made it into the JSON array at all.
    array.length = length;
  }
}
