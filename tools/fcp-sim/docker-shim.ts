/**
 * The simulated machine's Docker engine: a `docker` shim on the sandbox's PATH (like the disk
 * shims) that runs `docker run` for real enough that a test sees what a container would see.
 *
 * A container is the command in a root of its own: a fresh tmpfs, in a private mount namespace
 * (`unshare --mount`; with `--user --map-root-user` when the simulator is not root), holding
 * this host's /usr, /etc and /opt, read-only, as "the image" (every image is this host's
 * userland here, with `python`/`python3` in /usr/local/bin, as GPU images have),
 * its own empty /tmp, /root, /home, /var and /run, the host's /dev, /proc and /sys, and every
 * `-v host:container[:ro]` bind-mounted at its container path (read-only with `:ro`); then
 * `chroot` into it. So a container path resolves only if the script mounted it: a volume the
 * script forgot to pass is simply not there, as on a real machine. The command's environment
 * is the image's (PATH, HOME, HOSTNAME) plus its `-e NAME=value` and `-e NAME` (the value from
 * the shim's own environment; an unset NAME is left out, as Docker does), and it starts in `-w`
 * (created if missing). `--rm` and `--network host` are accepted (the container shares the
 * machine's network, the only mode scripts use); `--gpus` is recorded, and sets
 * NVIDIA_VISIBLE_DEVICES as the NVIDIA runtime does. Anything else is refused with exit 125, so a
 * script that relies on an option the shim does not honour fails loudly rather than passing.
 *
 * `docker info` answers only when such a container can be made here (Linux with unshare and
 * chroot); otherwise the startup script sees no daemon and runs workloads on the host.
 * `docker pull` and `docker image inspect` keep a list of pulled images; `run` pulls a missing
 * one like Docker. Each run is recorded in `<sandbox>/docker-runs.tsv` (image, mounts, env
 * names — never values —, working dir, GPUs, argv) for tests to read (`readDockerRuns`).
 *
 * One deviation: the container's environment also carries FCP_SIM_MACHINE=<instance root>, the
 * marker the simulator finds a machine's processes by (process-reaper.ts), so killing the
 * machine reaches what runs in its containers however they detach.
 */
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { quote } from "../../src/providers/fcp/startup-script/bash.ts";

/** The environment marker of a machine's container processes (see process-reaper.ts). */
export const CONTAINER_MARKER_ENV = "FCP_SIM_MACHINE";

export interface DockerRun {
  image: string;
  mounts: { source: string; target: string; readonly: boolean }[];
  /** Names only: values may be secrets. */
  env: string[];
  workdir?: string;
  gpus?: string;
  network?: string;
  argv: string[];
}

/** Writes bin/docker for the sandbox; `root` is the instance root (FLOW_INSTANCE_ROOT). */
export async function installDockerShim(sandboxDir: string, bin: string, root: string): Promise<void> {
  const containers = join(sandboxDir, "containers");
  await mkdir(containers, { recursive: true });
  const setup = join(sandboxDir, "docker-container.sh");
  await writeFile(setup, await readFile(new URL("./shims/docker-container.sh", import.meta.url), "utf8"));
  const system = systemTools();
  const settings = {
    CONTAINERS: containers,
    IMAGES: join(sandboxDir, "docker-images"),
    RUNS: join(sandboxDir, "docker-runs.tsv"),
    MARKER: `${CONTAINER_MARKER_ENV}=${root}`,
    SETUP: setup,
    MOUNT: system.mount,
    CHROOT: system.chroot,
    UNSHARE: system.unshare,
  };
  const header = ["#!/bin/bash", ...Object.entries(settings).map(([name, value]) => `${name}=${quote(value)}`)].join("\n");
  const shim = join(bin, "docker");
  await writeFile(shim, `${header}\n${await readFile(new URL("./shims/docker.sh", import.meta.url), "utf8")}`);
  await chmod(shim, 0o755);
}

/** The runs recorded in `<sandbox>/docker-runs.tsv`, oldest first. */
export async function readDockerRuns(sandboxDir: string): Promise<DockerRun[]> {
  const text = await readFile(join(sandboxDir, "docker-runs.tsv"), "utf8").catch(() => "");
  const runs = new Map<string, DockerRun>();
  for (const line of text.split("\n")) {
    const [kind, id, ...fields] = line.split("\t");
    if (id === undefined) continue;
    if (kind === "run") runs.set(id, { image: fields[0] ?? "", mounts: [], env: [], argv: [] });
    const run = runs.get(id);
    if (run === undefined) continue;
    if (kind === "mount") run.mounts.push({ source: fields[0] ?? "", target: fields[1] ?? "", readonly: fields[2] === "ro" });
    else if (kind === "env") run.env.push(fields[0] ?? "");
    else if (kind === "workdir") run.workdir = fields[0] ?? "";
    else if (kind === "gpus") run.gpus = fields[0] ?? "";
    else if (kind === "network") run.network = fields[0] ?? "";
    else if (kind === "arg") run.argv.push(fields[0] ?? "");
  }
  return [...runs.values()];
}

interface SystemTools {
  mount: string;
  chroot: string;
  unshare: string;
}

let tools: SystemTools | undefined;

/** The real tools by absolute path (the sandbox's bin/ shadows `mount` with a disk shim); looked up once. */
function systemTools(): SystemTools {
  if (tools !== undefined) return tools;
  const find = (name: string) => {
    try {
      return execFileSync("sh", ["-c", `PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v ${name}`], { encoding: "utf8" }).trim() || `/nonexistent/${name}`;
    } catch {
      return `/nonexistent/${name}`;
    }
  };
  tools = { mount: find("mount"), chroot: find("chroot"), unshare: find("unshare") };
  return tools;
}
