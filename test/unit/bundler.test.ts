import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { link, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import { Header, create, list } from "tar";
import { BuildError, FlowError, ValidationError } from "../../src/errors.ts";
import { ARCHIVE_MTIME } from "../../src/bundler/archive.ts";
import { buildArchive, unpackArchive, type CodeArchive } from "../../src/bundler/index.ts";
import { AGENT_SDK_GLOBAL } from "../../src/bundler/sdk-alias.ts";

const run = promisify(execFile);
const APP = fileURLToPath(new URL("../fixtures/bundler/app/", import.meta.url)).replace(/\/$/, "");
const SRC = path.join(APP, "src");

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "flow-bundler-test-"));
  temps.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Builds a fixture entry into a fresh cache dir, never the fixture's own node_modules. */
async function build(entry: string, options: { externals?: string[]; sdkExports?: string[]; functionIds?: string[] } = {}) {
  return buildArchive({ entry: path.join(SRC, entry), cacheDir: await tempDir(), ...options });
}

async function unpacked(archive: CodeArchive): Promise<string> {
  const dir = path.join(await tempDir(), "out");
  await unpackArchive(archive.path, dir);
  return dir;
}

interface Listed {
  path: string;
  type: string;
}
async function listArchive(file: string): Promise<Listed[]> {
  const entries: Listed[] = [];
  await list({ file, onReadEntry: (e) => entries.push({ path: e.path, type: e.type }) });
  return entries;
}

describe("buildArchive", () => {
  test("makes native and listed packages external, with versions from lockfile, node_modules, package.json", async () => {
    const archive = await build("main.js", { externals: ["listed-pkg"], functionIds: ["b", "a", "b"] });
    assert.equal(archive.cached, false);
    assert.deepEqual(archive.manifest, {
      version: 1,
      entry: "bundle/entry.mjs",
      hash: archive.manifest.hash,
      externals: [
        { name: "@scope/wasm-thing", version: "2.0.0" }, // ships .wasm; deep import; installed version
        { name: "listed-pkg", version: "^3.1.0" }, // listed, not installed: package.json range
        { name: "native-thing", version: "1.2.3" }, // binding.gyp; the lockfile beats installed 1.0.0
        { name: "prebuilt-thing", version: "0.4.0" }, // prebuilds/*/*.node
      ],
      nodeVersion: ">=20",
      functions: ["a", "b"],
      sourceRoot: APP,
    });
    assert.match(archive.manifest.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(archive.inputs, [
      path.join(APP, "node_modules/plain-cjs/index.js"),
      path.join(SRC, "helper.ts"),
      path.join(SRC, "main.js"),
    ]);

    const dir = await unpacked(archive);
    const code = await readFile(path.join(dir, "bundle/entry.mjs"), "utf8");
    assert.match(code, /HELPER_BODY/);
    assert.match(code, /PLAIN_CJS_BODY/);
    assert.doesNotMatch(code, /NATIVE_THING_BODY|WASM_THING_BODY|WASM_DEEP_BODY|PREBUILT_BODY/);
    assert.match(code, /from "native-thing"/);
    assert.match(code, /from "@scope\/wasm-thing\/deep\/path"/);
    assert.match(code, /\/\/# sourceMappingURL=entry\.mjs\.map\n?$/);

    const map = JSON.parse(await readFile(path.join(dir, "bundle/entry.mjs.map"), "utf8")) as { sources: string[] };
    assert.ok(map.sources.includes(pathToFileURL(path.join(SRC, "helper.ts")).href), map.sources.join());
    for (const source of map.sources) assert.match(source, /^file:\/\/\//);
  });

  test("an external with no known version is a BuildError naming it and package.json", async () => {
    const err = await build("ghost.js", { externals: ["ghost-pkg"] }).catch((e: unknown) => e);
    assert.ok(err instanceof BuildError, String(err));
    assert.match(err.message, /"ghost-pkg" \(imported by .*ghost\.js\)/);
    assert.match(err.describe(), /Add ghost-pkg to "dependencies" in .*package\.json/);
  });

  test("two builds in separate cache dirs give byte-identical archives", async () => {
    const [a, b] = [await build("throws.ts"), await build("throws.ts")];
    assert.notEqual(a.path, b.path);
    const [bytesA, bytesB] = [await readFile(a.path), await readFile(b.path)];
    assert.ok(bytesA.equals(bytesB));
    assert.equal(a.hash, b.hash);
    assert.equal(a.hash, createHash("sha256").update(bytesA).digest("hex"));
    assert.equal(a.bytes, bytesA.byteLength);
  });

  test("the archive has sorted entries, fixed mtime, owner and modes, and no pax headers", async () => {
    const archive = await build("throws.ts");
    const gz = await readFile(archive.path);
    assert.equal(gz.readUInt32LE(4), 0, "gzip header mtime");
    const tar = gunzipSync(gz);
    const headers: Header[] = [];
    for (let offset = 0; offset + 512 <= tar.length; ) {
      const header = new Header(tar, offset);
      if (!header.path) break;
      headers.push(header);
      offset += 512 + Math.ceil((header.size ?? 0) / 512) * 512;
    }
    assert.deepEqual(
      // No owner at all (portable), which tar readers show as 0/0.
      headers.map((h) => [h.path, h.type, h.mode, h.uid, h.gid, h.uname ?? "", h.gname ?? ""]),
      [
        ["bundle/", "Directory", 0o755, undefined, undefined, "", ""],
        ["bundle/entry.mjs", "File", 0o644, undefined, undefined, "", ""],
        ["bundle/entry.mjs.map", "File", 0o644, undefined, undefined, "", ""],
        ["manifest.json", "File", 0o644, undefined, undefined, "", ""],
      ],
    );
    for (const h of headers.filter((h) => h.type === "File")) {
      assert.equal(h.mtime?.getTime(), ARCHIVE_MTIME.getTime(), h.path);
    }
  });

  test("an unchanged module hits the cache without rewriting it; a change misses", async () => {
    const project = await tempDir();
    await writeFile(path.join(project, "package.json"), '{ "name": "cache-test", "type": "module" }\n');
    const entry = path.join(project, "mod.ts");
    await writeFile(entry, "export const answer: number = 42;\n");

    const first = await buildArchive({ entry });
    assert.equal(path.dirname(first.path), path.join(project, "node_modules/.cache/flow-sdk"));
    assert.equal(first.cached, false);
    const before = await stat(first.path);

    const second = await buildArchive({ entry });
    assert.equal(second.cached, true);
    assert.equal(second.path, first.path);
    assert.equal(second.hash, first.hash);
    assert.deepEqual(second.manifest, first.manifest);
    assert.equal((await stat(second.path)).mtimeMs, before.mtimeMs);

    await writeFile(entry, "export const answer: number = 43;\n");
    const third = await buildArchive({ entry });
    assert.equal(third.cached, false);
    assert.notEqual(third.path, first.path);
    assert.equal((await readdir(path.dirname(first.path))).length, 2);
  });

  test("esbuild is skipped while nothing it read changed: files edited in place, new files that resolve first, tsconfig, relinked packages, damaged records", async () => {
    const project = await tempDir();
    await writeFile(path.join(project, "package.json"), '{ "name": "record-test", "type": "module" }\n');
    // One directory per case, so that each change shows in one stamp only.
    for (const dir of ["edited", "shadowed", "aliased"]) await mkdir(path.join(project, dir));
    await writeFile(path.join(project, "edited/entry.ts"), "export const answer = 42;\n");
    await writeFile(path.join(project, "shadowed/entry.ts"), 'export { which } from "./util";\n');
    await writeFile(path.join(project, "shadowed/util.js"), 'export const which = "util.js";\n');
    await writeFile(path.join(project, "aliased/tsconfig.json"), '{ "compilerOptions": { "paths": { "~alias": ["./a.ts"] } } }\n');
    await writeFile(path.join(project, "aliased/entry.ts"), 'export { which } from "~alias";\n');
    await writeFile(path.join(project, "aliased/a.ts"), 'export const which = "a.ts";\n');
    await writeFile(path.join(project, "aliased/b.ts"), 'export const which = "b.ts";\n');
    // A package linked into node_modules, as pnpm does, then pointed at another version.
    await mkdir(path.join(project, "linked"));
    await writeFile(path.join(project, "linked/entry.ts"), 'export { which } from "linked-pkg";\n');
    for (const version of ["v1", "v2"]) {
      await mkdir(path.join(project, "store", version), { recursive: true });
      await writeFile(path.join(project, "store", version, "package.json"), '{ "name": "linked-pkg", "main": "index.js" }\n');
      await writeFile(path.join(project, "store", version, "index.js"), `export const which = "${version}";\n`);
    }
    await mkdir(path.join(project, "node_modules"));
    await symlink(path.join(project, "store/v1"), path.join(project, "node_modules/linked-pkg"));
    const entries = ["edited", "shadowed", "aliased", "linked"].map((dir) => path.join(project, dir, "entry.ts"));
    const buildAll = () => Promise.all(entries.map((entry) => buildArchive({ entry })));
    const bundleText = async (archive: CodeArchive) => readFile(path.join(await unpacked(archive), "bundle/entry.mjs"), "utf8");

    // Files changed less than 2 s before a build are not trusted to show their next change (see
    // bundle-record.ts): the first build of fresh files writes no record.
    const fresh = await buildAll();
    assert.deepEqual(fresh.map((a) => a.bundled), [true, true, true, true]);
    assert.deepEqual((await buildAll()).map((a) => a.bundled), [true, true, true, true]);
    await new Promise((resolve) => setTimeout(resolve, 2_100));

    const recorded = await buildAll();
    assert.deepEqual(recorded.map((a) => a.bundled), [true, true, true, true]);
    const skipped = await buildAll();
    assert.deepEqual(skipped.map((a) => a.bundled), [false, false, false, false]);
    assert.deepEqual(skipped.map((a) => [a.path, a.hash, a.cached, a.inputs]), recorded.map((a) => [a.path, a.hash, true, a.inputs]));
    assert.deepEqual(skipped.map((a) => a.manifest), fresh.map((a) => a.manifest));

    // The same size, in place: only the file's stamp shows it.
    await writeFile(path.join(project, "edited/entry.ts"), "export const answer = 43;\n");
    // A new file that `./util` now resolves to (.ts before .js), next to an input.
    await writeFile(path.join(project, "shadowed/util.ts"), 'export const which = "util.ts";\n');
    // tsconfig.json is not an input, but decides what `~alias` is.
    await writeFile(path.join(project, "aliased/tsconfig.json"), '{ "compilerOptions": { "paths": { "~alias": ["./b.ts"] } } }\n');
    await rm(path.join(project, "node_modules/linked-pkg"));
    await symlink(path.join(project, "store/v2"), path.join(project, "node_modules/linked-pkg"));
    const changed = await buildAll();
    assert.deepEqual(changed.map((a) => a.bundled), [true, true, true, true]);
    const texts = await Promise.all(changed.map(bundleText));
    assert.match(texts[0]!, /answer = 43/);
    assert.match(texts[1]!, /"util\.ts"/);
    assert.match(texts[2]!, /"b\.ts"/);
    assert.match(texts[3]!, /"v2"/);

    // A damaged record is a miss, never an error.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    assert.deepEqual((await buildAll()).map((a) => a.bundled), [true, true, true, true]);
    const records = path.join(project, "node_modules/.cache/flow-sdk/bundles");
    for (const name of await readdir(records)) await writeFile(path.join(records, name), '{"format":1,"stamps":"no"}');
    const afterDamage = await buildAll();
    assert.deepEqual(afterDamage.map((a) => a.bundled), [true, true, true, true]);
    assert.deepEqual(afterDamage.map((a) => a.hash), changed.map((a) => a.hash));
    assert.deepEqual((await buildAll()).map((a) => a.bundled), [false, false, false, false]);
  });

  test("esbuild errors become a BuildError with file:line:column relative to the cwd", async () => {
    const project = await tempDir();
    await writeFile(path.join(project, "package.json"), "{}\n");
    await writeFile(path.join(project, "bad.ts"), "export const a = 1;\nexport function f() {\n  const x y = 2;\n}\n");
    const cwd = process.cwd();
    process.chdir(project);
    try {
      const err = await buildArchive({ entry: path.join(project, "bad.ts"), cacheDir: await tempDir() }).catch(
        (e: unknown) => e,
      );
      assert.ok(err instanceof BuildError, String(err));
      assert.match(err.message, /^Could not bundle bad\.ts:\nbad\.ts:3:11: Expected ";" but found "y"$/);
    } finally {
      process.chdir(cwd);
    }
  });

  test("remote stacks are source-mapped to the local .ts file and line", async () => {
    const dir = await unpacked(await build("throws.ts"));
    const script = `
      const m = await import(${JSON.stringify(pathToFileURL(path.join(dir, "bundle/entry.mjs")).href)});
      console.log(JSON.stringify(m.info()));
      try { m.boom(); } catch (e) { console.log(e.stack); }`;
    const { stdout } = await run(process.execPath, ["--enable-source-maps", "--input-type=module", "-e", script], {
      cwd: dir,
    });
    const [infoLine = "", ...stack] = stdout.split("\n");
    // CJS deps see the bundle's own require/__dirname/__filename; the module's own ESM
    // declarations of those names still work next to the banner.
    assert.deepEqual(JSON.parse(infoLine), {
      plain: { dir: "bundle", file: "entry.mjs", PLAIN_CJS_BODY: true },
      file: "entry.mjs",
      dir: "bundle",
      eol: "string",
    });
    const source = path.join(SRC, "throws.ts");
    const line = (await readFile(source, "utf8")).split("\n").findIndex((l) => l.includes("throw new Error")) + 1;
    assert.match(stack.join("\n"), new RegExp(`at .*boom \\(${escape(source)}:${line}:\\d+\\)`));
  });

  test("sdkExports makes `flow-sdk` the agent's published copy of the SDK", async () => {
    const archive = await build("uses-sdk.js", { sdkExports: ["marker", "other"] });
    assert.deepEqual(archive.manifest.externals, []);
    const dir = await unpacked(archive);
    const key = Symbol.for(AGENT_SDK_GLOBAL);
    (globalThis as Record<symbol, unknown>)[key] = { marker: "FROM_THE_AGENT", other: 1 };
    try {
      const mod = (await import(pathToFileURL(path.join(dir, "bundle/entry.mjs")).href)) as { seen: string };
      assert.equal(mod.seen, "FROM_THE_AGENT");
    } finally {
      delete (globalThis as Record<symbol, unknown>)[key];
    }
    await assert.rejects(build("uses-sdk.js", { sdkExports: ["other"] }), /No matching export.*marker/s);
  });
});

describe("unpackArchive", () => {
  test("returns the manifest and writes the files", async () => {
    const archive = await build("throws.ts");
    const dir = path.join(await tempDir(), "out");
    assert.deepEqual(await unpackArchive(archive.path, dir), archive.manifest);
    assert.deepEqual((await readdir(path.join(dir, "bundle"))).sort(), ["entry.mjs", "entry.mjs.map"]);
  });

  /** Packs `entries` of `cwd` as tar.gz and checks the archive really holds the wanted entry. */
  async function evilArchive(cwd: string, entries: string[], expect: Listed, preservePaths = false): Promise<string> {
    const file = path.join(await tempDir(), "evil.tar.gz");
    const tarFile = `${file}.tar`;
    if (expect.type === "Link") {
      // node-tar's pack can write after its end following a hard-link entry (a flake seen in CI);
      // the system's tar stores the second name of a file as a Link entry too.
      await promisify(execFile)("tar", ["-cf", tarFile, "-C", cwd, ...entries]);
    } else {
      await create({ file: tarFile, cwd, preservePaths }, entries);
    }
    await writeFile(file, gzipSync(await readFile(tarFile)));
    assert.deepEqual(
      (await listArchive(file)).find((e) => e.path === expect.path),
      expect,
      "the test archive must contain the malicious entry",
    );
    return file;
  }

  async function assertRejected(file: string, message: RegExp): Promise<void> {
    const out = path.join(await tempDir(), "out");
    await assert.rejects(unpackArchive(file, out), (err: unknown) => {
      assert.ok(err instanceof FlowError, String(err));
      assert.match(err.message, message);
      return true;
    });
    assert.equal(existsSync(out), false, "nothing may be extracted");
  }

  test("rejects a symlink entry", async () => {
    const src = await tempDir();
    await writeFile(path.join(src, "manifest.json"), "{}");
    await symlink("/etc/passwd", path.join(src, "link"));
    const file = await evilArchive(src, ["manifest.json", "link"], { path: "link", type: "SymbolicLink" });
    await assertRejected(file, /entry "link" -> "\/etc\/passwd" is a SymbolicLink/);
  });

  test("rejects a hard link entry", async () => {
    const src = await tempDir();
    await writeFile(path.join(src, "a.txt"), "a");
    await link(path.join(src, "a.txt"), path.join(src, "b.txt"));
    const file = await evilArchive(src, ["a.txt", "b.txt"], { path: "b.txt", type: "Link" });
    await assertRejected(file, /entry "b\.txt" -> "a\.txt" is a Link/);
  });

  test("rejects a `..` entry and writes nothing outside the dir", async () => {
    const base = await tempDir();
    await mkdir(path.join(base, "sub"));
    await writeFile(path.join(base, "evil.txt"), "evil");
    const file = await evilArchive(path.join(base, "sub"), ["../evil.txt"], { path: "../evil.txt", type: "File" }, true);
    const root = await tempDir();
    await assert.rejects(unpackArchive(file, path.join(root, "out")), /entry "\.\.\/evil\.txt" has a "\.\." segment/);
    assert.deepEqual(await readdir(root), []);
  });

  test("rejects an absolute entry", async () => {
    const src = await tempDir();
    const target = path.join(src, "abs.txt");
    await writeFile(target, "abs");
    const file = await evilArchive(src, [target], { path: target, type: "File" }, true);
    await assertRejected(file, /has an absolute path/);
  });

  test("rejects an invalid manifest", async () => {
    const src = await tempDir();
    await writeFile(path.join(src, "manifest.json"), JSON.stringify({ version: 2 }));
    const file = await evilArchive(src, ["manifest.json"], { path: "manifest.json", type: "File" });
    const err = await unpackArchive(file, path.join(await tempDir(), "out")).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError, String(err));
    assert.match(err.message, /invalid manifest\.json: version: /);
    assert.ok(err.issues.some((i) => i.path === "entry"));
  });

  test("rejects files that do not match the manifest hash", async () => {
    const dir = await unpacked(await build("throws.ts"));
    await writeFile(path.join(dir, "bundle/entry.mjs"), "export const tampered = true;\n");
    const file = path.join(await tempDir(), "tampered.tar.gz");
    await create({ file, cwd: dir, gzip: true }, ["manifest.json", "bundle"]);
    await assert.rejects(unpackArchive(file, path.join(await tempDir(), "out")), /do not match the manifest hash/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
