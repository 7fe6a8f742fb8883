import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { extractArchive } from "../../src/bundler/unpack.ts";
import { ValidationError } from "../../src/errors.ts";
import { MAX_CODE_PACKAGE_BYTES, packageCode, type CodePackage, type PackageCodeOptions } from "../../src/task/code-package.ts";

const scratch = mkdtempSync(join(tmpdir(), "flow-code-package-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A project directory holding `files` (path → contents). */
function project(files: Record<string, string | Buffer>): string {
  const root = join(scratch, `p${counter++}`);
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), contents);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

/** packageCode for a tree that has something to upload. */
async function pack(root: string, options: PackageCodeOptions = {}): Promise<CodePackage> {
  const pkg = await packageCode(root, options);
  assert.ok(pkg, "a package");
  return pkg;
}

describe("packageCode", () => {
  test(".flowignore: full gitignore syntax, negation included", async () => {
    const root = project({
      ".flowignore": "# comment\nlogs/*\n!logs/keep.log\n*.ckpt\n!best.ckpt\ndata/\n/top-only.txt\n",
      "train.py": "print(1)",
      "logs/a.log": "a",
      "logs/keep.log": "k",
      "model.ckpt": "m",
      "best.ckpt": "b",
      "data/set.csv": "1,2",
      "top-only.txt": "t",
      "src/top-only.txt": "nested, kept",
    });
    const pkg = await pack(root);
    assert.deepEqual(pkg.files, [".flowignore", "best.ckpt", "logs/keep.log", "src/top-only.txt", "train.py"]);
    assert.equal(pkg.ignoreFile, ".flowignore");
  });

  test("falls back to .gitignore, and .flowignore replaces it when both exist", async () => {
    const gitOnly = project({ ".gitignore": "*.log\n", "a.py": "", "b.log": "" });
    const gitPkg = await pack(gitOnly);
    assert.deepEqual(gitPkg.files, [".gitignore", "a.py"]);
    assert.equal(gitPkg.ignoreFile, ".gitignore");

    const both = project({ ".gitignore": "*.log\n", ".flowignore": "*.py\n", "a.py": "", "b.log": "" });
    assert.deepEqual((await pack(both)).files, [".flowignore", ".gitignore", "b.log"]);

    const neither = project({ "a.py": "", "b.log": "" });
    const plain = await pack(neither);
    assert.deepEqual(plain.files, ["a.py", "b.log"]);
    assert.equal(plain.ignoreFile, undefined);
  });

  test("default excludes: VCS, dependencies, caches and secrets; a negation brings one back", async () => {
    const root = project({
      ".git/HEAD": "ref",
      "node_modules/x/index.js": "",
      "pkg/node_modules/y/index.js": "",
      "__pycache__/m.cpython-311.pyc": "",
      "lib/mod.pyc": "",
      ".venv/bin/python": "",
      ".cache/x": "",
      ".env": "SECRET=1",
      ".env.local": "SECRET=2",
      ".env.example": "SECRET=",
      ".flow/config.yaml": "api_key: fkey_secret",
      "dist/main.js": "built",
      "main.py": "",
    });
    assert.deepEqual((await pack(root)).files, ["dist/main.js", "main.py"]);
    writeFileSync(join(root, ".flowignore"), "!.env.example\n");
    assert.deepEqual((await pack(root)).files, [".env.example", ".flowignore", "dist/main.js", "main.py"]);
  });

  test("deterministic: the same tree gives the same bytes, whatever the mtimes", async () => {
    const root = project({ "b.py": "b", "a/x.py": "x", "a/y.txt": "y" });
    const first = await pack(root);
    utimesSync(join(root, "a/x.py"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const second = await pack(root);
    assert.equal(first.sha256, second.sha256);
    assert.ok(first.archive.equals(second.archive));
    writeFileSync(join(root, "b.py"), "changed");
    assert.notEqual((await pack(root)).sha256, first.sha256);
  });

  test("keeps the executable bit, follows file symlinks, skips directory symlinks", async () => {
    const root = project({ "run.sh": "#!/bin/sh\necho hi\n", "real/data.txt": "d", "notes.txt": "n" });
    chmodSync(join(root, "run.sh"), 0o755);
    symlinkSync(join(root, "notes.txt"), join(root, "link.txt"));
    symlinkSync(join(root, "real"), join(root, "linked-dir"));
    symlinkSync(join(root, "missing"), join(root, "broken"));
    const pkg = await pack(root);
    assert.deepEqual(pkg.files, ["link.txt", "notes.txt", "real/data.txt", "run.sh"]);
    const out = join(scratch, `out${counter++}`);
    const archivePath = join(out, "code.tar.gz");
    mkdirSync(out);
    writeFileSync(archivePath, pkg.archive);
    await extractArchive(archivePath, join(out, "ws"));
    assert.equal(statSync(join(out, "ws/run.sh")).mode & 0o777, 0o755);
    assert.equal(statSync(join(out, "ws/notes.txt")).mode & 0o777, 0o644);
  });

  test("over the limit: names the largest files and directories, and how to exclude them", async () => {
    const root = project({
      "data/big.bin": randomBytes(96 * 1024),
      "data/small.bin": randomBytes(8 * 1024),
      "weights.pt": randomBytes(40 * 1024),
      "train.py": "print(1)",
    });
    await assert.rejects(packageCode(root, { maxBytes: 64 * 1024 }), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.equal(error.errorCode, "code_upload_too_large");
      assert.match(error.message, /compressed, over the 64\.0 KB limit/);
      const lines = error.message.split("\n");
      const files = lines.slice(lines.indexOf("Largest files (uncompressed):") + 1).map((l) => l.trim().split(/\s+/).at(-1));
      assert.deepEqual(files.slice(0, 3), ["data/big.bin", "weights.pt", "data/small.bin"]);
      assert.match(error.message, /Largest directories:\n\s+104\.0 KB\s+data\//);
      assert.match(error.describe(), /\.flowignore.*a line `data\/`/);
      assert.match(error.describe(), /uploadCode: false/);
      return true;
    });
  });

  test("a code root with nothing to upload gives no package", async () => {
    assert.equal(await packageCode(project({ ".env": "SECRET=1", "node_modules/x.js": "" })), undefined);
  });

  test("the default limit is the seed's 10 MB", () => {
    assert.equal(MAX_CODE_PACKAGE_BYTES, 10 * 1024 * 1024);
  });

  test("a code root that is not a directory is a ValidationError", async () => {
    await assert.rejects(packageCode(join(scratch, "nope")), { name: "ValidationError", message: /is not a directory/ });
  });
});
