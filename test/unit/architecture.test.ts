// The layers of src/ (docs/architecture.md): every import points down a layer or stays inside its
// own group, so no import runs back up and no two layers import each other. This reads the
// imports of every file under src/ — static, type-only, re-exports, dynamic import() and
// require() — and names each one that breaks the order.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * Bottom to top. A file may import files of its own group and of any group on a lower level;
 * groups on the same level do not import each other. A group is a directory (ending in /) or a
 * file, relative to src/.
 */
const LAYERS: readonly (readonly { group: string; paths: readonly string[] }[])[] = [
  [{ group: "base", paths: ["errors.ts", "validation.ts", "sleep.ts", "parse-json.ts", "sdk-paths.ts", "stack-frames.ts", "clean-up-before-exit.ts", "debug-timing.ts"] }],
  [
    { group: "runtime", paths: ["runtime/"] },
    { group: "bundler", paths: ["bundler/"] },
    { group: "config", paths: ["config/"] },
    { group: "instance-types", paths: ["instance-types/"] },
  ],
  [{ group: "task", paths: ["task/"] }],
  [{ group: "providers", paths: ["providers/provider.ts", "providers/task-provider.ts", "providers/cloud-account.ts", "providers/provider-name.ts", "providers/flow-home.ts", "providers/processes.ts", "providers/record-files.ts", "providers/record-dir.ts", "providers/log-lines.ts", "providers/s3/"] }],
  [
    { group: "providers/local", paths: ["providers/local/"] },
    { group: "providers/fcp", paths: ["providers/fcp/"] },
  ],
  [{ group: "backends", paths: ["backends.ts"] }],
  [{ group: "calls", paths: ["calls/"] }],
  [
    { group: "app", paths: ["app/"] },
    { group: "client", paths: ["client/"] },
  ],
  [{ group: "index", paths: ["index.ts", "require-entry.cts"] }],
  [
    { group: "cli", paths: ["cli/", "register.ts"] },
    { group: "plugins", paths: ["plugins/"] },
  ],
];

/**
 * The concrete providers are built in one place, backends.ts; index.ts publishes the two classes
 * users may construct themselves (LocalProvider, LocalTaskRunner).
 */
const CONCRETE_PROVIDERS = ["providers/local/", "providers/fcp/"];
const MAY_BUILD_PROVIDERS = ["backends.ts", "index.ts"];

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

describe("architecture: the layers of src/", () => {
  let read: Map<string, string[]> | undefined;
  const srcGraph = () => (read ??= importGraph(SRC));

  test("every file is in a layer", () => {
    const graph = srcGraph();
    const homeless = [...graph.keys()].filter((file) => groupOf(file) === undefined);
    assert.deepEqual(homeless, [], "add these files' directory (or the files) to LAYERS in this test and to docs/architecture.md");
  });

  test("no import runs back up a layer, sideways to a sibling, or outside src/; only the composition root builds providers", () => {
    const graph = srcGraph();
    assert.deepEqual(violations(graph).map((v) => `${v.edge}: ${v.reason}`), []);
  });

  test("no two layers import each other", () => {
    assert.deepEqual(groupCycles(srcGraph()), []);
  });
});

describe("architecture: the checker itself", () => {
  test("reads static, type-only, re-exported, side-effect, dynamic and require() imports, not comments or strings", () => {
    const source = [
      'import { a } from "./a.ts";',
      'import type { B } from "./b.ts";',
      "import {",
      "  c,",
      '  type C,',
      '} from "./c.ts";',
      'import "./d.ts";',
      'export { e } from "./e.ts";',
      'export * from "./f.ts";',
      'export type { G } from "./g.ts";',
      'const h = await import("./h.ts");',
      'const i = require("./i.cjs");',
      'export const j = 1; export function k() { return x / 2; }',
      '// import { no } from "./comment.ts";',
      '/* import("./block-comment.ts") */',
      'const text = "import { no } from \'./string.ts\'";',
      'const template = `import("./template.ts") ${await import("./in-template.ts")}`;',
      "const pattern = /import\\(\"\\.\\/regex\\.ts\"\\)/;",
      'const notImport = obj.import("./method.ts");',
    ].join("\n");
    assert.deepEqual(importsIn(source), ["./a.ts", "./b.ts", "./c.ts", "./d.ts", "./e.ts", "./f.ts", "./g.ts", "./h.ts", "./i.cjs", "./in-template.ts"]);
  });

  test("names an import that runs up, one that goes sideways, one that builds a provider, and a circle", () => {
    const graph = new Map([
      ["task/task-config.ts", ["client/flow.ts"]],
      ["client/flow.ts", ["task/task-config.ts", "app/app.ts", "providers/fcp/fcp-provider.ts"]],
      ["app/app.ts", []],
      ["providers/fcp/fcp-provider.ts", []],
    ]);
    assert.deepEqual(
      violations(graph).map((v) => v.edge),
      ["task/task-config.ts -> client/flow.ts", "client/flow.ts -> app/app.ts", "client/flow.ts -> providers/fcp/fcp-provider.ts"],
    );
    assert.deepEqual(groupCycles(graph), ["client -> task -> client (client/flow.ts -> task/task-config.ts, task/task-config.ts -> client/flow.ts)"]);
  });
});

/** Each file under `root` (relative path) → the files under `root` it imports (relative paths; outside root: with ../). */
function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const from = relative(root, file);
    const imported = importsIn(readFileSync(file, "utf8"))
      .filter((specifier) => specifier.startsWith("."))
      .map((specifier) => relative(root, resolve(dirname(file), specifier)));
    graph.set(from, [...new Set(imported)]);
  }
  return graph;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.[cm]?ts$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

interface Violation {
  edge: string;
  reason: string;
}

function violations(graph: ReadonlyMap<string, readonly string[]>): Violation[] {
  const out: Violation[] = [];
  for (const [file, imports] of graph) {
    const from = groupOf(file);
    for (const imported of imports) {
      const edge = `${file} -> ${imported}`;
      const to = groupOf(imported);
      if (imported.startsWith("..")) out.push({ edge, reason: "imports a file outside src/" });
      else if (from === undefined || to === undefined || from.group === to.group) {
        // A file in no layer is reported by its own test; within a group anything goes.
      } else if (to.level > from.level) out.push({ edge, reason: `runs back up: ${from.group} (level ${from.level}) imports ${to.group} (level ${to.level})` });
      else if (to.level === from.level) out.push({ edge, reason: `goes sideways: ${from.group} and ${to.group} are siblings on level ${from.level}` });
      else if (isUnder(imported, CONCRETE_PROVIDERS) && !isUnder(file, MAY_BUILD_PROVIDERS)) {
        out.push({ edge, reason: "builds a provider outside the composition root: get it from backendFor() in backends.ts" });
      }
    }
  }
  return out;
}

/** Circles between groups, each once, with the imports that make it. */
function groupCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const edges = new Map<string, Map<string, string>>();
  for (const [file, imports] of graph) {
    const from = groupOf(file)?.group;
    for (const imported of imports) {
      const to = groupOf(imported)?.group;
      if (from === undefined || to === undefined || from === to) continue;
      if (!edges.has(from)) edges.set(from, new Map());
      if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, `${file} -> ${imported}`);
    }
  }
  const cycles = new Set<string>();
  const walk = (path: string[]) => {
    for (const next of edges.get(path.at(-1)!)?.keys() ?? []) {
      const at = path.indexOf(next);
      if (at === -1) walk([...path, next]);
      else {
        const loop = path.slice(at);
        // Written from its alphabetically first group, so each circle is reported once.
        const start = loop.indexOf([...loop].sort()[0]!);
        const ordered = [...loop.slice(start), ...loop.slice(0, start)];
        const via = ordered.map((group, i) => edges.get(group)!.get(ordered[(i + 1) % ordered.length]!)!);
        cycles.add(`${[...ordered, ordered[0]].join(" -> ")} (${via.join(", ")})`);
      }
    }
  };
  for (const group of edges.keys()) walk([group]);
  return [...cycles].sort();
}

function groupOf(file: string): { group: string; level: number } | undefined {
  for (const [level, groups] of LAYERS.entries()) {
    for (const { group, paths } of groups) if (isUnder(file, paths)) return { group, level };
  }
  return undefined;
}

function isUnder(file: string, paths: readonly string[]): boolean {
  return paths.some((path) => (path.endsWith("/") ? file.startsWith(path) : file === path));
}

/**
 * The module specifiers a TypeScript file imports, in order. A small tokenizer, so that comments,
 * strings, template literals and regular expressions that mention imports are not taken for them.
 */
function importsIn(source: string): string[] {
  const tokens = tokenize(source);
  const specifiers: string[] = [];
  const text = (i: number) => tokens[i]?.text;
  const stringAt = (i: number) => (tokens[i]?.kind === "string" ? tokens[i]!.value : undefined);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== "word" || text(i - 1) === ".") continue;
    if (token.text === "import" && text(i + 1) === "(") {
      const specifier = stringAt(i + 2);
      if (specifier !== undefined) specifiers.push(specifier);
    } else if (token.text === "require" && text(i + 1) === "(") {
      const specifier = stringAt(i + 2);
      if (specifier !== undefined) specifiers.push(specifier);
    } else if (token.text === "import" && stringAt(i + 1) !== undefined) {
      specifiers.push(stringAt(i + 1)!);
    } else if (token.text === "import" || (token.text === "export" && /^(\{|\*|type)$/.test(text(i + 1) ?? ""))) {
      // `import a, { b, type C } from "x"`, `export { a } from "x"`, `export * as n from "x"`:
      // names, braces, commas and `*` up to `from`. `export type X = …` stops at the `=`.
      let j = i + 1;
      while (j < tokens.length && (tokens[j]!.kind === "word" || /^[{},*]$/.test(text(j)!)) && text(j) !== "from") j++;
      const specifier = text(j) === "from" ? stringAt(j + 1) : undefined;
      if (specifier !== undefined) specifiers.push(specifier);
    }
  }
  return specifiers;
}

interface Token {
  kind: "word" | "string" | "punct";
  text: string;
  /** A string's value (without quotes). */
  value?: string;
}

/** Words after which a `/` starts a regular expression rather than dividing. */
const BEFORE_REGEX = new Set(["return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield", "await"]);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  /** Reads a template literal from its opening backtick; each `${…}` inside is tokenized too. */
  const template = () => {
    i++;
    while (i < source.length && source[i] !== "`") {
      if (source[i] === "\\") i += 2;
      else if (source[i] === "$" && source[i + 1] === "{") {
        i += 2;
        code("}");
        i++;
      } else i++;
    }
    i++;
    tokens.push({ kind: "punct", text: "`template`" });
  };
  /** Tokenizes code until an unmatched `close` (or the end). */
  const code = (close?: string) => {
    let depth = 0;
    while (i < source.length) {
      const c = source[i]!;
      if (c === close && depth === 0) return;
      if (/\s/.test(c)) i++;
      else if (source.startsWith("//", i)) i = source.indexOf("\n", i) === -1 ? source.length : source.indexOf("\n", i);
      else if (source.startsWith("/*", i)) i = source.indexOf("*/", i + 2) === -1 ? source.length : source.indexOf("*/", i + 2) + 2;
      else if (c === '"' || c === "'") {
        let j = i + 1;
        while (j < source.length && source[j] !== c) j += source[j] === "\\" ? 2 : 1;
        tokens.push({ kind: "string", text: source.slice(i, j + 1), value: source.slice(i + 1, j) });
        i = j + 1;
      } else if (c === "`") template();
      else if (/[A-Za-z_$]/.test(c)) {
        const word = /^[\w$]+/.exec(source.slice(i))![0];
        tokens.push({ kind: "word", text: word });
        i += word.length;
      } else if (/[0-9]/.test(c)) {
        const number = /^[\w.]+/.exec(source.slice(i))![0];
        tokens.push({ kind: "word", text: number });
        i += number.length;
      } else if (c === "/" && regexAllowed(tokens.at(-1))) {
        let j = i + 1;
        let inClass = false;
        while (j < source.length && (inClass || source[j] !== "/")) {
          if (source[j] === "\\") j++;
          else if (source[j] === "[") inClass = true;
          else if (source[j] === "]") inClass = false;
          j++;
        }
        i = j + 1;
        while (/[a-z]/.test(source[i] ?? "")) i++;
        tokens.push({ kind: "punct", text: "/regex/" });
      } else {
        if (c === "{") depth++;
        if (c === "}") depth--;
        tokens.push({ kind: "punct", text: c });
        i++;
      }
    }
  };
  code();
  return tokens;
}

function regexAllowed(previous: Token | undefined): boolean {
  if (previous === undefined) return true;
  if (previous.kind === "word") return BEFORE_REGEX.has(previous.text);
  if (previous.kind === "string") return false;
  return !/^[)\]}]$/.test(previous.text) && previous.text !== "`template`" && previous.text !== "/regex/";
}
