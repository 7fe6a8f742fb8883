// The FCP startup script, run for real: bash executes the generated script with the instance root
// in a temp dir (FLOW_INSTANCE_ROOT) and fake `shutdown`, `docker` and `curl` first on PATH.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create as createTar } from "tar";
import { ValidationError } from "../../src/errors.ts";
import { instancePaths, type InstancePaths } from "../../src/providers/fcp/instance-layout.ts";
import {
  buildStartupScript,
  PINNED_NODE_VERSION,
  STARTUP_SCRIPT_LIMIT_BYTES,
  type StartupScriptSpec,
} from "../../src/providers/fcp/startup-script/index.ts";

const IMAGE = "example/image:1";
let tmp: string;
let caseNumber = 0;

/** Every boot's kill switch: a failed test must not leave a script waiting for uploads. */
const boots: Boot[] = [];

before(async () => (tmp = await mkdtemp(join(tmpdir(), "flow-startup-"))));
after(async () => {
  for (const started of boots) started.kill();
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh instance: its root, a bin dir of fakes, and what the fakes recorded. */
interface Machine {
  root: string;
  paths: InstancePaths;
  bin: string;
  shutdownLog: string;
  dockerArgs: string;
}

async function machine(options: { docker?: boolean; oldNode?: boolean } = {}): Promise<Machine> {
  const dir = join(tmp, `case-${++caseNumber}`);
  const root = join(dir, "root");
  const bin = join(dir, "bin");
  await mkdir(bin, { recursive: true });
  const shutdownLog = join(dir, "shutdown.log");
  const dockerArgs = join(dir, "docker-args");
  await executable(join(bin, "shutdown"), `#!/bin/bash\necho "shutdown $*" >> '${shutdownLog}'\n`);
  // Without docker the fake's daemon never answers (a real docker client may be on this PATH).
  // With it, `run` records its argv and runs what follows the image here, as the container would.
  await executable(
    join(bin, "docker"),
    options.docker
      ? `#!/bin/bash
case "$1" in
  info|image) exit 0 ;;
  run) printf '%s\\n' "$@" > '${dockerArgs}'
       while [ "$1" != '${IMAGE}' ]; do shift; done; shift; exec "$@" ;;
esac
exit 1
`
      : "#!/bin/bash\nexit 1\n",
  );
  if (options.oldNode) await executable(join(bin, "node"), "#!/bin/bash\necho v18.19.0\n");
  return { root, paths: instancePaths(root), bin, shutdownLog, dockerArgs };
}

async function executable(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  await chmod(path, 0o755);
}

interface Boot {
  /** Resolves with bash's exit status once the script and everything holding its output ended. */
  done: Promise<number | null>;
  /** Signals the script's whole process group, as stopping a machine or a delivered run does. */
  kill(signal?: NodeJS.Signals): void;
}

function boot(m: Machine, script: string): Boot {
  const child = spawn("bash", ["-c", script], {
    env: { PATH: `${m.bin}:${dirname(process.execPath)}:/usr/bin:/bin`, FLOW_INSTANCE_ROOT: m.root, HOME: tmp },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout.resume();
  child.stderr.resume();
  const done = new Promise<number | null>((resolve, reject) => child.once("error", reject).once("close", (code) => resolve(code)));
  const started: Boot = {
    done,
    kill: (signal = "SIGKILL") => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    },
  };
  boots.push(started);
  return started;
}

async function run(m: Machine, spec: StartupScriptSpec): Promise<{ exitCode: string; stdout: string; stderr: string; log: string }> {
  await boot(m, buildStartupScript(spec).script).done;
  return {
    exitCode: await readFile(m.paths.exitCode, "utf8"),
    stdout: await readText(m.paths.taskStdout),
    stderr: await readText(m.paths.taskStderr),
    log: await readText(m.paths.startupLog),
  };
}

async function readText(path: string): Promise<string> {
  return existsSync(path) ? readFile(path, "utf8") : "";
}

/** Polls a condition; the limit only keeps a broken script from hanging the suite. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function archiveOf(files: Record<string, string>): Promise<Buffer> {
  const dir = join(tmp, `archive-${++caseNumber}`);
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await createTar({ gzip: true, cwd: dir, file: join(dir, "..", `archive-${caseNumber}.tar.gz`) }, Object.keys(files));
  return readFile(join(dir, "..", `archive-${caseNumber}.tar.gz`));
}

function commandSpec(overrides: Partial<StartupScriptSpec> & Pick<StartupScriptSpec, "workload">): StartupScriptSpec {
  return { expectUploads: false, env: {}, gpus: true, volumes: [], poweroffGraceSeconds: 0, ...overrides };
}

/** A value bash would mangle if it were quoted carelessly. */
const TRICKY = `it's "$HOME" \`id\` $(id) \\ ; | * \n second line`;

describe("startup script: command tasks", () => {
  it("runs a command with its inline code and env, logs each section, records the exit code and powers off", async () => {
    const m = await machine();
    const result = await run(
      m,
      commandSpec({
        workload: { kind: "command", command: 'cat hello.txt; printf "%s" "$GREETING"; echo oops >&2' },
        inlineArchive: await archiveOf({ "hello.txt": "hello from the archive\n" }),
        env: { GREETING: TRICKY },
      }),
    );
    assert.equal(result.exitCode, "0\n");
    assert.equal(result.stdout, `hello from the archive\n${TRICKY}`);
    assert.equal(result.stderr, "oops\n");
    for (const name of ["header", "environment", "code", "start"]) assert.match(result.log, new RegExp(`\\[flow\\] == ${name} ==`));
    assert.match(result.log, /finished with exit code 0/);
    assert.ok(existsSync(m.paths.ready));
    assert.equal(await readFile(m.shutdownLog, "utf8"), "shutdown -h now\n");
  });

  it("records a non-zero exit code and passes argv words through untouched", async () => {
    const m = await machine();
    const words = ["a b", "it's", "$HOME", "*", "back\\slash", ""];
    const result = await run(m, commandSpec({ workload: { kind: "command", command: ["bash", "-c", 'printf "[%s]" "$@"; exit 7', "bash", ...words] } }));
    assert.equal(result.exitCode, "7\n");
    assert.equal(result.stdout, words.map((w) => `[${w}]`).join(""));
    assert.equal(await readFile(m.shutdownLog, "utf8"), "shutdown -h now\n");
  });

  it("runs a multi-line command as a script file", async () => {
    const m = await machine();
    const result = await run(m, commandSpec({ workload: { kind: "command", command: "echo one\nif true; then echo two; fi\nexit 3\n" } }));
    assert.equal(result.stdout, "one\ntwo\n");
    assert.equal(result.exitCode, "3\n");
  });

  it("writes the exit code when setup fails, before ready", async () => {
    const m = await machine();
    const result = await run(m, commandSpec({ workload: { kind: "command", command: "true" }, inlineArchive: new Uint8Array([1, 2, 3]) }));
    assert.notEqual(result.exitCode, "0\n");
    assert.ok(!existsSync(m.paths.ready), "setup failed before ready");
    assert.equal(await readFile(m.shutdownLog, "utf8"), "shutdown -h now\n");
  });

  it("waits for the client's uploads (code and secret env) before starting the command", async () => {
    const m = await machine();
    const secret = `s3cr3t ${randomBytes(6).toString("hex")} it's`;
    const spec = commandSpec({ workload: { kind: "command", command: 'cat data.txt; echo "$SECRET_TOKEN"' }, expectUploads: true });
    const { script } = buildStartupScript(spec);
    const started = boot(m, script);
    await until(() => existsSync(m.paths.ready), "ready");
    assert.ok(!existsSync(m.paths.taskStdout), "the command waits for the uploads");
    assert.ok(!existsSync(m.paths.exitCode));
    await writeFile(m.paths.archive, await archiveOf({ "data.txt": "uploaded code\n" }));
    await writeFile(m.paths.secretEnv, `SECRET_TOKEN='${secret.replaceAll("'", `'\\''`)}'\n`, { mode: 0o600 });
    await writeFile(m.paths.uploaded, "");
    await started.done;
    assert.equal(await readFile(m.paths.taskStdout, "utf8"), `uploaded code\n${secret}\n`);
    assert.equal(await readFile(m.paths.exitCode, "utf8"), "0\n");
    assert.ok(!script.includes(secret));
  });

  it("runs the command in the image when docker answers, with env by name and the code at workingDir", async () => {
    const m = await machine({ docker: true });
    const spec = commandSpec({
      workload: { kind: "command", command: 'echo "$GREETING $SECRET_TOKEN"', workingDir: "/work dir" },
      expectUploads: true,
      env: { GREETING: "hi there" },
      image: IMAGE,
    });
    const started = boot(m, buildStartupScript(spec).script);
    await until(() => existsSync(m.paths.ready), "ready");
    await writeFile(m.paths.secretEnv, "SECRET_TOKEN='tok en'\n", { mode: 0o600 });
    await writeFile(m.paths.uploaded, "");
    await started.done;
    const args = (await readFile(m.dockerArgs, "utf8")).trimEnd().split("\n");
    const code = `${m.root}/code`;
    const expected = ["run", "--rm", "--network", "host", "--gpus", "all", "-v", `${m.root}:${m.root}`, "-v", `${code}:/work dir`, "-w", "/work dir"];
    assert.deepEqual(args.slice(0, expected.length), expected);
    assert.deepEqual(args.slice(expected.length), ["-e", "GREETING", "-e", "SECRET_TOKEN", IMAGE, "bash", "-c", 'echo "$GREETING $SECRET_TOKEN"']);
    assert.equal(await readFile(m.paths.taskStdout, "utf8"), "hi there tok en\n");
    assert.match(await readFile(m.paths.startupLog, "utf8"), /docker answers: the workload runs in example\/image:1/);
  });

  it("runs on the host when an image is given but no docker daemon answers", async () => {
    const m = await machine();
    const result = await run(m, commandSpec({ workload: { kind: "command", command: "echo on the host" }, image: IMAGE }));
    assert.equal(result.stdout, "on the host\n");
    assert.match(result.log, /no docker daemon: the workload runs on the host/);
  });

  it("stops the command at the max run time, saying why, then records its exit code and powers off", async () => {
    const m = await machine();
    const started = boot(m, buildStartupScript(commandSpec({ workload: { kind: "command", command: ["sleep", "60"] }, maxRunTimeHours: 0.0002 })).script);
    try {
      await until(() => existsSync(m.shutdownLog), "the shutdown");
      assert.equal(await readFile(m.paths.failure, "utf8"), "stopped after running longer than maxRunTimeHours (0.0002 h)\n");
      assert.equal(await readFile(m.paths.exitCode, "utf8"), "143\n", "killed by SIGTERM");
      assert.equal(await readFile(m.shutdownLog, "utf8"), "shutdown -h now\n");
    } finally {
      started.kill();
    }
  });

  it("stops the command at its deadline, and does not start one whose deadline has passed", async () => {
    const m = await machine();
    const deadline = new Date(Date.now() + 1_500).toISOString();
    const started = boot(m, buildStartupScript(commandSpec({ workload: { kind: "command", command: ["sleep", "60"] }, deadline })).script);
    try {
      await until(() => existsSync(m.paths.exitCode), "the exit code");
      assert.equal(await readFile(m.paths.failure, "utf8"), `stopped at its deadline (deadlineHours, ${deadline})\n`);
    } finally {
      started.kill();
    }
    const late = await machine();
    const passed = new Date(Date.now() - 1_000).toISOString();
    const result = await run(late, commandSpec({ workload: { kind: "command", command: ["echo", "never"] }, deadline: passed }));
    assert.equal(result.exitCode, "1\n");
    assert.equal(await readFile(late.paths.failure, "utf8"), `the deadline (deadlineHours, ${passed}) passed before the task could start\n`);
    assert.ok(!existsSync(late.paths.taskStdout), "the command never ran");
  });

  it("gives up waiting for uploads after uploadWaitSeconds, saying so", async () => {
    const m = await machine();
    const result = await run(m, commandSpec({ workload: { kind: "command", command: ["true"] }, expectUploads: true, uploadWaitSeconds: 1 }));
    assert.equal(result.exitCode, "1\n");
    assert.equal(await readFile(m.paths.failure, "utf8"), "nothing was uploaded within 1 s (uploadTimeout): giving up\n");
  });
});

describe("startup script: delivered runs, resumed disks and dev machines", () => {
  it("runs in a directory of its own on a machine that is up, and never powers it off", async () => {
    const m = await machine();
    const runRoot = join(m.root, "runs", "rtask_1");
    const paths = instancePaths(runRoot);
    const spec = { ...commandSpec({ workload: { kind: "command", command: "echo in $PWD" } }), root: runRoot, poweroffGraceSeconds: "never" as const };
    await boot(m, buildStartupScript(spec).script).done;
    assert.equal(await readFile(paths.exitCode, "utf8"), "0\n");
    assert.equal(await readFile(paths.taskStdout, "utf8"), `in ${paths.codeDir}\n`);
    assert.ok(!existsSync(m.paths.exitCode), "the machine's own completion marker was written");
    assert.ok(!existsSync(m.shutdownLog), "a delivered run powered the machine off");
  });

  it("records exit code 143 when its process group is stopped (a cancel), though its log's tee dies with it", async () => {
    const m = await machine();
    const runRoot = join(m.root, "runs", "rtask_2");
    const paths = instancePaths(runRoot);
    const spec = { ...commandSpec({ workload: { kind: "command", command: "echo up; sleep 600" } }), root: runRoot, poweroffGraceSeconds: "never" as const };
    const started = boot(m, buildStartupScript(spec).script);
    await until(async () => (await readText(paths.taskStdout)) === "up\n", "the command to start");
    started.kill("SIGTERM");
    await started.done;
    assert.equal(await readFile(paths.exitCode, "utf8"), "143\n");
    assert.ok(!existsSync(m.shutdownLog));
  });

  it("stops a delivered run, not the machine, at its max run time", async () => {
    const m = await machine();
    const runRoot = join(m.root, "runs", "rtask_3");
    const spec = { ...commandSpec({ workload: { kind: "command", command: "sleep 600" }, maxRunTimeHours: 1 / 3600 }), root: runRoot, poweroffGraceSeconds: "never" as const };
    await boot(m, buildStartupScript(spec).script).done;
    assert.equal(await readFile(instancePaths(runRoot).exitCode, "utf8"), "143\n");
    assert.ok(!existsSync(m.shutdownLog));
  });

  it("removes the completion marker a paused instance's disk kept, before it runs the command again", async () => {
    const m = await machine();
    await mkdir(m.root, { recursive: true });
    await writeFile(m.paths.exitCode, "143\n");
    const started = boot(m, buildStartupScript(commandSpec({ workload: { kind: "command", command: "true" }, expectUploads: true })).script);
    await until(() => existsSync(m.paths.ready), "ready");
    assert.ok(!existsSync(m.paths.exitCode), "the last boot's exit code would pass for this one's");
    await writeFile(m.paths.uploaded, "");
    await started.done;
    assert.equal(await readFile(m.paths.exitCode, "utf8"), "0\n");
  });

  it("powers a dev machine off once no session has touched its clock for the idle time", async () => {
    const m = await machine();
    const started = boot(m, buildStartupScript(commandSpec({ workload: { kind: "command" }, autostopIdleSeconds: 2 })).script);
    await until(() => existsSync(m.paths.devLastActive), "the clock");
    assert.equal(await readFile(m.paths.devIdleSeconds, "utf8"), "2\n");
    await until(async () => (await readText(m.shutdownLog)).includes("shutdown -h now"), "the power-off");
    assert.match(await readText(m.paths.startupLog), /no session for 2 s: powering off/);
    started.kill();
  });
});

describe("startup script: function agents", () => {
  /** Prints the listening line, and its argv so the test can check what it was given. */
  const fakeAgent = `console.log(JSON.stringify({ event: "listening", port: 4242, pid: process.pid, argv: process.argv.slice(2) }));\n`;

  async function uploadAgent(m: Machine): Promise<void> {
    await writeFile(m.paths.agentFile, fakeAgent);
    await writeFile(m.paths.agentSecret, "session-secret", { mode: 0o600 });
    await writeFile(m.paths.archive, "");
    await writeFile(m.paths.uploaded, "");
  }

  const agentSpec = (overrides: Partial<StartupScriptSpec> = {}): StartupScriptSpec => ({
    workload: { kind: "agent", idleTimeoutMs: 1234 },
    expectUploads: true,
    env: {},
    gpus: true,
    volumes: [],
    poweroffGraceSeconds: 0,
    ...overrides,
  });

  it("starts the uploaded agent with Node from PATH; its listening line lands in agentOut", async () => {
    const m = await machine();
    const started = boot(m, buildStartupScript(agentSpec()).script);
    await until(() => existsSync(m.paths.ready), "ready");
    await uploadAgent(m);
    await started.done;
    const line = JSON.parse((await readFile(m.paths.agentOut, "utf8")).trim()) as { event: string; port: number; argv: string[] };
    assert.equal(line.event, "listening");
    assert.deepEqual(line.argv, [
      "--archive", m.paths.archive,
      "--workspace", `${m.root}/workspace`,
      "--host", "127.0.0.1", "--port", "0",
      "--idle-timeout-ms", "1234",
      "--secret-file", m.paths.agentSecret,
      "--calls-dir", m.paths.agentCalls,
    ]);
    assert.equal((await readFile(m.paths.nodePath, "utf8")).trim(), join(dirname(process.execPath), "node"));
    assert.equal(await readFile(m.paths.exitCode, "utf8"), "0\n");
    assert.match(await readFile(m.paths.startupLog, "utf8"), /\[flow\] == node ==/);
  });

  /** A stand-in for nodejs.org: the pinned release's tarball (a node that is really ours) and its SHASUMS256.txt. */
  async function fakeNodeRelease(m: Machine, options: { corrupt?: boolean } = {}): Promise<void> {
    const release = join(dirname(m.bin), "release");
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    const name = `node-${PINNED_NODE_VERSION}-linux-${arch}`;
    await mkdir(join(release, name, "bin"), { recursive: true });
    await executable(join(release, name, "bin", "node"), `#!/bin/bash\nexec '${process.execPath}' "$@"\n`);
    await createTar({ gzip: true, cwd: release, file: join(release, `${name}.tar.gz`) }, [name]);
    const digest = createHash("sha256").update(await readFile(join(release, `${name}.tar.gz`))).digest("hex");
    await writeFile(join(release, "SHASUMS256.txt"), `${options.corrupt ? "0".repeat(64) : digest}  ${name}.tar.gz\n${"1".repeat(64)}  other.tar.gz\n`);
    // curl -fsSL --retry 5 -o FILE URL, served from the release dir.
    await executable(join(m.bin, "curl"), `#!/bin/bash\nout="\${@: -2:1}"; url="\${@: -1}"\ncase "$url" in https://nodejs.org/dist/${PINNED_NODE_VERSION}/*) cp '${release}'/"\${url##*/}" "$out" ;; *) exit 22 ;; esac\n`);
  }

  it("downloads the pinned Node when the machine's is older than 20, checking its sha256", async () => {
    const m = await machine({ oldNode: true });
    await fakeNodeRelease(m);
    const started = boot(m, buildStartupScript(agentSpec()).script);
    await until(() => existsSync(m.paths.ready), "ready");
    await uploadAgent(m);
    await started.done;
    assert.equal((await readFile(m.paths.nodePath, "utf8")).trim(), `${m.root}/node/bin/node`);
    assert.match(await readFile(m.paths.agentOut, "utf8"), /"event":"listening"/);
    assert.match(await readFile(m.paths.startupLog, "utf8"), /tar\.gz: OK/);
  });

  it("stops the boot when the download does not match its checksum", async () => {
    const m = await machine({ oldNode: true });
    await fakeNodeRelease(m, { corrupt: true });
    await boot(m, buildStartupScript(agentSpec()).script).done;
    assert.notEqual(await readFile(m.paths.exitCode, "utf8"), "0\n");
    assert.ok(!existsSync(m.paths.ready));
    assert.match(await readFile(m.paths.startupLog, "utf8"), /FAILED/);
  });

  it("runs the agent in the image with the portable Node mounted read-only", async () => {
    const m = await machine({ docker: true });
    await fakeNodeRelease(m);
    const started = boot(m, buildStartupScript(agentSpec({ image: IMAGE, gpus: false })).script);
    await until(() => existsSync(m.paths.ready), "ready");
    await uploadAgent(m);
    await started.done;
    const args = (await readFile(m.dockerArgs, "utf8")).trimEnd().split("\n");
    const node = `${m.root}/node`;
    assert.deepEqual(args.slice(0, 10), ["run", "--rm", "--network", "host", "-v", `${m.root}:${m.root}`, "-v", `${node}:${node}:ro`, IMAGE, `${node}/bin/node`]);
    assert.match(await readFile(m.paths.agentOut, "utf8"), /"event":"listening"/);
  });
});

describe("startup script: volumes and data in the container", () => {
  // Text only: the volumes section would act on this machine's disks (the simulator's disk shims
  // run it for real, test/e2e/fcp-tasks.test.ts).
  const volumes = [
    { volumeFid: "vol_a", mountPath: "/ckpt", interface: "block" as const },
    { volumeFid: "vol_b", mountPath: "/shared data", interface: "file" as const, readonly: true },
  ];
  const dockerRun = (script: string) => script.split("\n").find((line) => line.includes("exec docker run")) ?? "";

  it("mounts every volume at its mountPath in a function agent's container, and a task's", () => {
    const agent: StartupScriptSpec = { workload: { kind: "agent", idleTimeoutMs: 1000 }, expectUploads: true, env: {}, gpus: true, volumes, image: IMAGE, poweroffGraceSeconds: 0 };
    for (const spec of [agent, commandSpec({ workload: { kind: "command", command: "true" }, image: IMAGE, volumes })]) {
      const line = dockerRun(buildStartupScript(spec).script);
      assert.ok(line.includes(`-v '/ckpt:/ckpt'`), line);
      assert.ok(line.includes(`-v '/shared data:/shared data:ro'`), line);
    }
  });

  it("copies S3 data after the uploads and mounts it read-only at its target; pulls the image after the volumes", () => {
    const { script } = buildStartupScript(
      commandSpec({ workload: { kind: "command", command: "true" }, image: IMAGE, volumes, expectUploads: true, s3Mounts: [{ source: "s3://b/p", target: "/data" }] }),
    );
    assert.ok(dockerRun(script).includes(`-v "$ROOT/data/0:"'/data:ro'`), dockerRun(script));
    assert.ok(script.indexOf("uploads received") < script.indexOf("s3-copy.mjs"));
    assert.ok(script.indexOf("== volumes ==") < script.indexOf("== image =="));
  });
});

describe("startup script: size limit", () => {
  it("sends a script over 10,000 bytes compressed, and it runs the same", async () => {
    const env = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`SETTING_${i}`, "x".repeat(900)]));
    const spec = commandSpec({ workload: { kind: "command", command: 'echo "${#SETTING_11}"; exit 4' }, env: { ...env, GREETING: TRICKY } });
    const built = buildStartupScript(spec);
    assert.equal(built.compressed, true);
    assert.ok(built.sections.reduce((sum, s) => sum + s.bytes, 0) > STARTUP_SCRIPT_LIMIT_BYTES);
    assert.ok(built.bytes <= STARTUP_SCRIPT_LIMIT_BYTES);
    assert.equal(built.bytes, Buffer.byteLength(built.script));
    assert.ok(!built.script.includes("x".repeat(20)), "the env rides compressed");

    const m = await machine();
    await boot(m, built.script).done;
    assert.equal(await readFile(m.paths.taskStdout, "utf8"), "900\n");
    assert.equal(await readFile(m.paths.exitCode, "utf8"), "4\n");
    assert.match(await readFile(m.paths.startupLog, "utf8"), /\[flow\] == header ==/);
    assert.equal(await readFile(m.shutdownLog, "utf8"), "shutdown -h now\n");
  });

  it("keeps a script under the limit plain", () => {
    const built = buildStartupScript(commandSpec({ workload: { kind: "command", command: "true" } }));
    assert.equal(built.compressed, false);
    assert.ok(built.script.startsWith("#!/bin/bash\n"));
    assert.ok(built.script.includes("${FLOW_INSTANCE_ROOT:-/var/lib/flow}"));
    assert.deepEqual(
      built.sections.map((s) => s.name),
      ["header", "environment", "start"],
    );
  });

  it("refuses a script too large even compressed, naming the limit and the inline archive", () => {
    const archive = randomBytes(20_000);
    assert.throws(
      () => buildStartupScript(commandSpec({ workload: { kind: "command", command: "true" }, inlineArchive: archive })),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.match(error.message, /over FCP's limit of 10000 bytes/);
        assert.match(error.message, /Biggest sections: code \(\d+ bytes\)/);
        assert.match(error.suggestions.join("\n"), /the inline code archive is 20000 bytes: let the client upload it/);
        return true;
      },
    );
  });
});

describe("startup script: spec checks", () => {
  it("refuses a secret-looking env name without echoing its value", () => {
    const value = "hf_abcdefghijklmnop";
    assert.throws(
      () => buildStartupScript(commandSpec({ workload: { kind: "command", command: "true" }, env: { HF_TOKEN: value, PLAIN: "ok" } })),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.deepEqual(error.issues.map((i) => i.path), ["env.HF_TOKEN"]);
        assert.match(error.issues[0]!.suggestion ?? "", /secret upload/);
        assert.ok(!error.describe().includes(value));
        return true;
      },
    );
  });

  it("refuses env names bash cannot export, and an agent that expects no uploads", () => {
    assert.throws(() => buildStartupScript(commandSpec({ workload: { kind: "command" }, env: { "MY-VAR": "1" } })), ValidationError);
    assert.throws(
      () => buildStartupScript(commandSpec({ workload: { kind: "agent", idleTimeoutMs: 1000 }, expectUploads: false })),
      (error: unknown) => error instanceof ValidationError && error.issues.some((i) => i.path === "expectUploads"),
    );
  });

  it("mounts volumes only when there are some, quoting their paths", () => {
    const withVolumes = buildStartupScript(
      commandSpec({
        workload: { kind: "command", command: "true" },
        volumes: [
          { volumeFid: "vol_a", mountPath: "/data/my vol", interface: "block" },
          { volumeFid: "vol_b", mountPath: "/shared", interface: "file" },
        ],
      }),
    );
    assert.ok(withVolumes.sections.some((s) => s.name === "volumes"));
    assert.match(withVolumes.script, /flow_mount_block 0 'vol_a' '\/data\/my vol'/);
    assert.match(withVolumes.script, /flow_mount_file 'vol_b' '\/shared'/);
  });
});
