/**
 * What a startup script is built from, checked at the boundary. The script is stored by the API
 * with the bid, so the spec holds only non-secret data: secret env values and the agent's session
 * secret are uploaded over SSH, never passed here.
 */
import * as z from "zod";
import { isSecretEnvName } from "../../../task/secret-env.ts";
import { AbsolutePath, issuesFromZod, validationError } from "../../../validation.ts";

export type InstanceWorkload =
  /** A function agent: the client uploads the agent file and its session secret. */
  | { kind: "agent"; idleTimeoutMs: number }
  /**
   * A task's command (argv, one shell line, or a multi-line script; DEFAULT_COMMAND when absent).
   * `workingDir` is a path inside the container, where the code directory is mounted; on a host
   * without Docker the command runs in the code directory itself.
   */
  | { kind: "command"; command?: string[] | string | undefined; workingDir?: string | undefined };

export interface VolumeMount {
  volumeFid: string;
  mountPath: string;
  interface: "block" | "file";
  /** Mounted read-only inside the workload's container (a `volume://` data mount with `readonly`). */
  readonly?: boolean | undefined;
}

/**
 * `s3://bucket/prefix` copied onto the machine before the workload starts, by the S3 helper the
 * client uploads with the credentials (never in the script): read-only at `target` in the container.
 */
export interface S3Mount {
  source: string;
  target: string;
}

export interface StartupScriptSpec {
  workload: InstanceWorkload;
  /** Small code archives ride inside the script (base64); otherwise the client uploads it. */
  inlineArchive?: Uint8Array | undefined;
  /** The client will upload files and then write the `uploaded` marker; the start section waits for it. */
  expectUploads: boolean;
  /** Non-secret env for the workload. A secret-looking name (isSecretEnvName) is refused: secrets are uploaded. */
  env: Record<string, string>;
  /** Docker image; used only when a Docker daemon answers on the instance (then with `--gpus all` if gpus). */
  image?: string | undefined;
  gpus: boolean;
  volumes: VolumeMount[];
  maxRunTimeHours?: number | undefined;
  /**
   * After the workload exits (exit-code marker written), power off after this many seconds;
   * "never" for a script delivered to a machine others share (a reservation's), whose end is the
   * workload's alone.
   */
  poweroffGraceSeconds: number | "never";
  /**
   * Where the script keeps its files. By default the machine's instance root (FLOW_INSTANCE_ROOT,
   * else /var/lib/flow): the script boots the machine. A script the client delivers to a machine
   * that is already up gets a directory of its own there, so several can share the machine.
   */
  root?: string | undefined;
  /** A dev machine: power off once no `flow dev` session has touched it for this many seconds. */
  autostopIdleSeconds?: number | undefined;
  /** The workload must be done by then (ISO 8601): not started after it, stopped at it. */
  deadline?: string | undefined;
  /** S3 data copied in after the uploads (which bring the helper and credentials), before the workload. */
  s3Mounts?: S3Mount[] | undefined;
  /** How long the start section waits for the client's uploads; 600 by default. */
  uploadWaitSeconds?: number | undefined;
  /** Run the workload on the machine even when Docker answers (a developer VM). */
  onHost?: boolean | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const noNul = (value: string) => !value.includes("\0");

const Workload = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("agent"), idleTimeoutMs: z.number().int().positive() }),
  z.object({
    kind: z.literal("command"),
    command: z
      .union([z.string().refine((c) => c.trim() !== "" && noNul(c)), z.array(z.string().refine(noNul)).min(1)], {
        error: "must be a non-empty argv list or shell command without NUL characters",
      })
      .optional(),
    workingDir: AbsolutePath.optional(),
  }),
]);

const SpecSchema = z
  .object({
    workload: Workload,
    inlineArchive: z.instanceof(Uint8Array).optional(),
    expectUploads: z.boolean(),
    env: z.record(
      z.string().regex(ENV_NAME, "must be a shell variable name (letters, digits, _; not starting with a digit)"),
      z.string().refine(noNul, "must not contain NUL characters"),
    ),
    image: z.string().min(1).optional(),
    gpus: z.boolean(),
    volumes: z.array(z.object({ volumeFid: z.string().min(1), mountPath: AbsolutePath, interface: z.enum(["block", "file"]), readonly: z.boolean().optional() })),
    maxRunTimeHours: z.number().positive().optional(),
    poweroffGraceSeconds: z.union([z.number().int().nonnegative(), z.literal("never")]),
    root: AbsolutePath.optional(),
    autostopIdleSeconds: z.number().int().positive().optional(),
    deadline: z.iso.datetime({ offset: true }).optional(),
    s3Mounts: z.array(z.object({ source: z.string().regex(/^s3:\/\/[^/]+/, "must be s3://bucket[/prefix]"), target: AbsolutePath })).optional(),
    uploadWaitSeconds: z.number().int().positive().optional(),
    onHost: z.boolean().optional(),
  })
  .superRefine((spec, ctx) => {
    for (const name of Object.keys(spec.env)) {
      if (!isSecretEnvName(name)) continue;
      ctx.addIssue({
        code: "custom",
        path: ["env", name],
        message: "looks like a secret, and the startup script is stored in plain text by the API",
        params: { suggestion: "pass secret env through the task's secret upload (secret.env over SSH), not the startup script" },
      });
    }
    if ((spec.s3Mounts?.length ?? 0) > 0 && !spec.expectUploads) {
      ctx.addIssue({
        code: "custom",
        path: ["expectUploads"],
        message: "S3 data mounts need uploads: the S3 helper and the credentials come over SSH",
        params: { suggestion: "set expectUploads: true" },
      });
    }
    if (spec.workload.kind === "agent" && !spec.expectUploads) {
      ctx.addIssue({
        code: "custom",
        path: ["expectUploads"],
        message: "an agent workload needs uploads: the agent file and its session secret come over SSH",
        params: { suggestion: "set expectUploads: true" },
      });
    }
  });

/** Throws a ValidationError listing every problem (env names only, never their values). */
export function validateStartupScriptSpec(spec: StartupScriptSpec): void {
  const parsed = SpecSchema.safeParse(spec);
  if (!parsed.success) throw validationError("startup script spec", issuesFromZod(parsed.error));
}
