# fcp-sim: a simulated Docker engine (see tools/fcp-sim/docker-shim.ts for what is honoured).
# The lines above this one set CONTAINERS, IMAGES, RUNS, MARKER, SETUP, MOUNT, CHROOT, UNSHARE.
set -uo pipefail
die() { echo "docker: $1" >&2; exit 125; }
namespace=("$UNSHARE" --mount --propagation private)
[ "$(id -u)" = 0 ] || namespace=("$UNSHARE" --user --map-root-user --mount --propagation private)
pulled() { [ -f "$IMAGES" ] && grep -qxF -- "$1" "$IMAGES"; }
pull() { pulled "$1" || { echo "$1" >> "$IMAGES"; echo "$1: pulled (fcp-sim: every image is this host's userland)"; }; }

case "${1:-}" in
  info)
    "${namespace[@]}" "$CHROOT" / true >/dev/null 2>&1 || { echo "fcp-sim docker: cannot make containers here (unshare or chroot refused)" >&2; exit 1; }
    echo "Server: fcp-sim simulated engine"; exit 0 ;;
  version) echo "fcp-sim simulated docker"; exit 0 ;;
  pull) [ -n "${2:-}" ] || die "pull needs an image"; pull "$2"; exit 0 ;;
  image)
    [ "${2:-}" = inspect ] || die "'docker image ${2:-}' is not simulated by fcp-sim"
    if pulled "${3:-}"; then printf '[{"RepoTags": ["%s"]}]\n' "$3"; exit 0; fi
    echo "[]"; echo "Error: No such image: ${3:-}" >&2; exit 1 ;;
  run) shift ;;
  *) die "'docker ${1:-}' is not simulated by fcp-sim" ;;
esac

mounts=(); envs=(); workdir=""; gpus=""; network=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rm) ;;
    --network|--net) network="${2:-}"; shift ;;
    --network=*|--net=*) network="${1#*=}" ;;
    --gpus) gpus="${2:-}"; shift ;;
    --gpus=*) gpus="${1#*=}" ;;
    -v|--volume) mounts+=("${2:-}"); shift ;;
    --volume=*) mounts+=("${1#*=}") ;;
    -e|--env) envs+=("${2:-}"); shift ;;
    --env=*) envs+=("${1#*=}") ;;
    -w|--workdir) workdir="${2:-}"; shift ;;
    --workdir=*) workdir="${1#*=}" ;;
    --) shift; break ;;
    -*) die "run option $1 is not simulated by fcp-sim" ;;
    *) break ;;
  esac
  shift
done
[ $# -gt 0 ] || die "run needs an image"
image="$1"; shift
[ $# -gt 0 ] || die "fcp-sim cannot run an image's default command: give one"
[ -z "$network" ] || [ "$network" = host ] || die "--network $network is not simulated by fcp-sim (only host)"
pull "$image" >/dev/null

id="$(date +%s%N)-$$"
root="$CONTAINERS/$id"
mkdir -p "$root"
{
  printf 'run\t%s\t%s\n' "$id" "$image"
  for m in ${mounts[@]+"${mounts[@]}"}; do IFS=: read -r src dst mode <<< "$m"; printf 'mount\t%s\t%s\t%s\t%s\n' "$id" "$src" "$dst" "${mode:-rw}"; done
  for e in ${envs[@]+"${envs[@]}"}; do printf 'env\t%s\t%s\n' "$id" "${e%%=*}"; done
  [ -z "$workdir" ] || printf 'workdir\t%s\t%s\n' "$id" "$workdir"
  [ -z "$gpus" ] || printf 'gpus\t%s\t%s\n' "$id" "$gpus"
  [ -z "$network" ] || printf 'network\t%s\t%s\n' "$id" "$network"
  for a in "$@"; do printf 'arg\t%s\t%s\n' "$id" "$a"; done
} >> "$RUNS"

# The container's environment: the image's, then -e (a bare NAME takes its value from here).
cenv=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "HOSTNAME=${id##*-}" "$MARKER")
[ -z "$gpus" ] || cenv+=("NVIDIA_VISIBLE_DEVICES=$gpus")
for e in ${envs[@]+"${envs[@]}"}; do
  if [[ "$e" == *=* ]]; then cenv+=("$e"); elif [ -n "${!e+x}" ]; then cenv+=("$e=${!e}"); fi
done

# Parents before children, as Docker orders mounts.
tab=$'\t'
sorted=()
while IFS= read -r line; do [ -n "$line" ] && sorted+=("${line#*"$tab"}"); done < <(
  for m in ${mounts[@]+"${mounts[@]}"}; do dst="${m#*:}"; dst="${dst%%:*}"; slashes="${dst//[^\/]/}"; printf '%s\t%s\n' "${#slashes}" "$m"; done | sort -n -s -k1,1)

export MOUNT CHROOT
exec "${namespace[@]}" bash "$SETUP" "$root" "${workdir:-/}" ${sorted[@]+"${sorted[@]}"} -- "${cenv[@]}" -- "$@"
