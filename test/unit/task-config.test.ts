import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ValidationError } from "../../src/errors.ts";
import { retryDelayMs, RetriesSchema } from "../../src/task/retries.ts";
import {
  DEFAULT_IMAGE,
  commandKind,
  parseTaskConfig,
  taskConfigFromYaml,
  taskConfigToYaml,
  type TaskConfig,
} from "../../src/task/task-config.ts";

const BASE = { instanceType: "a100" };

function validationErrorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a ValidationError, but nothing was thrown");
}

/** The issue at `path`; fails listing every issue when there is none. */
function issueAt(error: ValidationError, path: string) {
  const issue = error.issues.find((i) => i.path === path);
  assert.ok(issue, `no issue at ${path}; issues: ${JSON.stringify(error.issues)}`);
  return issue;
}

describe("parseTaskConfig: valid input", () => {
  test("applies the seed's defaults", () => {
    const config = parseTaskConfig(BASE);
    assert.deepEqual(config, {
      name: "flow-task",
      uniqueName: true,
      instanceType: "a100",
      image: DEFAULT_IMAGE,
      env: {},
      workingDir: "/workspace",
      volumes: [],
      dataMounts: [],
      ports: [],
      allowDockerCache: false,
      sshKeys: [],
      allocationMode: "spot",
      numInstances: 1,
      priority: "med",
      uploadCode: true,
      uploadStrategy: "auto",
      terminateOnExit: false,
      uploadTimeoutMs: 600_000,
      keepAliveMinutes: 0,
    } satisfies TaskConfig);
  });

  const rows: { name: string; input: Record<string, unknown>; expect: Partial<TaskConfig> }[] = [
    { name: "snake_case keys", input: { instance_type: "2xa100", max_price_per_hour: 9.5, num_instances: 2, ssh_keys: ["k1"] }, expect: { instanceType: "2xa100", maxPricePerHour: 9.5, numInstances: 2, sshKeys: ["k1"] } },
    { name: "minGpuMemoryGb instead of instanceType", input: { min_gpu_memory_gb: 80 }, expect: { minGpuMemoryGb: 80, instanceType: undefined } },
    { name: "upload_timeout seconds become ms", input: { ...BASE, upload_timeout: 900 }, expect: { uploadTimeoutMs: 900_000 } },
    { name: "uploadTimeoutMs as is", input: { ...BASE, uploadTimeoutMs: 120_000 }, expect: { uploadTimeoutMs: 120_000 } },
    { name: "retries seconds become ms", input: { ...BASE, retries: { max_retries: 5, initial_delay: 1.5, max_delay: 30 } }, expect: { retries: { maxRetries: 5, backoffCoefficient: 2, initialDelayMs: 1500, maxDelayMs: 30_000 } } },
    { name: "retries defaults", input: { ...BASE, retries: {} }, expect: { retries: { maxRetries: 3, backoffCoefficient: 2, initialDelayMs: 1000 } } },
    { name: "shell folds into command", input: { ...BASE, shell: "cd /app && python train.py" }, expect: { command: "cd /app && python train.py" } },
    { name: "script folds into command", input: { ...BASE, script: "#!/usr/bin/env python3\nprint('hi')\n" }, expect: { command: "#!/usr/bin/env python3\nprint('hi')\n" } },
    { name: "env numbers and booleans become strings", input: { ...BASE, env: { PORT: 8080, DEBUG: true, NAME: "x" } }, expect: { env: { PORT: "8080", DEBUG: "true", NAME: "x" } } },
    { name: "maxRunTimeHours 0 (no limit)", input: { ...BASE, maxRunTimeHours: 0 }, expect: { maxRunTimeHours: 0 } },
    { name: "maxRunTimeHours 168 is the limit", input: { ...BASE, maxRunTimeHours: 168 }, expect: { maxRunTimeHours: 168 } },
    { name: "null means not given", input: { ...BASE, region: null, retries: null }, expect: { region: undefined, retries: undefined } },
    { name: "scheduledStartTime Date → UTC ISO", input: { ...BASE, allocationMode: "reserved", scheduledStartTime: new Date(Date.UTC(2025, 6, 1, 9)), reservedDurationHours: 3 }, expect: { scheduledStartTime: "2025-07-01T09:00:00.000Z" } },
    { name: "scheduledStartTime offset → UTC", input: { ...BASE, allocation_mode: "reserved", scheduled_start_time: "2025-07-01T11:00:00+02:00", reserved_duration_hours: 3 }, expect: { scheduledStartTime: "2025-07-01T09:00:00.000Z", reservedDurationHours: 3 } },
    { name: "created volume defaults to 1 GB, block", input: { ...BASE, volumes: [{ name: "training-data", mount_path: "/data" }] }, expect: { volumes: [{ name: "training-data", mountPath: "/data", sizeGb: 1, interface: "block" }] } },
    { name: "attached volume has no size", input: { ...BASE, volumes: [{ volumeId: "vol-abc123", mountPath: "/data" }] }, expect: { volumes: [{ volumeId: "vol-abc123", mountPath: "/data", interface: "block" }] } },
    { name: "volume throughput (seed spelling)", input: { ...BASE, volumes: [{ size_gb: 100, iops: 3000, throughput_mb_s: 250 }] }, expect: { volumes: [{ sizeGb: 100, iops: 3000, throughputMbPerSecond: 250, interface: "block" }] } },
    { name: "docker cache volume when allowed", input: { ...BASE, allowDockerCache: true, volumes: [{ name: "docker-cache", sizeGb: 50, mountPath: "/var/lib/docker" }] }, expect: { allowDockerCache: true } },
    { name: "mount types inferred from the source", input: { ...BASE, data_mounts: [{ source: "s3://bucket/data", target: "/data" }, { source: "volume://models", target: "/models" }, { source: "./local", target: "/local", mount_type: "bind" }] }, expect: { dataMounts: [{ source: "s3://bucket/data", target: "/data", mountType: "s3fs", options: {} }, { source: "volume://models", target: "/models", mountType: "volume", options: {} }, { source: "./local", target: "/local", mountType: "bind", options: {} }] } },
    { name: "ports at the bounds", input: { ...BASE, ports: [1024, 65535] }, expect: { ports: [1024, 65535] } },
    { name: "FID instance type", input: { instanceType: "it_MsIRhxj3ccyVWGfP" }, expect: { instanceType: "it_MsIRhxj3ccyVWGfP" } },
    { name: "priority and modes", input: { ...BASE, priority: "high", allocationMode: "auto", distributedMode: "manual", uploadStrategy: "scp", devVm: true }, expect: { priority: "high", allocationMode: "auto", distributedMode: "manual", uploadStrategy: "scp", devVm: true } },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const config = parseTaskConfig(row.input);
      for (const [key, value] of Object.entries(row.expect)) {
        assert.deepEqual(config[key as keyof TaskConfig], value, key);
      }
    });
  }

  test("is idempotent: a parsed config parses to itself", () => {
    const config = parseTaskConfig({ ...BASE, retries: { initial_delay: 2 }, volumes: [{ name: "data-vol" }], maxRunTimeHours: 0 });
    assert.deepEqual(parseTaskConfig(config), config);
  });
});

describe("parseTaskConfig: rules", () => {
  const rows: { name: string; input: unknown; path: string; message?: RegExp; suggestion?: string }[] = [
    { name: "name with invalid characters", input: { ...BASE, name: "my job!" }, path: "name", suggestion: '"my-job"' },
    { name: "name too long", input: { ...BASE, name: "x".repeat(65) }, path: "name", message: /1-64/, suggestion: `"${"x".repeat(64)}"` },
    { name: "name starting with a dash", input: { ...BASE, name: "-job" }, path: "name", suggestion: '"job"' },
    { name: "both instanceType and minGpuMemoryGb", input: { instanceType: "a100", minGpuMemoryGb: 80 }, path: "minGpuMemoryGb", message: /not both/ },
    { name: "neither instanceType nor minGpuMemoryGb", input: {}, path: "instanceType", suggestion: 'instanceType: "a100"' },
    { name: "instanceType in capitals", input: { instanceType: "A100" }, path: "instanceType", message: /lowercase/, suggestion: '"a100"' },
    { name: "instanceType count after the model", input: { instanceType: "a100x8" }, path: "instanceType", suggestion: '"8xa100"' },
    { name: "instanceType incomplete FCP name", input: { instanceType: "a100-80gb" }, path: "instanceType", suggestion: '"a100-80gb.sxm.1x"' },
    { name: "instanceType with vendor prefix", input: { instanceType: "gpu.nvidia.a100" }, path: "instanceType", suggestion: '"a100"' },
    { name: "minGpuMemoryGb fractional", input: { minGpuMemoryGb: 40.5 }, path: "minGpuMemoryGb" },
    { name: "empty command string", input: { ...BASE, command: "   " }, path: "command", message: /empty/ },
    { name: "empty command list", input: { ...BASE, command: [] }, path: "command", message: /empty/ },
    { name: "command of the wrong type", input: { ...BASE, command: 42 }, path: "command", message: /list of strings/ },
    { name: "command and shell", input: { ...BASE, command: ["python"], shell: "python" }, path: "shell", message: /both set `command`/ },
    { name: "shell and script", input: { ...BASE, shell: "a", script: "b\nc" }, path: "script", message: /both set `command`/ },
    { name: "env name starting with a digit", input: { ...BASE, env: { "1X": "a" } }, path: 'env["1X"]', message: /environment variable names/ },
    { name: "env value that is a list", input: { ...BASE, env: { A: ["x"] } }, path: "env.A", message: /string/ },
    { name: "relative workingDir", input: { ...BASE, workingDir: "app" }, path: "workingDir", message: /absolute/ },
    { name: "attached volume with sizeGb", input: { ...BASE, volumes: [{ volumeId: "vol-1", sizeGb: 10 }] }, path: "volumes[0].sizeGb", message: /attaching an existing volume/, suggestion: "remove `sizeGb`" },
    { name: "attached volume with iops", input: { ...BASE, volumes: [{ volumeId: "vol-1", iops: 3000 }] }, path: "volumes[0].iops", message: /attaching/ },
    { name: "attached volume with throughput", input: { ...BASE, volumes: [{ volume_id: "vol-1", throughput_mb_s: 5 }] }, path: "volumes[0].throughput_mb_s", message: /attaching/ },
    { name: "volume name with capitals and spaces", input: { ...BASE, volumes: [{ name: "Training Data" }] }, path: "volumes[0].name", suggestion: '"training-data"' },
    { name: "volume name too short", input: { ...BASE, volumes: [{ name: "ab" }] }, path: "volumes[0].name", message: /3-64/ },
    { name: "volume sizeGb 0", input: { ...BASE, volumes: [{ sizeGb: 0 }] }, path: "volumes[0].sizeGb", message: /at least 1/ },
    { name: "volume relative mountPath", input: { ...BASE, volumes: [{ mountPath: "data" }] }, path: "volumes[0].mountPath", message: /absolute/ },
    { name: "volume mountPath with ..", input: { ...BASE, volumes: [{ mountPath: "/data/../etc" }] }, path: "volumes[0].mountPath", message: /\.\./ },
    { name: "volume interface", input: { ...BASE, volumes: [{ interface: "files" }] }, path: "volumes[0].interface", suggestion: 'did you mean "file"?' },
    { name: "mount relative target", input: { ...BASE, dataMounts: [{ source: "s3://b/p", target: "data" }] }, path: "dataMounts[0].target", message: /absolute/ },
    { name: "mount type", input: { ...BASE, dataMounts: [{ source: "/x", target: "/x", mountType: "nfs" }] }, path: "dataMounts[0].mountType" },
    { name: "s3fs mount of a local path", input: { ...BASE, dataMounts: [{ source: "/x", target: "/x", mountType: "s3fs" }] }, path: "dataMounts[0].source", message: /s3:\/\// },
    { name: "two mounts at one path", input: { ...BASE, volumes: [{ mountPath: "/data" }], dataMounts: [{ source: "s3://b/p", target: "/data" }] }, path: "dataMounts[0].target", message: /already mounted by volumes\[0\]/ },
    { name: "docker cache volume not allowed", input: { ...BASE, volumes: [{ mountPath: "/var/lib/docker" }] }, path: "volumes[0].mountPath", suggestion: "allowDockerCache: true" },
    { name: "docker cache on several nodes", input: { ...BASE, allowDockerCache: true, numInstances: 2 }, path: "allowDockerCache", message: /single-node/ },
    { name: "low port", input: { ...BASE, ports: [80] }, path: "ports[0]", message: /1024/ },
    { name: "port above 65535", input: { ...BASE, ports: [70000] }, path: "ports[0]", message: /65535/ },
    { name: "duplicate port", input: { ...BASE, ports: [8080, 8080] }, path: "ports[1]", message: /twice/ },
    { name: "maxRetries above 10", input: { ...BASE, retries: { maxRetries: 11 } }, path: "retries.maxRetries", message: /0 and 10/ },
    { name: "backoffCoefficient below 1", input: { ...BASE, retries: { backoffCoefficient: 0.5 } }, path: "retries.backoffCoefficient" },
    { name: "maxDelay not above initialDelay", input: { ...BASE, retries: { initial_delay: 2, max_delay: 1 } }, path: "retries.max_delay", message: /greater than the initial delay \(2000 ms\)/ },
    { name: "retries initialDelay without unit", input: { ...BASE, retries: { initialDelay: 2 } }, path: "retries.initialDelay", suggestion: "`initialDelayMs` (milliseconds) or `initial_delay` (seconds)" },
    { name: "retries as a number", input: { ...BASE, retries: 3 }, path: "retries", message: /object/ },
    { name: "maxPricePerHour 0", input: { ...BASE, maxPricePerHour: 0 }, path: "maxPricePerHour", message: /positive/ },
    { name: "maxRunTimeHours above 7 days", input: { ...BASE, maxRunTimeHours: 169 }, path: "maxRunTimeHours", message: /168/ },
    { name: "maxRunTimeHours negative", input: { ...BASE, maxRunTimeHours: -1 }, path: "maxRunTimeHours" },
    { name: "minRunTimeHours above maxRunTimeHours", input: { ...BASE, minRunTimeHours: 5, maxRunTimeHours: 2 }, path: "minRunTimeHours", message: /maxRunTimeHours/ },
    { name: "deadlineHours 0", input: { ...BASE, deadlineHours: 0 }, path: "deadlineHours" },
    { name: "empty ssh key", input: { ...BASE, sshKeys: [""] }, path: "sshKeys[0]" },
    { name: "allocationMode", input: { ...BASE, allocationMode: "ondemand" }, path: "allocationMode" },
    { name: "reservationId with spot", input: { ...BASE, reservationId: "res-1" }, path: "reservationId", suggestion: 'allocationMode: "reserved"' },
    { name: "reservedDurationHours with auto", input: { ...BASE, allocationMode: "auto", reservedDurationHours: 3 }, path: "reservedDurationHours", message: /only applies when `allocationMode` is "reserved"/ },
    { name: "a reservation to run on and one to make", input: { ...BASE, allocationMode: "reserved", reservationId: "res-1", reservedDurationHours: 3 }, path: "reservedDurationHours", message: /`reservationId` names a reservation to run on/ },
    { name: "a start time without a duration", input: { ...BASE, allocationMode: "reserved", scheduledStartTime: "2030-07-01T09:00:00Z" }, path: "reservedDurationHours", message: /how long to reserve/ },
    { name: "reservedDurationHours below 3", input: { ...BASE, allocationMode: "reserved", reservedDurationHours: 2 }, path: "reservedDurationHours", message: /3 and 336/ },
    { name: "reservedDurationHours above 336", input: { ...BASE, allocationMode: "reserved", reservedDurationHours: 337 }, path: "reservedDurationHours" },
    { name: "scheduledStartTime without a zone", input: { ...BASE, allocationMode: "reserved", scheduledStartTime: "2025-07-01T09:00:00" }, path: "scheduledStartTime", message: /ISO 8601/ },
    { name: "numInstances 0", input: { ...BASE, numInstances: 0 }, path: "numInstances", message: /1 and 100/ },
    { name: "numInstances 101", input: { ...BASE, numInstances: 101 }, path: "numInstances", message: /1 and 100/ },
    { name: "numInstances fractional", input: { ...BASE, numInstances: 1.5 }, path: "numInstances", message: /whole/ },
    { name: "priority misspelled", input: { ...BASE, priority: "medium" }, path: "priority", suggestion: 'did you mean "med"?' },
    { name: "priority as a number (seed example)", input: { ...BASE, priority: 50 }, path: "priority", message: /tier, not a number/ },
    { name: "distributedMode", input: { ...BASE, distributedMode: "ring" }, path: "distributedMode" },
    { name: "uploadStrategy", input: { ...BASE, uploadStrategy: "rsync" }, path: "uploadStrategy" },
    { name: "uploadTimeoutMs below 60 s", input: { ...BASE, uploadTimeoutMs: 59_999 }, path: "uploadTimeoutMs", message: /60 and 3600 seconds/ },
    { name: "upload_timeout above 3600 s", input: { ...BASE, upload_timeout: 3601 }, path: "upload_timeout", message: /60 and 3600 seconds/ },
    { name: "uploadCode as a string", input: { ...BASE, uploadCode: "yes" }, path: "uploadCode", message: /boolean/ },
    { name: "same field in both spellings", input: { ...BASE, sshKeys: ["a"], ssh_keys: ["b"] }, path: "ssh_keys", message: /both set `sshKeys`/ },
    { name: "a list instead of a mapping", input: ["a100"], path: "(root)", message: /object/ },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const issue = issueAt(validationErrorOf(() => parseTaskConfig(row.input)), row.path);
      if (row.message) assert.match(issue.message, row.message);
      if (row.suggestion) assert.ok(issue.suggestion?.includes(row.suggestion), `suggestion ${JSON.stringify(issue.suggestion)} lacks ${row.suggestion}`);
    });
  }
});

describe("parseTaskConfig: unknown keys and common mistakes", () => {
  const rows: { key: string; nested?: "volumes" | "dataMounts" | "retries"; path?: string; suggestion: string }[] = [
    { key: "environment", suggestion: "use `env`" },
    { key: "ssh_key", suggestion: "use `sshKeys` (always plural)" },
    { key: "sshKey", suggestion: "use `sshKeys` (always plural)" },
    { key: "max_price", suggestion: "use `maxPricePerHour`" },
    { key: "price", suggestion: "use `maxPricePerHour`" },
    { key: "instance_count", suggestion: "use `numInstances`" },
    { key: "instances", suggestion: "use `numInstances`" },
    { key: "gpu", suggestion: "use `instanceType`" },
    { key: "auto_terminate", suggestion: "use `terminateOnExit`" },
    { key: "uploadTimeout", suggestion: "`uploadTimeoutMs` (milliseconds) or `upload_timeout` (seconds)" },
    { key: "instanceTyp", suggestion: "did you mean `instanceType`?" },
    { key: "num_instance", suggestion: "did you mean `numInstances`?" },
    { key: "MaxPricePerHour", suggestion: "did you mean `maxPricePerHour`?" },
    { key: "workingdir", suggestion: "did you mean `workingDir`?" },
    { key: "size", nested: "volumes", path: "volumes[0].size", suggestion: "use `sizeGb`" },
    { key: "mountPat", nested: "volumes", path: "volumes[0].mountPat", suggestion: "did you mean `mountPath`?" },
    { key: "readonly", nested: "dataMounts", path: "dataMounts[0].readonly", suggestion: "options: { readonly: true }" },
    { key: "bogus", nested: "retries", path: "retries.bogus", suggestion: "valid fields: `maxRetries`, `backoffCoefficient`, `initialDelayMs`, `maxDelayMs`" },
  ];
  for (const row of rows) {
    test(`${row.path ?? row.key} → ${row.suggestion}`, () => {
      const input =
        row.nested === undefined
          ? { ...BASE, [row.key]: 1 }
          : row.nested === "retries"
            ? { ...BASE, retries: { [row.key]: 1 } }
            : { ...BASE, [row.nested]: [{ source: "s3://b/p", target: "/t", [row.key]: 1 }] };
      const issue = issueAt(validationErrorOf(() => parseTaskConfig(input)), row.path ?? row.key);
      assert.equal(issue.message, "unknown field");
      assert.ok(issue.suggestion?.includes(row.suggestion), `suggestion ${JSON.stringify(issue.suggestion)} lacks ${row.suggestion}`);
    });
  }

  test("an unknown key far from every field gets no guess", () => {
    const issue = issueAt(validationErrorOf(() => parseTaskConfig({ ...BASE, frobnicate: true })), "frobnicate");
    assert.equal(issue.suggestion, undefined);
  });

  test("snake_case input gets snake_case fixes and paths", () => {
    const error = validationErrorOf(() =>
      taskConfigFromYaml("instance_type: a100\nssh_key: k1\nmax_price: 3\nvolumes:\n  - volume_id: vol-1\n    size_gb: 5\n"),
    );
    assert.equal(issueAt(error, "ssh_key").suggestion, "use `ssh_keys` (always plural)");
    assert.ok(issueAt(error, "max_price").suggestion?.includes("`max_price_per_hour`"));
    assert.ok(issueAt(error, "volumes[0].size_gb").message.includes("(`volume_id`)"));
  });

  test("a missing field is named in the input's style", () => {
    const error = validationErrorOf(() => parseTaskConfig({ max_price_per_hour: 3, num_instances: 1 }));
    assert.ok(issueAt(error, "instance_type").suggestion?.includes('`instance_type: "a100"`'));
  });
});

describe("ValidationError reporting", () => {
  test("reports every issue at once, naming the source, path, reason and suggestion", () => {
    const error = validationErrorOf(() =>
      parseTaskConfig(
        { instanceType: "A100", environment: { A: "1" }, numInstances: 0, volumes: [{ volumeId: "v", sizeGb: 2 }] },
        { source: "job.yaml" },
      ),
    );
    assert.deepEqual(
      error.issues.map((i) => i.path).sort(),
      ["environment", "instanceType", "numInstances", "volumes[0].sizeGb"],
    );
    assert.match(error.message, /^Invalid task config in job\.yaml \(4 problems\):/);
    assert.match(error.message, /- environment: unknown field; use `env` for environment variables/);
    assert.match(error.message, /- instanceType: "A100" is not a valid instance type: instance types are lowercase; did you mean "a100"\?/);
    assert.match(error.message, /- numInstances: must be between 1 and 100/);
  });

  test("YAML syntax errors name the file and line", () => {
    const error = validationErrorOf(() => taskConfigFromYaml("instance_type: a100\ncommand: [python\n", "job.yaml"));
    assert.match(error.message, /^Invalid YAML in job\.yaml/);
    assert.match(error.issues[0]?.path ?? "", /^line \d+$/);
  });
});

describe("YAML", () => {
  const yaml = `
name: gpu-training
instance_type: 8xh100
command: |
  #!/bin/bash
  pip install -r requirements.txt
  python train.py
env:
  CUDA_VISIBLE_DEVICES: "0"
  EPOCHS: 10
working_dir: /app
volumes:
  - name: training-data
    size_gb: 100
    mount_path: /data
    iops: 3000
  - volume_id: vol-abc123
    mount_path: /models
    interface: file
data_mounts:
  - source: s3://ml-bucket/imagenet
    target: /datasets
ports: [8080, 6006]
retries:
  max_retries: 2
  initial_delay: 0.5
  max_delay: 10
max_price_per_hour: 25.5
max_run_time_hours: 24
ssh_keys: [key-123]
region: us-central1-b
num_instances: 2
priority: high
distributed_mode: auto
upload_code: false
upload_timeout: 1200
`;

  test("snake_case in, camelCase out", () => {
    const config = taskConfigFromYaml(yaml, "job.yaml");
    assert.equal(config.name, "gpu-training");
    assert.equal(config.instanceType, "8xh100");
    assert.equal(commandKind(config), "script");
    assert.deepEqual(config.env, { CUDA_VISIBLE_DEVICES: "0", EPOCHS: "10" });
    assert.deepEqual(config.volumes, [
      { name: "training-data", sizeGb: 100, mountPath: "/data", iops: 3000, interface: "block" },
      { volumeId: "vol-abc123", mountPath: "/models", interface: "file" },
    ]);
    assert.deepEqual(config.dataMounts, [{ source: "s3://ml-bucket/imagenet", target: "/datasets", mountType: "s3fs", options: {} }]);
    assert.deepEqual(config.retries, { maxRetries: 2, backoffCoefficient: 2, initialDelayMs: 500, maxDelayMs: 10_000 });
    assert.equal(config.maxPricePerHour, 25.5);
    assert.equal(config.uploadTimeoutMs, 1_200_000);
    assert.equal(config.distributedMode, "auto");
    assert.equal(config.uploadCode, false);
  });

  test("toYaml writes snake_case and seconds, and reads back equal", () => {
    const config = taskConfigFromYaml(yaml);
    const text = taskConfigToYaml(config);
    assert.match(text, /^max_price_per_hour: 25.5$/m);
    assert.match(text, /^upload_timeout: 1200$/m);
    assert.match(text, /^ {2}initial_delay: 0.5$/m);
    assert.doesNotMatch(text, /[a-z][A-Z]/, "no camelCase keys");
    assert.deepEqual(taskConfigFromYaml(text), config);
  });

  const roundTrips: { name: string; input: Record<string, unknown> }[] = [
    { name: "defaults only", input: BASE },
    { name: "argv command with awkward strings", input: { ...BASE, command: ["python", "-c", "print('a: b')", "", "#x"] } },
    { name: "script with trailing spaces and no final newline", input: { ...BASE, command: "echo a  \n  echo b" } },
    { name: "reserved with a start time", input: { ...BASE, allocationMode: "reserved", scheduledStartTime: "2025-07-01T09:00:00Z", reservedDurationHours: 24 } },
    { name: "on a reservation", input: { allocationMode: "reserved", reservationId: "res-1" } },
    { name: "capability selection", input: { minGpuMemoryGb: 80, maxPricePerHour: 20, env: { YES: "yes", NUM: "010" } } },
    { name: "mount options", input: { ...BASE, dataMounts: [{ source: "/a", target: "/b", options: { readonly: true } }] } },
  ];
  for (const row of roundTrips) {
    test(`round trip: ${row.name}`, () => {
      const config = parseTaskConfig(row.input);
      assert.deepEqual(taskConfigFromYaml(taskConfigToYaml(config)), config);
    });
  }
});

describe("commandKind", () => {
  const rows: { command: TaskConfig["command"]; kind: ReturnType<typeof commandKind> }[] = [
    { command: undefined, kind: "argv" },
    { command: ["python", "train.py", "--epochs", "10"], kind: "argv" },
    { command: "python train.py --epochs 10", kind: "shell" },
    { command: "nvidia-smi", kind: "shell" },
    { command: "pip install -r requirements.txt\npython train.py", kind: "script" },
    { command: "\n#!/bin/bash\npython train.py\n", kind: "script" },
    { command: "#!/usr/bin/env python3", kind: "script" },
    { command: "python train.py\n", kind: "shell" },
  ];
  for (const row of rows) {
    test(`${JSON.stringify(row.command)} → ${row.kind}`, () => assert.equal(commandKind({ command: row.command }), row.kind));
  }
});

describe("retryDelayMs", () => {
  const exponential = RetriesSchema.parse({});
  const capped = RetriesSchema.parse({ initialDelayMs: 500, backoffCoefficient: 3, maxDelayMs: 4000 });
  const fixed = RetriesSchema.parse({ backoffCoefficient: 1, initialDelayMs: 250 });
  const rows = [
    { policy: exponential, attempt: 1, delay: 1000 },
    { policy: exponential, attempt: 2, delay: 2000 },
    { policy: exponential, attempt: 4, delay: 8000 },
    { policy: capped, attempt: 2, delay: 1500 },
    { policy: capped, attempt: 3, delay: 4000 },
    { policy: capped, attempt: 9, delay: 4000 },
    { policy: fixed, attempt: 5, delay: 250 },
  ];
  for (const [i, row] of rows.entries()) {
    test(`row ${i}: attempt ${row.attempt} → ${row.delay} ms`, () => assert.equal(retryDelayMs(row.policy, row.attempt), row.delay));
  }
  test("attempts are 1-based", () => assert.throws(() => retryDelayMs(exponential, 0), RangeError));
});
