/**
 * The contract between the three parties that meet on a cloud instance: the startup script the
 * provider generates (runs as root at boot), the client that reaches the instance over SSH, and
 * the simulator that plays the machine in tests. All three name instance paths through here.
 *
 * Everything lives under one root directory. On a real instance that is DEFAULT_INSTANCE_ROOT;
 * a machine may override it with the INSTANCE_ROOT_ENV variable (the simulator sets it to the
 * instance's sandbox, so many "instances" share this machine). Clients never guess the root: they
 * ask the instance over SSH (`rootProbeCommand`).
 *
 * Handshake, in order:
 *   1. the startup script prepares the machine (logging, Node, volumes, inline code) and writes
 *      `ready`;
 *   2. the client uploads over SFTP whatever did not fit in the script (agent file, large archive,
 *      session secret, secret env) to `<file>.part` then renames it, and finally writes `uploaded`;
 *   3. the script, which waits for `uploaded` when it expects uploads, starts the agent (its stdout,
 *      one JSON line `{"event":"listening","port":N}`, goes to `agentOut`) or the command (output to
 *      `taskStdout`/`taskStderr`);
 *   4. when the command or agent exits, the script writes its exit code to `exitCode` (the
 *      completion marker) — after `failure`, in words, when setup failed — and powers the
 *      machine off after the configured grace period.
 */

import { quote } from "./startup-script/bash.ts";

export const INSTANCE_ROOT_ENV = "FLOW_INSTANCE_ROOT";
export const DEFAULT_INSTANCE_ROOT = "/var/lib/flow";
/** The login user on FCP instances (the seed's default `ssh_user`). */
export const INSTANCE_SSH_USER = "ubuntu";

/**
 * Writes the `uploaded` marker, once every upload is in; run over SSH, as the SSH user. One exec
 * (or a part of one) instead of an SFTP upload of an empty file: five or six round trips fewer.
 */
export function markUploadedCommand(paths: InstancePaths): string {
  return `touch ${quote(paths.uploaded)}`;
}

/**
 * Prints the instance root on a line, then `ready` when the startup script's marker is there
 * already (then the client's login needs no second exec to wait for it); run through an SSH exec
 * channel.
 */
export const rootProbeCommand = `r="\${${INSTANCE_ROOT_ENV}:-${DEFAULT_INSTANCE_ROOT}}"; printf '%s\\n' "$r"; [ -e "${instancePaths("$r").ready}" ] && echo ready; true`;

export interface InstancePaths {
  root: string;
  /** Everything the startup script prints (each section announces itself). */
  startupLog: string;
  /** The code archive (tar.gz), decoded from the script or uploaded. */
  archive: string;
  /** The archive extracted: the working directory of command tasks. */
  codeDir: string;
  /** The bundled agent (dist/agent.mjs), uploaded by the client. */
  agentFile: string;
  /** The agent's session secret, uploaded by the client, mode 0600. */
  agentSecret: string;
  /** The agent's stdout: its `listening` line. */
  agentOut: string;
  agentErr: string;
  /** The agent's detached calls, one directory each (state, output, outcome: remote-agent/detached-call.ts). */
  agentCalls: string;
  /** `KEY=value` lines of secret env for command tasks, uploaded by the client, mode 0600. */
  secretEnv: string;
  taskStdout: string;
  taskStderr: string;
  /** Completion marker: the exit code of the command or agent, then a newline. */
  exitCode: string;
  /** Setup is done; uploads may begin. */
  ready: string;
  /** The client finished uploading. */
  uploaded: string;
  /** Path of the Node binary the script chose or installed, one line. */
  nodePath: string;
  /** A dev machine's clock: every session touches it; idle this long (devIdleSeconds) powers off. */
  devLastActive: string;
  /** Seconds without a session before a dev machine powers off, one number; the client may change it. */
  devIdleSeconds: string;
  /** A script the client delivered (to a reservation's instance) and the pid it runs as. */
  runScript: string;
  runPid: string;
  /** Why setup failed, one line in words, written beside the exit code when it did. */
  failure: string;
  /** The S3 helper (dist/s3-copy.mjs), uploaded by the client for S3 data mounts. */
  s3Helper: string;
  /** The S3 credentials and endpoint of data mount i are `<this>-<i>.json`, uploaded by the client, mode 0600. */
  s3Credentials: string;
  /** S3 data mounts are copied here, one directory each (`data/0`, `data/1`, …). */
  dataDir: string;
}

export function instancePaths(root: string): InstancePaths {
  const at = (relative: string) => `${root}/${relative}`;
  return {
    root,
    startupLog: at("startup.log"),
    archive: at("code.tar.gz"),
    codeDir: at("code"),
    agentFile: at("agent/agent.mjs"),
    agentSecret: at("agent/secret"),
    agentOut: at("agent/agent.out"),
    agentErr: at("agent/agent.err"),
    agentCalls: at("calls"),
    secretEnv: at("secret.env"),
    taskStdout: at("task/stdout.log"),
    taskStderr: at("task/stderr.log"),
    exitCode: at("exit-code"),
    ready: at("ready"),
    uploaded: at("uploaded"),
    nodePath: at("node-path"),
    devLastActive: at("dev/last-active"),
    devIdleSeconds: at("dev/idle-seconds"),
    runScript: at("run.sh"),
    runPid: at("run.pid"),
    failure: at("failure"),
    s3Helper: at("s3/s3-copy.mjs"),
    s3Credentials: at("s3/credentials"),
    dataDir: at("data"),
  };
}
