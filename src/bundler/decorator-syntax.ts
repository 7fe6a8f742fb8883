/**
 * `@app.function({ gpu: "h100" })` is valid TypeScript and valid standard decorator syntax (a
 * member name may be a keyword), but esbuild's parser (and so tsx, which runs on esbuild) rejects
 * a keyword after the dot: "Expected identifier but found "function"". Both our bundler and the
 * CLI's module loader pass sources through this rewrite first, which wraps such decorators in
 * parentheses, `@(app.function({ gpu: "h100" }))`, an equivalent form esbuild accepts. Lines stay
 * where they were, so stacks and source maps still point at the user's lines.
 */

/**
 * The files the rewrite applies to: the user's own JavaScript and TypeScript sources. Installed
 * packages are compiled already (and never contain such decorators).
 */
export function isUserSourcePath(path: string): boolean {
  return /\.[mc]?[jt]sx?$/.test(path) && !path.includes("/node_modules/");
}

const DECORATOR = /@\s*([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*\s*\.\s*function\s*)\(/y;

/** Cheap pre-check, so files without such decorators are never scanned. */
export function needsDecoratorRewrite(source: string): boolean {
  return source.includes("function") && /@\s*[\w$.\s]*\.\s*function\s*\(/.test(source);
}

export function rewriteKeywordDecorators(source: string): string {
  let out = "";
  let copiedUpTo = 0;
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    const next = source[i + 1];
    if (ch === "/" && next === "/") i = skipUntil(source, i, "\n");
    else if (ch === "/" && next === "*") i = skipUntil(source, i + 2, "*/");
    else if (ch === '"' || ch === "'" || ch === "`") i = skipString(source, i);
    else if (ch === "/" && startsRegex(source, i)) i = skipRegex(source, i);
    else if (ch === "@") {
      DECORATOR.lastIndex = i;
      const match = DECORATOR.exec(source);
      if (!match) {
        i++;
        continue;
      }
      const open = i + match[0].length - 1;
      const close = matchingParen(source, open);
      out += `${source.slice(copiedUpTo, i)}@(${source.slice(i + 1, close + 1)})`;
      copiedUpTo = close + 1;
      i = close + 1;
    } else i++;
  }
  return out + source.slice(copiedUpTo);
}

/**
 * A `/` starts a regular expression literal, not a division, when what precedes it cannot end an
 * operand: an operator, an opening bracket, a comma, or a keyword such as `return`.
 */
function startsRegex(source: string, slash: number): boolean {
  let j = slash - 1;
  while (j >= 0 && /\s/.test(source[j]!)) j--;
  if (j < 0) return true;
  if ("(,=:[!&|?{};+-*%<>~^".includes(source[j]!)) return true;
  const word = /[\w$]+$/.exec(source.slice(Math.max(0, j - 10), j + 1))?.[0];
  return word !== undefined && ["return", "typeof", "case", "do", "else", "in", "of", "void", "yield", "await"].includes(word);
}

function skipRegex(source: string, start: number): number {
  let i = start + 1;
  let inClass = false;
  while (i < source.length && source[i] !== "\n") {
    const ch = source[i];
    if (ch === "\\") i++;
    else if (ch === "[") inClass = true;
    else if (ch === "]") inClass = false;
    else if (ch === "/" && !inClass) return i + 1;
    i++;
  }
  return i;
}

function skipUntil(source: string, from: number, end: string): number {
  const at = source.indexOf(end, from);
  return at === -1 ? source.length : at + end.length;
}

function skipString(source: string, start: number): number {
  const quote = source[start];
  let i = start + 1;
  while (i < source.length && source[i] !== quote) {
    if (source[i] === "\\") i++;
    else if (quote === "`" && source[i] === "$" && source[i + 1] === "{") i = matchingParen(source, i + 1);
    i++;
  }
  return i + 1;
}

/** Index of the bracket closing the one at `open`, skipping strings and comments inside. */
function matchingParen(source: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === '"' || ch === "'" || ch === "`") {
      i = skipString(source, i);
      continue;
    }
    if (ch === "/" && source[i + 1] === "/") {
      i = skipUntil(source, i, "\n");
      continue;
    }
    if (ch === "/" && source[i + 1] === "*") {
      i = skipUntil(source, i + 2, "*/");
      continue;
    }
    if (ch === "/" && startsRegex(source, i)) {
      i = skipRegex(source, i);
      continue;
    }
    if (ch === "(" || ch === "{" || ch === "[") depth++;
    else if (ch === ")" || ch === "}" || ch === "]") {
      depth--;
      if (depth === 0) return i;
    }
    i++;
  }
  return source.length - 1;
}
