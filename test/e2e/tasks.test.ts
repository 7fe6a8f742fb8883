// Command tasks through the real `flow` CLI on the local runner: every step is a separate CLI
// process, as a user in several shells would run them. Each test has its own FLOW_HOME and HOME.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { flowBin, isAlive, runCli, startCli, tempDir, until, type CliResult } from "./helpers.ts";

const execFileAsync = promisify(execFile);

interface Sandbox {
  project: string;
  home: string;
  flow(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  start(args: string[]): ReturnType<typeof startCli>;
  /** `flow <args> --json`, parsed. */
  json(args: string[]): Promise<Record<string, unknown>>;
}

const roots: string[] = [];
// Every task has ended by then (each test waits for or cancels its tasks).
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function sandbox(files: Record<string, string | Buffer> = {}): Sandbox {
  const root = tempDir("flow-tasks-");
  roots.push(root);
  const project = join(root, "project");
  const home = join(root, "flow-home");
  for (const [path, contents] of Object.entries({ "train.py": "print('hi')\n", ...files })) {
    mkdirSync(dirname(join(project, path)), { recursive: true });
    writeFileSync(join(project, path), contents);
  }
  const options = { cwd: project, env: { FLOW_HOME: home, HOME: join(root, "user") } };
  return {
    project,
    home,
    flow: (args, env = {}) => runCli(args, { ...options, env: { ...options.env, ...env } }),
    start: (args) => startCli(args, options),
    json: async (args) => {
      const result = await runCli([...args, "--json"], options);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout) as Record<string, unknown>;
    },
  };
}

async function statusOf(box: Sandbox, taskId: string): Promise<Record<string, unknown>> {
  return box.json(["status", taskId]);
}

describe("flow run (command tasks)", { concurrency: true }, () => {
  it("run → logs -f → status → cancel, each from a separate CLI process", async () => {
    const box = sandbox();
    const submitted = await box.json(["run", "echo started; sleep 30; echo never", "--instance-type", "a100"]);
    const taskId = String(submitted["taskId"]);
    assert.match(taskId, /^task-[0-9a-f]{12}$/);
    assert.equal(submitted["instanceType"], "local");

    const logs = box.start(["logs", taskId, "-f"]);
    await until(() => logs.output().includes("started"), "the task's first line through logs -f");

    const running = await statusOf(box, taskId);
    assert.equal(running["status"], "running");
    const pid = Number((running["providerMetadata"] as Record<string, unknown>)["pid"]);
    assert.ok(isAlive(pid));

    const cancel = await box.flow(["cancel", taskId]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /cancelled/);

    const followed = await logs.done;
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout, "started\n", "logs -f ends when the task does");
    const after = await statusOf(box, taskId);
    assert.equal(after["status"], "cancelled");
    await until(() => !isAlive(pid), "the cancelled command's process to be gone", 5_000);

    const again = await box.flow(["cancel", taskId]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already ended \(cancelled\)/);
  });

  it("--wait streams the output and exits with the task's exit code", async () => {
    const box = sandbox();
    const failed = await box.flow(["run", "echo to-stdout; echo to-stderr >&2; exit 3", "-i", "a100", "--wait"]);
    assert.equal(failed.code, 3, failed.stderr);
    assert.match(failed.stdout, /^to-stdout$/m);
    assert.match(failed.stderr, /^to-stderr$/m);
    assert.match(failed.stdout, /failed after \d+s: exited with code 3/);

    const ok = await box.flow(["run", "python3 -c 'print(6*7)' || echo 42", "-i", "a100", "--wait"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^42$/m);

    const tasks = (await box.json(["list"])) as unknown as Record<string, unknown>[];
    assert.deepEqual(tasks.map((t) => [t["status"], t["exitCode"]]), [["completed", 0], ["failed", 3]]);
    const failedOnly = (await box.json(["list", "--status", "failed"])) as unknown as Record<string, unknown>[];
    assert.equal(failedOnly.length, 1);
  });

  it("the task runs in a workspace with the uploaded code (.flowignore negations applied) and FLOW_* env", async () => {
    const box = sandbox({
      ".flowignore": "logs/*\n!logs/keep.log\n*.ckpt\n!best.ckpt\n",
      "logs/debug.log": "no",
      "logs/keep.log": "yes",
      "model.ckpt": "no",
      "best.ckpt": "yes",
      ".env": "SECRET=no",
      "node_modules/dep/index.js": "no",
    });
    const result = await box.flow([
      "run",
      "find . -type f | sort; echo env $FLOW_TASK_NAME $FLOW_NODE_RANK $FLOW_NUM_NODES $FLOW_MAIN_IP $EPOCHS; pwd",
      "-i", "a100", "--name", "ws", "-e", "EPOCHS=3", "--wait",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const files = result.stdout.split("\n").filter((l) => l.startsWith("./"));
    assert.deepEqual(files, ["./.flowignore", "./best.ckpt", "./logs/keep.log", "./train.py"]);
    assert.match(result.stdout, /^env ws-[0-9a-f]{6} 0 1 127\.0\.0\.1 3$/m);
    assert.match(result.stdout, new RegExp(`^${box.home}/tasks/task-[0-9a-f]{12}/workspace$`, "m"));
  });

  it("an oversized upload fails before submitting, naming the largest files and .flowignore", async () => {
    const box = sandbox({ "data/big.bin": randomBytes(11 * 1024 * 1024), "data/small.bin": randomBytes(1024) });
    const result = await box.flow(["run", "python train.py", "-i", "a100"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /over the 10\.0 MB limit/);
    assert.match(result.stderr, /11\.0 MB\s+data\/big\.bin/);
    assert.match(result.stderr, /\.flowignore.*a line `data\/`/);
    assert.deepEqual(await box.json(["list"]), []);
  });

  it("maxRunTimeHours from a YAML task file stops the task and fails it", async () => {
    const box = sandbox({ "job.yaml": "name: short\ninstance_type: a100\ncommand: sleep 30\nmax_run_time_hours: 0.0002\n" });
    const result = await box.flow(["run", "job.yaml", "--wait"]);
    assert.notEqual(result.code, 0);
    const [task] = (await box.json(["list"])) as unknown as Record<string, unknown>[];
    assert.equal(task?.["status"], "failed");
    assert.match(String(task?.["message"]), /maxRunTimeHours \(0\.0002 h\)/);
    assert.equal(result.code, task?.["exitCode"]);
  });

  it("a task whose supervisor died reads failed and its command is stopped, but a program that got its number since is left alone", async () => {
    const box = sandbox();
    const stateFile = (taskId: string) => join(box.home, "tasks", taskId, "state.json");
    const stateOf = (taskId: string) => JSON.parse(readFileSync(stateFile(taskId), "utf8")) as Record<string, unknown>;
    const started = async () => {
      const taskId = String((await box.json(["run", "sleep 300", "--instance-type", "a100"]))["taskId"]);
      await until(() => stateOf(taskId)["status"] === "running" && stateOf(taskId)["pid"] !== undefined, "the task to run");
      const state = stateOf(taskId);
      return { taskId, pid: Number(state["pid"]), supervisorPid: Number(state["supervisorPid"]) };
    };

    // The supervisor is SIGKILLed: the next status check stops the command and says what happened.
    const lost = await started();
    process.kill(lost.supervisorPid, "SIGKILL");
    await until(() => !isAlive(lost.supervisorPid), "the supervisor to die");
    const status = await statusOf(box, lost.taskId);
    assert.equal(status["status"], "failed");
    assert.match(String(status["message"]), /its supervisor \(pid \d+\) exited unexpectedly/);
    await until(() => !isAlive(lost.pid), "the command to be stopped");

    // As after a reboot: supervisor and command are gone, and the command's number now leads the
    // process group of another program.
    const stale = await started();
    process.kill(stale.supervisorPid, "SIGKILL");
    process.kill(-stale.pid, "SIGKILL");
    await until(() => !isAlive(stale.supervisorPid), "the supervisor to die");
    const stranger = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
    try {
      writeFileSync(stateFile(stale.taskId), JSON.stringify({ ...stateOf(stale.taskId), pid: stranger.pid }));
      assert.equal((await statusOf(box, stale.taskId))["status"], "failed");
      assert.equal(isAlive(stranger.pid!), true, "flow status killed a program that was not the task's");
    } finally {
      stranger.kill("SIGKILL");
    }
  });

  it("the exit status is recorded even when the waiting CLI is SIGKILLed", async () => {
    const box = sandbox();
    const cli = box.start(["run", "sleep 0.5; exit 4", "-i", "a100", "--wait"]);
    await until(() => /Submitted task-/.test(cli.output()), "the task to be submitted");
    const taskId = /task-[0-9a-f]{12}/.exec(cli.output())![0];
    cli.child.kill("SIGKILL");
    await cli.done;
    // The state file is what any later `flow status` reads; poll it rather than start CLIs.
    const stateFile = join(box.home, "tasks", taskId, "state.json");
    const state = () => JSON.parse(readFileSync(stateFile, "utf8")) as Record<string, unknown>;
    await until(() => state()["status"] === "failed", "the supervisor to record the exit", 15_000);
    const status = await statusOf(box, taskId);
    assert.equal(status["status"], "failed");
    assert.equal(status["exitCode"], 4);
  });

  it("runs an argv without a shell, a one-line command with one, and a multi-line script by its shebang", async () => {
    const box = sandbox({
      "script.yaml": "instance_type: a100\ncommand: |\n  #!/bin/sh\n  echo \"script via $0\" | sed 's|/.*/||'\n  echo second line\n",
      "bash.yaml": "instance_type: a100\nscript: |\n  words=(bash arrays work)\n  echo ${words[1]}\n",
    });
    const [argv, shell, script, bash] = await Promise.all([
      box.flow(["run", "-i", "a100", "--wait", "--", "printf", "%s|", "a b", "$HOME"]),
      box.flow(["run", "printf '%s|' a b $FLOW_NUM_NODES", "-i", "a100", "--wait"]),
      box.flow(["run", "script.yaml", "--wait"]),
      box.flow(["run", "bash.yaml", "--wait"]),
    ]);
    assert.match(argv.stdout, /^a b\|\$HOME\|$/m, argv.stderr);
    assert.match(shell.stdout, /^a\|b\|1\|$/m, shell.stderr);
    assert.match(script.stdout, /^script via script\nsecond line$/m, script.stderr);
    assert.match(bash.stdout, /^arrays$/m, bash.stderr);
  });

  it("the task gets a minimal environment: nothing from the shell beyond PATH, HOME and the like", async () => {
    const box = sandbox();
    const result = await box.flow(["run", "env", "-i", "a100", "--wait"], { FLOW_API_KEY: "fkey_shellsecret0123456789", UNRELATED: "x" });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^PATH=/m);
    assert.match(result.stdout, /^FLOW_TASK_ID=task-/m);
    assert.doesNotMatch(result.stdout, /FLOW_API_KEY|shellsecret|UNRELATED/);
  });

  it("a command without an instance type is refused with the flag to add", async () => {
    const result = await sandbox().flow(["run", "nvidia-smi"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /needs an instance type[\s\S]*flow run "nvidia-smi" --instance-type a100/);
  });

  it("secret env values never reach the records or the CLI's output", async () => {
    const secret = "tok_live_0123456789abcdefSECRET";
    const box = sandbox();
    const result = await box.flow(["run", "test -n \"$API_TOKEN\"", "-i", "a100", "-e", `API_TOKEN=${secret}`, "--wait", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const task = JSON.parse(result.stdout) as { taskId: string; config: { env: Record<string, string> } };
    assert.equal(task.config.env["API_TOKEN"], "tok_…CRET");
    const records = readdirSync(join(box.home, "tasks", task.taskId)).filter((f) => statSync(join(box.home, "tasks", task.taskId, f)).isFile());
    for (const file of records) assert.ok(!readFileSync(join(box.home, "tasks", task.taskId, file), "utf8").includes(secret), file);
  });
});

describe("flow status / logs / cancel / list / catalog / init", { concurrency: true }, () => {
  it("an unknown task is TaskNotFoundError with a pointer to flow list", async () => {
    const box = sandbox();
    for (const command of [["status", "task-000000000000"], ["logs", "nope"], ["cancel", "nope"]]) {
      const result = await box.flow(command);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^Error: No task "[^"]+" on the local provider\.\n\s+- `flow list` shows your tasks/);
    }
  });

  it("logs --tail and --stderr; status by name; list of recent tasks", async () => {
    const box = sandbox();
    const run = await box.flow(["run", "for i in 1 2 3 4 5; do echo out$i; done; echo err1 >&2", "-i", "a100", "-n", "counter", "--wait"]);
    assert.equal(run.code, 0, run.stderr);
    const taskId = /task-[0-9a-f]{12}/.exec(run.stdout)![0];
    assert.equal((await box.flow(["logs", taskId, "--tail", "2"])).stdout, "out4\nout5\n");
    assert.equal((await box.flow(["logs", taskId, "--stderr"])).stdout, "err1\n");
    const byName = await box.flow(["status", (await statusOf(box, taskId))["name"] as string]);
    assert.match(byName.stdout, new RegExp(`^${taskId}  counter-[0-9a-f]{6}\\n  status +completed \\(exited with code 0\\)`));
    const recent = await box.flow(["status"]);
    assert.match(recent.stdout, /^ID +NAME +STATUS/);
    const badTail = await box.flow(["logs", taskId, "--tail", "many"]);
    assert.equal(badTail.code, 1);
    assert.match(badTail.stderr, /--tail: must be a whole number of lines/);
  });

  it("logs of a progress bar: each \\r redraw is a line, for --tail (read from the end) and -f alike", async () => {
    // 100,000 tqdm-style redraws (about 1.5 MB) with no newline until the end.
    const box = sandbox({ "bar.js": "let s = '';\nfor (let i = 0; i < 100000; i++) s += `\\r${i}/100000|`;\nprocess.stdout.write(s + '\\ndone\\n');\n" });
    const run = await box.flow(["run", "node bar.js", "-i", "a100", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const taskId = String((JSON.parse(run.stdout) as { taskId: string }).taskId);
    const followed = await box.flow(["logs", taskId, "-f", "--tail", "1000000000"]);
    assert.equal(followed.code, 0, followed.stderr);
    const lines = followed.stdout.split("\n");
    assert.equal(lines.length, 100_002, "a line per redraw, then done (and the final newline)");
    assert.deepEqual([lines[0], lines[99_999], lines[100_000], lines[100_001]], ["0/100000|", "99999/100000|", "done", ""]);
    assert.equal((await box.flow(["logs", taskId, "--tail", "3"])).stdout, "99998/100000|\n99999/100000|\ndone\n");
  });

  it("logs into a pipe whose reader is slow: every line arrives, with and without -f", async () => {
    const box = sandbox();
    const run = await box.flow(["run", "seq 1 300000", "-i", "a100", "--wait"]);
    assert.equal(run.code, 0, run.stderr);
    const taskId = /task-[0-9a-f]{12}/.exec(run.stdout)![0];
    for (const follow of [[], ["-f"]]) {
      // The reader sleeps first: the CLI must not exit while its output still waits in the pipe.
      const logs = [process.execPath, flowBin, "logs", taskId, ...follow, "--tail", "1000000"].map((arg) => JSON.stringify(arg)).join(" ");
      const { stdout } = await execFileAsync("bash", ["-c", `${logs} | { sleep 1; awk 'END { print NR, $0 }'; }`], {
        cwd: box.project,
        env: { ...process.env, FLOW_HOME: box.home, HOME: join(dirname(box.home), "user") },
      });
      assert.equal(stdout, "300000 300000\n", `flow logs ${follow.join(" ")}`);
    }
  });

  it("a damaged task record is skipped with one warning naming it; every other task still lists and resolves", async () => {
    const box = sandbox();
    const run = await box.flow(["run", "echo fine", "-i", "a100", "-n", "healthy", "--wait"]);
    assert.equal(run.code, 0, run.stderr);
    const taskId = /task-[0-9a-f]{12}/.exec(run.stdout)![0];
    const name = (await statusOf(box, taskId))["name"] as string;
    // One record cut short (a crash mid-edit), one that is not even a file.
    const truncated = join(box.home, "tasks", "task-0123456789ab", "state.json");
    mkdirSync(dirname(truncated), { recursive: true });
    writeFileSync(truncated, '{"version": 1, "taskId": "task-0123456789ab", "na');
    const directory = join(box.home, "tasks", "task-ba9876543210", "state.json");
    mkdirSync(directory, { recursive: true });

    for (const command of [["list"], ["status"], ["status", name], ["logs", name], ["list", "--status", "failed"]]) {
      const result = await box.flow(command);
      assert.equal(result.code, 0, `flow ${command.join(" ")}: ${result.stderr}`);
      if (!command.includes("--status")) assert.match(result.stdout, command[0] === "logs" ? /^fine\n$/ : new RegExp(taskId));
      const warnings = result.stderr.split("\n").filter((line) => line.startsWith("flow: warning: "));
      assert.equal(warnings.length, 2, `flow ${command.join(" ")}: ${result.stderr}`);
      assert.equal(warnings.filter((line) => line.includes(truncated) && /is unreadable: not JSON/.test(line)).length, 1, result.stderr);
      assert.equal(warnings.filter((line) => line.includes(directory) && /cannot be read \(EISDIR\)/.test(line)).length, 1, result.stderr);
    }
    const direct = await box.flow(["status", "task-0123456789ab"]);
    assert.equal(direct.code, 1);
    assert.match(direct.stderr, new RegExp(`^Error: The record of task task-0123456789ab \\(${truncated.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\) is unreadable: not JSON`));
  });

  it("says the local provider runs tasks on this machine: no made-up instance type, region or price anywhere", async () => {
    const box = sandbox();
    const run = await box.flow(["run", "echo hi", "-i", "a100", "--wait"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Submitted task-[0-9a-f]{12} \(flow-task-[0-9a-f]{6}\) \(local: runs on this machine; instance type a100 is not applied locally; add --provider fcp for the cloud\)$/m);
    const taskId = /task-[0-9a-f]{12}/.exec(run.stdout)![0];
    const byMemory = await box.flow(["run", "echo hi", "--min-gpu-memory-gb", "40"]);
    assert.match(byMemory.stdout, /\(local: runs on this machine; 40 GB of GPU memory is not applied locally;/);
    const status = await box.flow(["status", taskId]);
    assert.match(status.stdout, /^  instance +this machine \(local provider; instance type a100 is not applied locally\)$/m);
    const catalog = await box.flow(["catalog", "--gpu", "h100"]);
    assert.equal(catalog.stdout, "The local provider runs tasks on this machine: it has no instance types or prices. See the cloud's with: flow catalog --provider fcp\n");
    assert.deepEqual(await box.json(["catalog"]), []);
    const everything = [run, byMemory, status, catalog, await box.flow(["list"]), await box.flow(["status"])].map((r) => r.stdout + r.stderr).join("\n");
    assert.doesNotMatch(everything, /a100-80gb|sxm|us-central|\$\d/);
  });

  it("takes the provider from `provider:` in a config file, and names the file when the value is bad", async () => {
    const box = sandbox({ ".flow/config.yaml": "provider: local\n" });
    const user = join(dirname(box.project), "user");
    mkdirSync(join(user, ".flow"), { recursive: true });
    writeFileSync(join(user, ".flow", "config.yaml"), "provider: gcp\n");
    // The project's file says local and wins over the home file.
    assert.match((await box.flow(["run", "true", "-i", "a100"])).stdout, /^Submitted task-/);
    rmSync(join(box.project, ".flow"), { recursive: true });
    const bad = await box.flow(["list"]);
    assert.equal(bad.code, 1);
    assert.ok(bad.stderr.includes(join(user, ".flow", "config.yaml")) && bad.stderr.includes('"gcp"'), bad.stderr);
    assert.match(bad.stderr, /must be one of: local, fcp/);
  });

  it("init --api-key --project checks them with the API, writes ~/.flow/config.yaml with mode 0600 and never prints the key", async () => {
    const key = "fkey_0123456789abcdefWXYZ";
    // init asks the API who the key belongs to and which projects it has.
    const sim = await FcpSimulator.start({ apiKeys: [key], projects: [{ fid: "proj_0001", name: "proj-1" }] });
    try {
      const box = sandbox();
      const api = { FLOW_API_URL: sim.url };
      const written = await box.flow(["init", "--api-key", key, "--project", "proj-1", "--region", "us-central1-a", "--json"], api);
      assert.equal(written.code, 0, written.stderr);
      const result = JSON.parse(written.stdout) as Record<string, unknown>;
      const file = String(result["path"]);
      assert.equal(result["apiKey"], "fkey_…WXYZ");
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(readFileSync(file, "utf8"), /api_key: fkey_0123456789abcdefWXYZ\nproject: proj-1\nregion: us-central1-a/);
      const noFlags = await box.flow(["init"], api);
      assert.equal(noFlags.code, 0, "the file already has a key and project");
      assert.doesNotMatch(noFlags.stdout + noFlags.stderr, /0123456789abcdef/);
    } finally {
      await sim.close();
    }
  });

  it("--help for every command", async () => {
    const box = sandbox();
    for (const command of ["run", "status", "logs", "cancel", "list", "catalog", "init"]) {
      const result = await box.flow([command, "--help"]);
      assert.equal(result.code, 0, command);
      assert.match(result.stdout, new RegExp(`^Usage: flow ${command} `), command);
    }
  });
});

describe("a full FLOW_HOME", () => {
  // A real full disk: a 2 MB tmpfs. Mounting one needs root (CI containers and this sandbox have
  // it); without it the test says so and is skipped.
  const mountPoint = tempDir("flow-full-disk-");
  let mountError: string | undefined;
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint], { stdio: "pipe" });
  } catch (error) {
    mountError = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
  }
  after(() => {
    if (mountError === undefined) execFileSync("umount", [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it("keeps the outcome of a task that filled it and says so, refuses new tasks naming the space, leaves no temp files", async (t) => {
    if (mountError !== undefined) {
      t.skip(`needs a small tmpfs to fill (mount -t tmpfs as root): ${mountError}`);
      return;
    }
    const box = sandbox();
    const home = join(mountPoint, "home");
    const flow = (args: string[]) => box.flow(args, { FLOW_HOME: home });
    const full = (text: string) => text.includes(`the disk holding FLOW_HOME (${home}) is full`);

    const filler = await flow(["run", "head -c 10000000 /dev/zero > big; echo never", "-i", "a100", "--no-upload-code", "--wait"]);
    assert.equal(filler.code, 1, filler.stderr);
    const taskId = /task-[0-9a-f]{12}/.exec(filler.stdout)![0];
    const status = JSON.parse((await flow(["status", taskId, "--json"])).stdout) as Record<string, unknown>;
    assert.equal(status["status"], "failed");
    assert.equal(status["exitCode"], 1, "the command's own exit code, not a lost supervisor");
    assert.ok(full(String(status["message"])), String(status["message"]));

    const refused = await flow(["run", "echo hi", "-i", "a100", "--no-upload-code"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error: The disk holding FLOW_HOME \(.+\) is full \([\d.]+ (bytes|KiB) free, 128 KiB needed\): the task was not submitted\.\n {2}- Free some space/);
    assert.doesNotMatch(refused.stderr, /ENOSPC|\n\s+at /);

    const listed = await flow(["list"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${taskId} .* failed`));
    const everything = readdirSync(home, { recursive: true }).map(String);
    assert.deepEqual(everything.filter((path) => path.endsWith(".tmp") || path.endsWith("reserve")), []);
    assert.deepEqual(readdirSync(join(home, "tasks")), [taskId], "the refused task left nothing behind");

    rmSync(join(home, "tasks", taskId, "workspace", "big"));
    const after = await flow(["run", "echo room again", "-i", "a100", "--no-upload-code", "--wait"]);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, /room again/);
  });
});
