// The README's remaining commands, run as a new user would in a fresh CommonJS project (what
// `npm init -y` writes), flow-sdk installed from its tarball: the multi-file layout, the task API
// and every `flow` command it shows, on the local provider and against the simulator.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { consumerProject, type ConsumerProject } from "./consumer.ts";
import { tempDir, until, type CliResult } from "./helpers.ts";

function ok(result: CliResult): string {
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return result.stdout;
}

/** The README's snippet `flow run "python train.py"`: a training script that prints what it got. */
const TRAIN_PY = `import sys
print("training with", " ".join(sys.argv[1:]) or "defaults", flush=True)
`;

/** The Python SDK's YAML, as the README says `flow run job.yaml` takes it. */
const JOB_YAML = `name: job
instance_type: a100
command: python train.py --epochs 1
`;

/** The README's task API snippet, as a program. */
const TASKS_TS = `import { Flow } from "flow-sdk";

const flow = new Flow();
const task = await flow.run("python train.py --epochs 3", { instanceType: "a100", maxPricePerHour: 10 });
for await (const line of task.logs({ follow: true })) console.log(line);
console.log(task.status, task.exitCode);
`;

/** The layout of the README's "What runs where", as two files. */
const FUNCTIONS_TS = `import { App } from "flow-sdk";
export const app = new App("demo");
export const embed = app.function({ gpu: "a100" }, async (t: string[]) => t.map((s) => s.length));
`;
const MAIN_TS = `import { app, embed } from "./functions.ts";
app.localEntrypoint(async () => {
  console.log(await embed.remote(["hi"]));
});
`;

/**
 * `python` for the task commands: whatever python3 is here, by its real path, so that it works
 * with HOME moved (pyenv's shims look for pyenv under HOME) and where only `python3` exists.
 */
function pythonBin(): string {
  const dir = tempDir("flow-python-");
  const real = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
  writeFileSync(join(dir, "python"), `#!/bin/sh\nexec ${JSON.stringify(real)} "$@"\n`);
  chmodSync(join(dir, "python"), 0o755);
  return dir;
}

let project: ConsumerProject;
let env: NodeJS.ProcessEnv;

before(async () => {
  project = await consumerProject("commonjs");
  project.copy("examples/hello.ts");
  project.write("train.py", TRAIN_PY);
  project.write("job.yaml", JOB_YAML);
  project.write("tasks.ts", TASKS_TS);
  project.write("functions.ts", FUNCTIONS_TS);
  project.write("main.ts", MAIN_TS);
  const home = tempDir("flow-readme-home-");
  mkdirSync(join(home, ".flow"));
  env = { HOME: home, FLOW_HOME: join(home, ".flow"), PATH: `${pythonBin()}:${process.env.PATH}` };
});

const flow = (args: string[], extra: NodeJS.ProcessEnv = {}) => project.npx(["flow", ...args], { ...env, ...extra });
const taskIdOf = (out: string) => /\b(task-[\w-]+|bid_\w+)\b/.exec(out)?.[1];

describe("the README's commands on the local provider", { concurrency: 1 }, () => {
  it("a multi-file app: functions in one module, the entrypoint in another", async () => {
    assert.equal(ok(await flow(["run", "main.ts"])).trim(), "[ 2 ]");
  });

  it("the task API program: run, follow the logs, read status and exit code", async () => {
    const out = ok(await project.node(["--import", "flow-sdk/register", "tasks.ts"], env));
    assert.match(out, /^training with --epochs 3$/m);
    assert.match(out, /^completed 0$/m);
  });

  it("flow run <command>, status, logs, list, cancel, catalog", async () => {
    const submitted = await flow(["run", "nvidia-smi", "--instance-type", "a100"]);
    const id = taskIdOf(ok(submitted) + submitted.stderr);
    assert.ok(id, submitted.stdout + submitted.stderr);
    // This machine has no GPU: the task runs and fails as nvidia-smi would be missing anywhere.
    await until(() => /failed/.test(execStatus(id)), `task ${id} to fail`, 30_000);
    assert.match(ok(await flow(["logs", id, "--tail", "200", "--stderr"])), /nvidia-smi/);
    assert.match(ok(await flow(["list", "--status", "failed", "--limit", "50"])), new RegExp(id));
    assert.match(ok(await flow(["status"])), new RegExp(id));
    assert.equal((JSON.parse(ok(await flow(["status", id, "--json"]))) as { status: string }).status, "failed");
    assert.match(ok(await flow(["cancel", id])) + "", new RegExp(id));
    ok(await flow(["catalog", "--gpu", "h100"]));
    assert.deepEqual(JSON.parse(ok(await flow(["catalog", "--json"]))), []);
  });

  it("flow run job.yaml --wait, and an argv after --", async () => {
    assert.match(ok(await flow(["run", "job.yaml", "--wait"])), /training with --epochs 1/);
    const argv = await flow(["run", "-i", "a100", "--", "python", "train.py", "--lr", "3e-4"]);
    const id = taskIdOf(ok(argv) + argv.stderr)!;
    assert.match(ok(await flow(["logs", id, "-f"])), /training with --lr 3e-4/);
  });
});

/** `flow status <id> --json`'s status, synchronously, for polling. */
function execStatus(id: string): string {
  try {
    return execFileSync("npx", ["flow", "status", id, "--json"], { cwd: project.dir, env: { ...process.env, ...env }, encoding: "utf8" });
  } catch {
    return "";
  }
}

describe("the README's commands on the GPU cloud (simulated)", { concurrency: 1 }, () => {
  let sim: FcpSimulator;
  let cloud: NodeJS.ProcessEnv;

  before(async () => {
    sim = await FcpSimulator.start({ allocationDelayMs: 50, bootStepMs: 30, stateDir: tempDir("flow-readme-sim-") });
    cloud = { FLOW_API_URL: sim.url };
    // `flow init` with the flags the README mentions, instead of the prompt.
    ok(await flow(["init", "--api-key", sim.apiKey, "--project", sim.project.name], cloud));
    assert.match(readFileSync(join(env.HOME!, ".flow", "config.yaml"), "utf8"), /project:/);
  });

  after(async () => {
    try {
      await until(() => sim.liveInstances().length === 0, "every instance to be terminated", 30_000);
    } finally {
      await sim.close();
    }
  });

  it("flow run --provider fcp examples/hello.ts: the same output as on the local provider", async () => {
    const local = ok(await flow(["run", "examples/hello.ts"], cloud));
    const remote = ok(await flow(["run", "--provider", "fcp", "examples/hello.ts"], cloud));
    const normalized = (text: string) => text.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<date>");
    assert.equal(normalized(remote), normalized(local));
  });

  it('flow run "python train.py" --instance-type 4xa100 --provider fcp ; flow logs <id> -f ; flow cancel <id>', async () => {
    const submitted = await flow(["run", "python train.py", "--instance-type", "4xa100", "--provider", "fcp"], cloud);
    const id = taskIdOf(ok(submitted) + submitted.stderr) ?? "";
    assert.match(id, /^bid_/, submitted.stdout + submitted.stderr);
    assert.match(ok(await flow(["logs", id, "-f"], cloud)), /training with defaults/);
    ok(await flow(["cancel", id], cloud));
  });

  it("flow catalog --provider fcp: instance types, regions, capacity, last price", async () => {
    assert.match(ok(await flow(["catalog", "--provider", "fcp"], cloud)), /a100[\s\S]*\$\d/);
  });
});
