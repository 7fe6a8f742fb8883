/**
 * The simulated machine's disks. Startup scripts find, format and mount volumes with lsblk, blkid,
 * mkfs.ext4, mount, mountpoint and findmnt; on this host those would act on the host's own disks,
 * so the sandbox's bin/ shadows every one of them with a shim that acts on simulated disks:
 *
 * - /dev/vda is the boot disk: partitioned (vda1) and mounted at /.
 * - each attached block volume is a whole disk, /dev/vdb, /dev/vdc, … in the bid's volume order,
 *   unformatted until mkfs.ext4 runs on it once; its contents live in `<stateDir>/volumes/<fid>/fs`
 *   and so outlive the instance, like a real volume.
 * - each attached file volume is a share the platform has mounted already, listed by findmnt with
 *   a source naming the volume FID.
 *
 * `mount` makes the target directory a symlink to the volume's contents (there is no real mount
 * in a sandbox), so mount paths are host paths: tests give volumes mount paths in a temp dir.
 */
import { chmod, lstat, mkdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { quote } from "../../src/providers/fcp/startup-script/bash.ts";

export interface SimDisk {
  volumeFid: string;
  interface: "Block" | "File";
  /** `<stateDir>/volumes/<fid>`: `formatted` marker and `fs/` contents. */
  store: string;
}

/** Writes the disk table and the shims into the sandbox; returns the mount table's path. */
export async function installDiskShims(sandboxDir: string, bin: string, disks: readonly SimDisk[]): Promise<string> {
  const table = join(sandboxDir, "disks.tsv");
  const mounts = join(sandboxDir, "mounts.tsv");
  const shares = join(sandboxDir, "shares");
  const rows: string[] = [];
  let letter = "b".charCodeAt(0);
  for (const disk of disks) {
    await mkdir(join(disk.store, "fs"), { recursive: true });
    if (disk.interface === "Block") {
      rows.push(`/dev/vd${String.fromCharCode(letter++)}\t${disk.volumeFid}\t${disk.store}`);
    } else {
      // The platform's own mount of a file share: ready (and formatted) before the script runs.
      await mkdir(shares, { recursive: true });
      await rm(join(shares, disk.volumeFid), { force: true });
      await symlink(join(disk.store, "fs"), join(shares, disk.volumeFid));
      rows.push(`share\t${disk.volumeFid}\t${join(shares, disk.volumeFid)}`);
    }
  }
  await writeFile(table, rows.map((row) => `${row}\n`).join(""));
  await writeFile(mounts, "");
  const common = `#!/bin/bash
# fcp-sim: acts on the simulated disks in ${quote(table)}, never on the host's.
DISKS=${quote(table)}
MOUNTS=${quote(mounts)}
store_of() { awk -F'\\t' -v d="$1" '$1 == d { print $3; exit }' "$DISKS"; }
mounted_at() { awk -F'\\t' -v d="$1" '$3 == d { print $1; exit }' "$MOUNTS"; }
`;
  for (const [name, body] of Object.entries(SHIMS)) {
    await writeFile(join(bin, name), common + body);
    await chmod(join(bin, name), 0o755);
  }
  return mounts;
}

/** What `mount` did, undone when the machine powers off: the symlinks at mount targets. */
export async function removeSimulatedMounts(mountTable: string): Promise<void> {
  const text = await readFile(mountTable, "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    const target = line.split("\t")[0];
    if (!target) continue;
    const stat = await lstat(target).catch(() => undefined);
    if (stat?.isSymbolicLink()) await unlink(target);
  }
}

const SHIMS: Record<string, string> = {
  lsblk: `
# The forms startup scripts use: -d (disks only), -n (no header), -p (/dev paths), -r, -o COLUMNS, [DISK].
cols=NAME,TYPE,MOUNTPOINT; header=1; paths=0; disks_only=0; only=""; prev=""
for arg in "$@"; do
  if [[ "$prev" == -*o ]]; then cols="$arg"
  elif [[ "$arg" == /dev/* ]]; then only="$arg"
  elif [[ "$arg" == -* && "$arg" != --* ]]; then
    [[ "$arg" == *n* ]] && header=0; [[ "$arg" == *p* ]] && paths=1; [[ "$arg" == *d* ]] && disks_only=1
  fi
  prev="$arg"
done
if [ -n "$only" ] && [ "$only" != /dev/vda ] && [ -z "$(store_of "$only")" ]; then echo "lsblk: $only: not a block device" >&2; exit 32; fi
rows=$(printf '/dev/vda\\t/dev/vda\\tdisk\\t\\n/dev/vda1\\t/dev/vda\\tpart\\t/\\n'
  awk -F'\\t' '$1 ~ /^\\/dev\\// { print $1 }' "$DISKS" | while read -r d; do printf '%s\\t%s\\tdisk\\t%s\\n' "$d" "$d" "$(mounted_at "$d")"; done)
[ "$header" = 1 ] && echo "\${cols//,/ }"
while IFS=$'\\t' read -r dev disk type mountpoint; do
  [ -n "$only" ] && [ "$disk" != "$only" ] && continue
  [ "$disks_only" = 1 ] && [ "$type" != disk ] && continue
  name="$dev"; [ "$paths" = 1 ] || name="\${dev#/dev/}"
  out=""
  IFS=, read -ra wanted <<< "$cols"
  for col in "\${wanted[@]}"; do
    case "$col" in NAME) v="$name" ;; TYPE) v="$type" ;; MOUNTPOINT|MOUNTPOINTS) v="$mountpoint" ;; *) v="" ;; esac
    out="\${out:+$out }$v"
  done
  echo "$out"
done <<< "$rows"
`,
  blkid: `
dev="\${@: -1}"
case "$dev" in /dev/vda|/dev/vda1) echo "$dev: TYPE=\\"ext4\\""; exit 0 ;; esac
store=$(store_of "$dev")
[ -n "$store" ] && [ -e "$store/formatted" ] && { echo "$dev: TYPE=\\"ext4\\""; exit 0; }
exit 2
`,
  "mkfs.ext4": `
dev="\${@: -1}"
store=$(store_of "$dev")
if [ -z "$store" ]; then echo "mkfs.ext4: $dev is in use or not a disk of this machine" >&2; exit 1; fi
if [ -n "$(mounted_at "$dev")" ]; then echo "mkfs.ext4: $dev is mounted; will not make a filesystem here!" >&2; exit 1; fi
rm -rf "$store/fs" && mkdir -p "$store/fs" && touch "$store/formatted"
`,
  mount: `
bind=0
case "$1" in
  --bind) bind=1; shift ;;
  -o) if [ "$2" = bind ]; then bind=1; shift 2; fi ;;
esac
src="$1"; target="$2"
if [ -z "$target" ]; then cat "$MOUNTS" | awk -F'\\t' '{ print $3 " on " $1 }'; exit 0; fi
if [ "$bind" = 1 ]; then dir="$src"
else
  store=$(store_of "$src")
  [ -n "$store" ] || { echo "mount: $src: special device does not exist" >&2; exit 32; }
  [ -e "$store/formatted" ] || { echo "mount: $target: wrong fs type, bad option, bad superblock on $src" >&2; exit 32; }
  dir="$store/fs"
fi
[ -d "$target" ] || { echo "mount: $target: mount point does not exist" >&2; exit 32; }
[ -z "$(ls -A "$target")" ] || { echo "mount: fcp-sim cannot mount over the non-empty directory $target" >&2; exit 32; }
rmdir "$target" && ln -s "$dir" "$target" && printf '%s\\t%s\\t%s\\n' "$target" "$dir" "$src" >> "$MOUNTS"
`,
  mountpoint: `
target="\${@: -1}"
[ "$target" = / ] && exit 0
if awk -F'\\t' -v t="$target" '$1 == t { found = 1 } END { exit !found }' "$MOUNTS"; then
  [[ " $* " == *" -q "* ]] || echo "$target is a mountpoint"; exit 0
fi
[[ " $* " == *" -q "* ]] || echo "$target is not a mountpoint"; exit 32
`,
  findmnt: `
# SOURCE TARGET of / and of every file share the platform mounted.
echo "/dev/vda1 /"
awk -F'\\t' '$1 == "share" { print "fcp-nfs:/" $2 " " $3 }' "$DISKS"
awk -F'\\t' '{ print $3 " " $1 }' "$MOUNTS"
`,
  umount: `
target="\${@: -1}"
awk -F'\\t' -v t="$target" '$1 == t { found = 1 } END { exit !found }' "$MOUNTS" || { echo "umount: $target: not mounted" >&2; exit 32; }
rm "$target" && mkdir "$target" && awk -F'\\t' -v t="$target" '$1 != t' "$MOUNTS" > "$MOUNTS.new" && mv "$MOUNTS.new" "$MOUNTS"
`,
};
