/**
 * Builds FCP's `launch_specification.startup_script` from named sections (see sections.ts).
 *
 * FCP takes at most STARTUP_SCRIPT_LIMIT_BYTES. A longer script is sent as a small wrapper that
 * carries it gzip+base64 and execs it; if even that is too long, the error names the sections that
 * take the room and how to shrink them.
 */
import { gzipSync } from "node:zlib";
import { ValidationError } from "../../../errors.ts";
import { startupSections, type Section } from "./sections.ts";
import { validateStartupScriptSpec, type StartupScriptSpec } from "./spec.ts";

export const STARTUP_SCRIPT_LIMIT_BYTES = 10_000;

export interface BuiltStartupScript {
  /** What to send as `startup_script`. */
  script: string;
  bytes: number;
  /** Whether `script` is the self-extracting wrapper around the plain script. */
  compressed: boolean;
  /** The plain script's sections and their sizes, in order. */
  sections: { name: string; bytes: number }[];
}

export function buildStartupScript(spec: StartupScriptSpec): BuiltStartupScript {
  validateStartupScriptSpec(spec);
  const sections = startupSections(spec);
  const plain = sections.map((s) => s.body).join("");
  const sizes = sections.map((s) => ({ name: s.name, bytes: byteLength(s.body) }));
  const plainBytes = byteLength(plain);
  if (plainBytes <= STARTUP_SCRIPT_LIMIT_BYTES) return { script: plain, bytes: plainBytes, compressed: false, sections: sizes };

  const wrapped = selfExtracting(plain, plainBytes);
  const bytes = byteLength(wrapped);
  if (bytes > STARTUP_SCRIPT_LIMIT_BYTES) throw tooLarge(spec, sections, plainBytes, bytes);
  return { script: wrapped, bytes, compressed: true, sections: sizes };
}

/**
 * `exec` keeps the unpacked script the boot process itself (signals and the exit status reach it).
 * It is read from a pipe, not passed as an argument, so its size is not bound by ARG_MAX.
 */
function selfExtracting(plain: string, plainBytes: number): string {
  const payload = gzipSync(plain, { level: 9 }).toString("base64");
  return [
    "#!/bin/bash",
    `# Flow startup script, gzip+base64: the plain script is ${plainBytes} bytes, over FCP's ${STARTUP_SCRIPT_LIMIT_BYTES}.`,
    "exec bash <(base64 -d <<'FLOW_SCRIPT' | gunzip",
    payload,
    "FLOW_SCRIPT",
    ")",
    "",
  ].join("\n");
}

function tooLarge(spec: StartupScriptSpec, sections: Section[], plainBytes: number, compressedBytes: number): ValidationError {
  const biggest = sections
    .map((s) => ({ name: s.name, bytes: byteLength(s.body) }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 3);
  const suggestions: string[] = [];
  if (spec.inlineArchive !== undefined) {
    suggestions.push(`the inline code archive is ${spec.inlineArchive.byteLength} bytes: let the client upload it over SSH (uploadStrategy "scp" or "auto")`);
  }
  const envBytes = Object.entries(spec.env).reduce((sum, [name, value]) => sum + byteLength(name) + byteLength(value), 0);
  if (envBytes > STARTUP_SCRIPT_LIMIT_BYTES / 4) {
    suggestions.push(`the env is ${envBytes} bytes: put large values in a file that ships with the code and read it from there`);
  }
  const { workload } = spec;
  if (workload.kind === "command" && typeof workload.command === "string" && byteLength(workload.command) > STARTUP_SCRIPT_LIMIT_BYTES / 4) {
    suggestions.push("the command is a long script: ship it as a file with the code and run that file");
  }
  return new ValidationError(
    `The startup script is ${compressedBytes} bytes even compressed (${plainBytes} plain), over FCP's limit of ${STARTUP_SCRIPT_LIMIT_BYTES} bytes. ` +
      `Biggest sections: ${biggest.map((s) => `${s.name} (${s.bytes} bytes)`).join(", ")}.`,
    { suggestions, errorCode: "startup_script_too_large" },
  );
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}
