import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { App, CancelledError, FlowError, RemoteFunction, ValidationError, currentCall, type FunctionOptions } from "../../src/index.ts";
import { nameFromExports } from "../../src/app/exports.ts";
import { findFunction, isStopLoading, registry, type FunctionRecord } from "../../src/app/registry.ts";
import { REMOTE_FUNCTION } from "../../src/app/remote-function.ts";

// The registry is process-global: every test uses function and class names of its own.

const FILE = fileURLToPath(import.meta.url);

/** The line of this file that called here(); definedAt must point at it. */
function here(): number {
  const frame = new Error().stack?.split("\n")[2] ?? "";
  const match = /:(\d+):\d+\)?$/.exec(frame);
  assert.ok(match, `no line in ${frame}`);
  return Number(match[1]);
}

function at(line: number): string {
  return `${FILE}:${line}`;
}

function recordOf(fn: { [REMOTE_FUNCTION]: FunctionRecord }): FunctionRecord {
  return fn[REMOTE_FUNCTION];
}

/** Assert `fn` throws a ValidationError whose message and issues name `path`. */
function assertInvalid(fn: () => unknown, message: string, issues: { path: string; message: string; suggestion?: string }[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    assert.equal(error.message, message);
    assert.deepEqual(error.issues, issues);
    return true;
  });
}

const app = new App("unit-app");

describe("app.function(options, fn)", () => {
  test("returns a RemoteFunction named after fn.name, recorded where it was defined", () => {
    const before = registry().functions.length;
    const [square, line] = [app.function({ gpu: "a100" }, async function squareNamed(x: number) { return x * x; }), here()];
    assert.ok(square instanceof RemoteFunction);
    assert.equal(square.name, "squareNamed");
    const record = recordOf(square);
    assert.equal(registry().functions.length, before + 1);
    assert.equal(registry().functions[before], record);
    assert.equal(findFunction("squareNamed"), record);
    assert.deepEqual(
      { id: record.id, index: record.index, kind: record.kind, app: record.app, definedAt: record.definedAt },
      { id: "squareNamed", index: before, kind: "function", app: "unit-app", definedAt: at(line) },
    );
    assert.deepEqual(record.options, { gpu: "a100", env: {}, secrets: [] });
  });

  test("options.name wins over fn.name", () => {
    const fn = app.function({ name: "explicit.name-1" }, async function ignoredName() { return 1; });
    assert.equal(fn.name, "explicit.name-1");
    assert.equal(findFunction("ignoredName"), undefined);
    assert.equal(findFunction("explicit.name-1"), recordOf(fn));
  });

  test("an anonymous function has no id until its export names it", () => {
    const index = registry().functions.length;
    const anonymous = app.function({}, async (x: number) => x + 1);
    assert.equal(recordOf(anonymous).id, undefined);
    assert.equal(anonymous.name, `<function #${index}>`);
    nameFromExports({ incrementExported: anonymous, notRemote: 42 });
    assert.equal(anonymous.name, "incrementExported");
    assert.equal(findFunction("incrementExported"), recordOf(anonymous));
  });

  test(".local() runs the function in this process", async () => {
    const calls: number[] = [];
    const add = app.function({}, async function addLocal(a: number, b: number) {
      calls.push(a, b);
      return a + b;
    });
    const syncFn = app.function({}, function syncLocal(s: string) {
      return s.toUpperCase();
    });
    assert.equal(await add.local(2, 3), 5);
    assert.deepEqual(calls, [2, 3]);
    const pending = syncFn.local("abc");
    assert.ok(pending instanceof Promise);
    assert.equal(await pending, "ABC");
  });

  test(".local() rejects with the function's own error", async () => {
    const boom = new RangeError("local boom");
    const fails = app.function({}, function failsLocal() {
      throw boom;
    });
    await assert.rejects(fails.local(), (error: unknown) => error === boom);
  });

  test(".remote() without an app run rejects with a FlowError saying how to start one", async () => {
    const fn = app.function({}, async function needsHost() { return 1; });
    assert.equal(registry().host, undefined);
    await assert.rejects(fn.remote(), (error: unknown) => {
      assert.ok(error instanceof FlowError, `expected a FlowError, got ${String(error)}`);
      assert.equal(error.message, "needsHost.remote() needs a running app.");
      assert.equal(error.suggestions.length, 2);
      assert.match(error.suggestions[0]!, /`npx flow run <file\.ts>`/);
      assert.match(error.suggestions[1]!, /`await app\.run\(async \(\) => \{ \.\.\. \}\)`/);
      assert.match(error.describe(), /flow run[\s\S]*app\.run/);
      return true;
    });
  });

  test(".spawn() without an app run hands back a call that fails", async () => {
    const fn = app.function({}, async function spawnNoHost() { return 1; });
    const call = fn.spawn();
    assert.equal(call.status, "pending");
    await assert.rejects(call.result(), { name: "FlowError", message: "spawnNoHost.remote() needs a running app." });
    assert.equal(call.status, "failed");
    assert.equal(call.isTerminal, true);
  });

  test("a cancelled call reads cancelled at once, and stays so when its result crosses the cancel", async () => {
    const fn = app.function({}, async function cancelledAtOnce() { return 1; });
    let finish: (value: unknown) => void = () => {};
    registry().host = {
      call: (_record, _args, options) => {
        options.onStarted?.();
        return new Promise((resolve) => (finish = resolve));
      },
      stream: () => { throw new Error("not used"); },
      spawnDetached: () => { throw new Error("not used"); },
    };
    try {
      const call = fn.spawn();
      assert.equal(call.status, "running");
      call.cancel();
      assert.equal(call.status, "cancelled");
      assert.equal(call.isTerminal, true);
      finish(1); // the agent's result arrives anyway
      await assert.rejects(call.result(), CancelledError);
      assert.equal(call.status, "cancelled");
    } finally {
      registry().host = undefined;
    }
  });

  test("currentCall() works in .local() calls and says what is wrong outside a call", async () => {
    const fn = app.function({}, async function whoAmILocally() { return currentCall().functionId; });
    assert.equal(await fn.local(), "whoAmILocally");
    assert.throws(() => currentCall(), { name: "FlowError", message: "currentCall() was called outside a remote function." });
  });

  test(".remote() inside an agent (mode remote) explains that nested calls are not supported", async () => {
    const fn = app.function({}, async function nestedRemote() { return 1; });
    registry().mode = "remote";
    try {
      await assert.rejects(fn.remote(), (error: unknown) => {
        assert.ok(error instanceof FlowError);
        assert.equal(error.message, "nestedRemote.remote() was called inside a remote function; nested remote calls are not supported yet.");
        assert.deepEqual(error.suggestions, ["Call nestedRemote.local(...) to run it in the same agent."]);
        return true;
      });
      // Inside an agent, app.run() tells the agent loading has reached the module's own program
      // and never settles, so neither its callback nor the code after `await app.run()` runs.
      let ran = false;
      let reached = 0;
      registry().onEntrypoint = () => reached++;
      const outcome = await Promise.race([app.run(() => (ran = true)).then(() => "settled"), new Promise((r) => setTimeout(r, 50, "pending"))]);
      assert.equal(outcome, "pending");
      assert.equal(ran, false);
      assert.equal(reached, 1);
      // localEntrypoint() cannot wait, so it stops the module's evaluation with a marker the agent ignores.
      assert.throws(() => app.localEntrypoint(() => (ran = true)), (error: unknown) => isStopLoading(error));
      assert.equal(reached, 2);
      assert.equal(ran, false);
    } finally {
      registry().mode = "local";
      registry().onEntrypoint = undefined;
    }
  });

  test("two functions with the same name: the second throws, naming both places", () => {
    const [, first] = [app.function({}, async function dupFn() { return 1; }), here()];
    const count = registry().functions.length;
    const second = here() + 2;
    assert.throws(
      () => new App("unit-app-other").function({ gpu: "h100" }, async function dupFn() { return 2; }),
      {
        message: `Two remote functions are named 'dupFn': one defined at ${at(first)}, another at ${at(second)}.`,
        suggestions: ["Give one of them a different name (option `name`)."],
      },
    );
    // The refused function was not recorded.
    assert.equal(registry().functions.length, count);
    assert.equal(findFunction("dupFn")?.app, "unit-app");
  });

  test("a fn.name colliding with another function's options.name is refused too", () => {
    const [, first] = [app.function({ name: "dupViaOption" }, async () => 1), here()];
    const second = here() + 1;
    assert.throws(() => app.function({}, async function dupViaOption() { return 2; }), {
      message: `Two remote functions are named 'dupViaOption': one defined at ${at(first)}, another at ${at(second)}.`,
    });
  });

  test("the duplicate-name error is a FlowError", () => {
    app.function({}, async function dupKind() { return 1; });
    assert.throws(() => app.function({}, async function dupKind() { return 2; }), FlowError);
  });

  test("fn must be a function", () => {
    assert.throws(() => app.function({}, "nope" as unknown as () => void), {
      name: "ValidationError",
      message: "app.function(options, fn): fn must be a function.",
    });
  });
});

describe("function options are validated at definition", () => {
  test('gpu: "A100" is refused, suggesting "a100"', () => {
    const line = here() + 2;
    assertInvalid(
      () => app.function({ gpu: "A100" }, async () => 1),
      `Invalid options for function defined at ${at(line)} (1 problem):\n  - gpu: Invalid instance type "A100": instance types are lowercase; did you mean "a100"?`,
      [{ path: "gpu", message: 'Invalid instance type "A100": instance types are lowercase; did you mean "a100"?' }],
    );
  });

  test("an unknown key (gpus) is refused by name, with the option it most likely meant", () => {
    const options = { gpus: "a100" } as unknown as FunctionOptions;
    assertInvalid(
      () => app.function(options, async function unknownKeyFn() { return 1; }),
      "Invalid options for unknownKeyFn (1 problem):\n  - gpus: unknown option; did you mean `gpu`?",
      [{ path: "gpus", message: "unknown option", suggestion: "did you mean `gpu`?" }],
    );
  });

  test("timeoutMs: -1 is refused", () => {
    assertInvalid(
      () => app.function({ timeoutMs: -1 }, async function negativeTimeout() { return 1; }),
      "Invalid options for negativeTimeout (1 problem):\n  - timeoutMs: Too small: expected number to be >0",
      [{ path: "timeoutMs", message: "Too small: expected number to be >0" }],
    );
  });

  test("several bad fields are all reported, each with its path", () => {
    assertInvalid(
      () => app.function({ timeoutMs: 1.5, env: { "BAD-NAME": "x" }, retries: 11 }, async function manyBad() { return 1; }),
      "Invalid options for manyBad (3 problems):\n  - env[\"BAD-NAME\"]: must be an environment variable name\n  - timeoutMs: Invalid input: expected int, received number\n  - retries: Too big: expected number to be <=10",
      [
        { path: 'env["BAD-NAME"]', message: "must be an environment variable name" },
        { path: "timeoutMs", message: "Invalid input: expected int, received number" },
        { path: "retries", message: "Too big: expected number to be <=10" },
      ],
    );
  });

  test("an invalid function name is refused", () => {
    assertInvalid(
      () => app.function({ name: "1st" }, async () => 1),
      "Invalid options for 1st (1 problem):\n  - name: must start with a letter and hold only letters, digits, _ $ . -",
      [{ path: "name", message: "must start with a letter and hold only letters, digits, _ $ . -" }],
    );
    assert.equal(findFunction("1st"), undefined);
  });

  test("app defaults merge under the function's options; env merges, secrets are deduplicated", () => {
    const withDefaults = new App("unit-defaults", { gpu: "h100", env: { A: "1", B: "app" }, secrets: ["S1", "S2"], timeoutMs: 1000 });
    const fn = withDefaults.function(
      { gpu: "a100", env: { B: "fn", C: "3" }, secrets: ["S2", "S3"], retries: { maxRetries: 2 } },
      async function mergedOptions() { return 1; },
    );
    assert.deepEqual(recordOf(fn).options, {
      gpu: "a100",
      timeoutMs: 1000,
      env: { A: "1", B: "fn", C: "3" },
      secrets: ["S1", "S2", "S3"],
      retries: { maxRetries: 2, backoffCoefficient: 2, initialDelayMs: 1000 },
    });
    assert.equal(recordOf(fn).app, "unit-defaults");
  });
});

describe("new App(name)", () => {
  for (const name of ["a", "my-app_1", "A".repeat(63), "0start"]) {
    test(`accepts ${JSON.stringify(name)}`, () => {
      const line = here() + 1;
      const created = new App(name);
      assert.equal(created.name, name);
      const record = registry().apps.at(-1);
      assert.deepEqual(record && { name: record.name, definedAt: record.definedAt, file: record.file }, {
        name,
        definedAt: at(line),
        file: FILE,
      });
    });
  }
  for (const name of ["", "has space", "A".repeat(64), "-leading", "_leading", "dots.not.ok", "ünï"]) {
    test(`refuses ${JSON.stringify(name)}`, () => {
      const apps = registry().apps.length;
      assert.throws(() => new App(name), {
        name: "ValidationError",
        message: `App name '${name}' is invalid: use 1-63 letters, digits, '-' or '_'.`,
      });
      assert.equal(registry().apps.length, apps);
    });
  }

  test("invalid defaults are refused, naming the app", () => {
    assertInvalid(
      () => new App("bad-defaults", { gpu: "nope" }),
      `Invalid options for App 'bad-defaults' defaults (1 problem):\n  - gpu: Invalid instance type "nope": unknown GPU model "nope"; known models: a100, h100, h200, b200`,
      [{ path: "gpu", message: 'Invalid instance type "nope": unknown GPU model "nope"; known models: a100, h100, h200, b200' }],
    );
  });

  test("localEntrypoint records the entrypoint on the app; it must be a function", () => {
    const entryApp = new App("unit-entry");
    const entry = () => 1;
    entryApp.localEntrypoint(entry);
    assert.deepEqual(registry().apps.find((a) => a.name === "unit-entry")?.entrypoints, [entry]);
    assert.throws(() => entryApp.localEntrypoint(42 as unknown as () => void), {
      name: "ValidationError",
      message: "app.localEntrypoint(fn): fn must be a function.",
    });
  });
});

describe("TC39 decorators and app.cls()", () => {
  test("static and instance methods become Class.method, callable with .local()", async () => {
    const line = here();
    class Tc39Stats {
      scale = 10;

      @app.function({ gpu: "h100" })
      static async addUp(a: number, b: number) {
        return a + b;
      }

      @app.function()
      async scaleBy(x: number) {
        return x * this.scale;
      }

      notDecorated() {
        return "plain";
      }
    }
    // Registered only once the class is seen.
    assert.equal(findFunction("Tc39Stats.addUp"), undefined);
    assert.equal(findFunction("Tc39Stats.scaleBy"), undefined);

    const stats = app.cls(Tc39Stats);
    assert.equal(stats.addUp.name, "Tc39Stats.addUp");
    assert.equal(stats.scaleBy.name, "Tc39Stats.scaleBy");
    assert.equal(await stats.addUp.local(2, 3), 5);
    assert.equal(await stats.scaleBy.local(4), 40);

    const summary = (id: string) => {
      const record = findFunction(id);
      assert.ok(record, id);
      return { kind: record.kind, app: record.app, definedAt: record.definedAt, options: record.options, owner: record.owner };
    };
    assert.deepEqual(summary("Tc39Stats.addUp"), {
      kind: "static-method",
      app: "unit-app",
      definedAt: at(line + 4),
      options: { gpu: "h100", env: {}, secrets: [] },
      owner: Tc39Stats,
    });
    assert.deepEqual(summary("Tc39Stats.scaleBy"), {
      kind: "method",
      app: "unit-app",
      definedAt: at(line + 9),
      options: { env: {}, secrets: [] },
      owner: Tc39Stats,
    });
    assert.deepEqual(Object.keys(stats).sort(), ["addUp", "scaleBy"]);

    // Seeing the class again registers nothing twice.
    const count = registry().functions.length;
    assert.equal(app.cls(Tc39Stats).addUp.name, "Tc39Stats.addUp");
    assert.equal(registry().functions.length, count);
  });

  test("an undecorated member of the handle throws a FlowError", () => {
    class Tc39Undecorated {
      @app.function({})
      static async decorated() {
        return 1;
      }
      notDecorated() {
        return 2;
      }
    }
    const handle = app.cls(Tc39Undecorated);
    assert.throws(
      () => handle.notDecorated,
      (error: unknown) => {
        assert.ok(error instanceof FlowError, `expected a FlowError, got ${String(error)}`);
        assert.equal(error.message, "Tc39Undecorated.notDecorated is not a remote function.");
        assert.deepEqual(error.suggestions, ["Decorate it with @app.function() in class Tc39Undecorated."]);
        return true;
      },
    );
    assert.throws(() => (handle as unknown as Record<string, unknown>).missing, {
      name: "FlowError",
      message: "Tc39Undecorated.missing is not a remote function.",
    });
  });

  test("awaiting the handle does not throw: `then` is not trapped", async () => {
    class Tc39Awaited {
      @app.function({})
      static async ping() {
        return "pong";
      }
    }
    const handle = app.cls(Tc39Awaited);
    assert.equal((handle as unknown as { then?: unknown }).then, undefined);
    const awaited = await handle;
    assert.equal(awaited, handle);
    assert.equal(await Promise.resolve(handle), handle);
    assert.equal(await awaited.ping.local(), "pong");
  });

  test("JSON.stringify(handle) does not throw", () => {
    class Tc39Json {
      @app.function({})
      static async one() {
        return 1;
      }
    }
    assert.equal(typeof JSON.stringify(app.cls(Tc39Json)), "string");
  });

  test(".remote() on a method without an app run rejects with a FlowError", async () => {
    class Tc39NoHost {
      @app.function({})
      static async work() {
        return 1;
      }
    }
    await assert.rejects(app.cls(Tc39NoHost).work.remote(), {
      name: "FlowError",
      message: "Tc39NoHost.work.remote() needs a running app.",
    });
  });

  test("decorating something other than a method is refused", () => {
    const decorate = app.function({});
    const context = { kind: "getter", name: "size", static: false } as unknown as ClassMethodDecoratorContext;
    assert.throws(() => decorate(() => 1, context), {
      name: "FlowError",
      message: "@app.function() decorates methods, not a getter ('size').",
    });
  });

  test("decorator options are validated when the decorator is applied, naming the method", () => {
    const decorator = app.function({ gpu: "tpu" });
    assert.equal(typeof decorator, "function");
    assertInvalid(
      () => {
        class Tc39BadOptions {
          @app.function({ gpu: "tpu" })
          static async badGpu() {
            return 1;
          }
        }
        return Tc39BadOptions;
      },
      `Invalid options for @app.function() on method badGpu (${at(here() - 7)}) (1 problem):\n  - gpu: Invalid instance type "tpu": unknown GPU model "tpu"; known models: a100, h100, h200, b200`,
      [{ path: "gpu", message: 'Invalid instance type "tpu": unknown GPU model "tpu"; known models: a100, h100, h200, b200' }],
    );
  });

  test("app.cls() needs the class itself", () => {
    assert.throws(() => app.cls("Nope" as unknown as new () => unknown), {
      name: "FlowError",
      message: "app.cls(Class): pass the class itself.",
    });
  });
});

describe("legacy (experimentalDecorators) decorators", () => {
  test("(prototype, key, descriptor) and (constructor, key, descriptor) register at once; app.cls exposes both", async () => {
    class LegacyModel {
      factor = 3;
      static async legacySum(a: number, b: number) {
        return a + b;
      }
      async legacyScale(x: number) {
        return x * this.factor;
      }
      undecorated() {
        return 0;
      }
    }
    const [instanceDecorator, instanceLine] = [app.function({}), here()];
    const [staticDecorator, staticLine] = [app.function({ gpu: "a100", timeoutMs: 5000 }), here()];
    // What TypeScript emits for `@app.function(...)` under experimentalDecorators.
    instanceDecorator(LegacyModel.prototype, "legacyScale", Object.getOwnPropertyDescriptor(LegacyModel.prototype, "legacyScale")!);
    staticDecorator(LegacyModel, "legacySum", Object.getOwnPropertyDescriptor(LegacyModel, "legacySum")!);

    // Legacy decorators see the class, so the methods are registered right away.
    const scale = findFunction("LegacyModel.legacyScale");
    const sum = findFunction("LegacyModel.legacySum");
    assert.ok(scale && sum);
    assert.deepEqual(
      { kind: scale.kind, owner: scale.owner, definedAt: scale.definedAt, options: scale.options },
      { kind: "method", owner: LegacyModel, definedAt: at(instanceLine), options: { env: {}, secrets: [] } },
    );
    assert.deepEqual(
      { kind: sum.kind, owner: sum.owner, definedAt: sum.definedAt, options: sum.options },
      { kind: "static-method", owner: LegacyModel, definedAt: at(staticLine), options: { gpu: "a100", timeoutMs: 5000, env: {}, secrets: [] } },
    );
    assert.equal(scale.implementation, LegacyModel.prototype.legacyScale);
    assert.equal(sum.implementation, LegacyModel.legacySum);

    const count = registry().functions.length;
    const model = app.cls(LegacyModel);
    assert.equal(registry().functions.length, count);
    assert.deepEqual(Object.keys(model).sort(), ["legacyScale", "legacySum"]);
    assert.equal(model.legacySum.name, "LegacyModel.legacySum");
    assert.equal(model.legacyScale.name, "LegacyModel.legacyScale");
    assert.equal(await model.legacySum.local(2, 3), 5);
    assert.equal(await model.legacyScale.local(7), 21);
    assert.throws(() => model.undecorated, { name: "FlowError", message: "LegacyModel.undecorated is not a remote function." });
  });

  test("a legacy decorator on something other than a method is refused", () => {
    class LegacyField {
      static count = 1;
      get size() {
        return 1;
      }
    }
    const decorate = app.function({});
    assert.throws(() => decorate(LegacyField, "count", Object.getOwnPropertyDescriptor(LegacyField, "count")!), {
      name: "FlowError",
      message: "@app.function() decorates methods only.",
    });
    assert.throws(() => decorate(LegacyField.prototype, "size", Object.getOwnPropertyDescriptor(LegacyField.prototype, "size")!), {
      name: "FlowError",
      message: "@app.function() decorates methods only.",
    });
    assert.equal(findFunction("LegacyField.count"), undefined);
  });

  test("the same legacy method decorated twice under one class name is a duplicate", () => {
    const make = () =>
      class LegacyTwice {
        static async run() {
          return 1;
        }
      };
    const first = make();
    const second = make();
    app.function({})(first, "run", Object.getOwnPropertyDescriptor(first, "run")!);
    assert.throws(() => app.function({})(second, "run", Object.getOwnPropertyDescriptor(second, "run")!), {
      message: /^Two remote functions are named 'LegacyTwice\.run': /,
    });
  });
});
