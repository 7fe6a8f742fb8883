// The README, followed in a fresh project of a user's own (`npm init -y`, flow-sdk installed from
// its tarball): CommonJS (what `npm init -y` writes), no "type" at all, and ESM; .ts, .mts and
// .cts entry files; `npx flow run`, `::name` calls, the script idiom with top-level await, and
// invoke(). Everything on the local provider.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { CliResult } from "./helpers.ts";
import { consumerProject, type ConsumerProject, type PackageType } from "./consumer.ts";

const README_FILES = ["examples/hello.ts", "examples/script.ts", "examples/invoke.ts", "examples/plain.ts"];

function ok(result: CliResult): string {
  const out = result.stdout + result.stderr;
  assert.equal(result.code, 0, out);
  return out;
}

function assertHello(out: string, length = 3, mean = 2): void {
  assert.match(out, /^49$/m);
  assert.match(out, new RegExp(`summarising ${length} values`));
  assert.match(out, new RegExp(`n: ${length},\\s+mean: ${mean},\\s+at: \\d{4}-\\d\\d-\\d\\dT`));
}

function assertScript(out: string): void {
  const local = /caller pid (\d+)/.exec(out)?.[1];
  const remote = /HELLO! \(from pid (\d+)\)/.exec(out)?.[1];
  assert.ok(local && remote, out);
  assert.notEqual(local, remote);
}

/** The README's script idiom in a .cts file: CommonJS has no top-level await, so no `await`. */
const SCRIPT_CTS = `import { App } from "flow-sdk";

const app = new App("script");

export const shout = app.function({}, async (text: string) => \`\${text.toUpperCase()}! (from pid \${process.pid})\`);

void app.run(async () => {
  console.log(\`caller pid \${process.pid}\`);
  console.log(await shout.remote("hello"));
});
`;

function setUp(type: PackageType): () => ConsumerProject {
  let project: ConsumerProject | undefined;
  before(async () => {
    project = await consumerProject(type);
    for (const file of README_FILES) project.copy(file);
    project.copy("examples/hello.ts", "examples/hello.cts");
    project.copy("examples/hello.ts", "examples/hello.mts");
    project.copy("examples/script.ts", "examples/script.mts");
    project.write("examples/script.cts", SCRIPT_CTS);
  });
  return () => project!;
}

describe("a fresh CommonJS project (npm init -y)", { concurrency: 3 }, () => {
  const project = setUp("commonjs");

  it("npx flow run examples/hello.ts", async () => {
    assertHello(ok(await project().npx(["flow", "run", "examples/hello.ts"])));
  });

  it("npx flow run examples/hello.ts::square 7", async () => {
    assert.equal(ok(await project().npx(["flow", "run", "examples/hello.ts::square", "7"])).trim(), "49");
  });

  it("npx flow run examples/hello.cts::Stats.describe [1,2]: a .cts file and a decorated method by name", async () => {
    const out = ok(await project().npx(["flow", "run", "examples/hello.cts::Stats.describe", "[1,2]"]));
    assert.match(out, /n: 2,\s+mean: 1\.5/);
  });

  it("npx flow run examples/hello.mts", async () => {
    assertHello(ok(await project().npx(["flow", "run", "examples/hello.mts"])));
  });

  it("node --import flow-sdk/register examples/script.ts: top-level await in a CommonJS package", async () => {
    assertScript(ok(await project().node(["--import", "flow-sdk/register", "examples/script.ts"])));
  });

  it("node --import flow-sdk/register examples/script.cts: require('flow-sdk') from CommonJS", async () => {
    assertScript(ok(await project().node(["--import", "flow-sdk/register", "examples/script.cts"])));
  });

  it("node --import flow-sdk/register examples/invoke.ts", async () => {
    const out = ok(await project().node(["--import", "flow-sdk/register", "examples/invoke.ts"]));
    assert.match(out, /epochs: 3, loss: 0\.125/);
  });

  it("a script importing decorated classes by name from another file of the project", async () => {
    project().write(
      "multi/functions.ts",
      'import { App } from "flow-sdk";\nexport const app = new App("multi");\nexport class Stats {\n  @app.function({})\n  static async count(xs: number[]) {\n    return xs.length;\n  }\n}\n',
    );
    project().write(
      "multi/main.ts",
      'import { app, Stats } from "./functions.ts";\nawait app.run(async () => console.log(`count ${await app.cls(Stats).count.remote([1, 2, 3])}`));\n',
    );
    assert.match(ok(await project().node(["--import", "flow-sdk/register", "multi/main.ts"])), /^count 3$/m);
  });

  it("under flow run, require('flow-sdk') is the CLI's own copy of the SDK, not a second one", async () => {
    project().write(
      "one-copy.ts",
      [
        'import { App } from "flow-sdk";',
        'const app = new App("one-copy");',
        "app.localEntrypoint(async () => {",
        '  const esm = await import("flow-sdk");',
        '  console.log(`one copy: ${esm.App === App && esm.FlowError === require("flow-sdk").FlowError}`);',
        "});",
        "",
      ].join("\n"),
    );
    assert.match(ok(await project().npx(["flow", "run", "one-copy.ts"])), /^one copy: true$/m);
  });

  it("a package that is not installed: one line naming it, and the npm command", async () => {
    project().write("missing.ts", 'import leftPad from "left-pad-not-installed";\nexport const pad = leftPad;\n');
    const result = await project().npx(["flow", "run", "missing.ts"]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      "Error: missing.ts imports 'left-pad-not-installed', but the package left-pad-not-installed is not installed.\n  - npm install left-pad-not-installed\n",
    );
  });
});

describe('a fresh project without "type"', { concurrency: 2 }, () => {
  const project = setUp("none");

  it("npx flow run examples/hello.ts", async () => {
    assertHello(ok(await project().npx(["flow", "run", "examples/hello.ts"])));
  });

  it("node --import flow-sdk/register examples/script.ts", async () => {
    assertScript(ok(await project().node(["--import", "flow-sdk/register", "examples/script.ts"])));
  });
});

describe('a fresh ESM project ("type": "module")', { concurrency: 3 }, () => {
  const project = setUp("module");

  it("npx flow run examples/hello.ts", async () => {
    assertHello(ok(await project().npx(["flow", "run", "examples/hello.ts"])));
  });

  it("npx flow run examples/hello.ts::square 7", async () => {
    assert.equal(ok(await project().npx(["flow", "run", "examples/hello.ts::square", "7"])).trim(), "49");
  });

  it("npx flow run examples/hello.cts: a CommonJS file in an ESM project", async () => {
    assertHello(ok(await project().npx(["flow", "run", "examples/hello.cts"])));
  });

  it("node --import flow-sdk/register examples/script.ts", async () => {
    assertScript(ok(await project().node(["--import", "flow-sdk/register", "examples/script.ts"])));
  });

  it("node --import flow-sdk/register examples/script.cts", async () => {
    assertScript(ok(await project().node(["--import", "flow-sdk/register", "examples/script.cts"])));
  });

  it("node --import flow-sdk/register examples/invoke.ts", async () => {
    const out = ok(await project().node(["--import", "flow-sdk/register", "examples/invoke.ts"]));
    assert.match(out, /epochs: 3, loss: 0\.125/);
  });
});
