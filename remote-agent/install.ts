/**
 * Turns a code archive into a ready workspace: unpacked safely, externals installed with npm.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { unpackArchive } from "../src/bundler/unpack.ts";

const run = promisify(execFile);

/** Returns the absolute path of the bundled entry module. */
export async function prepareWorkspace(archive: string, workspace: string): Promise<string> {
  const manifest = await unpackArchive(archive, workspace);
  if (manifest.externals.length > 0) {
    // Packages with native code were left out of the bundle; install the versions the user has.
    await writeFile(join(workspace, "package.json"), JSON.stringify({ private: true, type: "module" }));
    const specs = manifest.externals.map((e) => `${e.name}@${e.version}`);
    await run("npm", ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", ...specs], {
      cwd: workspace,
      maxBuffer: 16 << 20,
    }).catch((error: { stderr?: string; message: string }) => {
      throw new Error(`npm could not install ${specs.join(", ")} on the agent:\n${error.stderr ?? error.message}`);
    });
  }
  return join(workspace, manifest.entry);
}
