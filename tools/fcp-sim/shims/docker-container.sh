# fcp-sim: makes one container's root and runs its command there (see tools/fcp-sim/docker-shim.ts).
# Runs in a private mount namespace: args are ROOT WORKDIR MOUNT... -- ENV... -- ARGV...
set -eu
R="$1"; W="$2"; shift 2
"$MOUNT" -t tmpfs -o mode=755 fcp-sim-container "$R"
# The "image": this host's userland, read-only (a container must not change this machine).
for d in usr etc opt; do
  [ -e "/$d" ] || continue
  mkdir -p "$R/$d"; "$MOUNT" --rbind "/$d" "$R/$d"; "$MOUNT" -o remount,bind,ro "$R/$d"
done
for d in dev proc sys; do
  mkdir -p "$R/$d"; "$MOUNT" --rbind "/$d" "$R/$d"
done
# Like GPU images, it has python and python3 (this host's system Python, when it has one).
if [ -d "$R/usr/local/bin" ]; then "$MOUNT" -t tmpfs -o mode=755 fcp-sim-local-bin "$R/usr/local/bin"; fi
if [ -d "$R/usr/local/bin" ] && [ -x /usr/bin/python3 ]; then ln -s /usr/bin/python3 "$R/usr/local/bin/python3"; ln -s /usr/bin/python3 "$R/usr/local/bin/python"; fi
for l in bin lib lib32 lib64 libx32 sbin; do
  if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$R/$l"
  elif [ -d "/$l" ]; then mkdir "$R/$l"; "$MOUNT" --rbind "/$l" "$R/$l"; fi
done
mkdir -m 1777 "$R/tmp"; mkdir -p "$R/root" "$R/home" "$R/var/tmp" "$R/run"
touch "$R/.dockerenv"
while [ "$1" != -- ]; do
  IFS=: read -r src dst mode <<< "$1"; shift
  case "$src" in /*) ;; *) echo "docker: named volumes are not simulated by fcp-sim: $src" >&2; exit 125 ;; esac
  case "$dst" in /*) ;; *) echo "docker: invalid mount path: '$dst' mount path must be absolute" >&2; exit 125 ;; esac
  [ -e "$src" ] || mkdir -p "$src"
  if [ -d "$src" ]; then mkdir -p "$R$dst"; else mkdir -p "$(dirname "$R$dst")"; touch "$R$dst"; fi
  "$MOUNT" --bind "$src" "$R$dst"
  [ "${mode:-rw}" != ro ] || "$MOUNT" -o remount,bind,ro "$R$dst"
done
shift
env=()
while [ "$1" != -- ]; do env+=("$1"); shift; done
shift
mkdir -p "$R$W"
# env -i: the command sees only the container's environment; it starts in the working dir.
exec "$CHROOT" "$R" /usr/bin/env -i "${env[@]}" /bin/sh -c 'cd "$0" && exec "$@"' "$W" "$@"
