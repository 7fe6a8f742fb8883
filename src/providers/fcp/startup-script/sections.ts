/**
 * The startup script's sections, in the order they run. Each one announces itself in the startup
 * log (`[flow] == name ==`) so a failed boot points at the step that failed. Together they play
 * the instance's side of the handshake in instance-layout.ts.
 */
import { posix } from "node:path";
import { commandKind, DEFAULT_COMMAND } from "../../../task/task-config.ts";
import { DEFAULT_INSTANCE_ROOT, INSTANCE_ROOT_ENV, INSTANCE_SSH_USER, instancePaths } from "../instance-layout.ts";
import { quote, rooted, words } from "./bash.ts";
import type { InstanceWorkload, S3Mount, StartupScriptSpec, VolumeMount } from "./spec.ts";

export interface Section {
  name: string;
  body: string;
}

/** The official Linux build the node section downloads when the machine has no Node ≥ 20. */
export const PINNED_NODE_VERSION = "v20.20.2";
/**
 * A client that never uploads (it crashed, the laptop closed) must not keep the machine up; one
 * that is there uploads within seconds of `ready`.
 */
const UPLOAD_WAIT_SECONDS = 10 * 60;
/** A workload stopped at its time limit gets this long after SIGTERM before SIGKILL. */
const STOP_GRACE_SECONDS = 10;
/** If even that fails (the script itself hangs), the machine powers off this long after the limit. */
const POWEROFF_BACKSTOP_SECONDS = 120;

/** Instance paths as the script spells them: under the root it picks at run time. */
const at = instancePaths("$ROOT");
const nodeDir = "$ROOT/node";
const agentWorkspace = "$ROOT/workspace";
const taskScript = "$ROOT/task/script";

export function startupSections(spec: StartupScriptSpec): Section[] {
  const sections = [header(spec), environment(spec)];
  if (spec.maxRunTimeHours !== undefined || spec.deadline !== undefined) sections.push(deadline(spec));
  // The agent runs on Node (in the container: the portable build); so does the S3 helper, on the machine.
  if (spec.workload.kind === "agent") sections.push(node(usesDocker(spec)));
  else if ((spec.s3Mounts?.length ?? 0) > 0) sections.push(node(false));
  if (spec.volumes.length > 0) sections.push(volumes(spec.volumes));
  // After the volumes: a Docker cache volume at /var/lib/docker must be in place before the pull.
  if (usesDocker(spec)) sections.push(image());
  if (spec.inlineArchive !== undefined) sections.push(code(spec.inlineArchive, spec.workload.kind === "command"));
  if (spec.autostopIdleSeconds !== undefined) sections.push(autostop(spec.autostopIdleSeconds));
  sections.push(start(spec));
  return sections;
}

function usesDocker(spec: StartupScriptSpec): boolean {
  return spec.image !== undefined && spec.onHost !== true;
}

function section(name: string, lines: string[]): Section {
  return { name, body: `echo "[flow] == ${name} =="\n${lines.join("\n")}\n` };
}

function header(spec: StartupScriptSpec): Section {
  const grace = spec.poweroffGraceSeconds;
  const end =
    grace === "never"
      ? ['  echo "[flow] finished with exit code $1"', "  # The time limit's backstop (deadline section) must not outlive the run on a machine others share.", '  [ -z "${BACKSTOP:-}" ] || kill "$BACKSTOP" 2>/dev/null || true']
      : [`  echo "[flow] finished with exit code $1; powering off in ${grace} s"`, `  sleep ${grace}`, "  shutdown -h now"];
  const lines = [
    "#!/bin/bash",
    spec.root === undefined
      ? "# Flow startup script: prepares this instance and runs its workload. Runs once, as root, at boot."
      : "# Flow run script: delivered to an instance that is up, runs one workload in a directory of its own.",
    "set -euo pipefail",
    spec.root === undefined ? `ROOT="\${${INSTANCE_ROOT_ENV}:-${DEFAULT_INSTANCE_ROOT}}"` : `ROOT=${quote(spec.root)}`,
    `mkdir -p ${rooted(posix.dirname(at.agentFile))} ${rooted(at.agentCalls)} ${rooted(posix.dirname(at.taskStdout))} ${rooted(posix.dirname(at.s3Helper))}`,
    `chmod 700 "$ROOT"`,
    "# A disk that booted before (a paused instance resumed) holds the last run's completion marker.",
    `rm -f ${rooted(at.exitCode)}`,
    `exec > >(tee -a ${rooted(at.startupLog)}) 2>&1`,
    `echo "[flow] == header =="`,
    "# The SSH user uploads the agent, code and secrets into the root over SFTP, and reads detached calls' records.",
    `if [ "$(id -u)" = 0 ] && id ${INSTANCE_SSH_USER} >/dev/null 2>&1; then chown -R ${INSTANCE_SSH_USER}: "$ROOT"; fi`,
    grace === "never"
      ? "# However this script ends, the completion marker is written once; the machine stays up for others."
      : "# However this script ends, the completion marker is written once and the machine powers off;",
    "# an exit code before `ready` tells the client that setup failed.",
    "flow_end() {",
    `  [ -e ${rooted(at.exitCode)} ] || { echo "$1" > ${rooted(`${at.exitCode}.part`)}; mv ${rooted(`${at.exitCode}.part`)} ${rooted(at.exitCode)}; }`,
    ...end,
    "}",
    "trap 'flow_end $?' EXIT",
    "# Stopped (cancelled, paused, out of time): the exit code says so, as a shell's would. The log's",
    "# tee is stopped with the rest; writing to it then must not kill the script before it records that.",
    "trap 'exit 143' TERM",
    "trap 'exit 130' INT",
    "trap '' PIPE",
    "# Why the workload failed or was stopped, in words, for the client's status message (first reason wins).",
    "flow_reason() {",
    `  [ -e ${rooted(at.failure)} ] || { printf '%s\\n' "$1" > ${rooted(`${at.failure}.part`)}; mv ${rooted(`${at.failure}.part`)} ${rooted(at.failure)}; }`,
    '  echo "[flow] $1"',
    "}",
    'flow_fail() { flow_reason "$1"; exit 1; }',
  ];
  return { name: "header", body: `${lines.join("\n")}\n` };
}

function environment(spec: StartupScriptSpec): Section {
  const names = Object.keys(spec.env);
  const lines: string[] = [];
  if (names.length > 0) {
    lines.push("TASK_ENV=(", ...Object.entries(spec.env).map(([name, value]) => `  ${quote(`${name}=${value}`)}`), ")");
    lines.push(`echo "[flow] workload env: "${quote(names.join(" "))}`);
  }
  if (usesDocker(spec)) {
    lines.push(
      `IMAGE=${quote(spec.image!)}`,
      "USE_DOCKER=0",
      'if command -v docker >/dev/null 2>&1 && timeout 60 docker info >/dev/null 2>&1; then',
      "  USE_DOCKER=1",
      '  echo "[flow] docker answers: the workload runs in $IMAGE"',
      "else",
      '  echo "[flow] no docker daemon: the workload runs on the host"',
      "fi",
    );
  } else if (spec.image !== undefined) {
    lines.push("USE_DOCKER=0", 'echo "[flow] a developer VM: the workload runs on the machine itself"');
  }
  return section("environment", lines);
}

function image(): Section {
  return section("image", [
    'if [ "$USE_DOCKER" = 1 ]; then',
    '  docker image inspect "$IMAGE" >/dev/null 2>&1 || docker pull "$IMAGE" || flow_fail "could not pull the image $IMAGE"',
    "fi",
  ]);
}

function node(imageGiven: boolean): Section {
  const release = `https://nodejs.org/dist/${PINNED_NODE_VERSION}`;
  return section("node", [
    "# The agent needs Node >= 20. In a container it always runs the official portable build, mounted",
    "# read-only: images rarely ship Node 20, and that build links only against glibc, so it runs in",
    "# any glibc image (a distro's node needs its own shared libraries, which the image lacks).",
    'NODE=""',
    `if ${imageGiven ? '[ "$USE_DOCKER" = 0 ] && ' : ""}command -v node >/dev/null 2>&1; then`,
    '  major="$(node --version 2>/dev/null || true)"; major="${major#v}"; major="${major%%.*}"',
    '  if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 20 ]; then NODE="$(command -v node)"; fi',
    "fi",
    'if [ -z "$NODE" ]; then',
    '  case "$(uname -m)" in',
    "    x86_64) arch=x64 ;;",
    "    aarch64) arch=arm64 ;;",
    '    *) echo "[flow] nodejs.org has no Linux build of Node for $(uname -m)"; exit 1 ;;',
    "  esac",
    `  tarball="node-${PINNED_NODE_VERSION}-linux-$arch.tar.gz"`,
    `  echo "[flow] downloading $tarball from ${release}"`,
    `  mkdir -p "$ROOT/node-download" ${rooted(nodeDir)}`,
    '  (cd "$ROOT/node-download"',
    '    for file in "$tarball" SHASUMS256.txt; do',
    `      if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 5 -o "$file" "${release}/$file"; else wget -q -O "$file" "${release}/$file"; fi`,
    "    done",
    "    # The release's own checksum list (same server, over HTTPS) catches truncated or corrupt downloads.",
    '    grep "  $tarball\\$" SHASUMS256.txt | sha256sum -c -',
    `    tar -xzf "$tarball" -C ${rooted(nodeDir)} --strip-components=1 --no-same-owner)`,
    '  rm -rf "$ROOT/node-download"',
    `  NODE=${rooted(`${nodeDir}/bin/node`)}`,
    "fi",
    `echo "$NODE" > ${rooted(at.nodePath)}`,
    'echo "[flow] node $("$NODE" --version) at $NODE"',
  ]);
}

function volumes(mounts: readonly VolumeMount[]): Section {
  const block = mounts.filter((m) => m.interface === "block");
  const file = mounts.filter((m) => m.interface === "file");
  const lines = [
    "# FCP does not document how an attached volume appears inside the machine. We assume:",
    "# - block volumes are extra whole disks (on virtio /dev/vdb, /dev/vdc, ...) in the bid's volume",
    "#   order, and the only disks with no partitions and nothing mounted (the boot disk has both).",
    "#   A disk without a filesystem is new and is formatted ext4 once.",
    "# - file volumes are network shares the platform mounts itself, from a source naming the volume",
    "#   FID; we bind that mount at mountPath.",
    "# A volume we cannot find stops the boot; the client shows this log.",
  ];
  if (block.length > 0) {
    lines.push(
      "FREE_DISKS=()",
      "for disk in $(lsblk -dnpo NAME,TYPE | awk '$2 == \"disk\" { print $1 }'); do",
      '  if [ "$(lsblk -nro NAME "$disk" | wc -l)" = 1 ] && [ -z "$(lsblk -nro MOUNTPOINT "$disk" | tr -d "[:space:]")" ]; then FREE_DISKS+=("$disk"); fi',
      "done",
      "flow_mount_block() {",
      '  local disk="${FREE_DISKS[$1]:-}"',
      '  if [ -z "$disk" ]; then lsblk; flow_fail "volume $2: there is no free disk number $(($1 + 1)) on the machine"; fi',
      '  blkid "$disk" >/dev/null 2>&1 || mkfs.ext4 -q "$disk"',
      '  mkdir -p "$3"; mountpoint -q "$3" || mount "$disk" "$3"',
      '  echo "[flow] volume $2 ($disk) at $3"',
      "}",
      ...block.map((m, index) => `flow_mount_block ${index} ${quote(m.volumeFid)} ${quote(m.mountPath)}`),
    );
  }
  if (file.length > 0) {
    lines.push(
      "flow_mount_file() {",
      "  local source; source=\"$(findmnt -rn -o SOURCE,TARGET | awk -v fid=\"$1\" 'index($1, fid) { print $2; exit }')\"",
      '  if [ -z "$source" ]; then findmnt; flow_fail "volume $1: no mounted share names it"; fi',
      '  mkdir -p "$2"; mountpoint -q "$2" || mount --bind "$source" "$2"',
      '  echo "[flow] volume $1 ($source) at $2"',
      "}",
      ...file.map((m) => `flow_mount_file ${quote(m.volumeFid)} ${quote(m.mountPath)}`),
    );
  }
  return section("volumes", lines);
}

/** The inline archive; a command's code is extracted here, so a broken archive fails before `ready`. */
function code(archive: Uint8Array, extract: boolean): Section {
  const part = `${at.archive}.part`;
  return section("code", [
    `base64 -d > ${rooted(part)} <<'FLOW_ARCHIVE'`,
    Buffer.from(archive).toString("base64"),
    "FLOW_ARCHIVE",
    `mv ${rooted(part)} ${rooted(at.archive)}`,
    `echo "[flow] code archive: ${archive.byteLength} bytes"`,
    ...(extract ? extractCode() : []),
  ]);
}

/** Into codeDir, which exists even without code: it is the command's working directory. */
function extractCode(): string[] {
  return [
    `mkdir -p ${rooted(at.codeDir)}`,
    `if [ -f ${rooted(at.archive)} ]; then tar -xzf ${rooted(at.archive)} -C ${rooted(at.codeDir)} --no-same-owner; fi`,
  ];
}

/**
 * The time limits: maxRunTimeHours from boot, and the deadline (an absolute time). STOP_AT is the
 * earlier; the start section stops the workload then, saying why. A detached backstop powers the
 * machine off a little later (or, on a shared machine, stops this script's process group), in case
 * the script itself hangs (waiting for uploads, a stuck pull).
 */
function deadline(spec: StartupScriptSpec): Section {
  const lines = ['STOP_AT=""; STOP_WHY=""', "flow_limit() { if [ -z \"$STOP_AT\" ] || [ \"$1\" -lt \"$STOP_AT\" ]; then STOP_AT=$1; STOP_WHY=$2; fi; }"];
  if (spec.maxRunTimeHours !== undefined) {
    const seconds = Math.max(1, Math.ceil(spec.maxRunTimeHours * 3600));
    lines.push(`flow_limit $(($(date +%s) + ${seconds})) ${quote(`stopped after running longer than maxRunTimeHours (${spec.maxRunTimeHours} h)`)}`);
  }
  if (spec.deadline !== undefined) {
    const at = Math.floor(Date.parse(spec.deadline) / 1000);
    lines.push(
      `if [ "$(date +%s)" -ge ${at} ]; then flow_fail ${quote(`the deadline (deadlineHours, ${spec.deadline}) passed before the task could start`)}; fi`,
      `flow_limit ${at} ${quote(`stopped at its deadline (deadlineHours, ${spec.deadline})`)}`,
    );
  }
  // On a machine others share (a reservation's), the backstop ends this script's processes, not the machine.
  const backstop = spec.poweroffGraceSeconds === "never" ? 'stopping the run"; kill -TERM -- -$$' : 'powering off"; shutdown -h now';
  lines.push(
    "# Detached from this script: it fires even while the workload hangs or the script waits.",
    "# Its output goes straight to the log: holding the log's pipe would keep the script's output open.",
    `( sleep $((STOP_AT - $(date +%s) + ${POWEROFF_BACKSTOP_SECONDS})); echo "[flow] $STOP_WHY: ${backstop} ) </dev/null >>${rooted(at.startupLog)} 2>&1 &`,
    "BACKSTOP=$!",
    'echo "[flow] the workload stops in $((STOP_AT - $(date +%s))) s at the latest"',
  );
  return section("deadline", lines);
}

/** Copies each S3 data mount into its own directory with the uploaded helper and credentials. */
function s3Copies(mounts: readonly S3Mount[]): string[] {
  return mounts.flatMap((mount, index) => [
    `echo "[flow] copying "${quote(mount.source)}" for "${quote(mount.target)}`,
    `"$(cat ${rooted(at.nodePath)})" --no-warnings ${rooted(at.s3Helper)} --credentials ${rooted(`${at.s3Credentials}-${index}.json`)} --source ${quote(mount.source)} --dest ${rooted(`${at.dataDir}/${index}`)} --reason ${rooted(at.failure)} || exit 1`,
  ]);
}

/**
 * A dev machine powers itself off once nobody has used it for a while, so a forgotten one stops
 * billing even when the laptop that started it is closed: each `flow dev` session touches
 * devLastActive while it lasts, and the client may change devIdleSeconds.
 */
function autostop(idleSeconds: number): Section {
  return section("autostop", [
    `mkdir -p ${rooted(posix.dirname(at.devLastActive))}`,
    "# A resumed machine keeps the idle time its client set last.",
    `[ -e ${rooted(at.devIdleSeconds)} ] || echo ${idleSeconds} > ${rooted(at.devIdleSeconds)}`,
    `touch ${rooted(at.devLastActive)}`,
    "(",
    "  while :; do",
    `    idle="$(cat ${rooted(at.devIdleSeconds)} 2>/dev/null || echo ${idleSeconds})"`,
    `    last="$(stat -c %Y ${rooted(at.devLastActive)} 2>/dev/null || date +%s)"`,
    '    if [ $(( $(date +%s) - last )) -ge "$idle" ]; then',
    '      echo "[flow] no session for $idle s: powering off"',
    "      shutdown -h now",
    "      exit 0",
    "    fi",
    '    step=$(( idle / 10 )); [ "$step" -ge 1 ] || step=1; [ "$step" -le 30 ] || step=30',
    '    sleep "$step"',
    "  done",
    ") </dev/null &",
    `echo "[flow] powers off after $(cat ${rooted(at.devIdleSeconds)}) s without a session"`,
  ]);
}

function start(spec: StartupScriptSpec): Section {
  const { workload } = spec;
  const lines = [`touch ${rooted(at.ready)}`, 'echo "[flow] ready"'];
  if (spec.expectUploads) {
    const waitSeconds = spec.uploadWaitSeconds ?? UPLOAD_WAIT_SECONDS;
    // 50 checks a second, as the client's own waits: the agent starts within 20 ms of the
    // client's `uploaded` marker (a test of a local file; the wait is on the client's critical
    // path to its first result). The clock, not a count of sleeps, bounds it (+1: SECONDS counts
    // whole seconds, so the wait is never shorter than promised).
    lines.push(
      `echo "[flow] waiting for the client's uploads"`,
      `upload_deadline=$((SECONDS + ${waitSeconds + 1}))`,
      `until [ -e ${rooted(at.uploaded)} ]; do`,
      `  if [ "$SECONDS" -ge "$upload_deadline" ]; then flow_fail "nothing was uploaded within ${waitSeconds} s (uploadTimeout): giving up"; fi`,
      "  sleep 0.02",
      "done",
      'echo "[flow] uploads received"',
    );
  }
  if (spec.s3Mounts !== undefined && spec.s3Mounts.length > 0) lines.push(...s3Copies(spec.s3Mounts));
  if (workload.kind === "command") {
    // An uploaded archive (or none): extracted once the uploads are in.
    if (spec.inlineArchive === undefined) lines.push(...extractCode());
    const command = workload.command ?? [...DEFAULT_COMMAND];
    if (typeof command === "string" && commandKind({ command }) === "script") {
      const script = command.trimStart();
      lines.push(`printf '%s\\n' ${quote(script.replace(/\n$/, ""))} > ${rooted(taskScript)}`, `chmod 755 ${rooted(taskScript)}`);
    }
  }
  const [out, err] = workload.kind === "agent" ? [at.agentOut, at.agentErr] : [at.taskStdout, at.taskStderr];
  // In the background, so the time limit (deadline section) can stop it and say why.
  const redirect = `> ${rooted(out)} 2> ${rooted(err)} &`;
  lines.push("code=0");
  if (!usesDocker(spec)) {
    lines.push(...onHost(spec, redirect));
  } else {
    lines.push('if [ "$USE_DOCKER" = 1 ]; then', ...indent(inDocker(spec, redirect)), "else", ...indent(onHost(spec, redirect)), "fi");
  }
  lines.push("WORKLOAD=$!");
  if (spec.maxRunTimeHours !== undefined || spec.deadline !== undefined) {
    lines.push(
      `( sleep $((STOP_AT - $(date +%s))); if kill -0 "$WORKLOAD" 2>/dev/null; then flow_reason "$STOP_WHY"; kill -TERM "$WORKLOAD"; sleep ${STOP_GRACE_SECONDS}; kill -KILL "$WORKLOAD" 2>/dev/null; fi ) </dev/null >/dev/null 2>&1 &`,
    );
  }
  lines.push('wait "$WORKLOAD" || code=$?', 'echo "[flow] the workload exited with code $code"', 'exit "$code"');
  return section("start", lines);
}

/** The workload as a process on the machine, in a subshell so its env stays its own. */
function onHost(spec: StartupScriptSpec, redirect: string): string[] {
  const body: string[] = [];
  // No container to mount into: S3 data appears at its target through a symlink on the machine.
  (spec.s3Mounts ?? []).forEach((mount, index) =>
    body.push(`mkdir -p "$(dirname ${quote(mount.target)})" && ln -sfn ${rooted(`${at.dataDir}/${index}`)} ${quote(mount.target)}`),
  );
  if (spec.workload.kind === "command") {
    body.push(`cd ${rooted(at.codeDir)} || exit 1`, ...sourceSecretEnv());
  }
  if (Object.keys(spec.env).length > 0) body.push('export "${TASK_ENV[@]}"');
  body.push(`exec ${workloadArgv(spec.workload)}`);
  return ["(", ...indent(body), `) ${redirect}`];
}

/**
 * The workload in the image. Host networking keeps the agent on the machine's loopback, where
 * the SSH tunnel reaches it; the root is mounted at the same path so every instance path holds.
 */
function inDocker(spec: StartupScriptSpec, redirect: string): string[] {
  const { workload } = spec;
  const body: string[] = [];
  if (workload.kind === "command") {
    body.push(
      "docker_env=()",
      `if [ -f ${rooted(at.secretEnv)} ]; then`,
      `  set -a; . ${rooted(at.secretEnv)} || exit 1; set +a`,
      "  # `-e NAME` takes the value from this environment: secret values never reach docker's argv.",
      `  while IFS= read -r name; do docker_env+=(-e "$name"); done < <(sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p' ${rooted(at.secretEnv)})`,
      "fi",
    );
  }
  const names = Object.keys(spec.env);
  if (names.length > 0) body.push('export "${TASK_ENV[@]}"');
  const mounts = [`-v "$ROOT:$ROOT"`];
  if (workload.kind === "agent") mounts.push(`-v ${rooted(`${nodeDir}:${nodeDir}:ro`)}`);
  else if (workload.workingDir === undefined) mounts.push(`-w ${rooted(at.codeDir)}`);
  else mounts.push(`-v ${rooted(`${at.codeDir}:`)}${quote(workload.workingDir)}`, `-w ${quote(workload.workingDir)}`);
  // The volumes section mounted each volume on the machine at its mountPath: the container sees it there too.
  for (const volume of spec.volumes) mounts.push(`-v ${quote(`${volume.mountPath}:${volume.mountPath}${volume.readonly ? ":ro" : ""}`)}`);
  // S3 data, copied onto the machine by the start section: read-only at its target.
  (spec.s3Mounts ?? []).forEach((mount, index) => mounts.push(`-v ${rooted(`${at.dataDir}/${index}:`)}${quote(`${mount.target}:ro`)}`));
  body.push(
    words(
      "exec docker run --rm --network host",
      spec.gpus && "--gpus all",
      ...mounts,
      ...names.map((name) => `-e ${name}`),
      workload.kind === "command" && '"${docker_env[@]}"',
      '"$IMAGE"',
      workloadArgv(workload),
    ),
  );
  return ["(", ...indent(body), `) ${redirect}`];
}

function sourceSecretEnv(): string[] {
  return [`if [ -f ${rooted(at.secretEnv)} ]; then set -a; . ${rooted(at.secretEnv)} || exit 1; set +a; fi`];
}

function workloadArgv(workload: InstanceWorkload): string {
  if (workload.kind === "agent") {
    return words(
      '"$NODE"',
      rooted(at.agentFile),
      `--archive ${rooted(at.archive)}`,
      `--workspace ${rooted(agentWorkspace)}`,
      "--host 127.0.0.1 --port 0",
      `--idle-timeout-ms ${workload.idleTimeoutMs}`,
      `--secret-file ${rooted(at.agentSecret)}`,
      `--calls-dir ${rooted(at.agentCalls)}`,
    );
  }
  const command = workload.command ?? [...DEFAULT_COMMAND];
  if (Array.isArray(command)) return command.map(quote).join(" ");
  const kind = commandKind({ command });
  if (kind === "shell") return `bash -c ${quote(command)}`;
  return command.trimStart().startsWith("#!") ? rooted(taskScript) : `bash ${rooted(taskScript)}`;
}

function indent(lines: string[]): string[] {
  return lines.map((line) => `  ${line}`);
}
