/**
 * Volumes and data mounts of a local task. There is no container, so the task's workspace stands
 * in for the container's filesystem, as it already stands in for `workingDir`: a target inside
 * `workingDir` (`/workspace/data`) is that path inside the workspace (`data`, relative to where
 * the command runs), any other target (`/data`) is the same path below the workspace
 * (`<workspace>/data`). There, a volume (`volumes`, `volume://name`) or a local path (bind) is a
 * symlink to its directory, and an S3 prefix is copied in before the command starts, by the same
 * helper the cloud's instances run. A task file thus works unchanged on both providers.
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import type { TaskConfig } from "../../task/task-config.ts";
import { resolveS3Access, type S3Access } from "../s3/s3-access.ts";
import type { LocalVolumes } from "./local-volumes.ts";

export interface LocalMounts {
  /** Symlinks made in the workspace: `target` (relative to it) → `path`. */
  links: { target: string; path: string }[];
  /** S3 prefixes copied to `target` (relative to the workspace) before the command starts. */
  s3: { source: string; target: string; access: S3Access }[];
}

/** Where a container path is in the workspace, relative to it. */
export function workspaceTarget(workingDir: string, target: string): string {
  const inside = relative(workingDir, target);
  return inside !== "" && !inside.startsWith("..") && !isAbsolute(inside) ? inside : join(".", target);
}

export async function planLocalMounts(config: TaskConfig, volumes: LocalVolumes, env: NodeJS.ProcessEnv, cwd: string): Promise<LocalMounts> {
  const mounts: LocalMounts = { links: [], s3: [] };
  for (const spec of config.volumes) {
    const volume = await volumes.resolve(spec);
    mounts.links.push({ target: workspaceTarget(config.workingDir, spec.mountPath ?? `/volumes/${volume.name}`), path: volume.localPath! });
  }
  for (const [i, mount] of config.dataMounts.entries()) {
    const target = workspaceTarget(config.workingDir, mount.target);
    if (mount.mountType === "volume") {
      const name = mount.source.slice("volume://".length);
      const volume = await volumes.resolve({ name, sizeGb: Math.ceil(mount.sizeEstimateGb ?? 1), interface: "block" });
      mounts.links.push({ target, path: volume.localPath! });
    } else if (mount.mountType === "bind") {
      mounts.links.push({ target, path: resolve(cwd, mount.source) });
    } else {
      const profile = mount.options["profile"];
      const access = await resolveS3Access(env, { field: `dataMounts[${i}]`, ...(typeof profile === "string" ? { profile } : {}) });
      mounts.s3.push({ source: mount.source, target, access });
    }
  }
  return mounts;
}
