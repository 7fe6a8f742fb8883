import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { FunctionCall } from "../../src/app/function-call.ts";
import { CancelledError, FlowError, ProviderError, TaskNotFoundError, FlowTimeoutError, ValidationError } from "../../src/errors.ts";
import { seedCatalog } from "../../src/instance-types/seed-catalog.ts";
import { followLines, tailLines } from "../../src/providers/local/log-files.ts";
import { readTaskState, writeTaskState, type LocalTaskState } from "../../src/providers/local/task-state.ts";
import type { FollowLogsOptions, PortForwards, ReadLogsOptions, SubmitRequest, TaskProvider } from "../../src/providers/task-provider.ts";
import { Flow } from "../../src/client/flow.ts";
import { redactEnv } from "../../src/task/secret-env.ts";
import { parseTaskConfig } from "../../src/task/task-config.ts";
import type { TaskInfo } from "../../src/task/task-info.ts";
import { isYamlPath, resolveTaskConfig } from "../../src/task/task-source.ts";
import { isTerminalStatus, TASK_STATUSES, TaskStatus } from "../../src/task/task-status.ts";
import { Task } from "../../src/client/task.ts";

const scratch = mkdtempSync(join(tmpdir(), "flow-task-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function info(overrides: Partial<TaskInfo> = {}): TaskInfo {
  return {
    taskId: "task-000000000001",
    name: "job",
    status: "pending",
    createdAt: new Date(0),
    instanceType: "a100-80gb.sxm.1x",
    numInstances: 1,
    region: "local",
    costPerHour: "$0.00",
    endpoints: {},
    instances: [],
    providerMetadata: {},
    ...overrides,
  };
}

/** A provider whose task moves through `statuses`, one per getTask call, staying on the last. */
class ScriptedProvider implements TaskProvider {
  readonly name = "scripted";
  readonly statusPollIntervalMs = 1;
  readonly submitted: SubmitRequest[] = [];
  readonly #infos: TaskInfo[];
  stderr = "";
  cancelled = false;

  constructor(...infos: TaskInfo[]) {
    this.#infos = infos;
  }

  async submit(request: SubmitRequest): Promise<TaskInfo> {
    this.submitted.push(request);
    return info();
  }
  async getTask(): Promise<TaskInfo> {
    return this.#infos.length > 1 ? this.#infos.shift()! : this.#infos[0]!;
  }
  async listTasks(): Promise<TaskInfo[]> {
    return [];
  }
  async cancel(): Promise<TaskInfo> {
    this.cancelled = true;
    return info({ status: "cancelled" });
  }
  async readLogs(_id: string, options: ReadLogsOptions): Promise<string> {
    return options.stream === "stderr" ? this.stderr : "out\n";
  }
  async *followLogs(_id: string, options: FollowLogsOptions): AsyncIterable<string> {
    yield `${options.stream} 1`;
    yield `${options.stream} 2`;
  }
  async getInstances() {
    return [];
  }
  async getUser() {
    return undefined;
  }
  async shell(): Promise<void> {}
  async forwardPorts(): Promise<PortForwards> {
    return { endpoints: {}, close: async () => {}, closed: Promise.resolve() };
  }
  async createVolume(): Promise<never> {
    throw new Error("unused");
  }
  async listVolumes() {
    return [];
  }
  async deleteVolume(): Promise<void> {}
  async catalog() {
    return seedCatalog();
  }
}

describe("TaskStatus", () => {
  test("has the seed's seven states, paused and preempting included; three are terminal", () => {
    assert.deepEqual([...TASK_STATUSES], ["pending", "running", "paused", "preempting", "completed", "failed", "cancelled"]);
    assert.equal(TaskStatus.PREEMPTING, "preempting");
    assert.deepEqual(
      TASK_STATUSES.filter(isTerminalStatus),
      ["completed", "failed", "cancelled"],
    );
  });
});

describe("Task", () => {
  test("a refresh answered late with an older state does not undo the end another refresh saw", async () => {
    const answers: ((info: TaskInfo) => void)[] = [];
    const provider = new ScriptedProvider(info());
    provider.getTask = () => new Promise<TaskInfo>((resolve) => answers.push(resolve));
    const task = new Task(info({ status: "running" }), provider);
    const early = task.refresh();
    const late = task.refresh();
    answers[1]!(info({ status: "completed", exitCode: 0 }));
    await late;
    answers[0]!(info({ status: "running" }));
    await early;
    assert.equal(task.status, "completed");
    assert.equal(task.exitCode, 0);
  });

  test("isRunning / isTerminal follow the status; wait() polls until terminal", async () => {
    const provider = new ScriptedProvider(info({ status: "running" }), info({ status: "preempting" }), info({ status: "completed", exitCode: 0 }));
    const task = new Task(info({ status: "running" }), provider);
    assert.equal(task.isRunning, true);
    assert.equal(task.isTerminal, false);
    await task.wait();
    assert.equal(task.status, "completed");
    assert.equal(task.isRunning, false);
    assert.equal(task.isTerminal, true);
    assert.equal(task.exitCode, 0);
  });

  test("wait({ timeoutMs }) gives up with FlowTimeoutError, leaving the task alone", async () => {
    const provider = new ScriptedProvider(info({ status: "running" }));
    const task = new Task(info(), provider);
    await assert.rejects(task.wait({ timeoutMs: 20 }), (error: unknown) => {
      assert.ok(error instanceof FlowTimeoutError);
      assert.match(error.message, /did not finish within 20 ms \(it is running\)/);
      return true;
    });
    assert.equal(provider.cancelled, false);
  });

  test("logs(): a string, or with follow an async iterable of lines (stderr on request)", async () => {
    const task = new Task(info(), new ScriptedProvider(info({ status: "completed" })));
    assert.equal(await task.logs(), "out\n");
    const lines: string[] = [];
    for await (const line of task.logs({ follow: true, stderr: true })) lines.push(line);
    assert.deepEqual(lines, ["stderr 1", "stderr 2"]);
    assert.equal(task.status, "completed", "the end of a followed log refreshes the task");
  });

  test("result(): resolves when completed, FlowError with stderr when failed, CancelledError when cancelled", async () => {
    await new Task(info(), new ScriptedProvider(info({ status: "completed" }))).result();

    const failing = new ScriptedProvider(info({ status: "failed", exitCode: 3, message: "exited with code 3" }));
    failing.stderr = "Traceback\nValueError: bad\n";
    await assert.rejects(new Task(info(), failing).result(), (error: unknown) => {
      assert.ok(error instanceof FlowError);
      assert.equal(error.errorCode, "task_failed");
      assert.match(error.message, /failed: exited with code 3\nTraceback\nValueError: bad$/);
      return true;
    });
    await assert.rejects(new Task(info(), new ScriptedProvider(info({ status: "cancelled" }))).result(), CancelledError);
  });

  test("cancel() and stop() go to the provider; getUser() is undefined without a creator", async () => {
    const provider = new ScriptedProvider(info({ status: "running" }));
    const task = new Task(info({ status: "running" }), provider);
    await task.stop();
    assert.equal(provider.cancelled, true);
    assert.equal(task.status, "cancelled");
    assert.equal(await task.getUser(), undefined);
  });

  test("toJSON() is plain data with ISO dates", () => {
    const json = new Task(info({ startedAt: new Date(1000) }), new ScriptedProvider(info())).toJSON();
    assert.equal(json["startedAt"], "1970-01-01T00:00:01.000Z");
    assert.equal(json["taskId"], "task-000000000001");
  });
});

describe("FunctionCall as a task handle", () => {
  test("taskId, isRunning, wait() after failure, wait({ timeoutMs })", async () => {
    let started = () => {};
    let finish: (value: number) => void = () => {};
    const call = new FunctionCall<number>((_signal, onStarted) => {
      started = onStarted;
      return new Promise<number>((resolve) => (finish = resolve));
    });
    assert.match(call.taskId, /^call-[0-9a-f]{12}$/);
    assert.equal(call.isRunning, false);
    started();
    assert.equal(call.isRunning, true);
    await assert.rejects(call.wait({ timeoutMs: 10 }), FlowTimeoutError);
    finish(7);
    await call.wait();
    assert.equal(call.status, "completed");
    assert.equal(await call.result(), 7);

    const failed = new FunctionCall<number>(() => Promise.reject(new Error("boom")));
    await failed.wait();
    assert.equal(failed.status, "failed");
    assert.equal(failed.isTerminal, true);
  });
});

describe("local task state", () => {
  const state = (): LocalTaskState => ({
    version: 1,
    taskId: "task-0123456789ab",
    name: "job-89ab",
    status: "running",
    config: parseTaskConfig({ instanceType: "a100", command: "echo hi", env: { API_TOKEN: "tok_abcdefghijkl1234" } }),
    argv: ["/bin/sh", "-c", "echo hi"],
    instanceType: "a100-80gb.sxm.1x",
    region: "local",
    costPerHour: "$0.00",
    createdAt: new Date(0).toISOString(),
    pid: 123,
  });

  test("written atomically and read back through the schema", async () => {
    const file = join(scratch, "state.json");
    await writeTaskState(file, state(), scratch);
    assert.deepEqual(await readTaskState(file, "task-0123456789ab"), state());
  });

  test("a missing record is TaskNotFoundError pointing at `flow list`", async () => {
    await assert.rejects(readTaskState(join(scratch, "none.json"), "task-ffffffffffff"), (error: unknown) => {
      assert.ok(error instanceof TaskNotFoundError);
      assert.match(error.describe(), /flow list/);
      return true;
    });
  });

  test("a corrupt or foreign record is a ProviderError naming the field", async () => {
    const file = join(scratch, "bad.json");
    writeFileSync(file, JSON.stringify({ ...state(), status: "sleeping" }));
    await assert.rejects(readTaskState(file, "task-0123456789ab"), { name: "ProviderError", message: /status/ });
    writeFileSync(file, "{not json");
    await assert.rejects(readTaskState(file, "task-0123456789ab"), ProviderError);
  });

  test("secret-looking env values are redacted, others kept", () => {
    assert.deepEqual(redactEnv({ API_TOKEN: "tok_abcdefghijkl1234", HF_KEY: "short", EPOCHS: "3" }), {
      API_TOKEN: "tok_…1234",
      HF_KEY: "…",
      EPOCHS: "3",
    });
  });
});

describe("task sources", () => {
  test("isYamlPath: one word ending in .yaml/.yml", () => {
    assert.equal(isYamlPath("job.yaml"), true);
    assert.equal(isYamlPath("configs/job.YML"), true);
    assert.equal(isYamlPath("python gen.py > out.yaml"), false);
    assert.equal(isYamlPath("python train.py"), false);
  });

  test("YAML plus overrides: overrides fill gaps, replace the file's spelling, and add env", () => {
    const file = join(scratch, "job.yaml");
    writeFileSync(file, "name: from-yaml\nshell: echo yaml\nenv:\n  A: '1'\nmax_run_time_hours: 2\n");
    const config = resolveTaskConfig("job.yaml", { instanceType: "a100", command: "echo override", env: { B: "2" } }, { cwd: scratch });
    assert.equal(config.name, "from-yaml");
    assert.equal(config.instanceType, "a100");
    assert.equal(config.command, "echo override");
    assert.deepEqual(config.env, { A: "1", B: "2" });
    assert.equal(config.maxRunTimeHours, 2);
  });

  test("a YAML file that is missing, or invalid, is a ValidationError naming it", () => {
    assert.throws(() => resolveTaskConfig("missing.yaml", {}, { cwd: scratch }), { name: "ValidationError", message: /missing\.yaml does not exist/ });
    writeFileSync(join(scratch, "bad.yaml"), "instance_type: a100\nenvironment: {}\n");
    assert.throws(() => resolveTaskConfig("bad.yaml", {}, { cwd: scratch }), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.match(error.message, /in bad\.yaml/);
      assert.match(error.message, /environment: unknown field; use `env`/);
      return true;
    });
  });

  test("a command string with overrides; a TaskConfig object as it is", () => {
    assert.equal(resolveTaskConfig("nvidia-smi", { instanceType: "8xh100" }).command, "nvidia-smi");
    const config = parseTaskConfig({ instanceType: "a100", command: ["python", "x.py"] });
    assert.deepEqual(resolveTaskConfig(config), config);
  });
});

describe("Flow", () => {
  test("submit(command, { gpu, data }) becomes instanceType and dataMounts", async () => {
    const provider = new ScriptedProvider(info());
    const flow = new Flow({ provider, env: {}, homeDir: scratch, cwd: scratch });
    await flow.submit("python train.py", { gpu: "a100:4", data: { "/datasets": "s3://bucket/imagenet", "/models": "volume://pretrained" }, uploadCode: false });
    await flow.submit(["python", "eval.py"], { gpu: "a100", data: "s3://bucket/eval", uploadCode: false });
    const [first, second] = provider.submitted;
    assert.equal(first?.config.instanceType, "a100:4");
    assert.deepEqual(
      first?.config.dataMounts.map((m) => [m.target, m.source, m.mountType]),
      [["/datasets", "s3://bucket/imagenet", "s3fs"], ["/models", "volume://pretrained", "volume"]],
    );
    assert.equal(first?.code, undefined, "uploadCode: false sends no code");
    assert.deepEqual(second?.config.dataMounts.map((m) => m.target), ["/data"]);
  });

  test("run() packages the code root unless uploadCode is false", async () => {
    const root = join(scratch, "proj");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "train.py"), "print(1)");
    const provider = new ScriptedProvider(info());
    const flow = new Flow({ provider, env: {}, homeDir: scratch, cwd: root });
    const task = await flow.run("python train.py", { instanceType: "a100" });
    assert.ok(task instanceof Task);
    assert.deepEqual(provider.submitted[0]?.code?.files, ["train.py"]);
  });
});

describe("Flow with a provider that reconciles", () => {
  /** Its records say two tasks run; asked, the instance of one says it exited 0. */
  class ReconcilingProvider extends ScriptedProvider {
    readonly reconciled: string[] = [];
    readonly #listed = [info({ taskId: "t-done", status: "running" }), info({ taskId: "t-running", status: "running" }), info({ taskId: "t-old", status: "failed" })];

    // Optional parameters, as ScriptedProvider's take none.
    override async getTask(taskId = ""): Promise<TaskInfo> {
      return this.#listed.find((task) => task.taskId === taskId)!;
    }
    override async listTasks(filter: { status?: TaskStatus; limit: number } = { limit: Number.POSITIVE_INFINITY }): Promise<TaskInfo[]> {
      return this.#listed.filter((task) => filter.status === undefined || task.status === filter.status).slice(0, filter.limit);
    }
    async reconcile(taskId: string): Promise<TaskInfo> {
      this.reconciled.push(taskId);
      const task = await this.getTask(taskId);
      return taskId === "t-done" ? { ...task, status: "completed", exitCode: 0 } : task;
    }
  }

  test("status, getTask and listTasks reconcile the tasks that have not ended; a status filter applies after", async () => {
    const provider = new ReconcilingProvider();
    const flow = new Flow({ provider, env: {}, homeDir: scratch, cwd: scratch });
    assert.equal(await flow.status("t-done"), "completed");
    assert.equal((await flow.getTask("t-done")).exitCode, 0);
    assert.deepEqual((await flow.listTasks()).map((task) => [task.taskId, task.status]), [["t-done", "completed"], ["t-running", "running"], ["t-old", "failed"]]);
    assert.ok(!provider.reconciled.includes("t-old"), "a task that ended is not reconciled");
    assert.deepEqual((await flow.listTasks({ status: "completed" })).map((task) => task.taskId), ["t-done"]);
    assert.deepEqual((await flow.listTasks({ status: "running" })).map((task) => task.taskId), ["t-running"]);
    assert.deepEqual((await flow.listTasks({ limit: 1 })).map((task) => task.taskId), ["t-done"]);
  });

  test("a task's refresh() and wait() reconcile it", async () => {
    const provider = new ReconcilingProvider();
    const task = new Task(info({ taskId: "t-done", status: "running" }), provider);
    // Bounded: without reconciling, the task would look running for ever.
    await task.wait({ timeoutMs: 10_000 });
    assert.equal(task.status, "completed");
    assert.deepEqual(provider.reconciled, ["t-done"]);
  });
});

describe("Task snapshots arriving out of order", () => {
  test("a refresh answered late with the task still running does not undo one that saw it end", async () => {
    // Two reconciles in flight at once (a status poll and a follower ending): the one asked first
    // answers last, with what it saw before the task ended.
    let answerStale!: () => void;
    const staleAnswered = new Promise<void>((resolve) => (answerStale = resolve));
    let asked = 0;
    const provider = new ScriptedProvider(info({ status: "running" }));
    const reconciling = Object.assign(provider, {
      reconcile: async (): Promise<TaskInfo> => {
        if (asked++ === 0) {
          await staleAnswered;
          return info({ status: "running" });
        }
        return info({ status: "failed", exitCode: 3 });
      },
    });
    const task = new Task(info({ status: "running" }), reconciling);
    const stale = task.refresh();
    await task.refresh();
    assert.equal(task.status, "failed");
    answerStale();
    await stale;
    assert.equal(task.status, "failed");
    assert.equal(task.exitCode, 3);
  });
});

describe("log files", () => {
  test("tailLines: the last N lines, an unfinished one included", async () => {
    const file = join(scratch, "tail.log");
    writeFileSync(file, `${Array.from({ length: 300 }, (_, i) => `line ${i}`).join("\n")}\npartial`);
    assert.deepEqual(await tailLines(file, 3), ["line 298", "line 299", "partial"]);
  });

  test("followLines: the tail, then what is appended, until done", async () => {
    const file = join(scratch, "follow.log");
    writeFileSync(file, "a\nb\nhal");
    let done = false;
    const seen: string[] = [];
    const reading = (async () => {
      for await (const line of followLines(file, { tail: 2, pollIntervalMs: 5, isDone: async () => done })) seen.push(line);
    })();
    // The unfinished "hal" is held back; "b" shows the tail has been read.
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    appendFileSync(file, "f\nc\nlast");
    await new Promise((r) => setTimeout(r, 20));
    done = true;
    await reading;
    assert.deepEqual(seen, ["b", "half", "c", "last"]);
  });
});

describe("local volumes", () => {
  test("create, list and delete, as directories under the flow home", async () => {
    const flow = new Flow({ flowHome: join(scratch, "volumes-home"), env: {}, homeDir: scratch, cwd: scratch });
    const data = await flow.volumes.create({ name: "training-data", sizeGb: 100 });
    assert.match(data.volumeId, /^vol_[0-9a-f]{12}$/);
    assert.equal(data.sizeGb, 100);
    assert.equal(data.interface, "block");
    const unnamed = await flow.volumes.create();
    assert.equal(unnamed.sizeGb, 1, "the seed's small default");
    assert.deepEqual((await flow.volumes.list()).map((v) => v.name), ["training-data", unnamed.name]);
    writeFileSync(join(data.localPath!, "x"), "kept");

    await assert.rejects(flow.volumes.create({ name: "training-data" }), { name: "ValidationError", message: /already exists/ });
    await assert.rejects(flow.volumes.create({ name: "Training Data" }), { name: "ValidationError", message: /did you mean "training-data"/ });
    await flow.volumes.delete("training-data");
    await flow.volumes.delete(unnamed.volumeId);
    assert.deepEqual(await flow.volumes.list(), []);
    await assert.rejects(flow.volumes.delete("training-data"), { name: "ResourceNotFoundError" });
  });

  test("the local provider has no catalog (tasks run on this machine); SSH is refused with a ProviderError", async () => {
    const flow = new Flow({ flowHome: join(scratch, "catalog-home"), env: {}, homeDir: scratch, cwd: scratch });
    assert.deepEqual((await flow.catalog()).entries, []);
    const task = await flow.run("true", { instanceType: "a100", uploadCode: false });
    await assert.rejects(task.ssh({ command: "nvidia-smi" }), { name: "ProviderError", message: /not available on the local provider/ });
    await task.wait({ timeoutMs: 10_000 });
    assert.equal(task.status, "completed");
    const [instance] = await task.getInstances();
    assert.equal(instance?.status, "terminated");
    assert.equal((await task.getUser())?.email, "");
  });
});
