import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { needsDecoratorRewrite, rewriteKeywordDecorators } from "../../src/bundler/decorator-syntax.ts";

/** [name, source, expected rewrite] */
const rewrites: [string, string, string][] = [
  ["options object", '@app.function({ gpu: "h100" })', '@(app.function({ gpu: "h100" }))'],
  ["no arguments", "@app.function()", "@(app.function())"],
  ["this.app", "@this.app.function()", "@(this.app.function())"],
  ["a.b with an identifier argument", "@a.b.function(x)", "@(a.b.function(x))"],
  ["$ and _ in names", "@$app_1.$_.function(o)", "@($app_1.$_.function(o))"],
  ["whitespace around the dots and before the paren", "@ app . function (x)", "@( app . function (x))"],
  ["nested parens, brackets and braces", "@app.function(f(1, (2)), { a: { b: [1, [2]] } })", "@(app.function(f(1, (2)), { a: { b: [1, [2]] } }))"],
  ["double-quoted string with ) and (", '@app.function({ name: ")(" })', '@(app.function({ name: ")(" }))'],
  ["single-quoted string with an escaped quote and )", "@app.function({ image: 'it\\'s )' })", "@(app.function({ image: 'it\\'s )' }))"],
  ["double-quoted string with an escaped backslash before the quote", '@app.function("a\\\\", ")")', '@(app.function("a\\\\", ")"))'],
  ["template literal with ) and ${}", "@app.function({ image: `img:${tag(\")\")})` })", "@(app.function({ image: `img:${tag(\")\")})` }))"],
  ["nested template literals", "@app.function(`a ${`b ${c} )`} }`)", "@(app.function(`a ${`b ${c} )`} }`))"],
  ["block comment with ) inside the arguments", "@app.function(x /* ) */)", "@(app.function(x /* ) */))"],
  ["line comment with ) inside the arguments", "@app.function(x // )\n)", "@(app.function(x // )\n))"],
  ["two decorators on one line", "@app.function(x) @other.function(y)", "@(app.function(x)) @(other.function(y))"],
  [
    "escaped quotes, with code after the decorator",
    "@app.function({ image: 'it\\'s )', tag: \"a\\\")\" })\nstatic m() { return f(1); }",
    "@(app.function({ image: 'it\\'s )', tag: \"a\\\")\" }))\nstatic m() { return f(1); }",
  ],
  [
    "other decorators before it",
    "@sealed\nclass X {\n  @log() @app.function(x) m() {}\n}",
    "@sealed\nclass X {\n  @log() @(app.function(x)) m() {}\n}",
  ],
  ["division inside the arguments", "@app.function({ timeoutMs: 60_000 / 2 })", "@(app.function({ timeoutMs: 60_000 / 2 }))"],
];

/** Sources that must come back unchanged. */
const untouched: [string, string][] = [
  ["inside a double-quoted string", 'const s = "@app.function(x)";'],
  ["inside a single-quoted string", "const s = '@app.function(x)';"],
  ["inside a template literal", "const s = `@app.function(${x})`;"],
  ["inside a line comment", "// @app.function({ gpu: 'h100' })\nconst x = 1;"],
  ["inside a block comment", "/*\n * @app.function({ gpu: 'h100' })\n */"],
  ["inside a JSDoc example", "/** Use `@app.function()` on methods. */"],
  ["@app.functions(", "@app.functions({ gpu: 'h100' })"],
  ["@app.functional(", "@app.functional()"],
  ["@app.myfunction(", "@app.myfunction()"],
  ["app.function( without @", 'export const f = app.function({ gpu: "h100" }, async () => 1);'],
  ["@function( without an object", "@function(x)"],
  ["@app.function without a call", "@app.function\nclass X {}"],
  ["an email address", "// mail me@app.function.example.com"],
  ["a plain decorator", "@sealed\nclass X { @log() m() {} }"],
  ["an already parenthesized decorator", "@(app.function({ gpu: 'h100' }))"],
];

describe("rewriteKeywordDecorators", () => {
  for (const [name, source, expected] of rewrites) {
    test(`rewrites: ${name}`, () => {
      assert.equal(rewriteKeywordDecorators(source), expected);
    });
  }

  for (const [name, source] of untouched) {
    test(`leaves alone: ${name}`, () => {
      assert.equal(rewriteKeywordDecorators(source), source);
    });
  }

  test("only the real decorator in a mix of strings, comments and code is rewritten", () => {
    const source = [
      'const a = "@app.function(1)";',
      "// @app.function(2)",
      "const b = `@app.function(${a})`;",
      "/* @app.function(3) */",
      "class C {",
      '  @app.function({ name: "it\'s )" })',
      "  static m() {}",
      "}",
    ].join("\n");
    const expected = source.replace('  @app.function({ name: "it\'s )" })', '  @(app.function({ name: "it\'s )" }))');
    assert.notEqual(expected, source);
    assert.equal(rewriteKeywordDecorators(source), expected);
  });

  test("multi-line arguments keep every line where it was", () => {
    const source = [
      "class Jobs {",
      "  @app.function({",
      '    gpu: "8xh100",',
      "    env: { MODE: `train ${1 + 1})` },",
      "    // a comment with ) in it",
      "    retries: { maxRetries: 3 },",
      "  })",
      "  static async train() {}",
      "}",
    ].join("\n");
    const out = rewriteKeywordDecorators(source);
    const lines = out.split("\n");
    assert.equal(lines.length, source.split("\n").length);
    assert.equal(lines[1], "  @(app.function({");
    assert.equal(lines[6], "  }))");
    assert.deepEqual(
      lines.filter((_, i) => i !== 1 && i !== 6),
      source.split("\n").filter((_, i) => i !== 1 && i !== 6),
    );
  });

  test("an unterminated call is wrapped up to the end of the source, keeping every character", () => {
    // Broken input stays broken (esbuild then reports it), but nothing is lost and nothing throws.
    assert.equal(rewriteKeywordDecorators("@app.function({ gpu: "), "@(app.function({ gpu: )");
  });

  test("empty source", () => {
    assert.equal(rewriteKeywordDecorators(""), "");
  });

  // Known gaps: regular-expression literals are not recognised as such.
  test("a regex literal with ) in the arguments", () => {
    assert.equal(rewriteKeywordDecorators("@app.function(/\\)/.source)"), "@(app.function(/\\)/.source))");
  });
  test("a regex literal with a quote before a decorator", () => {
    assert.equal(rewriteKeywordDecorators("const r = /'/;\n@app.function(x)"), "const r = /'/;\n@(app.function(x))");
  });
});

describe("needsDecoratorRewrite", () => {
  const yes = [
    '@app.function({ gpu: "h100" })',
    "@this.app.function()",
    "@a.b.function(x)",
    "class X {\n  @app.function\n  ()\n  m() {}\n}",
    "@app .function(x)",
  ];
  const no = [
    "",
    'export const f = app.function({ gpu: "h100" }, async () => 1);',
    "@app.functions(x)",
    "@sealed class X {}",
    "const fn = function () {};",
    "@app.function",
  ];
  for (const source of yes) {
    test(`true for ${JSON.stringify(source)}`, () => {
      assert.equal(needsDecoratorRewrite(source), true);
    });
  }
  for (const source of no) {
    test(`false for ${JSON.stringify(source)}`, () => {
      assert.equal(needsDecoratorRewrite(source), false);
    });
  }

  test("agrees with rewriteKeywordDecorators on every rewritten case", () => {
    for (const [name, source, expected] of rewrites) {
      assert.equal(needsDecoratorRewrite(source), expected !== source, name);
    }
  });

  test("whitespace after the dot", () => {
    assert.equal(needsDecoratorRewrite("@app. function(x)"), true);
  });
});

describe("esbuild", () => {
  const source = [
    "const calls: string[] = [];",
    "const app = {",
    "  function: (options: { gpu?: string } = {}) => (_value: unknown, context: ClassMethodDecoratorContext) => {",
    "    calls.push(`${String(context.name)}:${context.static ? 'static' : 'instance'}:${options.gpu ?? '-'}`);",
    "  },",
    "};",
    "export class Jobs {",
    "  @app.function({",
    '    gpu: "h100",',
    "  })",
    "  static async train(epochs: number) { return epochs; }",
    "",
    "  @app.function()",
    "  async predict(x: number) { return x; }",
    "}",
    "export { calls };",
  ].join("\n");

  test("rejects the original with 'Expected identifier', which is why the rewrite exists", async () => {
    const { transform } = await import("esbuild");
    await assert.rejects(transform(source, { loader: "ts" }), (error: Error & { errors?: { text: string; location: { line: number } | null }[] }) => {
      assert.equal(error.errors?.[0]?.text, 'Expected identifier but found "function"');
      assert.equal(error.errors?.[0]?.location?.line, 8);
      return true;
    });
  });

  test("parses the rewritten source, and the decorators run as written", async () => {
    const { transform } = await import("esbuild");
    const out = rewriteKeywordDecorators(source);
    assert.equal(out.split("\n").length, source.split("\n").length);
    assert.equal((await transform(out, { loader: "ts" })).warnings.length, 0);
    // Lowered to ES2022 so Node can run it: the decorators receive the original options.
    const { code } = await transform(out, { loader: "ts", target: "es2022", format: "esm" });
    const module = (await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)) as { calls: string[] };
    assert.deepEqual(module.calls.toSorted(), ["predict:instance:-", "train:static:h100"]);
  });
});
